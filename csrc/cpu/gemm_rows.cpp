// The portable build of the few-rows GEMM (gemm_rows.h): plain dot products.
#include "cpu/gemm_rows.h"

namespace fastcnn::cpu {

void gemm_rows_ref(const GemmParams& p, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const float* b = p.b + j * p.ldb;
    for (int64_t i = 0; i < p.m; ++i) {
      const float* a = p.a + i * p.lda;
      float sum = 0.0f;
      for (int64_t q = 0; q < p.k; ++q) sum += a[q] * b[q];
      p.c[i * p.ldc + j] = gemm_rows_epilogue(p, i, j, sum);
    }
  }
}

}  // namespace fastcnn::cpu
