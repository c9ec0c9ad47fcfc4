// The portable 6x16 micro-kernel: plain C++ of the same shape as the AVX2 one, used on
// CPUs without AVX2/FMA and when FASTCNN_DISABLE_AVX2=1. It is the fallback, so it is
// tested on every shape the fast path is.
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"

namespace fastcnn::cpu {

using gemm_config::MR;
using gemm_config::NR;

namespace {

// The top-left mr x nr of a tile; inlined with constant sizes for the full tile.
inline void tile_product(int64_t mr, int64_t nr, int64_t kc, const float* a, const float* b, int64_t ldb, float* c,
                         int64_t ldc, const TileEpilogue& ep) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    for (int64_t i = 0; i < mr; ++i) {
      const float a_ik = a[k * MR + i];
      for (int64_t j = 0; j < nr; ++j) acc[i][j] += a_ik * b[k * ldb + j];
    }
  }
  for (int64_t i = 0; i < mr; ++i) {
    float* c_row = c + i * ldc;
    for (int64_t j = 0; j < nr; ++j) {
      float value = ep.alpha * acc[i][j];
      if (ep.beta != 0.0f) value += ep.beta * c_row[j];
      if (ep.row_bias) value += ep.row_bias[i];
      if (ep.col_bias) value += ep.col_bias[j];
      if (ep.relu && value < 0.0f) value = 0.0f;  // NaN passes through, as in torch.relu
      c_row[j] = value;
    }
  }
}

}  // namespace

void gemm_ukernel_ref_6x16(int64_t kc, const float* a, const float* b, int64_t ldb, float* c, int64_t ldc,
                           const TileEpilogue& ep) {
  tile_product(MR, NR, kc, a, b, ldb, c, ldc, ep);
}

void gemm_edge_ukernel_ref(int64_t mr, int64_t nr, int64_t kc, const float* a, const float* b, int64_t ldb, float* c,
                           int64_t ldc, const TileEpilogue& ep) {
  tile_product(mr, nr, kc, a, b, ldb, c, ldc, ep);
}

}  // namespace fastcnn::cpu
