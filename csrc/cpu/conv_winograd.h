// Winograd F(2x2, 3x3): the tile transforms, one tile row at a time, shared by the drivers
// (conv_winograd.cpp, conv_winograd_weight.cpp) and the two builds of the row transforms
// (portable in conv_winograd.cpp, AVX2 in conv_winograd_avx2.cpp). Internal header.
#pragma once

#include <cstdint>

namespace fastcnn::cpu::winograd {

// One row of 2x2 output tiles, ty, of one plane: tile tx reads the 4x4 input patch at
// (2*ty - pad_top, 2*tx - pad_left) (zero outside the in_h x in_w input) and writes the
// 2x2 outputs at (2*ty, 2*tx) that lie inside out_h x out_w. Pads may be negative.
struct TileRow {
  int64_t in_h, in_w, out_h, out_w, tiles_w, ty, pad_top, pad_left;
};

// v[xi * xi_stride + tx] = (B^T d B)[xi] for tiles tx in [0, tiles_w). It may write up
// to 7 floats past tile tiles_w - 1 (the AVX2 build stores whole vectors: masked stores
// are slow on AMD cores), so callers write a matrix's rows in order, each over the last
// one's overflow, and leave 8 floats of slack after each row (item_buffers does).
using InputRowFn = void (*)(const float* plane, const TileRow& row, float* v, int64_t xi_stride);
// plane[2x2 tile tx] = relu?(A^T m A + bias) with m[xi] = m_row[xi * xi_stride + tx].
using OutputRowFn = void (*)(const float* m_row, int64_t xi_stride, float bias, bool relu, const TileRow& row,
                             float* plane);

// Where the 3x3 filter of pair (o, i) lives: w + o * outer_stride + i * inner_stride, its
// 9 taps row-major, or reversed when `flip` (a 180-degree rotation). The pairs are
// numbered o * inner + i, and u[xi * pair_count + pair] receives (G g G^T)[xi].
struct FilterSource {
  const float* w;
  int64_t inner, outer_stride, inner_stride;
  bool flip;
};
using FilterFn = void (*)(const FilterSource& source, int64_t begin, int64_t end, int64_t pair_count, float* u);

void filters_ref(const FilterSource& source, int64_t begin, int64_t end, int64_t pair_count, float* u);
void input_row_ref(const float* plane, const TileRow& row, float* v, int64_t xi_stride);
void output_row_ref(const float* m_row, int64_t xi_stride, float bias, bool relu, const TileRow& row, float* plane);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void filters_avx2(const FilterSource& source, int64_t begin, int64_t end, int64_t pair_count, float* u);
void input_row_avx2(const float* plane, const TileRow& row, float* v, int64_t xi_stride);
void output_row_avx2(const float* m_row, int64_t xi_stride, float bias, bool relu, const TileRow& row,
                     float* plane);
#endif

}  // namespace fastcnn::cpu::winograd
