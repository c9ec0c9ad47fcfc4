// Per-thread scratch buffers that grow on demand and are reused by later calls: a kernel
// in a training loop reuses the same pages instead of faulting in fresh ones every call.
// Each Tag names a separate buffer, so buffers used at the same time (a convolution's
// workspace and the GEMM packing inside it) never share memory. Callers size their
// requests from fixed budgets or layer shapes, so memory stays bounded.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace fastcnn::detail {

// At least `floats` floats, 64-byte aligned, owned by the calling thread for tag Tag;
// the contents are unspecified and the pointer is valid until the next call with Tag.
template <class Tag>
float* thread_buffer(size_t floats) {
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  thread_local std::unique_ptr<float, FreeDeleter> buffer;
  thread_local size_t capacity = 0;
  if (floats > capacity) {
    buffer.reset();
    capacity = 0;  // stays 0 if the allocation below throws
    buffer.reset(static_cast<float*>(std::aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64)));
    if (!buffer) throw std::bad_alloc();
    capacity = floats;
  }
  return buffer.get();
}

}  // namespace fastcnn::detail
