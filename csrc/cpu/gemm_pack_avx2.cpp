// AVX2 packing of the panels whose layout transposes the source (this file gets -mavx2
// -mfma): a row-major A into MR-row panels, and a B stored N x K into NR-column panels.
// The portable loops of gemm_pack.cpp store one float at a time with a stride; here 8
// source rows are read 8 floats at a time and turned by an 8x8 register transpose, so
// each store writes 8 floats. The result is the same copy, bit for bit.
#include <immintrin.h>

#include "cpu/avx2_row_loads.h"
#include "cpu/avx2_transpose.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"

namespace fastcnn::cpu {

using gemm_config::MR;
using gemm_config::NR;

static_assert(MR == 6 && NR == 16, "the transposes below are written for 6x16 panels");

// dst[k * MR + i] = a[i * lda + k] for i < rows (1..MR) and k < kc; rows past `rows`
// are zero.
void pack_a_panel_rows_avx2(const float* a, int64_t lda, int64_t rows, int64_t kc, float* dst) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 r[8];
    for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(a + i * lda + k) : _mm256_setzero_ps();
    transpose8x8(r);
    // Each column is stored 8 wide; its 2 extra floats land on the next column's first
    // two, which the next store overwrites. The panel's last column is stored 6 wide.
    for (int j = 0; j < 8; ++j) {
      float* out = dst + (k + j) * MR;
      if (k + j + 1 < kc) {
        _mm256_storeu_ps(out, r[j]);
      } else {
        _mm_storeu_ps(out, _mm256_castps256_ps128(r[j]));
        _mm_storel_pi(reinterpret_cast<__m64*>(out + 4), _mm256_extractf128_ps(r[j], 1));
      }
    }
  }
  for (; k < kc; ++k) {
    for (int64_t i = 0; i < MR; ++i) dst[k * MR + i] = i < rows ? a[i * lda + k] : 0.0f;
  }
}

// panel[k * NR + j] = b[j * ldb + k] for a full panel (NR columns of op(B), stored as rows
// of b) and k < kc: two 8x8 transposes per 8 values of k.
void pack_b_panel_columns_avx2(const float* b, int64_t ldb, int64_t kc, float* panel) {
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    for (int half = 0; half < 2; ++half) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(b + (half * 8 + j) * ldb + k);
      transpose8x8(r);
      for (int kk = 0; kk < 8; ++kk) _mm256_storeu_ps(panel + (k + kk) * NR + half * 8, r[kk]);
    }
  }
  for (; k < kc; ++k) {
    for (int64_t j = 0; j < NR; ++j) panel[k * NR + j] = b[j * ldb + k];
  }
}

// panel[k * NR + j] = b[k * ldb + j] for j < cols (1..NR), zero past it, and k < kc: the
// last panel of a B stored K x N, whose rows end inside it. Masked loads never touch
// memory outside the lanes they load.
void pack_b_panel_rows_tail_avx2(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* panel) {
  const __m256i left = range_mask(0, cols), right = range_mask(8, cols);
  for (int64_t k = 0; k < kc; ++k) {
    _mm256_storeu_ps(panel + k * NR, _mm256_maskload_ps(b + k * ldb, left));
    _mm256_storeu_ps(panel + k * NR + 8, _mm256_maskload_ps(b + k * ldb + 8, right));
  }
}

}  // namespace fastcnn::cpu
