// Clamp forward and backward: one pass each, split over threads for large arrays. The
// loops are branch-free selects, so the compiler vectorizes them; they run at memory
// bandwidth, where hand-written AVX2 would gain nothing.
#include "fastcnn/clamp.h"

#include "common/parallel.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kMinPerThread = int64_t(1) << 15;

}  // namespace

void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi) {
  detail::parallel_ranges(n, kMinPerThread, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float v = x[i];
      // Written so NaN falls through both selects: comparisons with NaN are false.
      const float above = v < lo ? lo : v;
      y[i] = above > hi ? hi : above;
    }
  });
}

void clamp_backward(const float* grad_out, const float* x, float* grad_in, int64_t n, float lo, float hi,
                    bool inclusive) {
  detail::parallel_ranges(n, kMinPerThread, [&](int64_t begin, int64_t end) {
    if (inclusive) {
      for (int64_t i = begin; i < end; ++i) grad_in[i] = x[i] >= lo && x[i] <= hi ? grad_out[i] : 0.0f;
    } else {
      for (int64_t i = begin; i < end; ++i) grad_in[i] = x[i] <= lo || x[i] >= hi ? 0.0f : grad_out[i];
    }
  });
}

}  // namespace fastcnn::cpu
