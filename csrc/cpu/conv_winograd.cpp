// Winograd F(2x2, 3x3) convolution (3x3 kernel, stride 1, dilation 1, groups 1): the
// forward pass and the gradient with respect to the input (itself such a convolution).
//
// Each 2x2 output tile comes from a 4x4 input patch d with 16 multiplies per channel
// pair instead of 36:  y = A^T [ (G g G^T) .* (B^T d B) ] A  (Lavin & Gray, 2015). Summed
// over input channels, the elementwise products become 16 GEMMs, one per position xi of
// the 4x4 transformed tile:
//   U[xi] (K x C)  = filters transformed (once per call, or once for all by
//                    conv2d_winograd_pack, each U[xi] then pre-packed for its GEMM)
//   V[xi] (C x T)  = input patches transformed, T tiles at a time
//   M[xi] (K x T)  = U[xi] @ V[xi]
// and the output transform folds M back into 2x2 tiles (plus bias, ReLU).
// Work items are runs of tile rows over the whole batch (so 7x7 images still give the
// GEMMs wide matrices); V and M of an item live in a bounded per-thread workspace.
// The row transforms come in a portable build (here) and an AVX2 one (8 tiles at once,
// conv_winograd_avx2.cpp).
#include "cpu/conv_winograd.h"
#include "cpu/conv_winograd_items.h"

#include <algorithm>
#include <utility>

#include "common/parallel.h"
#include "common/thread_buffer.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_packed_kernels.h"
#include "cpu/conv_util.h"
#include "cpu/gemm_config.h"
#include "cpu/gemm_kernels.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace winograd {

// u (4x4) = G g G^T with G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
void filters_ref(const FilterSource& source, int64_t begin, int64_t end, int64_t pair_count, float* u) {
  for (int64_t pair = begin; pair < end; ++pair) {
    const float* filter =
        source.w + pair / source.inner * source.outer_stride + pair % source.inner * source.inner_stride;
    float g[9];
    for (int t = 0; t < 9; ++t) g[t] = filter[source.flip ? 8 - t : t];
    float t[4][3];
    for (int j = 0; j < 3; ++j) {
      t[0][j] = g[j];
      t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
      t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
      t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; ++i) {
      u[(i * 4 + 0) * pair_count + pair] = t[i][0];
      u[(i * 4 + 1) * pair_count + pair] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
      u[(i * 4 + 2) * pair_count + pair] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
      u[(i * 4 + 3) * pair_count + pair] = t[i][2];
    }
  }
}

// v (4x4) = B^T d B with B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
void input_row_ref(const float* plane, const TileRow& row, float* v, int64_t xi_stride) {
  for (int64_t tx = 0; tx < row.tiles_w; ++tx) {
    const int64_t ih0 = 2 * row.ty - row.pad_top, iw0 = 2 * tx - row.pad_left;
    float d[4][4];
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        const int64_t ih = ih0 + i, iw = iw0 + j;
        d[i][j] = ih >= 0 && ih < row.in_h && iw >= 0 && iw < row.in_w ? plane[ih * row.in_w + iw] : 0.0f;
      }
    }
    float t[4][4];
    for (int j = 0; j < 4; ++j) {
      t[0][j] = d[0][j] - d[2][j];
      t[1][j] = d[1][j] + d[2][j];
      t[2][j] = d[2][j] - d[1][j];
      t[3][j] = d[1][j] - d[3][j];
    }
    for (int i = 0; i < 4; ++i) {
      v[(i * 4 + 0) * xi_stride + tx] = t[i][0] - t[i][2];
      v[(i * 4 + 1) * xi_stride + tx] = t[i][1] + t[i][2];
      v[(i * 4 + 2) * xi_stride + tx] = t[i][2] - t[i][1];
      v[(i * 4 + 3) * xi_stride + tx] = t[i][1] - t[i][3];
    }
  }
}

// y (2x2) = A^T m A with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
void output_row_ref(const float* m_row, int64_t xi_stride, float bias, bool relu, const TileRow& row,
                    float* plane) {
  for (int64_t tx = 0; tx < row.tiles_w; ++tx) {
    float m[16];
    for (int xi = 0; xi < 16; ++xi) m[xi] = m_row[xi * xi_stride + tx];
    float t[2][4];
    for (int j = 0; j < 4; ++j) {
      t[0][j] = m[j] + m[4 + j] + m[8 + j];
      t[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    for (int i = 0; i < 2 && 2 * row.ty + i < row.out_h; ++i) {
      const float y[2] = {t[i][0] + t[i][1] + t[i][2], t[i][1] - t[i][2] - t[i][3]};
      for (int j = 0; j < 2 && 2 * tx + j < row.out_w; ++j) {
        const float value = y[j] + bias;
        plane[(2 * row.ty + i) * row.out_w + 2 * tx + j] = relu ? std::max(value, 0.0f) : value;  // no sign branch
      }
    }
  }
}

}  // namespace winograd

namespace {

using winograd::TileRow;

// The kernels for the active instruction set.
struct Kernels {
  winograd::FilterFn filters = winograd::filters_ref;
  winograd::InputRowFn input_row = winograd::input_row_ref;
  winograd::OutputRowFn output_row = winograd::output_row_ref;
};

Kernels active_kernels() {
  Kernels kernels;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) {
    kernels.filters = winograd::filters_avx2;
    kernels.input_row = winograd::input_row_avx2;
    kernels.output_row = winograd::output_row_avx2;
  }
#endif
  return kernels;
}

// U[xi] (outer x inner) for the 16 xi, each packed as its GEMM (A = U[xi]) would pack it,
// one after another into `packed`. The filters are transformed a block of rows at a time
// into a small per-thread buffer that is packed while it is still in cache: transforming
// all of U first and packing it after moved 16 * outer * inner floats through memory twice
// more (16 MiB each way at 512 channels), a third of a 7x7 layer's call.
void transform_and_pack_filters(const Kernels& kernels, const winograd::FilterSource& source, int64_t outer,
                                int threads, float* packed) {
  struct BlockTag;
  constexpr int64_t kRowsPerBlock = 4 * gemm_config::MR;
  const int64_t inner = source.inner, packed_floats = gemm_packed_a_floats(outer, inner);
  const int64_t blocks = (outer + kRowsPerBlock - 1) / kRowsPerBlock;
  const int team_size = static_cast<int>(std::clamp<int64_t>(outer * inner / 4096, 1, std::min<int64_t>(threads, blocks)));
  detail::parallel_region(team_size, [&](int tid, int team) {
    float* u = detail::thread_buffer<BlockTag>(static_cast<size_t>(16 * kRowsPerBlock * inner));
    for (int64_t block = blocks * tid / team; block < blocks * (tid + 1) / team; ++block) {
      const int64_t row0 = block * kRowsPerBlock, rows = std::min(kRowsPerBlock, outer - row0), pairs = rows * inner;
      // Rows whose filters lie side by side in memory (the flipped filters of backward
      // data) are transformed by column, each U[xi] block transposed (inner x rows), so
      // the transform reads 8 neighbouring filters at once instead of gathering them.
      const bool by_column = source.outer_stride == 9;
      winograd::FilterSource block_source = source;
      block_source.w += row0 * source.outer_stride;
      if (by_column) {
        block_source.inner = rows;
        std::swap(block_source.outer_stride, block_source.inner_stride);
      }
      kernels.filters(block_source, 0, pairs, pairs, u);
      for (int xi = 0; xi < 16; ++xi) {
        GemmParams gp;
        gp.m = rows, gp.k = inner, gp.n = 1;
        gp.a = u + xi * pairs, gp.lda = by_column ? rows : inner, gp.trans_a = by_column;
        gemm_pack_a_rows(gp, outer, row0, packed + xi * packed_floats);
      }
    }
  });
}

// The packed U of a call, in a buffer kept per calling thread: a training loop reuses its
// pages instead of faulting in 16 * K * C fresh floats every call.
const float* packed_filters(const Kernels& kernels, const winograd::FilterSource& source, int64_t outer) {
  struct PackedTag;
  float* packed = detail::thread_buffer<PackedTag>(static_cast<size_t>(16 * gemm_packed_a_floats(outer, source.inner)));
  transform_and_pack_filters(kernels, source, outer, get_num_threads(), packed);
  return packed;
}

// y (N, K, out_h, out_w) = the convolution of x (N, C, in_h, in_w) whose transformed
// filters are packed_u (16 K x C matrices, each packed as gemm_pack_a packs it, one after
// another); with the given top/left padding.
void run(const Kernels& kernels, int64_t batch, int64_t C, int64_t K, int64_t in_h, int64_t in_w, int64_t out_h,
         int64_t out_w, int64_t pad_top, int64_t pad_left, const float* x, const float* packed_u,
         const float* bias, bool relu, float* y) {
  const int64_t packed_floats = gemm_packed_a_floats(K, C);
  const int64_t tiles_h = (out_h + 1) / 2, tiles_w = (out_w + 1) / 2, rows = batch * tiles_h;
  // for_each_item spreads the items over the threads when there are at least as many items
  // as threads; a batch with fewer tiles runs as few wide items, each split across every
  // thread (transforms by channel, the 16 GEMMs by xi), rather than as narrow items with
  // one thread each.
  const winograd::ItemSplit split = winograd::split_tile_rows(rows, tiles_w, C + K);
  const int64_t rows_per_item = split.rows_per_item, items = split.items;

  conv_util::for_each_item(items, [&](int64_t item, int threads) {
    const int64_t row0 = item * rows_per_item, row1 = std::min(rows, row0 + rows_per_item);
    const int64_t tiles = (row1 - row0) * tiles_w;
    // The calling thread's workspace; with a team below, its threads share it.
    const winograd::ItemBuffers buffers = winograd::item_buffers(tiles, C, K);
    const int64_t ld = buffers.ld, v_stride = buffers.first_stride, m_stride = buffers.second_stride;
    float* v = buffers.first;
    float* m = buffers.second;
    auto tile_row = [&](int64_t global_row) {
      return TileRow{in_h, in_w, out_h, out_w, tiles_w, global_row % tiles_h, pad_top, pad_left};
    };
    auto transform_inputs = [&](int64_t c0, int64_t c1) {  // V[xi][c][t] for channels [c0, c1)
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = row0; r < row1; ++r) {
          const float* plane = x + (r / tiles_h * C + c) * in_h * in_w;
          kernels.input_row(plane, tile_row(r), v + c * ld + (r - row0) * tiles_w, v_stride);
        }
      }
    };
    auto multiply = [&](int xi0, int xi1) {  // M[xi] = U[xi] @ V[xi]
      for (int xi = xi0; xi < xi1; ++xi) {
        GemmParams gp;
        gp.m = K, gp.n = tiles, gp.k = C;
        gp.lda = C;
        gp.packed_a = packed_u + xi * packed_floats;
        gp.b = v + xi * v_stride, gp.ldb = ld;
        gp.c = m + xi * m_stride, gp.ldc = ld;
        gemm_with_threads(gp, 1);
      }
    };
    auto transform_outputs = [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        for (int64_t r = row0; r < row1; ++r) {
          float* plane = y + (r / tiles_h * K + k) * out_h * out_w;
          kernels.output_row(m + k * ld + (r - row0) * tiles_w, m_stride, bias ? bias[k] : 0.0f, relu,
                             tile_row(r), plane);
        }
      }
    };
    if (threads <= 1) {
      transform_inputs(0, C);
      multiply(0, 16);
      transform_outputs(0, K);
      return;
    }
    // Few items (small layers at batch 1): the team splits each step, the 16 GEMMs between
    // them, rather than waking for each GEMM (ResNet-18's 7x7 layers on a loaded 2-core
    // machine: 26 ms with 16 wake-ups per call, every one waiting for a time slice).
    detail::parallel_region(threads, [&](int tid, int team) {
      transform_inputs(C * tid / team, C * (tid + 1) / team);
    });
    detail::parallel_region(threads, [&](int tid, int team) { multiply(16 * tid / team, 16 * (tid + 1) / team); });
    detail::parallel_region(threads, [&](int tid, int team) {
      transform_outputs(K * tid / team, K * (tid + 1) / team);
    });
  });
}

}  // namespace

void conv2d_winograd_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                             float* y) {
  const int64_t C = p.in_channels, K = p.out_channels;
  const Kernels kernels = active_kernels();
  const float* packed_u = packed_filters(kernels, {w, C, 9 * C, 9, false}, K);
  run(kernels, p.batch, C, K, p.in_h, p.in_w, p.out_h(), p.out_w(), p.pad_top, p.pad_left, x, packed_u, bias, relu, y);
}

int64_t conv2d_winograd_packed_floats(const Conv2dParams& p) {
  return 16 * gemm_packed_a_floats(p.out_channels, p.in_channels);
}

// The packed U conv2d_winograd_forward builds for itself on each call.
void conv2d_winograd_pack(const Conv2dParams& p, const float* w, float* packed) {
  transform_and_pack_filters(active_kernels(), {w, p.in_channels, 9 * p.in_channels, 9, false}, p.out_channels,
                             get_num_threads(), packed);
}

void conv2d_winograd_forward_packed(const Conv2dParams& p, const float* x, const float* packed_u, const float* bias,
                                    bool relu, float* y) {
  run(active_kernels(), p.batch, p.in_channels, p.out_channels, p.in_h, p.in_w, p.out_h(), p.out_w(), p.pad_top,
      p.pad_left, x, packed_u, bias, relu, y);
}

// grad_x[c] = sum_k grad_y[k] correlated with w[k][c] rotated by 180 degrees, padded by
// 2 - pad on each side: a forward pass from K channels of out_h x out_w to C of in_h x in_w.
void conv2d_winograd_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  const int64_t C = p.in_channels, K = p.out_channels;
  const Kernels kernels = active_kernels();
  const float* packed_u = packed_filters(kernels, {w, K, 9, 9 * C, true}, C);
  run(kernels, p.batch, K, C, p.out_h(), p.out_w(), p.in_h, p.in_w, 2 - p.pad_top, 2 - p.pad_left, grad_y, packed_u,
      nullptr, false, grad_x);
}

}  // namespace fastcnn::cpu
