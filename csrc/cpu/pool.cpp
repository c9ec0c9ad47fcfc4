// Max pooling, NCHW float32: the window checks shared with average pooling, the portable
// kernel and the dispatch to the AVX2 row kernel. The forward splits (plane, output row)
// pairs over threads; the backward owns whole planes, so its scatter-adds (overlapping
// windows) never race.
#include <algorithm>
#include <cstring>
#include <utility>

#include "common/check.h"
#include "common/parallel.h"
#include "cpu/pool_kernels.h"
#include "fastcnn/pool.h"
#include "fastcnn/runtime.h"

namespace fastcnn {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                         bool ceil_mode) {
  if (kernel < 1 || stride < 1 || dilation < 1 || pad < 0) return 0;
  // Out of the range where the arithmetic below fits int64 (check_window rejects these).
  constexpr int64_t kMax = (int64_t{1} << 31) - 1;
  if (in > (int64_t{1} << 62) || kernel > kMax || stride > kMax || pad > kMax || dilation > kMax) return 0;
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;
  // torch divides rounding down, also when the window is larger than the padded input
  // (span < 0): with ceil_mode one window then remains if it overhangs by < stride.
  const int64_t numerator = span + (ceil_mode ? stride - 1 : 0);
  int64_t out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
  if (out < 1) return 0;
  // torch: the last window must start inside the input or the left padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace cpu {
namespace {

using pool_detail::split;
using pool_detail::threads_for;

void check_sizes(const char* op, const Pool2dParams& p) {
  FASTCNN_CHECK(p.batch >= 0 && p.channels >= 0 && p.in_h >= 0 && p.in_w >= 0 && p.out_h >= 0 && p.out_w >= 0,
                op, ": sizes must be >= 0");
}

}  // namespace

namespace pool_detail {

// A thread should get at least this many input + output elements before another is woken.
constexpr int64_t kMinElementsPerThread = 32 * 1024;

int threads_for(int64_t elements, int64_t items) {
  const int64_t useful = std::min(items, std::max<int64_t>(1, elements / kMinElementsPerThread));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), useful)));
}

void check_window(const char* op, const Pool2dParams& p, bool allow_dilation) {
  check_sizes(op, p);
  FASTCNN_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1, op, ": kernel_size must be >= 1, got (", p.kernel_h, ", ",
                p.kernel_w, ")");
  FASTCNN_CHECK(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got (", p.stride_h, ", ",
                p.stride_w, ")");
  FASTCNN_CHECK(p.dilation_h >= 1 && p.dilation_w >= 1, op, ": dilation must be >= 1, got (", p.dilation_h,
                ", ", p.dilation_w, ")");
  FASTCNN_CHECK(allow_dilation || (p.dilation_h == 1 && p.dilation_w == 1), op, ": dilation must be 1");
  FASTCNN_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op,
                ": padding (", p.pad_h, ", ", p.pad_w, ") must be >= 0 and at most half of kernel_size (",
                p.kernel_h, ", ", p.kernel_w, ")");
  FASTCNN_CHECK(p.divisor_override >= 0, op, ": divisor_override must be > 0");
  // Bounded so the output-size arithmetic and element counts cannot overflow int64.
  constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;
  for (int64_t v : {p.batch, p.channels, p.in_h, p.in_w, p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
                    p.dilation_h, p.dilation_w}) {
    FASTCNN_CHECK(v <= kMaxSize, op, ": sizes, kernel_size, stride and dilation must be < 2^31, got ", v);
  }
  const int64_t oh = pool_output_size(p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.ceil_mode);
  const int64_t ow = pool_output_size(p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.ceil_mode);
  FASTCNN_CHECK(p.in_h >= 1 && p.in_w >= 1 && oh >= 1 && ow >= 1, op, ": input plane (", p.in_h, ", ", p.in_w,
                ") gives an empty output (", oh, ", ", ow, ")");
  FASTCNN_CHECK(p.out_h == oh && p.out_w == ow, op, ": output plane (", p.out_h, ", ", p.out_w,
                ") must be (", oh, ", ", ow, ")");
  for (const auto& [h, w] : {std::pair{p.in_h, p.in_w}, std::pair{p.out_h, p.out_w}}) {
    int64_t n = 1;
    for (int64_t d : {p.batch, p.channels, h, w}) {
      FASTCNN_CHECK(!__builtin_mul_overflow(n, d, &n) && n <= (int64_t{1} << 62), op, ": input (", p.batch, ", ",
                    p.channels, ", ", p.in_h, ", ", p.in_w, ") has more than 2^62 elements");
    }
  }
}

}  // namespace pool_detail

namespace {

// ---- portable kernels ------------------------------------------------------------

void max_pool2d_rows_ref(const Pool2dParams& p, const float* x, float* y, int64_t* index, int64_t oh_begin,
                         int64_t oh_end) {
  for (int64_t oh = oh_begin; oh < oh_end; ++oh)
    for (int64_t ow = 0; ow < p.out_w; ++ow)
      max_pool_cell(p, x, oh, ow, y + oh * p.out_w + ow, index + oh * p.out_w + ow);
}

// Runs rows(plane x, plane y, ..., oh_begin, oh_end) over all (plane, output row) pairs.
template <class Rows>
void for_each_row_range(const Pool2dParams& p, const Rows& rows) {
  const int64_t planes = p.batch * p.channels;
  const int64_t items = planes * p.out_h;
  if (items == 0 || p.out_w == 0) return;
  const int threads = threads_for(planes * (p.in_h * p.in_w + p.out_h * p.out_w), items);
  detail::parallel_region(threads, [&](int tid, int team) {
    int64_t begin, end;
    split(items, tid, team, begin, end);
    while (begin < end) {
      const int64_t plane = begin / p.out_h, oh = begin % p.out_h;
      const int64_t oh_end = std::min(p.out_h, oh + (end - begin));
      rows(plane, oh, oh_end);
      begin += oh_end - oh;
    }
  });
}

template <class PlaneFn>
void for_each_plane(const Pool2dParams& p, const PlaneFn& fn) {
  const int64_t planes = p.batch * p.channels;
  if (planes == 0) return;
  const int threads = threads_for(planes * (p.in_h * p.in_w + p.out_h * p.out_w), planes);
  detail::parallel_region(threads, [&](int tid, int team) {
    int64_t begin, end;
    split(planes, tid, team, begin, end);
    for (int64_t plane = begin; plane < end; ++plane) fn(plane);
  });
}

}  // namespace

// ---- max pooling --------------------------------------------------------------------

void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int64_t* indices) {
  pool_detail::check_window("max_pool2d", p, /*allow_dilation=*/true);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  auto rows = max_pool2d_rows_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2 && max_pool2d_avx2_supported(p)) rows = max_pool2d_rows_avx2;
#endif
  for_each_row_range(p, [&](int64_t plane, int64_t oh_begin, int64_t oh_end) {
    rows(p, x + plane * in_plane, y + plane * out_plane, indices + plane * out_plane, oh_begin, oh_end);
  });
}

void max_pool2d_backward(const Pool2dParams& p, const float* grad_out, const int64_t* indices, float* grad_in) {
  check_sizes("max_pool2d_backward", p);
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w;
  // Zeroing and scattering one plane at a time keeps the plane in L1/L2 between the two.
  for_each_plane(p, [&](int64_t plane) {
    float* gin = grad_in + plane * in_plane;
    const float* gout = grad_out + plane * out_plane;
    const int64_t* index = indices + plane * out_plane;
    std::memset(gin, 0, sizeof(float) * static_cast<size_t>(in_plane));
    for (int64_t o = 0; o < out_plane; ++o) {
      const int64_t i = index[o];
      if (static_cast<uint64_t>(i) < static_cast<uint64_t>(in_plane)) gin[i] += gout[o];
    }
  });
}

}  // namespace cpu
}  // namespace fastcnn
