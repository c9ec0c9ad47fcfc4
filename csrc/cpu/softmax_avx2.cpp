// AVX2 row kernels of softmax / log_softmax (forward and backward) for the common case of
// contiguous class rows (inner == 1): y[0..c) from x[0..c), 8 lanes at a time. Reductions
// (max, sum, dot) use 8 lanes then a fixed-order horizontal sum: the result depends on c
// only, never on threads. exp is exp_avx2 from activation_avx2.cpp.
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace fastcnn::cpu {

void exp_avx2(const float* x, float* y, int64_t n);  // activation_avx2.cpp

namespace {

float hsum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
}

float hmax(__m256 v) {
  const __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_max_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_shuffle_ps(t, t, 1)));
}

// Row max; NaN anywhere gives NaN (as torch).
float row_max(const float* x, int64_t c) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 nan = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= c; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    m = _mm256_max_ps(m, v);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  float r = hmax(m);
  bool has_nan = _mm256_movemask_ps(nan) != 0;
  for (; i < c; ++i) {
    r = x[i] > r ? x[i] : r;
    has_nan |= x[i] != x[i];
  }
  return has_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

float row_sum(const float* x, int64_t c) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= c; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
  float r = hsum(s);
  for (; i < c; ++i) r += x[i];
  return r;
}

float row_dot(const float* a, const float* b, int64_t c) {
  __m256 s = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= c; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
  float r = hsum(s);
  for (; i < c; ++i) r += a[i] * b[i];
  return r;
}

// y = x + shift (vector part; tail scalar)
void add_scalar(const float* x, float shift, float* y, int64_t c) {
  const __m256 s = _mm256_set1_ps(shift);
  int64_t i = 0;
  for (; i + 8 <= c; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(x + i), s));
  for (; i < c; ++i) y[i] = x[i] + shift;
}

}  // namespace

void softmax_row_avx2(const float* x, float* y, int64_t c, bool log) {
  const float m = row_max(x, c);
  add_scalar(x, -m, y, c);
  exp_avx2(y, y, c);
  const float s = row_sum(y, c);
  int64_t i = 0;
  if (log) {  // (x - m) - log(s), as the portable path
    const __m256 vm = _mm256_set1_ps(m), ls = _mm256_set1_ps(std::log(s));
    for (; i + 8 <= c; i += 8)
      _mm256_storeu_ps(y + i, _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm), ls));
    for (; i < c; ++i) y[i] = (x[i] - m) - std::log(s);
  } else {
    const float inv = 1.0f / s;
    const __m256 vi = _mm256_set1_ps(inv);
    for (; i + 8 <= c; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vi));
    for (; i < c; ++i) y[i] *= inv;
  }
}

void softmax_backward_row_avx2(const float* g, const float* y, float* gi, int64_t c, bool log) {
  int64_t i = 0;
  if (log) {  // g - exp(y) * sum(g)
    const float sg = row_sum(g, c);
    exp_avx2(y, gi, c);
    const __m256 vs = _mm256_set1_ps(sg);
    for (; i + 8 <= c; i += 8)
      _mm256_storeu_ps(gi + i, _mm256_fnmadd_ps(_mm256_loadu_ps(gi + i), vs, _mm256_loadu_ps(g + i)));
    for (; i < c; ++i) gi[i] = g[i] - gi[i] * sg;
  } else {  // y * (g - sum(g * y))
    const float dot = row_dot(g, y, c);
    const __m256 vd = _mm256_set1_ps(dot);
    for (; i + 8 <= c; i += 8)
      _mm256_storeu_ps(gi + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), _mm256_sub_ps(_mm256_loadu_ps(g + i), vd)));
    for (; i < c; ++i) gi[i] = y[i] * (g[i] - dot);
  }
}

}  // namespace fastcnn::cpu
