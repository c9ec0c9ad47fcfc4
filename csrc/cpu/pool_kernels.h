// Internal to the pool kernels: the scalar window helpers shared by the portable and
// AVX2 paths (one output cell, PyTorch's exact window and divisor rules), and the AVX2
// row kernels' declarations. The helpers have internal linkage on purpose: this header is
// compiled with and without -mavx2, and one inline copy must not serve both.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "fastcnn/pool.h"

namespace fastcnn::cpu {
namespace {

// Max over one window, as torch: rows/cols start at the first cell >= 0 (stepping by the
// dilation), index starts at that cell, `v > best || isnan(v)` replaces.
inline void max_pool_cell(const Pool2dParams& p, const float* x, int64_t oh, int64_t ow, float* y,
                          int64_t* index) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  const int64_t h1 = std::min(h0 + (p.kernel_h - 1) * p.dilation_h + 1, p.in_h);
  const int64_t w1 = std::min(w0 + (p.kernel_w - 1) * p.dilation_w + 1, p.in_w);
  while (h0 < 0) h0 += p.dilation_h;
  while (w0 < 0) w0 += p.dilation_w;
  float best = -std::numeric_limits<float>::infinity();
  int64_t best_index = h0 * p.in_w + w0;
  for (int64_t h = h0; h < h1; h += p.dilation_h) {
    for (int64_t w = w0; w < w1; w += p.dilation_w) {
      const float v = x[h * p.in_w + w];
      if (v > best || std::isnan(v)) best = v, best_index = h * p.in_w + w;
    }
  }
  *y = best;
  *index = best_index;
}

// Clipped window of one avg-pool output and its divisor (0 when the window holds no
// input cell; torch writes 0 there). count_include_pad counts padding but not cells
// past the padded input, which ceil_mode's last window may reach.
struct AvgWindow {
  int64_t h0, h1, w0, w1;
  float divisor;
};

inline AvgWindow avg_window(const Pool2dParams& p, int64_t oh, int64_t ow) {
  AvgWindow win;
  win.h0 = oh * p.stride_h - p.pad_h, win.w0 = ow * p.stride_w - p.pad_w;
  win.h1 = std::min(win.h0 + p.kernel_h, p.in_h + p.pad_h);
  win.w1 = std::min(win.w0 + p.kernel_w, p.in_w + p.pad_w);
  const int64_t padded_count = (win.h1 - win.h0) * (win.w1 - win.w0);
  win.h0 = std::max<int64_t>(win.h0, 0), win.w0 = std::max<int64_t>(win.w0, 0);
  win.h1 = std::min(win.h1, p.in_h), win.w1 = std::min(win.w1, p.in_w);
  if (win.h0 >= win.h1 || win.w0 >= win.w1) {
    win.divisor = 0.0f;
  } else if (p.divisor_override != 0) {
    win.divisor = static_cast<float>(p.divisor_override);
  } else {
    win.divisor = static_cast<float>(p.count_include_pad ? padded_count : (win.h1 - win.h0) * (win.w1 - win.w0));
  }
  return win;
}

inline float avg_pool_cell(const Pool2dParams& p, const float* x, int64_t oh, int64_t ow) {
  const AvgWindow win = avg_window(p, oh, ow);
  if (win.divisor == 0.0f) return 0.0f;
  float sum = 0.0f;
  for (int64_t h = win.h0; h < win.h1; ++h)
    for (int64_t w = win.w0; w < win.w1; ++w) sum += x[h * p.in_w + w];
  return sum / win.divisor;
}

// Adds grad / divisor to every input cell of the window (grad_in is one plane).
inline void avg_pool_cell_backward(const Pool2dParams& p, float grad, int64_t oh, int64_t ow, float* grad_in) {
  const AvgWindow win = avg_window(p, oh, ow);
  if (win.divisor == 0.0f) return;
  const float delta = grad / win.divisor;
  for (int64_t h = win.h0; h < win.h1; ++h)
    for (int64_t w = win.w0; w < win.w1; ++w) grad_in[h * p.in_w + w] += delta;
}

}  // namespace

// AVX2 kernels (pool_avx2.cpp). x, y, index, grad_* point at one (n, c) plane; forward
// kernels compute output rows [oh_begin, oh_end), backward kernels a whole plane (grad_in
// already zeroed). Vectorized along the output width for stride 1 and 2 without width
// dilation; other cells fall back to the scalar helpers above.
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
bool max_pool2d_avx2_supported(const Pool2dParams& p);
void max_pool2d_rows_avx2(const Pool2dParams& p, const float* x, float* y, int64_t* index, int64_t oh_begin,
                          int64_t oh_end);
bool avg_pool2d_avx2_supported(const Pool2dParams& p);
void avg_pool2d_rows_avx2(const Pool2dParams& p, const float* x, float* y, int64_t oh_begin, int64_t oh_end);
void avg_pool2d_plane_backward_avx2(const Pool2dParams& p, const float* grad_out, float* grad_in);
#endif

}  // namespace fastcnn::cpu
