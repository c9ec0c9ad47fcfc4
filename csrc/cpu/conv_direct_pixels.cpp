// Pixel-lane direct convolution (see conv_direct_pixels.h): the portable tiles and the
// drivers. The forward pass and the input gradient share one driver: the input gradient
// of a stride-1 convolution is a forward convolution of grad_y, zero-padded by the
// dilated kernel's reach, with the filters flipped and their two channel axes swapped.
#include "cpu/conv_direct_pixels.h"

#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "cpu/conv_util.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace direct_pixels {

void tile_ref(const TileArgs& t) {
  float acc[kChannels][kPixels] = {};
  for (int64_t c = 0; c < t.channels; ++c) {
    for (int64_t r = t.row_begin; r < t.row_end; ++r) {
      const float* row = t.input + c * t.channel_stride + r * t.dilation_h * t.row_stride;
      const float* w = t.weights + (c * t.kernel_h + r) * t.kernel_w * kChannels;
      for (int64_t s = 0; s < t.kernel_w; ++s, w += kChannels) {
        const float* x = row + s * t.dilation_w;
        for (int64_t k = 0; k < kChannels; ++k) {
          for (int64_t i = 0; i < kPixels; ++i) acc[k][i] += w[k] * x[i];
        }
      }
    }
  }
  for (int64_t k = 0; k < t.channels_out; ++k) {
    float* dst = t.out + k * t.out_channel_stride;
    for (int64_t i = 0; i < t.width; ++i) {
      const float v = acc[k][i] + t.bias[k];
      dst[i] = t.relu ? std::max(v, 0.0f) : v;  // NaN passes (std::max returns its first)
    }
  }
}

void weight_tile_ref(const WeightTileArgs& t) {
  for (int64_t tap = 0; tap < kTaps; ++tap) {
    for (int64_t k = 0; k < kChannels; ++k) {
      float* acc = t.acc + (tap * kChannels + k) * kLanes;
      const float* grad = t.grad + std::min(k, t.grad_channels - 1) * t.out_h * t.out_w;
      for (int64_t oh = 0; oh < t.out_h; ++oh) {
        const float* x = t.image + t.tap_offsets[tap] + oh * t.row_step;
        const float* g = grad + oh * t.out_w;
        for (int64_t ow = 0; ow < t.out_w; ++ow) acc[ow % kLanes] += x[ow] * g[ow];
      }
    }
  }
}

}  // namespace direct_pixels

namespace {

using direct_pixels::kChannels;
using direct_pixels::kLanes;
using direct_pixels::kPixels;
using direct_pixels::kTaps;

// Threads for `fmas` multiply-adds: waking the second thread costs more than ~100K
// FMAs save (a few microseconds).
int threads_for(int64_t fmas, int64_t items) {
  constexpr int64_t kMinFmasPerThread = 128 * 1024;
  return static_cast<int>(std::clamp<int64_t>(fmas / kMinFmasPerThread, 1, std::min<int64_t>(get_num_threads(), items)));
}

// A forward-shaped direct convolution over images that `prepare` lays out (C x rows x cols,
// with at least kPixels + (kernel_w - 1) * dilation_w readable floats past the last row).
// Rows outside [nonzero_begin, nonzero_end) are zero padding: the tiles skip the filter
// rows that meet only those (the input gradient of LeNet's conv2 pads 10 rows to 18).
struct Geometry {
  int64_t batch, in_channels, out_channels, kernel_h, kernel_w, dilation_h, dilation_w, stride_h;
  int64_t rows, cols, out_h, out_w;
  int64_t nonzero_begin, nonzero_end;
};

// prepare(n, scratch) returns image n, laid out in `scratch` (image_floats floats) if it must be.
template <class Prepare>
void run_forward(const Geometry& g, const float* packed, const float* bias, bool relu, float* y,
                 int64_t image_floats, const Prepare& prepare) {
  direct_pixels::TileFn tile = direct_pixels::tile_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) tile = direct_pixels::tile_avx2;
#endif
  const int64_t blocks = (g.out_channels + kChannels - 1) / kChannels;
  const int64_t block_weights = g.in_channels * g.kernel_h * g.kernel_w * kChannels;
  const int64_t tiles_per_row = (g.out_w + kPixels - 1) / kPixels, out_plane = g.out_h * g.out_w;
  // Items are (image, channel block, row block), image-major; rows are split only when
  // there are fewer (image, block) pairs than threads.
  const int64_t fmas = g.batch * blocks * g.out_h * tiles_per_row * block_weights * kPixels;
  const int threads = threads_for(fmas, g.batch * blocks * g.out_h);
  const int64_t row_blocks = std::min<int64_t>(g.out_h, (threads + g.batch * blocks - 1) / (g.batch * blocks));
  const int64_t items = g.batch * blocks * row_blocks;
  detail::parallel_region(static_cast<int>(std::min<int64_t>(threads, items)), [&](int tid, int team) {
    float* scratch = image_floats ? conv_util::thread_workspace(static_cast<size_t>(image_floats)) : nullptr;
    int64_t prepared = -1;
    for (int64_t item = items * tid / team; item < items * (tid + 1) / team; ++item) {
      const int64_t row_block = item % row_blocks, block = item / row_blocks % blocks;
      const int64_t n = item / row_blocks / blocks;
      const float* image = prepare(n, scratch, prepared != n);
      prepared = n;
      const int64_t k0 = block * kChannels;
      direct_pixels::TileArgs args{nullptr, g.in_channels, g.kernel_h, g.kernel_w, 0, 0, g.rows * g.cols, g.cols,
                                   g.dilation_h, g.dilation_w, packed + block * block_weights, bias + k0, nullptr,
                                   out_plane, std::min(kChannels, g.out_channels - k0), 0, relu};
      float* out = y + (n * g.out_channels + k0) * out_plane;
      for (int64_t oh = g.out_h * row_block / row_blocks; oh < g.out_h * (row_block + 1) / row_blocks; ++oh) {
        // Filter rows r with nonzero_begin <= oh * stride_h + r * dilation_h < nonzero_end.
        const int64_t first = oh * g.stride_h;
        args.row_begin = std::clamp<int64_t>((g.nonzero_begin - first + g.dilation_h - 1) / g.dilation_h, 0, g.kernel_h);
        args.row_end = std::clamp<int64_t>((g.nonzero_end - first + g.dilation_h - 1) / g.dilation_h, 0, g.kernel_h);
        for (int64_t ow0 = 0; ow0 < g.out_w; ow0 += kPixels) {
          // The last tile of a row ends at out_w (recomputing a few pixels) when the row has
          // 16; narrower rows store part of one tile.
          const int64_t start = g.out_w >= kPixels ? std::min(ow0, g.out_w - kPixels) : 0;
          args.input = image + oh * g.stride_h * g.cols + start;
          args.out = out + oh * g.out_w + start;
          args.width = std::min(kPixels, g.out_w - start);
          tile(args);
        }
      }
    }
  });
}

}  // namespace

void conv2d_direct_pixels_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                                  bool relu, float* y) {
  const int64_t C = p.in_channels, K = p.out_channels, taps = C * p.kernel_h * p.kernel_w;
  const int64_t blocks = (K + kChannels - 1) / kChannels;
  // packed[block][c][r][s][lane] = w[block * 6 + lane][c][r][s], zero past K.
  std::vector<float> packed(static_cast<size_t>(blocks * taps * kChannels), 0.0f);
  std::vector<float> bias6(static_cast<size_t>(blocks * kChannels), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t t = 0; t < taps; ++t) {
      packed[static_cast<size_t>(((k / kChannels) * taps + t) * kChannels + k % kChannels)] = w[k * taps + t];
    }
    if (bias) bias6[static_cast<size_t>(k)] = bias[k];
  }
  Geometry g{p.batch, C, K, p.kernel_h, p.kernel_w, p.dilation_h, p.dilation_w, p.stride_h,
             p.in_h + p.pad_top + p.pad_bottom, p.in_w + p.pad_left + p.pad_right, p.out_h(), p.out_w(),
             p.pad_top, p.pad_top + p.in_h};
  // Rows of 16+ outputs read inside the image (the last tile is moved back); narrower
  // ones read past the row, which only the last row of the image cannot: a padded copy.
  const bool copy = p.pad_top || p.pad_bottom || p.pad_left || p.pad_right || g.out_w < kPixels;
  const int64_t padded_floats = C * g.rows * g.cols, slack = kPixels + (p.kernel_w - 1) * p.dilation_w;
  run_forward(g, packed.data(), bias6.data(), relu, y, copy ? padded_floats + slack : 0,
              [&](int64_t n, float* scratch, bool fresh) -> const float* {
                const float* image = x + n * C * p.in_h * p.in_w;
                if (!copy) return image;
                if (fresh) {
                  conv_util::copy_padded_image(p, image, scratch);
                  std::fill(scratch + padded_floats, scratch + padded_floats + slack, 0.0f);
                }
                return scratch;
              });
}

void conv2d_direct_pixels_backward_data(const Conv2dParams& p, const float* grad_y, const float* w,
                                        float* grad_x) {
  // grad_x[c][h][w] = sum over k, r, s of gpad[k][h + r*dh][w + s*dw] * w[k][c][R-1-r][S-1-s],
  // where gpad[k][i][j] = grad_y[k][i - off_h][j - off_w] (zero outside grad_y).
  const int64_t C = p.in_channels, K = p.out_channels, R = p.kernel_h, S = p.kernel_w;
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  const int64_t off_h = (R - 1) * p.dilation_h - p.pad_top, off_w = (S - 1) * p.dilation_w - p.pad_left;
  const int64_t blocks = (C + kChannels - 1) / kChannels, taps = K * R * S;
  std::vector<float> packed(static_cast<size_t>(blocks * taps * kChannels), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t r = 0; r < R; ++r) {
        for (int64_t s = 0; s < S; ++s) {
          const int64_t tap = (k * R + r) * S + s;
          packed[static_cast<size_t>(((c / kChannels) * taps + tap) * kChannels + c % kChannels)] =
              w[((k * C + c) * R + (R - 1 - r)) * S + (S - 1 - s)];
        }
      }
    }
  }
  const std::vector<float> zeros(static_cast<size_t>(blocks * kChannels), 0.0f);
  Geometry g{p.batch, K, C, R, S, p.dilation_h, p.dilation_w, 1,
             p.in_h + (R - 1) * p.dilation_h, p.in_w + (S - 1) * p.dilation_w, p.in_h, p.in_w,
             std::max<int64_t>(0, off_h), off_h + out_h};
  const int64_t padded_floats = K * g.rows * g.cols, slack = kPixels + (S - 1) * p.dilation_w;
  // Columns j of gpad that hold grad_y: [col0, col1).
  const int64_t col0 = std::clamp<int64_t>(off_w, 0, g.cols), col1 = std::clamp<int64_t>(off_w + out_w, 0, g.cols);
  run_forward(g, packed.data(), zeros.data(), false, grad_x, padded_floats + slack,
              [&](int64_t n, float* gpad, bool fresh) -> const float* {
                if (!fresh) return gpad;
                std::fill(gpad, gpad + padded_floats + slack, 0.0f);
                for (int64_t k = 0; k < K; ++k) {
                  for (int64_t i = std::max<int64_t>(0, off_h); i < std::min(g.rows, off_h + out_h); ++i) {
                    const float* src = grad_y + ((n * K + k) * out_h + i - off_h) * out_w + col0 - off_w;
                    std::copy(src, src + (col1 - col0), gpad + (k * g.rows + i) * g.cols + col0);
                  }
                }
                return gpad;
              });
}

constexpr int64_t kChunkImages = 8;  // images summed per work item before the chunks are combined

void conv2d_direct_pixels_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y,
                                          float* grad_w) {
  direct_pixels::WeightTileFn tile = direct_pixels::weight_tile_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) tile = direct_pixels::weight_tile_avx2;
#endif
  const int64_t C = p.in_channels, K = p.out_channels, taps = C * p.kernel_h * p.kernel_w;
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  const int64_t blocks = (K + kChannels - 1) / kChannels, pairs = (taps + kTaps - 1) / kTaps;
  // Images are read in place unless the layer pads (tiles read no pixel past a row's end).
  const bool padded = p.pad_top || p.pad_bottom || p.pad_left || p.pad_right;
  const int64_t rows = p.in_h + p.pad_top + p.pad_bottom, cols = p.in_w + p.pad_left + p.pad_right;
  const int64_t image_floats = C * rows * cols;

  // Offsets of every tap (c, r, s) in an image; a last, odd tap repeats tap 0.
  std::vector<int64_t> offsets(static_cast<size_t>(pairs * kTaps), 0);
  for (int64_t tap = 0; tap < taps; ++tap) {
    const int64_t c = tap / (p.kernel_h * p.kernel_w), r = tap / p.kernel_w % p.kernel_h, s = tap % p.kernel_w;
    offsets[static_cast<size_t>(tap)] = (c * rows + r * p.dilation_h) * cols + s * p.dilation_w;
  }

  // Work items are (image chunk, tap pair, channel block), as in conv_direct_weight.cpp:
  // each sums its chunk's images in order, then the chunks' lane sums are added in chunk
  // order and the lanes last, so the bits do not depend on the thread count. Items run
  // image by image within a chunk, so one image's pixels and gradient stay in L1.
  const int64_t per_chunk = pairs * blocks, chunks = (p.batch + kChunkImages - 1) / kChunkImages;
  const int64_t items = chunks * per_chunk, acc_floats = kTaps * kChannels * kLanes;
  std::vector<float> sums(static_cast<size_t>(items * acc_floats), 0.0f);
  const int64_t fmas = p.batch * per_chunk * out_h * out_w * kTaps * kChannels;
  detail::parallel_region(threads_for(fmas, items), [&](int tid, int team) {
    float* padded_image = padded ? conv_util::thread_workspace(static_cast<size_t>(image_floats)) : nullptr;
    const int64_t first = items * tid / team, last = items * (tid + 1) / team;
    for (int64_t chunk = first / per_chunk; chunk * per_chunk < last; ++chunk) {
      const int64_t begin = std::max(first, chunk * per_chunk), end = std::min(last, (chunk + 1) * per_chunk);
      for (int64_t n = chunk * kChunkImages; n < std::min(p.batch, (chunk + 1) * kChunkImages); ++n) {
        const float* image = x + n * C * p.in_h * p.in_w;
        if (padded) conv_util::copy_padded_image(p, image, padded_image), image = padded_image;
        for (int64_t item = begin; item < end; ++item) {
          const int64_t pair = item % per_chunk % pairs, block = item % per_chunk / pairs;
          const int64_t k0 = block * kChannels;
          direct_pixels::WeightTileArgs args{image, offsets.data() + pair * kTaps,
                                             grad_y + (n * K + k0) * out_h * out_w, std::min(kChannels, K - k0),
                                             out_h, out_w, p.stride_h * cols, sums.data() + item * acc_floats};
          tile(args);
        }
      }
    }
  });
  for (int64_t j = 0; j < per_chunk; ++j) {
    const int64_t pair = j % pairs, k0 = j / pairs * kChannels;
    float* acc = sums.data() + j * acc_floats;  // chunk 0's sums, then the others added in order
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      const float* more = sums.data() + (chunk * per_chunk + j) * acc_floats;
      for (int64_t i = 0; i < acc_floats; ++i) acc[i] += more[i];
    }
    for (int64_t t = 0; t < kTaps && pair * kTaps + t < taps; ++t) {
      for (int64_t k = k0; k < std::min(K, k0 + kChannels); ++k) {
        const float* lanes = acc + (t * kChannels + k - k0) * kLanes;
        float total = 0.0f;
        for (int64_t lane = 0; lane < kLanes; ++lane) total += lanes[lane];
        grad_w[k * taps + pair * kTaps + t] = total;
      }
    }
  }
}

}  // namespace fastcnn::cpu
