// Convolution as GEMM, forward and both backwards, NCHW.
//
// For image n and group g, unfold the input into columns: one row per (c, r, s) of the
// group's filter (CRS = C/G * R * S rows), one column per output pixel, holding the input
// value that filter tap meets at that pixel (zero in the padding). Then
//   forward          y[n, g]   = w[g] (K/G x CRS)  @ cols (CRS x P)      + bias, relu
//   backward data    cols      = w[g]^T            @ grad_y[n, g]        then fold back (col2im)
//   backward weight  grad_w[g] += grad_y[n, g]     @ cols^T
// A 1x1 kernel with stride 1 and no padding ("direct") needs no unfolding: the image is
// its own column matrix.
//
// Memory stays bounded: the output pixels are processed in blocks whose columns fit in
// kColumnBudget floats per thread (AlexNet's 11x11 conv1 or VGG at 224x224 would
// otherwise unfold into 100+ MB). Threads take whole work items (image, group, block)
// and run single-threaded GEMMs; with fewer items than threads, one item at a time runs
// on all threads inside the GEMM.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_util.h"
#include "cpu/gemm_kernels.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

using conv_util::for_each_item;
using conv_util::thread_workspace;

// Floats of unfolded columns per thread and block (4 MiB): large enough that GEMMs see
// long rows, small enough to stay in L3 between unfolding and packing.
constexpr int64_t kColumnBudget = int64_t(1) << 20;
// Per-thread copies of grad_w are summed at the end of backward-weight; above this many
// floats in all, threads split each GEMM instead.
constexpr int64_t kPartialWeightBudget = int64_t(1) << 25;

// The shape of the problem as GEMMs, and its split into work items.
struct Geometry {
  int64_t c_per_group, k_per_group, crs, out_pixels, in_pixels, block, blocks;

  explicit Geometry(const Conv2dParams& p, bool direct) {
    c_per_group = p.in_channels / p.groups;
    k_per_group = p.out_channels / p.groups;
    crs = c_per_group * p.kernel_h * p.kernel_w;
    out_pixels = p.out_h() * p.out_w();
    in_pixels = p.in_h * p.in_w;
    block = direct ? out_pixels : std::clamp<int64_t>(kColumnBudget / crs / 16 * 16, 16, out_pixels);
    blocks = (out_pixels + block - 1) / block;
  }
};

// Visits each (filter row, output row segment) of the column block [p0, p1) of one image
// and group: fn(column row, offset of the segment in the block, ow0, ow1, lo, hi,
// offset in the group's input of output column lo), where the segment covers output
// columns [ow0, ow1) of one output row and [lo, hi) are those that meet the input
// (lo == hi when the row lies in the padding). Divisions happen once per filter tap,
// not per segment: with small images (LeNet) segments are a few floats long.
template <class Fn>
inline void for_each_column_segment(const Conv2dParams& p, const Geometry& g, int64_t p0, int64_t p1,
                                    const Fn& fn) {
  const int64_t out_w = p.out_w(), first_oh = p0 / out_w, first_ow = p0 % out_w;
  for (int64_t c = 0; c < g.c_per_group; ++c) {
    for (int64_t r = 0; r < p.kernel_h; ++r) {
      for (int64_t s = 0; s < p.kernel_w; ++s) {
        const int64_t row = (c * p.kernel_h + r) * p.kernel_w + s;
        // Output columns whose input column ow * stride + start lies in [0, in_w).
        const int64_t start = s * p.dilation_w - p.pad_left;
        const int64_t valid_lo = start >= 0 ? 0 : (-start + p.stride_w - 1) / p.stride_w;
        const int64_t valid_hi = p.in_w - start <= 0 ? 0 : (p.in_w - start + p.stride_w - 1) / p.stride_w;
        int64_t ow0 = first_ow;
        for (int64_t oh = first_oh, pixel = p0; pixel < p1; ++oh, ow0 = 0) {
          const int64_t ow1 = std::min(out_w, ow0 + (p1 - pixel));
          const int64_t ih = oh * p.stride_h - p.pad_top + r * p.dilation_h;
          int64_t lo = ow0, hi = ow0;
          if (ih >= 0 && ih < p.in_h) {
            lo = std::clamp(valid_lo, ow0, ow1);
            hi = std::clamp(valid_hi, lo, ow1);
          }
          fn(row, pixel - p0, ow0, ow1, lo, hi, (c * p.in_h + ih) * p.in_w + lo * p.stride_w + start);
          pixel += ow1 - ow0;
        }
      }
    }
  }
}

// cols (CRS x ld) = the columns [p0, p1) of one image and group, x_group at its first channel.
void im2col(const Conv2dParams& p, const Geometry& g, const float* x_group, int64_t p0, int64_t p1, float* cols,
            int64_t ld) {
  const int64_t stride = p.stride_w;
  for_each_column_segment(p, g, p0, p1, [&](int64_t row, int64_t j, int64_t ow0, int64_t ow1, int64_t lo,
                                            int64_t hi, int64_t src_offset) {
    float* dst = cols + row * ld + j;  // output column ow0
    for (int64_t i = 0; i < lo - ow0; ++i) dst[i] = 0.0f;
    if (hi > lo) {
      const float* src = x_group + src_offset;
      float* valid = dst + (lo - ow0);
      if (stride == 1) {
        for (int64_t i = 0; i < hi - lo; ++i) valid[i] = src[i];
      } else {
        for (int64_t i = 0; i < hi - lo; ++i) valid[i] = src[i * stride];
      }
    }
    for (int64_t i = hi - ow0; i < ow1 - ow0; ++i) dst[i] = 0.0f;
  });
}

// grad_x_group += the columns [p0, p1) folded back onto the image (the adjoint of im2col).
void col2im(const Conv2dParams& p, const Geometry& g, const float* cols, int64_t ld, int64_t p0, int64_t p1,
            float* grad_x_group) {
  const int64_t stride = p.stride_w;
  for_each_column_segment(p, g, p0, p1, [&](int64_t row, int64_t j, int64_t ow0, int64_t, int64_t lo, int64_t hi,
                                            int64_t dst_offset) {
    if (hi == lo) return;
    const float* src = cols + row * ld + j + (lo - ow0);
    float* dst = grad_x_group + dst_offset;
    for (int64_t i = 0; i < hi - lo; ++i) dst[i * stride] += src[i];
  });
}

GemmParams make_gemm(int64_t m, int64_t n, int64_t k, bool trans_a, const float* a, int64_t lda, bool trans_b,
                     const float* b, int64_t ldb, float* c, int64_t ldc, float beta) {
  GemmParams gp;
  gp.m = m, gp.n = n, gp.k = k;
  gp.trans_a = trans_a, gp.trans_b = trans_b;
  gp.a = a, gp.lda = lda, gp.b = b, gp.ldb = ldb, gp.c = c, gp.ldc = ldc;
  gp.beta = beta;
  return gp;
}

}  // namespace

void conv2d_gemm_forward(const Conv2dParams& p, bool direct, const float* x, const float* w, const float* bias,
                         bool relu, float* y) {
  const Geometry g(p, direct);
  for_each_item(p.batch * p.groups * g.blocks, [&](int64_t item, int gemm_threads) {
    const int64_t block = item % g.blocks, group = item / g.blocks % p.groups, n = item / g.blocks / p.groups;
    const int64_t p0 = block * g.block, p1 = std::min(g.out_pixels, p0 + g.block);
    const float* x_group = x + (n * p.in_channels + group * g.c_per_group) * g.in_pixels;
    const float* cols = x_group + p0;
    int64_t ld = g.in_pixels;
    if (!direct) {
      float* workspace = thread_workspace(static_cast<size_t>(g.crs * (p1 - p0)));
      im2col(p, g, x_group, p0, p1, workspace, p1 - p0);
      cols = workspace, ld = p1 - p0;
    }
    GemmParams gp = make_gemm(g.k_per_group, p1 - p0, g.crs, false, w + group * g.k_per_group * g.crs, g.crs, false,
                              cols, ld, y + (n * p.out_channels + group * g.k_per_group) * g.out_pixels + p0,
                              g.out_pixels, 0.0f);
    if (bias) gp.epilogue.bias_mode = BiasMode::PerRow, gp.epilogue.bias = bias + group * g.k_per_group;
    gp.epilogue.relu = relu;
    gemm_with_threads(gp, gemm_threads);
  });
}

void conv2d_gemm_backward_data(const Conv2dParams& p, bool direct, const float* grad_y, const float* w,
                               float* grad_x) {
  const Geometry g(p, direct);
  // Blocks of one image overlap in grad_x (neighbouring receptive fields), so items are
  // whole (image, group) pairs, each owning its channels of grad_x.
  for_each_item(p.batch * p.groups, [&](int64_t item, int gemm_threads) {
    const int64_t group = item % p.groups, n = item / p.groups;
    float* grad_x_group = grad_x + (n * p.in_channels + group * g.c_per_group) * g.in_pixels;
    const float* w_group = w + group * g.k_per_group * g.crs;
    const float* grad_y_group = grad_y + (n * p.out_channels + group * g.k_per_group) * g.out_pixels;
    if (direct) {
      gemm_with_threads(make_gemm(g.crs, g.out_pixels, g.k_per_group, true, w_group, g.crs, false, grad_y_group,
                                  g.out_pixels, grad_x_group, g.in_pixels, 0.0f),
                        gemm_threads);
      return;
    }
    std::fill(grad_x_group, grad_x_group + g.c_per_group * g.in_pixels, 0.0f);
    for (int64_t p0 = 0; p0 < g.out_pixels; p0 += g.block) {
      const int64_t p1 = std::min(g.out_pixels, p0 + g.block);
      float* cols = thread_workspace(static_cast<size_t>(g.crs * (p1 - p0)));
      gemm_with_threads(make_gemm(g.crs, p1 - p0, g.k_per_group, true, w_group, g.crs, false, grad_y_group + p0,
                                  g.out_pixels, cols, p1 - p0, 0.0f),
                        gemm_threads);
      col2im(p, g, cols, p1 - p0, p0, p1, grad_x_group);
    }
  });
}

void conv2d_gemm_backward_weight(const Conv2dParams& p, bool direct, const float* x, const float* grad_y,
                                 float* grad_w) {
  const Geometry g(p, direct);
  const int64_t weight_size = p.out_channels * g.crs;
  const int64_t items = p.batch * p.groups * g.blocks;
  const int threads = get_num_threads();
  // Each thread sums its items into its own copy of grad_w (no races, and the order of
  // the sums depends only on the thread count); the copies are added up at the end.
  const bool partial_sums = threads > 1 && items >= threads && weight_size * threads <= kPartialWeightBudget;
  const int team_size = partial_sums ? threads : 1;
  std::vector<float> partial(partial_sums ? static_cast<size_t>(weight_size) * (team_size - 1) : 0);

  auto run_items = [&](int64_t begin, int64_t end, float* dw, int gemm_threads) {
    std::vector<bool> written(static_cast<size_t>(p.groups), false);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t block = item % g.blocks, group = item / g.blocks % p.groups, n = item / g.blocks / p.groups;
      const int64_t p0 = block * g.block, p1 = std::min(g.out_pixels, p0 + g.block);
      const float* x_group = x + (n * p.in_channels + group * g.c_per_group) * g.in_pixels;
      const float* cols = x_group + p0;
      int64_t ld = g.in_pixels;
      if (!direct) {
        float* workspace = thread_workspace(static_cast<size_t>(g.crs * (p1 - p0)));
        im2col(p, g, x_group, p0, p1, workspace, p1 - p0);
        cols = workspace, ld = p1 - p0;
      }
      const float beta = written[static_cast<size_t>(group)] ? 1.0f : 0.0f;
      written[static_cast<size_t>(group)] = true;
      gemm_with_threads(make_gemm(g.k_per_group, g.crs, p1 - p0, false,
                                  grad_y + (n * p.out_channels + group * g.k_per_group) * g.out_pixels + p0,
                                  g.out_pixels, true, cols, ld, dw + group * g.k_per_group * g.crs, g.crs, beta),
                        gemm_threads);
    }
    for (int64_t group = 0; group < p.groups; ++group) {  // groups this thread never met
      if (!written[static_cast<size_t>(group)]) {
        std::fill(dw + group * g.k_per_group * g.crs, dw + (group + 1) * g.k_per_group * g.crs, 0.0f);
      }
    }
  };

  if (!partial_sums) {
    run_items(0, items, grad_w, threads);
    return;
  }
  detail::parallel_region(team_size, [&](int tid, int team) {
    // A smaller team than asked leaves some copies unwritten: each thread takes whole copies.
    for (int part = tid; part < team_size; part += team) {
      float* target = part == 0 ? grad_w : partial.data() + (part - 1) * weight_size;
      run_items(items * part / team_size, items * (part + 1) / team_size, target, 1);
    }
  });
  detail::parallel_region(team_size, [&](int tid, int team) {
    for (int64_t i = weight_size * tid / team; i < weight_size * (tid + 1) / team; ++i) {
      float sum = grad_w[i];
      for (int part = 1; part < team_size; ++part) sum += partial[static_cast<size_t>((part - 1) * weight_size + i)];
      grad_w[i] = sum;
    }
  });
}

}  // namespace fastcnn::cpu
