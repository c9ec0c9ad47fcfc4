// The Winograd drivers' work items (conv_winograd.cpp, conv_winograd_weight.cpp): how a
// batch's tile rows are cut, and where an item's transformed tiles live. Internal header,
// for portable files only: its inline functions must not be compiled with -mavx2.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/conv_util.h"
#include "cpu/conv_winograd.h"

namespace fastcnn::cpu::winograd {

// A stride in floats for the transformed tiles, rounded up to whole cache lines and kept
// off multiples of 1 KiB: 16 streams a power of two apart (256-tile items, as a batch of
// 16 7x7 images or one 32x32 image makes) share L1 sets and evict each other.
inline int64_t padded_stride(int64_t floats) {
  floats = (floats + 15) / 16 * 16;
  return floats % 256 == 0 ? floats + 16 : floats;
}

// The drivers' work items: runs of tile rows over the whole batch (so 7x7 images still
// give the GEMMs wide matrices), about 256 tiles each, and within 2^21 floats (8 MiB) of
// transformed tiles for all `channels` (inputs and outputs together).
struct ItemSplit {
  int64_t rows_per_item, items;
};
inline ItemSplit split_tile_rows(int64_t rows, int64_t tiles_w, int64_t channels) {
  constexpr int64_t kTileBudget = int64_t(1) << 21, kTargetTiles = 256;
  const int64_t budget_rows = std::max<int64_t>(1, kTileBudget / (16 * channels * tiles_w));
  const int64_t wanted_rows = (kTargetTiles + tiles_w - 1) / tiles_w;
  const int64_t rows_per_item = std::clamp<int64_t>(std::min(wanted_rows, rows), 1, budget_rows);
  return {rows_per_item, (rows + rows_per_item - 1) / rows_per_item};
}

// One item's two transformed-tile buffers in the calling thread's item workspace: 16
// matrices of `first_channels` (then `second_channels`) rows of `tiles`, rows ld apart.
struct ItemBuffers {
  int64_t ld, first_stride, second_stride;  // floats between rows and between the 16 matrices
  float* first;
  float* second;
};
inline ItemBuffers item_buffers(int64_t tiles, int64_t first_channels, int64_t second_channels) {
  ItemBuffers b;
  b.ld = padded_stride(tiles + 8);  // slack for input_row's overflow
  b.first_stride = padded_stride(first_channels * b.ld);
  b.second_stride = padded_stride(second_channels * b.ld);
  // 8 floats of slack at the end: the AVX2 output transform reads rows 8 floats long.
  b.first = conv_util::thread_workspace(static_cast<size_t>(16 * (b.first_stride + b.second_stride) + 8));
  b.second = b.first + 16 * b.first_stride;
  return b;
}

}  // namespace fastcnn::cpu::winograd
