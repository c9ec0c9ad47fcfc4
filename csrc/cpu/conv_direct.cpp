// Direct convolution, forward (see conv_direct.h): the portable tile kernel and the
// driver, which packs the weights, pads each image when the layer pads, and spreads
// (image, channel block, row range) items over the threads.
#include "cpu/conv_direct.h"

#include <algorithm>
#include <vector>

#include "cpu/conv_kernels.h"
#include "cpu/conv_util.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace direct {

namespace {

template <int64_t Pixels>
void tile_ref_impl(const TileArgs& t) {
  float acc[Pixels][kChannels] = {};
  const float* w = t.weights;
  for (int64_t c = 0; c < t.channels; ++c) {
    for (int64_t r = 0; r < t.kernel_h; ++r) {
      const float* row = t.input + c * t.channel_stride + r * t.dilation_h * t.row_stride;
      for (int64_t s = 0; s < t.kernel_w; ++s, w += kChannels) {
        for (int64_t i = 0; i < Pixels; ++i) {
          const float a = row[i * t.stride_w + s * t.dilation_w];
          for (int64_t k = 0; k < kChannels; ++k) acc[i][k] += a * w[k];
        }
      }
    }
  }
  for (int64_t i = 0; i < Pixels; ++i) std::copy(acc[i], acc[i] + kChannels, t.out + i * kChannels);
}

}  // namespace

void tile_ref(const TileArgs& t) { tile_ref_impl<kPixels>(t); }
void tile5_ref(const TileArgs& t) { tile_ref_impl<5>(t); }

}  // namespace direct

using direct::kChannels;
using direct::kPixels;

void conv2d_direct_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                           float* y) {
  const int64_t C = p.in_channels, K = p.out_channels, taps = p.kernel_h * p.kernel_w;
  const int64_t out_h = p.out_h(), out_w = p.out_w();
  // 5-pixel tiles where they cover a row with fewer pixels than 6-pixel ones (10: 10, not
  // 12; LeNet's conv2 forward: 376 -> 360 us on 1 thread, the tile is not all of its cost).
  const int64_t pixels = (out_w + 4) / 5 * 5 < (out_w + kPixels - 1) / kPixels * kPixels ? 5 : kPixels;
  direct::TileFn tile = pixels == 5 ? direct::tile5_ref : direct::tile_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) tile = pixels == 5 ? direct::tile5_avx2 : direct::tile_avx2;
#endif
  const int64_t blocks = (K + kChannels - 1) / kChannels;

  // packed[block][c][r][s][lane] = w[block * 16 + lane][c][r][s], zero past K.
  std::vector<float> packed(static_cast<size_t>(blocks * C * taps * kChannels), 0.0f);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t ct = 0; ct < C * taps; ++ct) {
      packed[static_cast<size_t>(((k / kChannels) * C * taps + ct) * kChannels + k % kChannels)] = w[k * C * taps + ct];
    }
  }

  // A tile reads 5 or 6 pixels; the last one of a row starts at out_w - 6 (5) (recomputing
  // a few pixels) so it never reads past the row. Narrower outputs, and padded layers,
  // read a padded copy with slack at its end.
  const bool padded = p.pad_top || p.pad_bottom || p.pad_left || p.pad_right || out_w < kPixels;
  const int64_t padded_h = p.in_h + p.pad_top + p.pad_bottom, padded_w = p.in_w + p.pad_left + p.pad_right;
  const int64_t slack = kPixels * p.stride_w + p.kernel_w * p.dilation_w + padded_w;
  const int64_t padded_floats = C * padded_h * padded_w + slack;

  const int threads = get_num_threads();
  const int64_t row_blocks = std::min<int64_t>(out_h, (threads + p.batch * blocks - 1) / (p.batch * blocks));
  conv_util::for_each_item(p.batch * blocks * row_blocks, [&](int64_t item, int) {
    const int64_t row_block = item % row_blocks, block = item / row_blocks % blocks, n = item / row_blocks / blocks;
    const float* image = x + n * C * p.in_h * p.in_w;
    int64_t channel_stride = p.in_h * p.in_w, row_stride = p.in_w;
    if (padded) {
      float* copy = conv_util::thread_workspace(static_cast<size_t>(padded_floats));
      conv_util::copy_padded_image(p, image, copy);
      std::fill(copy + C * padded_h * padded_w, copy + padded_floats, 0.0f);  // the slack
      image = copy, channel_stride = padded_h * padded_w, row_stride = padded_w;
    }
    const int64_t k0 = block * kChannels, k_count = std::min(kChannels, K - k0);
    alignas(32) float out[kPixels * kChannels];
    direct::TileArgs args{nullptr, C, p.kernel_h, p.kernel_w, channel_stride, row_stride, p.stride_w,
                          p.dilation_h, p.dilation_w, packed.data() + block * C * taps * kChannels, out};
    for (int64_t oh = out_h * row_block / row_blocks; oh < out_h * (row_block + 1) / row_blocks; ++oh) {
      for (int64_t ow0 = 0; ow0 < out_w; ow0 += pixels) {
        const int64_t start = out_w >= pixels ? std::min(ow0, out_w - pixels) : ow0;
        args.input = image + oh * p.stride_h * row_stride + start * p.stride_w;
        tile(args);
        // Branch-free epilogue: a per-element sign test mispredicted half the time and
        // cost as much as the tile itself.
        const int64_t width = std::min(pixels, out_w - start);
        for (int64_t k = 0; k < k_count; ++k) {
          const float b = bias ? bias[k0 + k] : 0.0f;
          float* dst = y + ((n * K + k0 + k) * out_h + oh) * out_w + start;
          if (relu) {
            for (int64_t i = 0; i < width; ++i) dst[i] = std::max(out[i * kChannels + k] + b, 0.0f);
          } else {
            for (int64_t i = 0; i < width; ++i) dst[i] = out[i * kChannels + k] + b;
          }
        }
      }
    }
  });
}

}  // namespace fastcnn::cpu
