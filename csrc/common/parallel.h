// parallel_region: the one way kernels use threads. Every thread of a region (the caller
// included) runs with the kernel's floating-point environment and restores its own after.
#pragma once

#include <omp.h>

#include "fastcnn/runtime.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace fastcnn::detail {

// Sets FTZ/DAZ for the life of a kernel in this thread, so denormal weights cannot slow it
// down; restores the thread's MXCSR after, so Python's own arithmetic is untouched.
class KernelFloatEnv {
 public:
  KernelFloatEnv() {
#if defined(__x86_64__) || defined(__i386__)
    saved_ = _mm_getcsr();
    if (flush_denormal()) _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero);
#endif
  }
  ~KernelFloatEnv() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(saved_);
#endif
  }
  KernelFloatEnv(const KernelFloatEnv&) = delete;
  KernelFloatEnv& operator=(const KernelFloatEnv&) = delete;

 private:
  static constexpr unsigned kFlushToZero = 0x8000;
  static constexpr unsigned kDenormalsAreZero = 0x0040;
  unsigned saved_ = 0;
};

// Runs body(thread_id, thread_count) on up to `threads` threads. The team may be smaller
// than asked, so bodies split work by the count they are given.
template <class Body>
void parallel_region(int threads, const Body& body) {
  if (threads <= 1) {
    KernelFloatEnv env;
    body(0, 1);
    return;
  }
  mark_thread_pool_started();
#pragma omp parallel num_threads(threads)
  {
    KernelFloatEnv env;
    body(omp_get_thread_num(), omp_get_num_threads());
  }
}

}  // namespace fastcnn::detail
