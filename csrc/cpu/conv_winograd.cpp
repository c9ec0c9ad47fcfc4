// Winograd F(2x2, 3x3) convolution, forward (3x3 kernel, stride 1, dilation 1, groups 1).
//
// Each 2x2 output tile comes from a 4x4 input patch d with 16 multiplies per channel
// pair instead of 36:  y = A^T [ (G g G^T) .* (B^T d B) ] A  (Lavin & Gray, 2015). Summed
// over input channels, the elementwise products become 16 GEMMs, one per position xi of
// the 4x4 transformed tile:
//   U[xi] (K x C)  = weights transformed (once per call)
//   V[xi] (C x T)  = input patches transformed, T tiles at a time
//   M[xi] (K x T)  = U[xi] @ V[xi]
// and the output transform folds M back into 2x2 tiles (plus bias, ReLU).
// Work items are (image, block of tiles); V and M of one item live in a per-thread
// workspace bounded by kTileBudget floats.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_util.h"
#include "cpu/gemm_kernels.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace {

constexpr int64_t kTileBudget = int64_t(1) << 20;  // floats of V + M per thread (4 MiB)

// u (4x4) = G g G^T with G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]].
void transform_filter(const float* g, float u[16]) {
  float t[4][3];
  for (int j = 0; j < 3; ++j) {
    t[0][j] = g[j];
    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    t[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {
    u[i * 4 + 0] = t[i][0];
    u[i * 4 + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    u[i * 4 + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    u[i * 4 + 3] = t[i][2];
  }
}

// v (4x4) = B^T d B with B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
inline void transform_input(const float d[4][4], float v[16]) {
  float t[4][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = d[0][j] - d[2][j];
    t[1][j] = d[1][j] + d[2][j];
    t[2][j] = d[2][j] - d[1][j];
    t[3][j] = d[1][j] - d[3][j];
  }
  for (int i = 0; i < 4; ++i) {
    v[i * 4 + 0] = t[i][0] - t[i][2];
    v[i * 4 + 1] = t[i][1] + t[i][2];
    v[i * 4 + 2] = t[i][2] - t[i][1];
    v[i * 4 + 3] = t[i][1] - t[i][3];
  }
}

// y (2x2) = A^T m A with A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
inline void transform_output(const float m[16], float y[2][2]) {
  float t[2][4];
  for (int j = 0; j < 4; ++j) {
    t[0][j] = m[j] + m[4 + j] + m[8 + j];
    t[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
  }
  for (int i = 0; i < 2; ++i) {
    y[i][0] = t[i][0] + t[i][1] + t[i][2];
    y[i][1] = t[i][1] - t[i][2] - t[i][3];
  }
}

}  // namespace

void conv2d_winograd_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                             float* y) {
  const int64_t C = p.in_channels, K = p.out_channels, H = p.in_h, W = p.in_w;
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  const int64_t tiles_w = (out_w + 1) / 2, tiles = (out_h + 1) / 2 * tiles_w;
  const int64_t block = std::clamp<int64_t>(kTileBudget / (16 * (C + K)), 16, tiles);
  const int64_t blocks = (tiles + block - 1) / block;

  // U[xi][k][c], transformed once per call.
  std::vector<float> u(static_cast<size_t>(16 * K * C));
  const int threads = static_cast<int>(std::clamp<int64_t>(K * C / 4096, 1, get_num_threads()));
  detail::parallel_region(threads, [&](int tid, int team) {
    for (int64_t kc = K * C * tid / team; kc < K * C * (tid + 1) / team; ++kc) {
      float tile[16];
      transform_filter(w + kc * 9, tile);
      for (int xi = 0; xi < 16; ++xi) u[static_cast<size_t>(xi * K * C + kc)] = tile[xi];
    }
  });

  conv_util::for_each_item(p.batch * blocks, [&](int64_t item, int gemm_threads) {
    const int64_t n = item / blocks, t0 = item % blocks * block, t1 = std::min(tiles, t0 + block);
    const int64_t count = t1 - t0;
    float* v = conv_util::thread_workspace(static_cast<size_t>(16 * (C + K) * block));
    float* m = v + 16 * C * block;
    // V[xi][c][t]
    for (int64_t c = 0; c < C; ++c) {
      const float* plane = x + (n * C + c) * H * W;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t ih0 = t / tiles_w * 2 - p.pad_top, iw0 = t % tiles_w * 2 - p.pad_left;
        float d[4][4];
        for (int i = 0; i < 4; ++i) {
          const int64_t ih = ih0 + i;
          for (int j = 0; j < 4; ++j) {
            const int64_t iw = iw0 + j;
            d[i][j] = ih >= 0 && ih < H && iw >= 0 && iw < W ? plane[ih * W + iw] : 0.0f;
          }
        }
        float tile[16];
        transform_input(d, tile);
        for (int xi = 0; xi < 16; ++xi) v[(xi * C + c) * block + (t - t0)] = tile[xi];
      }
    }
    // M[xi] = U[xi] @ V[xi]
    for (int xi = 0; xi < 16; ++xi) {
      GemmParams gp;
      gp.m = K, gp.n = count, gp.k = C;
      gp.a = u.data() + xi * K * C, gp.lda = C;
      gp.b = v + xi * C * block, gp.ldb = block;
      gp.c = m + xi * K * block, gp.ldc = block;
      gemm_with_threads(gp, gemm_threads);
    }
    // Output tiles; the last row and column of tiles may stick out of the image.
    for (int64_t k = 0; k < K; ++k) {
      const float b = bias ? bias[k] : 0.0f;
      float* plane = y + (n * K + k) * out_h * out_w;
      for (int64_t t = t0; t < t1; ++t) {
        float tile[16], out[2][2];
        for (int xi = 0; xi < 16; ++xi) tile[xi] = m[(xi * K + k) * block + (t - t0)];
        transform_output(tile, out);
        const int64_t oh0 = t / tiles_w * 2, ow0 = t % tiles_w * 2;
        for (int i = 0; i < 2 && oh0 + i < out_h; ++i) {
          for (int j = 0; j < 2 && ow0 + j < out_w; ++j) {
            const float value = out[i][j] + b;
            plane[(oh0 + i) * out_w + ow0 + j] = relu && value < 0.0f ? 0.0f : value;
          }
        }
      }
    }
  });
}

}  // namespace fastcnn::cpu
