// parallel_region: the one way kernels use threads. Every thread of a region (the caller
// included) runs with the kernel's floating-point environment and restores its own after.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>

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

// Called by parallel_region before it starts threads (a forked child of a process whose
// pool has run cannot start one again; parallel.cpp).
void mark_thread_pool_started();

// Runs body(thread_id, thread_count) on up to `threads` threads. The team may be smaller
// than asked, so bodies split work by the count they are given. An exception thrown by a
// body (e.g. std::bad_alloc) must not cross the OpenMP region: the first one is rethrown
// here once every thread has finished.
template <class Body>
void parallel_region(int threads, const Body& body) {
  if (threads <= 1) {
    KernelFloatEnv env;
    body(0, 1);
    return;
  }
  mark_thread_pool_started();
  std::exception_ptr error;
#pragma omp parallel num_threads(threads)
  {
    KernelFloatEnv env;
    try {
      body(omp_get_thread_num(), omp_get_num_threads());
    } catch (...) {
#pragma omp critical(fastcnn_parallel_region_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Runs body(begin, end) over [0, n) in contiguous ranges, one per thread, with boundaries at
// multiples of 16 elements (no two threads write one cache line of float output); a thread
// for each min_per_thread elements, at most get_num_threads(). For elementwise kernels.
template <class Body>
void parallel_ranges(int64_t n, int64_t min_per_thread, const Body& body) {
  const int threads =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), n / min_per_thread)));
  parallel_region(threads, [&](int tid, int team) {
    const int64_t chunks = (n + 15) / 16;
    const int64_t begin = std::min(n, chunks * tid / team * 16), end = std::min(n, chunks * (tid + 1) / team * 16);
    if (begin < end) body(begin, end);
  });
}

}  // namespace fastcnn::detail
