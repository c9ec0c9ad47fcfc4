// What the convolution algorithms share: a per-thread workspace and the way work items
// are spread over threads. Internal header.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/parallel.h"
#include "common/thread_buffer.h"
#include "fastcnn/conv.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu::conv_util {

// The item workspace of the convolution algorithms (one per thread; see thread_buffer.h).
struct ItemWorkspaceTag;
inline float* thread_workspace(size_t floats) { return detail::thread_buffer<ItemWorkspaceTag>(floats); }

// Runs item(index, gemm_threads) for index in [0, items): contiguous runs of items per
// thread, each with single-threaded GEMMs, when there are enough items; otherwise one
// item after another with all threads inside its GEMMs.
template <class Item>
void for_each_item(int64_t items, const Item& item) {
  const int threads = get_num_threads();
  if (items >= threads || threads == 1) {
    const int team_size = static_cast<int>(std::min<int64_t>(threads, items));
    detail::parallel_region(team_size, [&](int tid, int team) {
      for (int64_t i = items * tid / team; i < items * (tid + 1) / team; ++i) item(i, 1);
    });
    return;
  }
  for (int64_t i = 0; i < items; ++i) item(i, threads);
}

// Copies one image (C x in_h x in_w) into dst as C x (in_h + pads) x (in_w + pads), zeros
// in the padding. dst holds C * padded_h * padded_w floats.
inline void copy_padded_image(const Conv2dParams& p, const float* image, float* dst) {
  const int64_t rows = p.in_h + p.pad_top + p.pad_bottom, cols = p.in_w + p.pad_left + p.pad_right;
  std::fill(dst, dst + p.in_channels * rows * cols, 0.0f);
  for (int64_t c = 0; c < p.in_channels; ++c) {
    for (int64_t ih = 0; ih < p.in_h; ++ih) {
      const float* src = image + (c * p.in_h + ih) * p.in_w;
      std::copy(src, src + p.in_w, dst + (c * rows + ih + p.pad_top) * cols + p.pad_left);
    }
  }
}

}  // namespace fastcnn::cpu::conv_util
