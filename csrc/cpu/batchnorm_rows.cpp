// Portable batch-norm row primitives (see batchnorm_rows.h). Written as 8 independent
// float lanes per block so the compiler can vectorize them without reassociating.
#include "cpu/batchnorm_rows.h"

#include <algorithm>

namespace fastcnn::cpu {
namespace {

constexpr int kLanes = 8;

void sum_ref(const float* x, int64_t n, double* s1) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* p = x + start;
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += p[i + l];
    for (; i < len; ++i) acc[0] += p[i];
    for (int l = 0; l < kLanes; ++l) total += acc[l];
  }
  *s1 = total;
}

void dev_ref(const float* x, int64_t n, float m, double* s1, double* s2) {
  double t1 = 0.0, t2 = 0.0;
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* p = x + start;
    float a1[kLanes] = {}, a2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = p[i + l] - m;
        a1[l] += d;
        a2[l] += d * d;
      }
    for (; i < len; ++i) {
      const float d = p[i] - m;
      a1[0] += d;
      a2[0] += d * d;
    }
    for (int l = 0; l < kLanes; ++l) t1 += a1[l], t2 += a2[l];
  }
  *s1 = t1, *s2 = t2;
}

void grad_ref(const float* dy, const float* x, int64_t n, float m, double* s1, double* s2) {
  double t1 = 0.0, t2 = 0.0;
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* g = dy + start;
    const float* p = x + start;
    float a1[kLanes] = {}, a2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= len; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        a1[l] += g[i + l];
        a2[l] += g[i + l] * (p[i + l] - m);
      }
    for (; i < len; ++i) {
      a1[0] += g[i];
      a2[0] += g[i] * (p[i] - m);
    }
    for (int l = 0; l < kLanes; ++l) t1 += a1[l], t2 += a2[l];
  }
  *s1 = t1, *s2 = t2;
}

void apply_ref(const float* x, float* out, int64_t n, float m, float a, float b) {
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - m) * a + b;
}

void apply_bwd_ref(const float* dy, const float* x, float* dx, int64_t n, float m, float a, float b, float c) {
  if (x == nullptr) {
    for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * a + c;
    return;
  }
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * a + ((x[i] - m) * b + c);
}

}  // namespace

const BnRowKernels bn_rows_ref = {sum_ref, dev_ref, grad_ref, apply_ref, apply_bwd_ref};

}  // namespace fastcnn::cpu
