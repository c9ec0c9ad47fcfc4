// What the convolution algorithms share: a per-thread workspace and the way work items
// are spread over threads. Internal header.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "common/parallel.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu::conv_util {

// A buffer of at least `floats` floats for the calling thread, 64-byte aligned, grown on
// demand and reused by later calls. Callers size their requests from fixed budgets, so
// memory stays flat however the input shapes vary.
inline float* thread_workspace(size_t floats) {
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, FreeDeleter> buffer;
  thread_local size_t capacity = 0;
  if (floats > capacity) {
    buffer.reset();
    buffer.reset(static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64)));
    if (!buffer) throw std::bad_alloc();
    capacity = floats;
  }
  return buffer.get();
}

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

}  // namespace fastcnn::cpu::conv_util
