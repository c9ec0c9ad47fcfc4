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
// otherwise unfold into 100+ MB). Small outputs go the other way: several images share
// one GEMM, their columns side by side. Threads take whole work items (images, group,
// block) and run single-threaded GEMMs; with fewer items than threads, one item at a
// time runs on all threads inside the GEMM.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_packed_kernels.h"
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
// Images with fewer output pixels than this share a GEMM (their columns side by side):
// a 7x7 or 10x10 output alone makes a GEMM too narrow to run well.
constexpr int64_t kSmallOutput = 256;
constexpr int64_t kTargetColumns = 256;
// Per-thread copies of grad_w are summed at the end of backward-weight; above this many
// floats in all, threads split each GEMM instead.
constexpr int64_t kPartialWeightBudget = int64_t(1) << 25;
// In deterministic mode backward-weight cuts its items for this many partial sums whatever
// the thread count (more threads than this leave some idle in that kernel).
constexpr int kDeterministicParts = 8;
constexpr int64_t kMinColumnsPerPart = 512;

// One work item: images [n0, n1) of one group, output pixels [p0, p1) of each.
struct Item {
  int64_t n0, n1, group, p0, p1;
  int64_t pixels() const { return p1 - p0; }
  int64_t columns() const { return (n1 - n0) * (p1 - p0); }
};

// The shape of the problem as GEMMs, and its split into work items.
struct Geometry {
  int64_t c_per_group, k_per_group, crs, out_pixels, in_pixels;
  int64_t images;        // images per item (> 1 only for small outputs, then block == out_pixels)
  int64_t block, blocks;  // output pixels per item, and items per image
  bool direct;            // the image is its own column matrix (1x1, stride 1, no padding)

  // `threads`: the count the items are cut for (the images per item set the K of the
  // backward-weight GEMMs, hence its rounding; forward and backward-data rounding do not
  // depend on it).
  Geometry(const Conv2dParams& p, bool pointwise, int threads = get_num_threads()) {
    c_per_group = p.in_channels / p.groups;
    k_per_group = p.out_channels / p.groups;
    crs = c_per_group * p.kernel_h * p.kernel_w;
    out_pixels = p.out_h() * p.out_w();
    in_pixels = p.in_h * p.in_w;
    images = 1;
    if (out_pixels < kSmallOutput) {
      // Enough items left for every thread, and the columns within the budget.
      const int64_t per_thread = (p.batch + threads - 1) / threads;
      images = std::min({kTargetColumns / out_pixels, per_thread, kColumnBudget / (crs * out_pixels)});
      images = std::max<int64_t>(images, 1);
    }
    direct = pointwise && images == 1;
    block = direct || images > 1 ? out_pixels
                                 : std::min(std::max<int64_t>(kColumnBudget / crs / 16 * 16, 16), out_pixels);
    blocks = (out_pixels + block - 1) / block;
  }

  int64_t image_blocks(const Conv2dParams& p) const { return (p.batch + images - 1) / images; }
  int64_t items(const Conv2dParams& p) const { return image_blocks(p) * p.groups * blocks; }
  Item item(const Conv2dParams& p, int64_t index) const {
    const int64_t b = index % blocks, group = index / blocks % p.groups, image_block = index / blocks / p.groups;
    const int64_t n0 = image_block * images;
    return {n0, std::min(p.batch, n0 + images), group, b * block, std::min(out_pixels, (b + 1) * block)};
  }
  int64_t x_offset(const Conv2dParams& p, int64_t n, int64_t group) const {
    return (n * p.in_channels + group * c_per_group) * in_pixels;
  }
  int64_t y_offset(const Conv2dParams& p, int64_t n, int64_t group) const {
    return (n * p.out_channels + group * k_per_group) * out_pixels;
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

// dst[0, n) = src[0, n). Rows of small images are a few floats long, where a loop (or a
// call to memcpy) costs more than the copy: runs of 8 are moved as fixed-size blocks,
// the last one overlapping the one before.
inline void copy_floats(float* dst, const float* src, int64_t n) {
  if (n < 8) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  for (int64_t i = 0; i + 8 < n; i += 8) std::memcpy(dst + i, src + i, 8 * sizeof(float));
  std::memcpy(dst + n - 8, src + n - 8, 8 * sizeof(float));
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
        copy_floats(valid, src, hi - lo);
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

struct Matrix {
  const float* data;
  int64_t ld;
};

// The item's column matrix (CRS x columns): the image itself when direct, else unfolded
// into `workspace`, one image after another.
Matrix unfold(const Conv2dParams& p, const Geometry& g, const Item& it, const float* x, float* workspace) {
  if (g.direct) return {x + g.x_offset(p, it.n0, it.group) + it.p0, g.in_pixels};
  for (int64_t n = it.n0; n < it.n1; ++n) {
    im2col(p, g, x + g.x_offset(p, n, it.group), it.p0, it.p1, workspace + (n - it.n0) * it.pixels(), it.columns());
  }
  return {workspace, it.columns()};
}

// The item's rows of grad_y (K/G x columns): in place for one image, else gathered into
// `workspace` with the images side by side.
Matrix gather_rows(const Conv2dParams& p, const Geometry& g, const Item& it, const float* grad_y, float* workspace) {
  if (it.n1 - it.n0 == 1) return {grad_y + g.y_offset(p, it.n0, it.group) + it.p0, g.out_pixels};
  for (int64_t n = it.n0; n < it.n1; ++n) {
    const float* src = grad_y + g.y_offset(p, n, it.group);
    for (int64_t k = 0; k < g.k_per_group; ++k) {
      std::copy(src + k * g.out_pixels, src + (k + 1) * g.out_pixels,
                workspace + k * it.columns() + (n - it.n0) * g.out_pixels);
    }
  }
  return {workspace, it.columns()};
}

// The inverse of gather_rows for several images: y's rows from the item's K/G x columns.
void scatter_rows(const Conv2dParams& p, const Geometry& g, const Item& it, const float* rows, float* y) {
  for (int64_t n = it.n0; n < it.n1; ++n) {
    float* dst = y + g.y_offset(p, n, it.group);
    for (int64_t k = 0; k < g.k_per_group; ++k) {
      const float* src = rows + k * it.columns() + (n - it.n0) * g.out_pixels;
      std::copy(src, src + g.out_pixels, dst + k * g.out_pixels);
    }
  }
}

// Floats of workspace an item needs: its unfolded columns, then K/G rows of its columns.
size_t workspace_floats(const Geometry& g, const Item& it) {
  return static_cast<size_t>((g.crs + g.k_per_group) * it.columns());
}

// The forward pass with raw weights w, or with w pre-packed (packed_w, conv2d_gemm_pack).
void gemm_forward(const Conv2dParams& p, bool direct, const float* x, const float* w, const float* packed_w,
                  const float* bias, bool relu, float* y) {
  const Geometry g(p, direct);
  const int64_t packed_group = gemm_packed_a_floats(g.k_per_group, g.crs);
  for_each_item(g.items(p), [&](int64_t index, int gemm_threads) {
    const Item it = g.item(p, index);
    float* workspace = thread_workspace(workspace_floats(g, it));
    const Matrix cols = unfold(p, g, it, x, workspace);
    // One image writes straight into y; several go through K/G rows of the workspace.
    const bool one_image = it.n1 - it.n0 == 1;
    float* out = one_image ? y + g.y_offset(p, it.n0, it.group) + it.p0 : workspace + g.crs * it.columns();
    const float* w_group = packed_w ? nullptr : w + it.group * g.k_per_group * g.crs;
    GemmParams gp = make_gemm(g.k_per_group, it.columns(), g.crs, false, w_group, g.crs, false, cols.data, cols.ld,
                              out, one_image ? g.out_pixels : it.columns(), 0.0f);
    if (packed_w) gp.packed_a = packed_w + it.group * packed_group;
    if (bias) gp.epilogue.bias_mode = BiasMode::PerRow, gp.epilogue.bias = bias + it.group * g.k_per_group;
    gp.epilogue.relu = relu;
    gemm_with_threads(gp, gemm_threads);
    if (!one_image) scatter_rows(p, g, it, out, y);
  });
}

}  // namespace

void conv2d_gemm_forward(const Conv2dParams& p, bool direct, const float* x, const float* w, const float* bias,
                         bool relu, float* y) {
  gemm_forward(p, direct, x, w, nullptr, bias, relu, y);
}

int64_t conv2d_gemm_packed_floats(const Conv2dParams& p) {
  const int64_t k_per_group = p.out_channels / p.groups;
  return p.groups * gemm_packed_a_floats(k_per_group, p.in_channels / p.groups * p.kernel_h * p.kernel_w);
}

void conv2d_gemm_pack(const Conv2dParams& p, const float* w, float* packed) {
  const int64_t k_per_group = p.out_channels / p.groups;
  const int64_t crs = p.in_channels / p.groups * p.kernel_h * p.kernel_w;
  for (int64_t group = 0; group < p.groups; ++group) {
    gemm_pack_a(make_gemm(k_per_group, 1, crs, false, w + group * k_per_group * crs, crs, false, nullptr, 1, nullptr,
                          1, 0.0f),
                packed + group * gemm_packed_a_floats(k_per_group, crs));
  }
}

void conv2d_gemm_forward_packed(const Conv2dParams& p, bool direct, const float* x, const float* packed_w,
                                const float* bias, bool relu, float* y) {
  gemm_forward(p, direct, x, nullptr, packed_w, bias, relu, y);
}

void conv2d_gemm_backward_data(const Conv2dParams& p, bool direct, const float* grad_y, const float* w,
                               float* grad_x) {
  const Geometry g(p, direct);
  // Pixel blocks of one image overlap in grad_x (neighbouring receptive fields), so items
  // here are whole images (all their blocks, in turn), each owning its part of grad_x.
  for_each_item(g.image_blocks(p) * p.groups, [&](int64_t index, int gemm_threads) {
    const int64_t group = index % p.groups, image_block = index / p.groups;
    const float* w_group = w + group * g.k_per_group * g.crs;
    for (int64_t b = 0; b < g.blocks; ++b) {
      const Item it = g.item(p, (image_block * p.groups + group) * g.blocks + b);
      float* workspace = thread_workspace(workspace_floats(g, it));
      const Matrix rows = gather_rows(p, g, it, grad_y, workspace + g.crs * it.columns());
      if (g.direct) {
        gemm_with_threads(make_gemm(g.crs, it.columns(), g.k_per_group, true, w_group, g.crs, false, rows.data,
                                    rows.ld, grad_x + g.x_offset(p, it.n0, group), g.in_pixels, 0.0f),
                          gemm_threads);
        continue;
      }
      gemm_with_threads(make_gemm(g.crs, it.columns(), g.k_per_group, true, w_group, g.crs, false, rows.data,
                                  rows.ld, workspace, it.columns(), 0.0f),
                        gemm_threads);
      for (int64_t n = it.n0; n < it.n1; ++n) {
        float* grad_x_group = grad_x + g.x_offset(p, n, group);
        if (b == 0) std::fill(grad_x_group, grad_x_group + g.c_per_group * g.in_pixels, 0.0f);
        col2im(p, g, workspace + (n - it.n0) * it.pixels(), it.columns(), it.p0, it.p1, grad_x_group);
      }
    }
  });
}

void conv2d_gemm_backward_weight(const Conv2dParams& p, bool direct, const float* x, const float* grad_y,
                                 float* grad_w) {
  const int threads = get_num_threads();
  const bool fixed_split = deterministic();
  const int64_t weight_size = p.out_channels * (p.in_channels / p.groups) * p.kernel_h * p.kernel_w;
  // Each part (a thread's share) sums its items into its own copy of grad_w (no races);
  // the copies are added up at the end. The order of the sums depends only on the number
  // of parts: the thread count, or in deterministic mode a count from the shape alone,
  // each part summing at least kMinColumnsPerPart columns (fewer make the copies cost
  // more than the GEMMs: VGG's 512-channel 7x7 layer ran 2.7x slower with 8 parts).
  int parts = threads;
  if (fixed_split) {
    parts = static_cast<int>(std::clamp<int64_t>(
        std::min({int64_t{kDeterministicParts}, kPartialWeightBudget / weight_size,
                  p.batch * p.out_h() * p.out_w() / kMinColumnsPerPart}),
        1, kDeterministicParts));
  }
  const Geometry g(p, direct, parts);
  const int64_t items = g.items(p);
  if (fixed_split) parts = static_cast<int>(std::min<int64_t>(parts, items));
  const bool partial_sums = parts > 1 && items >= parts && weight_size * parts <= kPartialWeightBudget;
  const int team_size = partial_sums ? parts : 1;
  std::vector<float> partial(partial_sums ? static_cast<size_t>(weight_size) * (team_size - 1) : 0);

  auto run_items = [&](int64_t begin, int64_t end, float* dw, int gemm_threads) {
    std::vector<bool> written(static_cast<size_t>(p.groups), false);
    for (int64_t index = begin; index < end; ++index) {
      const Item it = g.item(p, index);
      float* workspace = thread_workspace(workspace_floats(g, it));
      const Matrix cols = unfold(p, g, it, x, workspace);
      const Matrix rows = gather_rows(p, g, it, grad_y, workspace + g.crs * it.columns());
      const float beta = written[static_cast<size_t>(it.group)] ? 1.0f : 0.0f;
      written[static_cast<size_t>(it.group)] = true;
      gemm_with_threads(make_gemm(g.k_per_group, g.crs, it.columns(), false, rows.data, rows.ld, true, cols.data,
                                  cols.ld, dw + it.group * g.k_per_group * g.crs, g.crs, beta),
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
  detail::parallel_region(std::min(team_size, threads), [&](int tid, int team) {
    // A smaller team than parts (asked, or granted) leaves some copies unwritten: each
    // thread takes whole copies.
    for (int part = tid; part < team_size; part += team) {
      float* target = part == 0 ? grad_w : partial.data() + (part - 1) * weight_size;
      run_items(items * part / team_size, items * (part + 1) / team_size, target, 1);
    }
  });
  detail::parallel_region(std::min(team_size, threads), [&](int tid, int team) {
    for (int64_t i = weight_size * tid / team; i < weight_size * (tid + 1) / team; ++i) {
      float sum = grad_w[i];
      for (int part = 1; part < team_size; ++part) sum += partial[static_cast<size_t>((part - 1) * weight_size + i)];
      grad_w[i] = sum;
    }
  });
}

}  // namespace fastcnn::cpu
