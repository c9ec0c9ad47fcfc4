// Adaptive average pooling, NCHW float32: output cell (i, j) averages input rows
// [floor(i*H/OH), ceil((i+1)*H/OH)) and columns likewise (torch's rule; windows may
// overlap or differ in size). Global average pooling (1x1 output) is a plain sum per plane,
// and its backward a fill: AVX2 sums 8 planes side by side (pool_adaptive_avx2.cpp); the
// portable sum keeps 8 independent partial sums, which vectorize.
#include <algorithm>
#include <cstring>
#include <utility>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/pool_kernels.h"
#include "fastcnn/pool.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {
namespace {

constexpr int64_t kMinElementsPerThread = 32 * 1024;

inline int64_t window_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
inline int64_t window_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

void check(const char* op, const AdaptivePool2dParams& p) {
  FASTCNN_CHECK(p.batch >= 0 && p.channels >= 0, op, ": sizes must be >= 0");
  FASTCNN_CHECK(p.in_h >= 1 && p.in_w >= 1, op, ": input plane (", p.in_h, ", ", p.in_w, ") must not be empty");
  FASTCNN_CHECK(p.out_h >= 1 && p.out_w >= 1, op, ": output_size (", p.out_h, ", ", p.out_w, ") must be >= 1");
  // Bounded so window_start/window_end (i * in) and the element counts fit int64.
  constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
  for (int64_t v : {p.batch, p.channels, p.in_h, p.in_w, p.out_h, p.out_w}) {
    FASTCNN_CHECK(v <= kMaxSize, op, ": sizes must be < 2^31, got ", v);
  }
  for (const auto& [h, w] : {std::pair{p.in_h, p.in_w}, std::pair{p.out_h, p.out_w}}) {
    int64_t n = 1;
    for (int64_t d : {p.batch, p.channels, h, w}) {
      FASTCNN_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= (int64_t{1} << 62), op, ": (", p.batch, ", ",
                    p.channels, ", ", h, ", ", w, ") has more than 2^62 elements");
    }
  }
}

// range_fn(begin, end) on each thread's share of the planes.
template <class RangeFn>
void for_each_plane_range(const AdaptivePool2dParams& p, const RangeFn& range_fn) {
  const int64_t planes = p.batch * p.channels;
  if (planes == 0) return;
  const int64_t elements = planes * (p.in_h * p.in_w + p.out_h * p.out_w);
  const int64_t useful = std::min(planes, std::max<int64_t>(1, elements / kMinElementsPerThread));
  const int threads = static_cast<int>(std::min<int64_t>(get_num_threads(), useful));
  detail::parallel_region(threads, [&](int tid, int team) {
    const int64_t begin = planes * tid / team, end = planes * (tid + 1) / team;
    if (begin < end) range_fn(begin, end);
  });
}

template <class PlaneFn>
void for_each_plane(const AdaptivePool2dParams& p, const PlaneFn& fn) {
  for_each_plane_range(p, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) fn(plane);
  });
}

// Sum of n floats in 8 interleaved partial sums (a fixed order, vectorizable without -ffast-math).
float sum(const float* x, int64_t n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) partial[l] += x[i + l];
  float total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  for (; i < n; ++i) total += x[i];
  return total;
}

}  // namespace

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y) {
  check("adaptive_avg_pool2d", p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  if (p.out_h == 1 && p.out_w == 1) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
    if (active_isa() == Isa::Avx2 && in_plane >= 8) {
      for_each_plane_range(p, [&](int64_t begin, int64_t end) {
        global_avg_pool_planes_avx2(x + begin * in_plane, end - begin, in_plane, y + begin);
      });
      return;
    }
#endif
    const float count = static_cast<float>(in_plane);
    for_each_plane(p, [&](int64_t plane) { y[plane] = sum(x + plane * in_plane, in_plane) / count; });
    return;
  }
  for_each_plane(p, [&](int64_t plane) {
    const float* xp = x + plane * in_plane;
    float* yp = y + plane * out_plane;
    for (int64_t oh = 0; oh < p.out_h; ++oh) {
      const int64_t h0 = window_start(oh, p.in_h, p.out_h), h1 = window_end(oh, p.in_h, p.out_h);
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t w0 = window_start(ow, p.in_w, p.out_w), w1 = window_end(ow, p.in_w, p.out_w);
        float total = 0.0f;
        for (int64_t h = h0; h < h1; ++h) total += sum(xp + h * p.in_w + w0, w1 - w0);
        yp[oh * p.out_w + ow] = total / static_cast<float>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* grad_out, float* grad_in) {
  check("adaptive_avg_pool2d_backward", p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  if (p.out_h == 1 && p.out_w == 1) {
    const float count = static_cast<float>(in_plane);
    for_each_plane(p, [&](int64_t plane) {
      const float delta = grad_out[plane] / count;
      float* gin = grad_in + plane * in_plane;
      for (int64_t i = 0; i < in_plane; ++i) gin[i] = delta;
    });
    return;
  }
  for_each_plane(p, [&](int64_t plane) {
    float* gin = grad_in + plane * in_plane;
    const float* gout = grad_out + plane * out_plane;
    std::memset(gin, 0, sizeof(float) * static_cast<size_t>(in_plane));
    for (int64_t oh = 0; oh < p.out_h; ++oh) {
      const int64_t h0 = window_start(oh, p.in_h, p.out_h), h1 = window_end(oh, p.in_h, p.out_h);
      for (int64_t ow = 0; ow < p.out_w; ++ow) {
        const int64_t w0 = window_start(ow, p.in_w, p.out_w), w1 = window_end(ow, p.in_w, p.out_w);
        const float delta = gout[oh * p.out_w + ow] / static_cast<float>((h1 - h0) * (w1 - w0));
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) gin[h * p.in_w + w] += delta;
      }
    }
  });
}

}  // namespace fastcnn::cpu
