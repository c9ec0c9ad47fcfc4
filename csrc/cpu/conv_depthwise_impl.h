// Depthwise convolution (groups == C == K: one R x S filter per channel), computed
// directly for any stride, padding and dilation: each output row is a sum of R * S
// scaled input rows (axpys along the width, in L1). Included once per instruction set
// (conv_depthwise.cpp portable, conv_depthwise_avx2.cpp with -mavx2 -mfma, which adds
// register-blocked fast paths) inside namespace FASTCNN_DEPTHWISE_NS.
#include <algorithm>
#include <cstdint>

#include "common/parallel.h"
#include "fastcnn/conv.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu::FASTCNN_DEPTHWISE_NS {

namespace {

// The output columns [lo, hi) whose input column ow * stride + start lies in [0, width).
inline void valid_range(int64_t out_w, int64_t stride, int64_t start, int64_t width, int64_t& lo, int64_t& hi) {
  lo = start >= 0 ? 0 : (-start + stride - 1) / stride;
  hi = width - start <= 0 ? 0 : (width - start + stride - 1) / stride;
  lo = std::min(lo, out_w);
  hi = std::clamp(hi, lo, out_w);
}

// The stride is a template argument so the common 1 and 2 compile to fixed-stride loops.
template <int64_t kStride>
inline void axpy_strided(float a, const float* x, int64_t stride, float* y, int64_t n) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i * step];
}

template <int64_t kStride>
inline void scatter_axpy(float a, const float* x, float* y, int64_t stride, int64_t n) {
  const int64_t step = kStride > 0 ? kStride : stride;
  for (int64_t i = 0; i < n; ++i) y[i * step] += a * x[i];
}

template <int64_t kStride>
inline float dot_strided(const float* a, const float* x, int64_t stride, int64_t n) {
  const int64_t step = kStride > 0 ? kStride : stride;
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * x[i * step];
  return sum;
}

// Calls fn(oh, ih, s, lo, hi, first input column) for every output row and filter tap
// that meets the image.
template <class Fn>
void for_each_tap(const Conv2dParams& p, const Fn& fn) {
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  for (int64_t oh = 0; oh < out_h; ++oh) {
    for (int64_t r = 0; r < p.kernel_h; ++r) {
      const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
      if (ih < 0 || ih >= p.in_h) continue;
      for (int64_t s = 0; s < p.kernel_w; ++s) {
        const int64_t start = s * p.dilation_w - p.pad_left;
        int64_t lo, hi;
        valid_range(out_w, p.stride_w, start, p.in_w, lo, hi);
        if (lo < hi) fn(oh, r, ih, s, lo, hi, lo * p.stride_w + start);
      }
    }
  }
}

template <int64_t kStride>
void forward_plane(const Conv2dParams& p, const float* x, const float* w, float bias, bool relu, float* y) {
  const int64_t out_w = p.out_w(), out_pixels = p.out_h() * out_w;
  std::fill(y, y + out_pixels, bias);
  for_each_tap(p, [&](int64_t oh, int64_t r, int64_t ih, int64_t s, int64_t lo, int64_t hi, int64_t iw) {
    axpy_strided<kStride>(w[r * p.kernel_w + s], x + ih * p.in_w + iw, p.stride_w, y + oh * out_w + lo, hi - lo);
  });
  if (relu) {
    for (int64_t i = 0; i < out_pixels; ++i) y[i] = y[i] < 0.0f ? 0.0f : y[i];  // NaN passes
  }
}

template <int64_t kStride>
void backward_data_plane(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  const int64_t out_w = p.out_w();
  std::fill(grad_x, grad_x + p.in_h * p.in_w, 0.0f);
  for_each_tap(p, [&](int64_t oh, int64_t r, int64_t ih, int64_t s, int64_t lo, int64_t hi, int64_t iw) {
    scatter_axpy<kStride>(w[r * p.kernel_w + s], grad_y + oh * out_w + lo, grad_x + ih * p.in_w + iw, p.stride_w,
                          hi - lo);
  });
}

// grad_w[r, s] += sum over the plane; per-row sums are added in double so that long
// sums (batch x output pixels terms) stay accurate.
template <int64_t kStride>
void backward_weight_plane(const Conv2dParams& p, const float* x, const float* grad_y, double* grad_w) {
  const int64_t out_w = p.out_w();
  for_each_tap(p, [&](int64_t oh, int64_t r, int64_t ih, int64_t s, int64_t lo, int64_t hi, int64_t iw) {
    grad_w[r * p.kernel_w + s] +=
        dot_strided<kStride>(grad_y + oh * out_w + lo, x + ih * p.in_w + iw, p.stride_w, hi - lo);
  });
}

}  // namespace

// Runs range_fn(begin, end) on each kernel thread's share of planes [0, planes).
template <class RangeFn>
void for_each_plane_range(int64_t planes, int64_t work_per_plane, const RangeFn& range_fn) {
  const int64_t useful = std::max<int64_t>(1, planes * work_per_plane / (int64_t(1) << 15));
  const int threads = static_cast<int>(std::min<int64_t>({get_num_threads(), planes, useful}));
  detail::parallel_region(threads, [&](int tid, int team) {
    const int64_t begin = planes * tid / team, end = planes * (tid + 1) / team;
    if (begin < end) range_fn(begin, end);
  });
}

// Runs fn(plane) for planes [0, planes) across the kernel threads.
template <class Fn>
void for_each_plane(int64_t planes, int64_t work_per_plane, const Fn& fn) {
  for_each_plane_range(planes, work_per_plane, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

void generic_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                     float* y) {
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h() * p.out_w(), taps = p.kernel_h * p.kernel_w;
  for_each_plane(p.batch * p.in_channels, out_plane * taps, [&](int64_t plane) {
    const int64_t c = plane % p.in_channels;
    const float b = bias ? bias[c] : 0.0f;
    const float* xp = x + plane * in_plane;
    float* yp = y + plane * out_plane;
    switch (p.stride_w) {
      case 1: forward_plane<1>(p, xp, w + c * taps, b, relu, yp); break;
      case 2: forward_plane<2>(p, xp, w + c * taps, b, relu, yp); break;
      default: forward_plane<0>(p, xp, w + c * taps, b, relu, yp); break;
    }
  });
}

void generic_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h() * p.out_w(), taps = p.kernel_h * p.kernel_w;
  for_each_plane(p.batch * p.in_channels, out_plane * taps, [&](int64_t plane) {
    const int64_t c = plane % p.in_channels;
    const float* gy = grad_y + plane * out_plane;
    float* gx = grad_x + plane * in_plane;
    switch (p.stride_w) {
      case 1: backward_data_plane<1>(p, gy, w + c * taps, gx); break;
      case 2: backward_data_plane<2>(p, gy, w + c * taps, gx); break;
      default: backward_data_plane<0>(p, gy, w + c * taps, gx); break;
    }
  });
}

void generic_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h() * p.out_w(), taps = p.kernel_h * p.kernel_w;
  // Threads own channels (summing over the batch inside), so no two write one filter.
  for_each_plane(p.in_channels, p.batch * out_plane * taps, [&](int64_t c) {
    double sums[64 * 64] = {};  // taps <= 4096, checked by the dispatcher
    for (int64_t n = 0; n < p.batch; ++n) {
      const int64_t plane = n * p.in_channels + c;
      const float* xp = x + plane * in_plane;
      const float* gy = grad_y + plane * out_plane;
      switch (p.stride_w) {
        case 1: backward_weight_plane<1>(p, xp, gy, sums); break;
        case 2: backward_weight_plane<2>(p, xp, gy, sums); break;
        default: backward_weight_plane<0>(p, xp, gy, sums); break;
      }
    }
    for (int64_t t = 0; t < taps; ++t) grad_w[c * taps + t] = static_cast<float>(sums[t]);
  });
}

}  // namespace fastcnn::cpu::FASTCNN_DEPTHWISE_NS
