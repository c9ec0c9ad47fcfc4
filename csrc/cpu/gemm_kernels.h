// The pieces of the CPU GEMM, shared between the frame (gemm_blocked.cpp), the packing
// routines (gemm_pack.cpp) and the micro-kernels (gemm_ukernel_*.cpp). Internal header.
#pragma once

#include <cstdint>

#include "fastcnn/gemm.h"

namespace fastcnn::cpu {

// What a micro-kernel does with one MR x NR tile of C after its multiply-adds:
//   C = relu?(alpha * AB + beta * C + row_bias[i] + col_bias[j]).
// beta == 0 never reads C; null biases are skipped.
struct TileEpilogue {
  float alpha = 1.0f;
  float beta = 0.0f;
  const float* row_bias = nullptr;  // MR values
  const float* col_bias = nullptr;  // NR values
  bool relu = false;
};

// Multiplies a packed MR x kc panel of A by a kc x NR panel of B into the MR x NR tile at
// c (row stride ldc). Row k of the B panel is the NR floats at b_panel + k * ldb: ldb ==
// NR for a packed panel, or B's own row stride when the frame reads B in place.
using GemmUkernel = void (*)(int64_t kc, const float* a_panel, const float* b_panel, int64_t ldb, float* c,
                             int64_t ldc, const TileEpilogue& epilogue);

void gemm_ukernel_ref_6x16(int64_t kc, const float* a_panel, const float* b_panel, int64_t ldb, float* c,
                           int64_t ldc, const TileEpilogue& epilogue);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void gemm_ukernel_avx2_6x16(int64_t kc, const float* a_panel, const float* b_panel, int64_t ldb, float* c,
                            int64_t ldc, const TileEpilogue& epilogue);
#endif

// The same for an edge tile of mr x nr (1 <= mr <= MR, 1 <= nr <= NR, not both full):
// panels laid out as for a full tile, but only the mr x nr values of C are read or
// written (and of the biases), with the multiply-adds of the full kernel, in its order.
using GemmEdgeUkernel = void (*)(int64_t mr, int64_t nr, int64_t kc, const float* a_panel, const float* b_panel,
                                 int64_t ldb, float* c, int64_t ldc, const TileEpilogue& epilogue);

void gemm_edge_ukernel_ref(int64_t mr, int64_t nr, int64_t kc, const float* a_panel, const float* b_panel,
                           int64_t ldb, float* c, int64_t ldc, const TileEpilogue& epilogue);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void gemm_edge_ukernel_avx2(int64_t mr, int64_t nr, int64_t kc, const float* a_panel, const float* b_panel,
                            int64_t ldb, float* c, int64_t ldc, const TileEpilogue& epilogue);
#endif

// The micro-kernels of one instruction set, for the frame.
struct GemmKernels {
  GemmUkernel tile;
  GemmEdgeUkernel edge;
};

// Packs rows [i0, i0 + mc) and columns [p0, p0 + kc) of op(A) into MR-row panels: for each
// k, the MR values of a column side by side; rows past M are zero.
void pack_a_block(const GemmParams& params, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                  float* packed);

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
// The transposing packs of pack_a_block (A row-major, any panel) and pack_b_panels (B
// stored N x K, full panels), with 8x8 register transposes, and the pack of the last,
// partial panel of a B stored K x N with masked loads (gemm_pack_avx2.cpp).
void pack_a_panel_rows_avx2(const float* a, int64_t lda, int64_t rows, int64_t kc, float* dst);
void pack_b_panel_columns_avx2(const float* b, int64_t ldb, int64_t kc, float* panel);
void pack_b_panel_rows_tail_avx2(const float* b, int64_t ldb, int64_t cols, int64_t kc, float* panel);
#endif

// The K blocking of the frame, shared with gemm_pack_a: K cut into blocks of equal size
// (576 -> 3 x 192, not 256 + 256 + 64; a short last block would pay a full
// read-modify-write of C for little work), each at most KC.
int64_t gemm_kc_block(int64_t k);

// In a whole op(A) pre-packed by gemm_pack_a (m rows, k columns): the packed block of rows
// from `row` (a multiple of MR) for the K block [pc, pc + kc), laid out as pack_a_block
// lays it out. Blocks are stored K block by K block, each holding every row's panels.
const float* prepacked_a_block(const float* packed, int64_t m, int64_t row, int64_t pc, int64_t kc);

// Rows [row0, row0 + p.m) of an m_total-row op(A) (p.a pointing at row row0; row0 a
// multiple of MR) into their place in the whole buffer gemm_pack_a would fill, so that
// row blocks can be packed apart (by different threads, or as they are produced).
void gemm_pack_a_rows(const GemmParams& p, int64_t m_total, int64_t row0, float* packed);

// Packs rows [p0, p0 + kc) and columns [j0, j0 + nc) of op(B) into NR-wide panels, one
// after another: for each k, NR values side by side; columns past nc are zero.
void pack_b_panels(const GemmParams& params, int64_t p0, int64_t kc, int64_t j0, int64_t nc,
                   float* packed);

// The five BLIS loops around `ukernel`, on up to `threads` threads. Requires m, n, k >= 1.
void gemm_blocked(const GemmParams& params, const GemmKernels& kernels, int threads);

// cpu::gemm on at most `threads` threads (fewer when the problem is small), for kernels
// that split their own work across threads and call it with 1 from inside a region.
void gemm_with_threads(const GemmParams& params, int threads);

}  // namespace fastcnn::cpu
