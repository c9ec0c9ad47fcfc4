// Winograd F(2x2, 3x3) gradient with respect to the weights (3x3 kernel, stride 1,
// dilation 1, groups 1).
//
// The forward pass is y = A^T [ sum_c (G g G^T) .* (B^T d B) ] A per 2x2 output tile, so
// by the chain rule, with dy a 2x2 tile of the output gradient,
//   grad (G g G^T) = sum over tiles of (A dy A^T) .* (B^T d B)
//   grad g         = G^T [that 4x4 sum] G.
// Per position xi of the 4x4 transformed tile the sum over tiles is one GEMM:
//   V[xi]  (C x T) = input patches transformed (the forward pass's transform)
//   dM[xi] (K x T) = output-gradient tiles transformed
//   dU[xi] (K x C) += dM[xi] @ V[xi]^T
// with 16 multiplies per channel pair and tile where im2col needs 36. Items are runs of
// tile rows over the batch, as in the forward pass; each part of the items (a thread's
// share) sums into its own dU, and the parts are added in a fixed order, so the result
// depends only on the number of parts: the thread count, or in deterministic mode a
// count from the shape alone.
#include <algorithm>

#include "common/parallel.h"
#include "common/thread_buffer.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_util.h"
#include "cpu/conv_winograd.h"
#include "cpu/conv_winograd_items.h"
#include "cpu/gemm_kernels.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

using winograd::TileRow;

constexpr int64_t kPartialBudget = int64_t(1) << 25;  // floats of the parts' dU copies in all
constexpr int kDeterministicParts = 8;

// The 16 values of A dy A^T for the 2x2 tile [[g00, g01], [g10, g11]] at dm[xi * xi_stride],
// A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]: the rows of A dy are g0, g0 + g1, g0 - g1 and -g1,
// and each row [a, b] times A^T is [a, a + b, a - b, -b].
inline void grad_tile(float g00, float g01, float g10, float g11, float* dm, int64_t xi_stride) {
  const float rows[4][2] = {{g00, g01}, {g00 + g10, g01 + g11}, {g00 - g10, g01 - g11}, {-g10, -g11}};
  for (int i = 0; i < 4; ++i) {
    const float a = rows[i][0], b = rows[i][1];
    dm[(i * 4 + 0) * xi_stride] = a;
    dm[(i * 4 + 1) * xi_stride] = a + b;
    dm[(i * 4 + 2) * xi_stride] = a - b;
    dm[(i * 4 + 3) * xi_stride] = -b;
  }
}

// dm[xi * xi_stride + tx] = (A dy A^T)[xi] for the 2x2 tiles tx of tile row `row.ty` of one
// output-gradient plane (out_h x out_w; zero past its edges). Whole tiles first, without
// edge tests, so the loop vectorizes over tx.
void grad_row(const float* plane, const TileRow& row, float* dm, int64_t xi_stride) {
  const int64_t oh = 2 * row.ty, whole = row.out_w / 2;
  const float* top = plane + oh * row.out_w;
  const float* bottom = top + row.out_w;
  if (oh + 1 < row.out_h) {
    for (int64_t tx = 0; tx < whole; ++tx) {
      grad_tile(top[2 * tx], top[2 * tx + 1], bottom[2 * tx], bottom[2 * tx + 1], dm + tx, xi_stride);
    }
  } else {
    for (int64_t tx = 0; tx < whole; ++tx) grad_tile(top[2 * tx], top[2 * tx + 1], 0.0f, 0.0f, dm + tx, xi_stride);
  }
  if (whole < row.tiles_w) {  // odd width: the last tile's right column is outside
    const float g10 = oh + 1 < row.out_h ? bottom[2 * whole] : 0.0f;
    grad_tile(top[2 * whole], 0.0f, g10, 0.0f, dm + whole, xi_stride);
  }
}

// grad_w of pair (k, c), 3x3, = G^T x G for the 4x4 x = du[xi * pairs + pair],
// G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]].
void filter_gradients(const float* du, int64_t begin, int64_t end, int64_t pairs, float* grad_w) {
  for (int64_t pair = begin; pair < end; ++pair) {
    float x[16];
    for (int xi = 0; xi < 16; ++xi) x[xi] = du[xi * pairs + pair];
    float t[3][4];
    for (int j = 0; j < 4; ++j) {
      const float half_sum = 0.5f * (x[4 + j] + x[8 + j]);
      t[0][j] = x[j] + half_sum;
      t[1][j] = 0.5f * (x[4 + j] - x[8 + j]);
      t[2][j] = half_sum + x[12 + j];
    }
    float* g = grad_w + pair * 9;
    for (int i = 0; i < 3; ++i) {
      const float half_sum = 0.5f * (t[i][1] + t[i][2]);
      g[i * 3 + 0] = t[i][0] + half_sum;
      g[i * 3 + 1] = 0.5f * (t[i][1] - t[i][2]);
      g[i * 3 + 2] = half_sum + t[i][3];
    }
  }
}

winograd::InputRowFn active_input_row() {
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) return winograd::input_row_avx2;
#endif
  return winograd::input_row_ref;
}

}  // namespace

void conv2d_winograd_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  const int64_t C = p.in_channels, K = p.out_channels, pairs = K * C;
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  const int64_t tiles_h = (out_h + 1) / 2, tiles_w = (out_w + 1) / 2, rows = p.batch * tiles_h;
  const winograd::ItemSplit split = winograd::split_tile_rows(rows, tiles_w, C + K);
  const int64_t rows_per_item = split.rows_per_item, items = split.items;
  const int threads = get_num_threads();
  const int64_t max_parts = std::max<int64_t>(1, kPartialBudget / (16 * pairs));
  const int64_t wanted_parts = deterministic() ? kDeterministicParts : threads;
  const int parts = static_cast<int>(std::clamp<int64_t>(std::min({wanted_parts, max_parts, items}), 1, wanted_parts));
  const winograd::InputRowFn input_row = active_input_row();
  // The parts' sums, kept per calling thread: a training loop reuses the pages.
  struct SumsTag;
  float* du = detail::thread_buffer<SumsTag>(static_cast<size_t>(16 * pairs * parts));

  // The items of one part, summed into its dU. With a team (a single part: few items), its
  // threads split each step, the transforms by channel and the 16 GEMMs by xi, rather than
  // waking for every GEMM (as the forward pass does).
  auto run_part = [&](int part, int team_threads) {
    float* part_du = du + part * 16 * pairs;
    const int64_t begin = items * part / parts, end = items * (part + 1) / parts;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t row0 = item * rows_per_item, row1 = std::min(rows, row0 + rows_per_item);
      const int64_t tiles = (row1 - row0) * tiles_w;
      const winograd::ItemBuffers buffers = winograd::item_buffers(tiles, C, K);
      const int64_t ld = buffers.ld, v_stride = buffers.first_stride, dm_stride = buffers.second_stride;
      float* v = buffers.first;
      float* dm = buffers.second;
      auto tile_row = [&](int64_t global_row) {
        return TileRow{p.in_h, p.in_w, out_h, out_w, tiles_w, global_row % tiles_h, p.pad_top, p.pad_left};
      };
      auto transform = [&](int tid, int team) {
        for (int64_t r = row0; r < row1; ++r) {
          const int64_t n = r / tiles_h, offset = (r - row0) * tiles_w;
          for (int64_t c = C * tid / team; c < C * (tid + 1) / team; ++c) {
            input_row(x + (n * C + c) * p.in_h * p.in_w, tile_row(r), v + c * ld + offset, v_stride);
          }
          for (int64_t k = K * tid / team; k < K * (tid + 1) / team; ++k) {
            grad_row(grad_y + (n * K + k) * out_h * out_w, tile_row(r), dm + k * ld + offset, dm_stride);
          }
        }
      };
      auto multiply = [&](int xi0, int xi1) {  // dU[xi] (+)= dM[xi] @ V[xi]^T
        for (int xi = xi0; xi < xi1; ++xi) {
          GemmParams gp;
          gp.m = K, gp.n = C, gp.k = tiles;
          gp.a = dm + xi * dm_stride, gp.lda = ld;
          gp.trans_b = true, gp.b = v + xi * v_stride, gp.ldb = ld;
          gp.c = part_du + xi * pairs, gp.ldc = C;
          gp.beta = item == begin ? 0.0f : 1.0f;
          gemm_with_threads(gp, 1);
        }
      };
      if (team_threads <= 1) {
        transform(0, 1);
        multiply(0, 16);
      } else {
        detail::parallel_region(team_threads, transform);
        detail::parallel_region(team_threads, [&](int tid, int team) { multiply(16 * tid / team, 16 * (tid + 1) / team); });
      }
    }
  };
  if (parts == 1) {
    run_part(0, threads);
  } else {
    detail::parallel_region(std::min(parts, threads), [&](int tid, int team) {
      for (int part = tid; part < parts; part += team) run_part(part, 1);
    });
  }

  const int64_t total = 16 * pairs;
  const int team_size = static_cast<int>(std::clamp<int64_t>(total * parts >> 16, 1, threads));
  detail::parallel_region(team_size, [&](int tid, int team) {
    float* sum = du;
    for (int part = 1; part < parts; ++part) {
      const float* other = du + part * total;
      for (int64_t i = total * tid / team; i < total * (tid + 1) / team; ++i) sum[i] += other[i];
    }
  });
  detail::parallel_region(team_size, [&](int tid, int team) {
    filter_gradients(du, pairs * tid / team, pairs * (tid + 1) / team, pairs, grad_w);
  });
}

}  // namespace fastcnn::cpu
