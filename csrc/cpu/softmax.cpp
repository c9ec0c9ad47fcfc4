// softmax / log_softmax over the class dimension of an (outer, classes, inner) tensor,
// forward and backward. Stable: exp(x - max) so logits of +-1e4 cannot overflow;
// log_softmax = (x - max) - log(sum exp(x - max)).
//
// inner == 1: each row of `classes` contiguous values is one work item. inner > 1: items
// are (o, block of up to kBlock inner positions); loops run over c outside and the block
// inside, so every loop is unit-stride. exp goes through cpu::exp (AVX2 or portable); the
// AVX2 path has its own row kernels (softmax_avx2.cpp) for inner == 1.
// Items are split across threads; each item is computed the same way whatever the split.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common/check.h"
#include "common/parallel.h"
#include "fastcnn/activation.h"
#include "fastcnn/loss.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void softmax_row_avx2(const float* x, float* y, int64_t c, bool log);  // softmax_avx2.cpp
void softmax_backward_row_avx2(const float* g, const float* y, float* gi, int64_t c, bool log);
#endif

namespace {

constexpr int64_t kBlock = 256;
constexpr int64_t kMinElementsPerThread = 32 * 1024;

// Sum with 8 independent partial sums (vectorizes without reassociation flags).
float row_sum(const float* v, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += v[i + j];
  float s = 0.0f;
  for (; i < n; ++i) s += v[i];
  return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

float row_dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0.0f;
  for (; i < n; ++i) s += a[i] * b[i];
  return s + ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

// Max that lets a NaN through (NaN in, NaN out, as torch); 8 lanes so it vectorizes.
float row_max(const float* v, int64_t n) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  float m[8] = {-kInf, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf, -kInf};
  int nan[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      m[j] = v[i + j] > m[j] ? v[i + j] : m[j];
      nan[j] |= v[i + j] != v[i + j];
    }
  for (; i < n; ++i) {
    m[0] = v[i] > m[0] ? v[i] : m[0];
    nan[0] |= v[i] != v[i];
  }
  float r = m[0];
  int any_nan = nan[0];
  for (int j = 1; j < 8; ++j) r = m[j] > r ? m[j] : r, any_nan |= nan[j];
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

void forward_row(const float* x, float* y, int64_t c, bool log) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return softmax_row_avx2(x, y, c, log);
#endif
  const float m = row_max(x, c);
  for (int64_t k = 0; k < c; ++k) y[k] = x[k] - m;
  exp(y, y, c);
  const float s = row_sum(y, c);
  if (log) {  // (x - m) - log(s): m + log(s) would round away log(s) for |m| >> 1
    const float ls = std::log(s);
    for (int64_t k = 0; k < c; ++k) y[k] = (x[k] - m) - ls;
  } else {
    const float inv = 1.0f / s;
    for (int64_t k = 0; k < c; ++k) y[k] *= inv;
  }
}

// One block of b inner positions; x, y point at (o, 0, i0); stride = inner.
void forward_block(const float* x, float* y, int64_t c, int64_t stride, int64_t b, bool log) {
  float m[kBlock], s[kBlock];
  for (int64_t j = 0; j < b; ++j) m[j] = x[j], s[j] = 0.0f;
  for (int64_t k = 1; k < c; ++k) {
    const float* xk = x + k * stride;
    for (int64_t j = 0; j < b; ++j) m[j] = xk[j] > m[j] || xk[j] != xk[j] ? xk[j] : m[j];
  }
  for (int64_t k = 0; k < c; ++k) {
    const float* xk = x + k * stride;
    float* yk = y + k * stride;
    for (int64_t j = 0; j < b; ++j) yk[j] = xk[j] - m[j];
    exp(yk, yk, b);
    for (int64_t j = 0; j < b; ++j) s[j] += yk[j];
  }
  if (log) {
    for (int64_t j = 0; j < b; ++j) s[j] = std::log(s[j]);
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < b; ++j) y[k * stride + j] = (x[k * stride + j] - m[j]) - s[j];
  } else {
    for (int64_t j = 0; j < b; ++j) s[j] = 1.0f / s[j];
    for (int64_t k = 0; k < c; ++k)
      for (int64_t j = 0; j < b; ++j) y[k * stride + j] *= s[j];
  }
}

void backward_row(const float* g, const float* y, float* gi, int64_t c, bool log) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return softmax_backward_row_avx2(g, y, gi, c, log);
#endif
  if (log) {
    const float sg = row_sum(g, c);
    exp(y, gi, c);
    for (int64_t k = 0; k < c; ++k) gi[k] = g[k] - gi[k] * sg;
  } else {
    const float dot = row_dot(g, y, c);
    for (int64_t k = 0; k < c; ++k) gi[k] = y[k] * (g[k] - dot);
  }
}

void backward_block(const float* g, const float* y, float* gi, int64_t c, int64_t stride, int64_t b, bool log) {
  float acc[kBlock];
  for (int64_t j = 0; j < b; ++j) acc[j] = 0.0f;
  for (int64_t k = 0; k < c; ++k)
    for (int64_t j = 0; j < b; ++j) acc[j] += log ? g[k * stride + j] : g[k * stride + j] * y[k * stride + j];
  for (int64_t k = 0; k < c; ++k) {
    const float* gk = g + k * stride;
    const float* yk = y + k * stride;
    float* ok = gi + k * stride;
    if (log) {
      exp(yk, ok, b);
      for (int64_t j = 0; j < b; ++j) ok[j] = gk[j] - ok[j] * acc[j];
    } else {
      for (int64_t j = 0; j < b; ++j) ok[j] = yk[j] * (gk[j] - acc[j]);
    }
  }
}

void check_dims(const ClassDims& d, const char* op) {
  FASTCNN_CHECK(d.outer >= 0 && d.classes >= 0 && d.inner >= 0, op, ": sizes must be >= 0, got outer=", d.outer,
                " classes=", d.classes, " inner=", d.inner);
}

// body(o, i0, b) for every item (row o, inner positions [i0, i0 + b)), split over threads.
template <class Body>
void for_each_item(const ClassDims& d, const Body& body) {
  const int64_t blocks = d.inner == 1 ? 1 : (d.inner + kBlock - 1) / kBlock;
  const int64_t items = d.outer * blocks;
  const int64_t work = d.outer * d.classes * d.inner;
  const int threads = static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({static_cast<int64_t>(get_num_threads()), work / kMinElementsPerThread, items})));
  detail::parallel_region(threads, [&](int tid, int team) {
    for (int64_t it = items * tid / team; it < items * (tid + 1) / team; ++it) {
      const int64_t o = it / blocks, i0 = (it % blocks) * kBlock;
      body(o, i0, std::min(kBlock, d.inner - i0));
    }
  });
}

}  // namespace

void softmax_forward(const float* x, float* y, const ClassDims& d, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_dims(d, op);
  if (d.outer * d.classes * d.inner == 0) return;
  FASTCNN_CHECK(x && y, op, ": null pointer");
  for_each_item(d, [&](int64_t o, int64_t i0, int64_t b) {
    const int64_t base = o * d.classes * d.inner + i0;
    if (d.inner == 1) forward_row(x + base, y + base, d.classes, log);
    else forward_block(x + base, y + base, d.classes, d.inner, b, log);
  });
}

void softmax_backward(const float* grad_out, const float* y, float* grad_in, const ClassDims& d, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_dims(d, op);
  if (d.outer * d.classes * d.inner == 0) return;
  FASTCNN_CHECK(grad_out && y && grad_in, op, ": null pointer");
  for_each_item(d, [&](int64_t o, int64_t i0, int64_t b) {
    const int64_t base = o * d.classes * d.inner + i0;
    if (d.inner == 1) backward_row(grad_out + base, y + base, grad_in + base, d.classes, log);
    else backward_block(grad_out + base, y + base, grad_in + base, d.classes, d.inner, b, log);
  });
}

}  // namespace fastcnn::cpu
