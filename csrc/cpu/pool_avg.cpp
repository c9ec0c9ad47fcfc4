// Average and sum pooling, NCHW float32, forward and backward, as two separable passes.
// Forward, per output row: sum the window's input rows over the whole width (a plain
// vectorizable loop), then sum kernel_w columns of that row per output (AvgHsum).
// torch's divisor is a row count times a column count (each counting padding when
// count_include_pad, never cells past the padded input) or divisor_override.
// Backward, per input row h: sum the scaled gradients g / divisor of the output rows whose
// window covers h, then gather for each input column the outputs covering it
// (AvgHscatter). Every grad_input cell is written once: no zero fill, no scatter races.
// Row buffers are in padded coordinates (element 0 is column -pad_w) with zeros around,
// so the horizontal passes have no edge cases.
#include <algorithm>
#include <limits>
#include <vector>

#include "common/parallel.h"
#include "cpu/pool_kernels.h"
#include "fastcnn/pool.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
// pool_avg_avx2.cpp: the 2x2 stride-2 tiling windows, one plane.
void avg_forward_2x2_plane_avx2(const float* x, int64_t in_w, int64_t out_h, int64_t out_w, float divisor,
                                float* y);
void avg_backward_2x2_plane_avx2(const float* g, int64_t out_h, int64_t out_w, int64_t in_h, int64_t in_w,
                                 float divisor, float* gin);
#endif

namespace {

constexpr int64_t kSlack = 32;  // zeros past every row buffer: vector reads may run ahead

// Input cells [begin, end) of output i along one axis and torch's count for the divisor
// (+inf when the window holds no input cell, so that 0 / count is 0).
struct AxisWindow {
  int64_t begin, end;
  float count;
};

AxisWindow axis_window(int64_t i, int64_t in, int64_t k, int64_t s, int64_t pad, bool count_include_pad) {
  const int64_t start = i * s - pad, end_padded = std::min(start + k, in + pad);
  AxisWindow a{std::max<int64_t>(start, 0), std::min(end_padded, in), 0.0f};
  if (a.begin >= a.end) {
    a.count = std::numeric_limits<float>::infinity();
  } else {
    a.count = static_cast<float>(count_include_pad ? end_padded - start : a.end - a.begin);
  }
  return a;
}

// The row and column factors of the divisor (divisor_override goes in the column factor).
float row_factor(const Pool2dParams& p, const AxisWindow& rows) {
  return p.divisor_override != 0 && rows.begin < rows.end ? 1.0f : rows.count;
}

std::vector<float> column_factors(const Pool2dParams& p) {
  std::vector<float> factor(static_cast<size_t>(p.out_w));
  for (int64_t ow = 0; ow < p.out_w; ++ow) {
    const AxisWindow cols = axis_window(ow, p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.count_include_pad);
    factor[ow] = p.divisor_override != 0 && cols.begin < cols.end ? static_cast<float>(p.divisor_override)
                                                                   : cols.count;
  }
  return factor;
}

void avg_hsum_ref(const float* row, int64_t k, int64_t stride, int64_t count, float* out) {
  for (int64_t o = 0; o < count; ++o) {
    float sum = 0.0f;
    for (int64_t j = 0; j < k; ++j) sum += row[o * stride + j];
    out[o] = sum;
  }
}

// As a scatter of each col[i] over its window (same order per cell as the gather: i rising);
// the row is in L1, and there is no division per cell.
void avg_hscatter_ref(const float* col, int64_t k, int64_t stride, int64_t offset, int64_t count, float* out) {
  std::fill(out, out + count, 0.0f);
  for (int64_t i = 0; i * stride - offset < count; ++i) {
    const int64_t start = i * stride - offset;  // out index of window column 0
    const int64_t j0 = std::max<int64_t>(0, -start), j1 = std::min(k, count - start);
    for (int64_t j = j0; j < j1; ++j) out[start + j] += col[i];
  }
}

bool use_avx2(const Pool2dParams& p) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  return active_isa() == Isa::Avx2 && (p.stride_w == 1 || p.stride_w == 2);
#else
  (void)p;
  return false;
#endif
}

AvgHsum pick_hsum(const Pool2dParams& p) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (use_avx2(p)) return avg_hsum_avx2;
#endif
  (void)p;
  return avg_hsum_ref;
}

AvgHscatter pick_hscatter(const Pool2dParams& p) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (use_avx2(p)) return avg_hscatter_avx2;
#endif
  (void)p;
  return avg_hscatter_ref;
}

// Windows that tile the input without overlap or padding (2x2 stride 2, LeNet's pools).
bool windows_tile_input(const Pool2dParams& p) {
  return p.pad_h == 0 && p.pad_w == 0 && p.stride_h == p.kernel_h && p.stride_w == p.kernel_w &&
         p.out_h * p.kernel_h <= p.in_h && p.out_w * p.kernel_w <= p.in_w;
}

// Backward of one plane with tiling windows: each input cell takes its window's gradient
// over the divisor; cells no window covers (a last odd row or column) take zero. Dividing
// as the general path does keeps the bits equal.
void avg_backward_tiled_plane(const Pool2dParams& p, const float* g, float divisor, float* gin) {
  const int64_t covered_w = p.out_w * p.kernel_w;
  for (int64_t oh = 0; oh < p.out_h; ++oh) {
    float* first_row = gin + oh * p.kernel_h * p.in_w;
    for (int64_t ow = 0; ow < p.out_w; ++ow) {
      const float value = g[oh * p.out_w + ow] / divisor;
      std::fill(first_row + ow * p.kernel_w, first_row + (ow + 1) * p.kernel_w, value);
    }
    std::fill(first_row + covered_w, first_row + p.in_w, 0.0f);
    for (int64_t r = 1; r < p.kernel_h; ++r) std::copy(first_row, first_row + p.in_w, first_row + r * p.in_w);
  }
  std::fill(gin + p.out_h * p.kernel_h * p.in_w, gin + p.in_h * p.in_w, 0.0f);
}

// 2x2 windows with stride 2 and no padding (LeNet's pools) have a fast path per plane: each
// output is ((x00 + x10) + (x01 + x11)) / divisor, the general path's order (rows summed
// first, then the two columns), so the bits are the same. The general path costs ~4x more
// per plane here (a row buffer, a horizontal pass and a division pass per output row).
bool is_tiled_2x2(const Pool2dParams& p) {
  return windows_tile_input(p) && p.kernel_h == 2 && p.kernel_w == 2;
}

float tiled_divisor(const Pool2dParams& p) {
  return static_cast<float>(p.divisor_override ? p.divisor_override : p.kernel_h * p.kernel_w);
}

void avg_forward_2x2_plane_ref(const float* x, int64_t in_w, int64_t out_h, int64_t out_w, float divisor,
                               float* y) {
  for (int64_t oh = 0; oh < out_h; ++oh) {
    const float* r0 = x + 2 * oh * in_w;
    const float* r1 = r0 + in_w;
    for (int64_t ow = 0; ow < out_w; ++ow) {
      y[oh * out_w + ow] = ((r0[2 * ow] + r1[2 * ow]) + (r0[2 * ow + 1] + r1[2 * ow + 1])) / divisor;
    }
  }
}

using Avg2x2Forward = void (*)(const float*, int64_t, int64_t, int64_t, float, float*);

Avg2x2Forward pick_2x2_forward() {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return avg_forward_2x2_plane_avx2;
#endif
  return avg_forward_2x2_plane_ref;
}

void avg_backward_tiled_plane_any(const Pool2dParams& p, const float* g, float divisor, float* gin) {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2 && p.kernel_h == 2 && p.kernel_w == 2) {
    return avg_backward_2x2_plane_avx2(g, p.out_h, p.out_w, p.in_h, p.in_w, divisor, gin);
  }
#endif
  avg_backward_tiled_plane(p, g, divisor, gin);
}

}  // namespace

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y) {
  pool_detail::check_window("avg_pool2d", p, /*allow_dilation=*/false);
  const int64_t planes = p.batch * p.channels, items = planes * p.out_h;
  if (items == 0) return;
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w, w_in = p.in_w, w_out = p.out_w;
  if (is_tiled_2x2(p)) {
    const Avg2x2Forward plane_fn = pick_2x2_forward();
    const float divisor = tiled_divisor(p);
    const int threads = pool_detail::threads_for(planes * (in_plane + out_plane), planes);
    detail::parallel_region(threads, [&](int tid, int team) {
      int64_t begin, end;
      pool_detail::split(planes, tid, team, begin, end);
      for (int64_t plane = begin; plane < end; ++plane) {
        plane_fn(x + plane * in_plane, w_in, p.out_h, w_out, divisor, y + plane * out_plane);
      }
    });
    return;
  }
  const std::vector<float> col_factor = column_factors(p);
  const int64_t row_len = std::max((w_out - 1) * p.stride_w + p.kernel_w, p.pad_w + w_in) + kSlack;
  const AvgHsum hsum = pick_hsum(p);
  const int threads = pool_detail::threads_for(planes * (in_plane + out_plane), items);
  detail::parallel_region(threads, [&](int tid, int team) {
    std::vector<float> row(static_cast<size_t>(row_len), 0.0f);
    float* inner = row.data() + p.pad_w;  // column 0; the padding around stays zero
    int64_t begin, end;
    pool_detail::split(items, tid, team, begin, end);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t plane = item / p.out_h, oh = item % p.out_h;
      const float* xp = x + plane * in_plane;
      float* out = y + plane * out_plane + oh * w_out;
      const AxisWindow rows = axis_window(oh, p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.count_include_pad);
      if (rows.begin >= rows.end) {
        std::fill(out, out + w_out, 0.0f);
        continue;
      }
      const float* first = xp + rows.begin * w_in;
      for (int64_t w = 0; w < w_in; ++w) inner[w] = first[w];
      for (int64_t h = rows.begin + 1; h < rows.end; ++h) {
        const float* r = xp + h * w_in;
        for (int64_t w = 0; w < w_in; ++w) inner[w] += r[w];
      }
      hsum(row.data(), p.kernel_w, p.stride_w, w_out, out);
      const float rf = row_factor(p, rows);
      for (int64_t ow = 0; ow < w_out; ++ow) out[ow] = out[ow] / (rf * col_factor[ow]);
    }
  });
}

void avg_pool2d_backward(const Pool2dParams& p, const float* grad_out, float* grad_in) {
  pool_detail::check_window("avg_pool2d_backward", p, /*allow_dilation=*/false);
  const int64_t planes = p.batch * p.channels;
  if (planes == 0) return;
  const int64_t in_plane = p.in_h * p.in_w, out_plane = p.out_h * p.out_w, w_in = p.in_w, w_out = p.out_w;
  const int threads = pool_detail::threads_for(planes * (in_plane + out_plane), planes);
  if (windows_tile_input(p)) {  // the general path below costs ~4x more per plane here
    const float divisor = tiled_divisor(p);
    detail::parallel_region(threads, [&](int tid, int team) {
      int64_t begin, end;
      pool_detail::split(planes, tid, team, begin, end);
      for (int64_t plane = begin; plane < end; ++plane) {
        avg_backward_tiled_plane_any(p, grad_out + plane * out_plane, divisor, grad_in + plane * in_plane);
      }
    });
    return;
  }
  const std::vector<float> col_factor = column_factors(p);
  std::vector<float> col_valid(static_cast<size_t>(w_out));  // 0 where the window holds no input
  for (int64_t ow = 0; ow < w_out; ++ow) col_valid[ow] = col_factor[ow] < std::numeric_limits<float>::infinity();
  // Column sums live at col[left + ow]; left zeros make every gather index >= 0.
  const int64_t left = (p.kernel_w - 1 + p.stride_w - 1) / p.stride_w;
  const int64_t offset = p.pad_w + p.stride_w * left;
  const int64_t col_len = left + std::max(w_out, (w_in - 1 + offset) / p.stride_w + 1) + kSlack;
  const AvgHscatter hscatter = pick_hscatter(p);
  detail::parallel_region(threads, [&](int tid, int team) {
    std::vector<float> scaled(static_cast<size_t>(out_plane));
    std::vector<float> col(static_cast<size_t>(col_len), 0.0f);
    float* sums = col.data() + left;
    int64_t begin, end;
    pool_detail::split(planes, tid, team, begin, end);
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* g = grad_out + plane * out_plane;
      for (int64_t oh = 0; oh < p.out_h; ++oh) {
        const AxisWindow rows = axis_window(oh, p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.count_include_pad);
        const float rf = row_factor(p, rows), row_valid = rows.begin < rows.end ? 1.0f : 0.0f;
        const float* g_row = g + oh * w_out;
        float* s_row = scaled.data() + oh * w_out;
        for (int64_t ow = 0; ow < w_out; ++ow) {
          const float valid = row_valid * col_valid[ow];
          s_row[ow] = valid != 0.0f ? g_row[ow] / (rf * col_factor[ow]) : 0.0f;
        }
      }
      float* gin = grad_in + plane * in_plane;
      for (int64_t h = 0; h < p.in_h; ++h) {
        // Output rows whose window covers input row h.
        const int64_t first = h + p.pad_h - p.kernel_h + 1;
        const int64_t lo = first <= 0 ? 0 : (first + p.stride_h - 1) / p.stride_h;
        const int64_t hi = std::min(p.out_h - 1, (h + p.pad_h) / p.stride_h);
        if (lo > hi) {
          std::fill(sums, sums + w_out, 0.0f);
        } else {
          const float* s0 = scaled.data() + lo * w_out;
          for (int64_t ow = 0; ow < w_out; ++ow) sums[ow] = s0[ow];
          for (int64_t oh = lo + 1; oh <= hi; ++oh) {
            const float* s_row = scaled.data() + oh * w_out;
            for (int64_t ow = 0; ow < w_out; ++ow) sums[ow] += s_row[ow];
          }
        }
        hscatter(col.data(), p.kernel_w, p.stride_w, offset, w_in, gin + h * w_in);
      }
    }
  });
}

}  // namespace fastcnn::cpu
