// Internal to the pool kernels: the checks and thread split shared by pool.cpp and
// pool_avg.cpp, the scalar max-pool window (PyTorch's exact rules) used by the portable and
// AVX2 paths, and the AVX2 kernels' declarations. The scalar helper has internal linkage
// on purpose: this header is compiled with and without -mavx2, and one inline copy must
// not serve both.
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

}  // namespace

namespace pool_detail {
// Throws std::invalid_argument unless p describes a window torch accepts and out_h/out_w
// are its output size (pool.cpp).
void check_window(const char* op, const Pool2dParams& p, bool allow_dilation);
// Threads worth waking for `elements` touched, split into `items` pieces.
int threads_for(int64_t elements, int64_t items);
// [begin, end) of `count` items for thread `tid` of `team`.
inline void split(int64_t count, int tid, int team, int64_t& begin, int64_t& end) {
  begin = count * tid / team;
  end = count * (tid + 1) / team;
}
}  // namespace pool_detail

// Horizontal passes of average pooling (pool_avg.cpp), on one row in padded coordinates:
//   sum:     out[ow] = sum_{j < k} row[ow * stride + j],                       ow < count
//   scatter: out[w]  = sum over i with stride*i <= w + offset < stride*i + k of col[i], w < count
// row / col hold enough trailing zeros for any read (see pool_avg.cpp).
using AvgHsum = void (*)(const float* row, int64_t k, int64_t stride, int64_t count, float* out);
using AvgHscatter = void (*)(const float* col, int64_t k, int64_t stride, int64_t offset, int64_t count,
                             float* out);

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
// pool_max_avx2.cpp: output rows [oh_begin, oh_end) of one (n, c) plane, vectorized along
// the output width for stride 1 and 2 without width dilation; border cells are scalar.
bool max_pool2d_avx2_supported(const Pool2dParams& p);
void max_pool2d_rows_avx2(const Pool2dParams& p, const float* x, float* y, int64_t* index, int64_t oh_begin,
                          int64_t oh_end);
// pool_avg_avx2.cpp: the passes above for stride 1 and 2 (others: the portable ones).
void avg_hsum_avx2(const float* row, int64_t k, int64_t stride, int64_t count, float* out);
void avg_hscatter_avx2(const float* col, int64_t k, int64_t stride, int64_t offset, int64_t count, float* out);
// pool_adaptive_avx2.cpp: y[i] = mean of the plane_size (>= 8) floats at x + i * plane_size.
void global_avg_pool_planes_avx2(const float* x, int64_t planes, int64_t plane_size, float* y);
#endif

}  // namespace fastcnn::cpu
