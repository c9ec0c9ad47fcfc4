// Clamp forward and backward: one pass each, split over threads for large arrays. The
// loops are branch-free selects (bitwise & of the comparisons, not &&), so the compiler
// vectorizes them; they run at memory bandwidth, where hand-written AVX2 would gain nothing.
#include "fastcnn/clamp.h"

#include <algorithm>

#include "common/parallel.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kMinPerThread = int64_t(1) << 15;

// The loops live in plain functions of plain arguments: inside a lambda, the bounds are
// members of the closure, which the compiler must reload after every store (it might
// alias), and that keeps the loop scalar.
void forward_range(const float* x, float* y, int64_t begin, int64_t end, float lo, float hi) {
  if (lo != lo || hi != hi) {  // a NaN bound: NaN everywhere, as torch
    std::fill(y + begin, y + end, lo != lo ? lo : hi);
    return;
  }
  for (int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float above = v < lo ? lo : v;  // comparisons with NaN are false: NaN falls through both
    y[i] = above > hi ? hi : above;
  }
}

void backward_range(const float* grad_out, const float* x, float* grad_in, int64_t begin, int64_t end, float lo,
                    float hi, bool inclusive) {
  if (inclusive) {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad_out[i], v = x[i];
      grad_in[i] = (v >= lo) & (v <= hi) ? g : 0.0f;
    }
  } else {
    for (int64_t i = begin; i < end; ++i) {
      const float g = grad_out[i], v = x[i];
      grad_in[i] = (v <= lo) | (v >= hi) ? 0.0f : g;
    }
  }
}

}  // namespace

void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi) {
  detail::parallel_ranges(n, kMinPerThread,
                          [=](int64_t begin, int64_t end) { forward_range(x, y, begin, end, lo, hi); });
}

void clamp_backward(const float* grad_out, const float* x, float* grad_in, int64_t n, float lo, float hi,
                    bool inclusive) {
  detail::parallel_ranges(n, kMinPerThread, [=](int64_t begin, int64_t end) {
    backward_range(grad_out, x, grad_in, begin, end, lo, hi, inclusive);
  });
}

}  // namespace fastcnn::cpu
