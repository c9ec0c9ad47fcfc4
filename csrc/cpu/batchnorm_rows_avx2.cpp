// AVX2/FMA batch-norm row primitives (see batchnorm_rows.h). Memory-bound: two float
// accumulators of 8 lanes per block hide the add latency; blocks are flushed to double.
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "cpu/batchnorm_rows.h"

namespace fastcnn::cpu {
namespace {

inline double hsum(__m256 v) {
  const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
  const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  const __m256d s = _mm256_add_pd(lo, hi);
  const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
  return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

void sum_avx2(const float* x, int64_t n, double* s1) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* p = x + start;
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
      b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
    }
    float tail = 0.0f;
    for (; i < len; ++i) tail += p[i];
    total += hsum(_mm256_add_ps(a, b)) + tail;
  }
  *s1 = total;
}

void dev_avx2(const float* x, int64_t n, float m, double* s1, double* s2) {
  double t1 = 0.0, t2 = 0.0;
  const __m256 vm = _mm256_set1_ps(m);
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* p = x + start;
    __m256 a1 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(p + i), vm);
      const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(p + i + 8), vm);
      a1 = _mm256_add_ps(a1, d0);
      b1 = _mm256_add_ps(b1, d1);
      a2 = _mm256_fmadd_ps(d0, d0, a2);
      b2 = _mm256_fmadd_ps(d1, d1, b2);
    }
    float r1 = 0.0f, r2 = 0.0f;
    for (; i < len; ++i) {
      const float d = p[i] - m;
      r1 += d;
      r2 += d * d;
    }
    t1 += hsum(_mm256_add_ps(a1, b1)) + r1;
    t2 += hsum(_mm256_add_ps(a2, b2)) + r2;
  }
  *s1 = t1, *s2 = t2;
}

void grad_avx2(const float* dy, const float* x, int64_t n, float m, double* s1, double* s2) {
  double t1 = 0.0, t2 = 0.0;
  const __m256 vm = _mm256_set1_ps(m);
  for (int64_t start = 0; start < n; start += kBnBlock) {
    const int64_t len = std::min(kBnBlock, n - start);
    const float* g = dy + start;
    const float* p = x + start;
    __m256 a1 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) {
      const __m256 g0 = _mm256_loadu_ps(g + i), g1 = _mm256_loadu_ps(g + i + 8);
      a1 = _mm256_add_ps(a1, g0);
      b1 = _mm256_add_ps(b1, g1);
      a2 = _mm256_fmadd_ps(g0, _mm256_sub_ps(_mm256_loadu_ps(p + i), vm), a2);
      b2 = _mm256_fmadd_ps(g1, _mm256_sub_ps(_mm256_loadu_ps(p + i + 8), vm), b2);
    }
    float r1 = 0.0f, r2 = 0.0f;
    for (; i < len; ++i) {
      r1 += g[i];
      r2 += g[i] * (p[i] - m);
    }
    t1 += hsum(_mm256_add_ps(a1, b1)) + r1;
    t2 += hsum(_mm256_add_ps(a2, b2)) + r2;
  }
  *s1 = t1, *s2 = t2;
}

void apply_avx2(const float* x, float* out, int64_t n, float m, float a, float b) {
  const __m256 vm = _mm256_set1_ps(m), va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), va, vb));
  }
  for (; i < n; ++i) out[i] = std::fma(x[i] - m, a, b);
}

void apply_bwd_avx2(const float* dy, const float* x, float* dx, int64_t n, float m, float a, float b, float c) {
  const __m256 va = _mm256_set1_ps(a), vc = _mm256_set1_ps(c);
  int64_t i = 0;
  if (x == nullptr) {
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), va, vc));
    for (; i < n; ++i) dx[i] = std::fma(dy[i], a, c);
    return;
  }
  const __m256 vm = _mm256_set1_ps(m), vb = _mm256_set1_ps(b);
  for (; i + 8 <= n; i += 8) {
    const __m256 centered = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), vb, vc);
    _mm256_storeu_ps(dx + i, _mm256_fmadd_ps(_mm256_loadu_ps(dy + i), va, centered));
  }
  for (; i < n; ++i) dx[i] = std::fma(dy[i], a, std::fma(x[i] - m, b, c));
}

}  // namespace

const BnRowKernels bn_rows_avx2 = {sum_avx2, dev_avx2, grad_avx2, apply_avx2, apply_bwd_avx2};

}  // namespace fastcnn::cpu
