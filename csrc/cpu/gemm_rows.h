// GEMMs with a few rows of A and B transposed (op(B) = B^T, B stored N x K row-major):
// a fully connected layer at batch 1-4, x @ W^T. Each C entry is a dot product of a row
// of A with a row of B, so B streams from memory once, in place, where the blocked GEMM
// would first copy all of it into packed panels (VGG-11's 400 MB classifier weight: 3x
// the memory traffic of the product itself). Internal header.
#pragma once

#include <cstdint>

#include "fastcnn/gemm.h"

namespace fastcnn::cpu {

// The rows kernels handle: m <= kGemmRowsMax, op(A) = A (row-major), op(B) = B^T, nothing pre-packed.
constexpr int64_t kGemmRowsMax = 4;
inline bool gemm_rows_applies(const GemmParams& p) {
  return p.m >= 1 && p.m <= kGemmRowsMax && !p.trans_a && p.trans_b && p.packed_a == nullptr;
}

// Columns [j0, j1) of C for such a GEMM, epilogue included.
void gemm_rows_ref(const GemmParams& p, int64_t j0, int64_t j1);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void gemm_rows_avx2(const GemmParams& p, int64_t j0, int64_t j1);
#endif

// The value the epilogue stores at C[i][j] for the dot product `sum`.
inline float gemm_rows_epilogue(const GemmParams& p, int64_t i, int64_t j, float sum) {
  float value = p.alpha * sum;
  if (p.beta != 0.0f) value += p.beta * p.c[i * p.ldc + j];
  if (p.epilogue.bias_mode == BiasMode::PerRow) value += p.epilogue.bias[i];
  if (p.epilogue.bias_mode == BiasMode::PerColumn) value += p.epilogue.bias[j];
  if (p.epilogue.relu && value < 0.0f) value = 0.0f;  // NaN passes through, as in torch.relu
  return value;
}

}  // namespace fastcnn::cpu
