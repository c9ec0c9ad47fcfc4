// The AVX2 build of the few-rows GEMM (gemm_rows.h): for each column j, the row of B is
// loaded 16 floats at a time and multiplied into every row of A (ROWS <= 4, a template
// argument so the loops unroll), two accumulators per row to cover the FMA latency.
#include <immintrin.h>

#include "cpu/gemm_rows.h"

namespace fastcnn::cpu {

namespace {

inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <int ROWS>
void columns(const GemmParams& p, int64_t j0, int64_t j1) {
  const float* a[ROWS];
  for (int i = 0; i < ROWS; ++i) a[i] = p.a + i * p.lda;
  for (int64_t j = j0; j < j1; ++j) {
    const float* b = p.b + j * p.ldb;
    __m256 even[ROWS], odd[ROWS];
    for (int i = 0; i < ROWS; ++i) even[i] = odd[i] = _mm256_setzero_ps();
    int64_t q = 0;
    for (; q + 16 <= p.k; q += 16) {
      const __m256 b0 = _mm256_loadu_ps(b + q), b1 = _mm256_loadu_ps(b + q + 8);
      for (int i = 0; i < ROWS; ++i) {
        even[i] = _mm256_fmadd_ps(_mm256_loadu_ps(a[i] + q), b0, even[i]);
        odd[i] = _mm256_fmadd_ps(_mm256_loadu_ps(a[i] + q + 8), b1, odd[i]);
      }
    }
    for (int i = 0; i < ROWS; ++i) {
      float sum = horizontal_sum(_mm256_add_ps(even[i], odd[i]));
      for (int64_t t = q; t < p.k; ++t) sum += a[i][t] * b[t];
      p.c[i * p.ldc + j] = gemm_rows_epilogue(p, i, j, sum);
    }
  }
}

}  // namespace

void gemm_rows_avx2(const GemmParams& p, int64_t j0, int64_t j1) {
  switch (p.m) {
    case 1: return columns<1>(p, j0, j1);
    case 2: return columns<2>(p, j0, j1);
    case 3: return columns<3>(p, j0, j1);
    default: return columns<4>(p, j0, j1);
  }
}

}  // namespace fastcnn::cpu
