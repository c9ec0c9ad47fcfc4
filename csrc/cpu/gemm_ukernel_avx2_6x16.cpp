// The AVX2/FMA micro-kernel: a 6 x 16 tile of C held in 12 ymm registers.
//
// Each step of k loads one 16-wide row of packed B (two ymm), broadcasts the 6 values of
// packed A's column one by one, and issues 12 independent FMAs: enough to cover the FMA
// latency (4 cycles) on both FMA pipes (8 in flight), with 2 loads per 12 FMAs. Compiled
// with -mavx2 -mfma; only called when the CPU has both (cpu_features.cpp).
#include <immintrin.h>

#include <cstdint>

#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"

namespace fastcnn::cpu {

static_assert(gemm_config::MR == 6 && gemm_config::NR == 16, "this kernel is written for 6x16");

namespace {

// alpha * acc (+ beta * C) (+ biases), ReLU, store one 8-wide half row.
inline void store_half_row(__m256 acc, float* c, const TileEpilogue& ep, __m256 alpha, __m256 beta,
                           __m256 row_bias, const float* col_bias) {
  __m256 value = _mm256_mul_ps(acc, alpha);
  if (ep.beta != 0.0f) value = _mm256_fmadd_ps(beta, _mm256_loadu_ps(c), value);
  if (ep.row_bias) value = _mm256_add_ps(value, row_bias);
  if (col_bias) value = _mm256_add_ps(value, _mm256_loadu_ps(col_bias));
  // max(0, x) returns x when x is NaN, so NaN passes through as in torch.relu.
  if (ep.relu) value = _mm256_max_ps(_mm256_setzero_ps(), value);
  _mm256_storeu_ps(c, value);
}

// The multiply-adds of one tile. kPacked: B is a packed panel (ldb == NR, 32-byte
// aligned, already in L1); otherwise B is read in place, and its rows are prefetched a
// few k ahead because the first A panel to meet them finds them in L2 or further.
template <bool kPacked>
inline __attribute__((always_inline)) void accumulate(int64_t kc, const float* a, const float* b, int64_t ldb,
                                                      __m256 (&acc)[12]) {
  if (kPacked) ldb = 16;
  constexpr int64_t kAhead = 8;  // rows of B prefetched ahead when read in place
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = kPacked ? _mm256_load_ps(b) : _mm256_loadu_ps(b);
    const __m256 b1 = kPacked ? _mm256_load_ps(b + 8) : _mm256_loadu_ps(b + 8);
    _mm_prefetch(reinterpret_cast<const char*>(a + 96), _MM_HINT_T0);  // A streams from L2; B sits in L1
    if (!kPacked) {
      _mm_prefetch(reinterpret_cast<const char*>(b + kAhead * ldb), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(b + kAhead * ldb + 15), _MM_HINT_T0);
    }
    __m256 ai = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(ai, b0, c00);
    c01 = _mm256_fmadd_ps(ai, b1, c01);
    ai = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(ai, b0, c10);
    c11 = _mm256_fmadd_ps(ai, b1, c11);
    ai = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(ai, b0, c20);
    c21 = _mm256_fmadd_ps(ai, b1, c21);
    ai = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(ai, b0, c30);
    c31 = _mm256_fmadd_ps(ai, b1, c31);
    ai = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(ai, b0, c40);
    c41 = _mm256_fmadd_ps(ai, b1, c41);
    ai = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(ai, b0, c50);
    c51 = _mm256_fmadd_ps(ai, b1, c51);
    a += 6;
    b += ldb;
  }
  acc[0] = c00, acc[1] = c01, acc[2] = c10, acc[3] = c11, acc[4] = c20, acc[5] = c21;
  acc[6] = c30, acc[7] = c31, acc[8] = c40, acc[9] = c41, acc[10] = c50, acc[11] = c51;
}

}  // namespace

void gemm_ukernel_avx2_6x16(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                            const TileEpilogue& ep) {
  // A 16-float row of C spans two cache lines unless 64-byte aligned (NumPy guarantees 16):
  // fetch both while the FMAs run.
  for (int i = 0; i < 6; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 15), _MM_HINT_T0);
  }
  __m256 acc[12];
  if (ldb == 16 && reinterpret_cast<uintptr_t>(b) % 32 == 0) {
    accumulate<true>(kc, a, b, ldb, acc);
  } else {
    accumulate<false>(kc, a, b, ldb, acc);
  }
  const __m256 c00 = acc[0], c01 = acc[1], c10 = acc[2], c11 = acc[3], c20 = acc[4], c21 = acc[5];
  const __m256 c30 = acc[6], c31 = acc[7], c40 = acc[8], c41 = acc[9], c50 = acc[10], c51 = acc[11];

  const TileEpilogue epilogue = ep;  // a local copy: stores to C cannot alias it
  const __m256 alpha = _mm256_set1_ps(epilogue.alpha);
  const __m256 beta = _mm256_set1_ps(epilogue.beta);
  auto store_row = [&](int i, __m256 left, __m256 right) {
    const __m256 row_bias = epilogue.row_bias ? _mm256_set1_ps(epilogue.row_bias[i]) : _mm256_setzero_ps();
    float* c_row = c + i * ldc;
    store_half_row(left, c_row, epilogue, alpha, beta, row_bias, epilogue.col_bias);
    store_half_row(right, c_row + 8, epilogue, alpha, beta, row_bias,
                   epilogue.col_bias ? epilogue.col_bias + 8 : nullptr);
  };
  store_row(0, c00, c01);
  store_row(1, c10, c11);
  store_row(2, c20, c21);
  store_row(3, c30, c31);
  store_row(4, c40, c41);
  store_row(5, c50, c51);
}

}  // namespace fastcnn::cpu
