// Single-precision GEMM on the CPU, row-major:
//   C = epilogue(alpha * op(A) @ op(B) + beta * C)
// op(A) is M x K (A stored K x M when trans_a), op(B) is K x N (B stored N x K when
// trans_b); lda/ldb/ldc are row strides in elements. The epilogue adds a bias per row
// (length M) or per column (length N), then optionally applies ReLU, in the same pass
// that writes C. beta == 0 never reads C, so C may hold garbage or NaN.
#pragma once

#include <cstdint>

namespace fastcnn {

enum class BiasMode { None, PerRow, PerColumn };

struct GemmEpilogue {
  BiasMode bias_mode = BiasMode::None;
  const float* bias = nullptr;
  bool relu = false;
};

struct GemmParams {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  GemmEpilogue epilogue;
  // op(A) packed ahead by cpu::gemm_pack_a for this m and k (a layer's weights, reused
  // across calls): the GEMM reads its panels instead of packing A, so a, lda and
  // trans_a are not read.
  const float* packed_a = nullptr;
};

namespace cpu {

// Throws std::invalid_argument on inconsistent sizes, strides or pointers.
void gemm(const GemmParams& params);

// Floats of a pre-packed op(A) for an m x k GEMM (rows rounded up to the register tile).
int64_t gemm_packed_a_floats(int64_t m, int64_t k);
// Packs op(A) of `params` (m, k, a, lda, trans_a) into `packed` (gemm_packed_a_floats(m, k)
// floats), block for block as the GEMM itself packs it, for GemmParams::packed_a.
void gemm_pack_a(const GemmParams& params, float* packed);

// `batch` independent GEMMs; matrix i of A starts at a + i * stride_a (likewise B and C).
// A stride of 0 shares one matrix across the batch (broadcasting); C's must not be 0.
void gemm_strided_batched(const GemmParams& params, int64_t batch, int64_t stride_a,
                          int64_t stride_b, int64_t stride_c);

// Sustained single-precision FLOP/s of this machine's FMA units on `threads` threads,
// measured by a register-only FMA loop of about `seconds` (the benchmark's "peak").
double measure_peak_gflops(int threads, double seconds);

}  // namespace cpu
}  // namespace fastcnn
