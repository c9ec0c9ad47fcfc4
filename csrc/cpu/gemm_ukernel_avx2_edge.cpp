// AVX2/FMA micro-kernels for the edge tiles of C (fewer than MR rows or NR columns left),
// one per row count and 8-column vector count. They do only the multiply-adds of the
// rows and vectors that exist, and read and write C in place through lane masks, where
// running the full 6x16 kernel into a padded copy would pay for the whole tile (a 4-row
// or 4-column remainder cost as much as a full tile) plus the copies. Each C value gets
// the same multiply-adds in the same order as in the full kernel, so results are equal
// bit for bit whichever kernel computes a tile.
#include <immintrin.h>

#include <cstdint>

#include "cpu/avx2_row_loads.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"

namespace fastcnn::cpu {

using gemm_config::MR;
using gemm_config::NR;

static_assert(MR == 6 && NR == 16, "these kernels are written for 6x16 panels");

namespace {

// R rows (1..6) and V vectors of 8 columns (1..2); the last vector holds `last_lanes`
// (1..8) columns of C.
template <int R, int V>
void edge_kernel(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                 const TileEpilogue& ep, int64_t last_lanes) {
  __m256 acc[R][V];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < kc; ++k) {
    __m256 bv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) bv[v] = _mm256_loadu_ps(b + 8 * v);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += ldb;
  }

  const TileEpilogue epilogue = ep;  // a local copy: stores to C cannot alias it
  const __m256 alpha = _mm256_set1_ps(epilogue.alpha);
  const __m256 beta = _mm256_set1_ps(epilogue.beta);
  const __m256i last_mask = range_mask(0, last_lanes);
  const bool last_full = last_lanes == 8;
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i) {
    float* c_row = c + i * ldc;
    const __m256 row_bias = epilogue.row_bias ? _mm256_set1_ps(epilogue.row_bias[i]) : _mm256_setzero_ps();
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) {
      const bool full = v < V - 1 || last_full;
      float* cv = c_row + 8 * v;
      // As store_half_row in the full kernel, in the same order of operations.
      __m256 value = _mm256_mul_ps(acc[i][v], alpha);
      if (epilogue.beta != 0.0f) {
        const __m256 old = full ? _mm256_loadu_ps(cv) : _mm256_maskload_ps(cv, last_mask);
        value = _mm256_fmadd_ps(beta, old, value);
      }
      if (epilogue.row_bias) value = _mm256_add_ps(value, row_bias);
      if (epilogue.col_bias) {
        const float* bias = epilogue.col_bias + 8 * v;
        value = _mm256_add_ps(value, full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, last_mask));
      }
      if (epilogue.relu) value = _mm256_max_ps(_mm256_setzero_ps(), value);
      if (full) {
        _mm256_storeu_ps(cv, value);
      } else {
        _mm256_maskstore_ps(cv, last_mask, value);
      }
    }
  }
}

using EdgeFn = void (*)(int64_t, const float*, const float*, int64_t, float*, int64_t, const TileEpilogue&, int64_t);

template <int V>
constexpr EdgeFn kEdgeByRows[MR] = {edge_kernel<1, V>, edge_kernel<2, V>, edge_kernel<3, V>,
                                    edge_kernel<4, V>, edge_kernel<5, V>, edge_kernel<6, V>};

}  // namespace

void gemm_edge_ukernel_avx2(int64_t mr, int64_t nr, int64_t kc, const float* a, const float* b, int64_t ldb,
                            float* c, int64_t ldc, const TileEpilogue& ep) {
  const int64_t last_lanes = nr - (nr > 8 ? 8 : 0);
  (nr > 8 ? kEdgeByRows<2> : kEdgeByRows<1>)[mr - 1](kc, a, b, ldb, c, ldc, ep, last_lanes);
}

}  // namespace fastcnn::cpu
