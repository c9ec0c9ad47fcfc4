// Direct convolution, weight gradient (see conv_direct.h): grad_w[k][c][r][s] is the sum
// over images and output pixels of grad_y[n][k][oh][ow] * x[n][c][oh*sh + r*dh][ow*sw + s*dw].
// The driver lays grad_y out pixel-major per 16-channel block, pads the images when the
// layer pads, then gives the threads (image chunk, 6-tap group, channel block) items; the
// chunks' sums are combined in a fixed order, so the bits do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "common/parallel.h"
#include "cpu/conv_direct.h"
#include "cpu/conv_kernels.h"
#include "cpu/conv_util.h"
#include "fastcnn/runtime.h"

namespace fastcnn::cpu {

namespace direct {

void weight_tile_ref(const WeightTileArgs& t) {
  const float* g = t.grad;
  for (int64_t oh = 0; oh < t.out_h; ++oh) {
    const float* x = t.image + oh * t.row_step;
    for (int64_t ow = 0; ow < t.out_w; ++ow, x += t.col_step, g += kChannels) {
      for (int64_t tap = 0; tap < kTaps; ++tap) {
        const float a = x[t.tap_offsets[tap]];
        for (int64_t k = 0; k < kChannels; ++k) t.acc[tap * kChannels + k] += a * g[k];
      }
    }
  }
}

}  // namespace direct

using direct::kChannels;
using direct::kTaps;

constexpr int64_t kChunkImages = 8;  // images summed per work item before the chunks are combined

void conv2d_direct_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  direct::WeightTileFn tile = direct::weight_tile_ref;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  if (active_isa() == Isa::Avx2) tile = direct::weight_tile_avx2;
#endif
  const int64_t C = p.in_channels, K = p.out_channels, taps = C * p.kernel_h * p.kernel_w;
  const int64_t out_h = p.out_h(), out_w = p.out_w(), pixels = out_h * out_w;
  const int64_t blocks = (K + kChannels - 1) / kChannels, tap_groups = (taps + kTaps - 1) / kTaps;
  const int threads = get_num_threads();

  const bool padded = p.pad_top || p.pad_bottom || p.pad_left || p.pad_right;
  const int64_t rows = p.in_h + p.pad_top + p.pad_bottom, cols = p.in_w + p.pad_left + p.pad_right;
  const int64_t image_floats = C * rows * cols, gy_image_floats = blocks * pixels * kChannels;

  // Offsets of every tap (c, r, s) in an image; a last, partial group repeats tap 0.
  std::vector<int64_t> offsets(static_cast<size_t>(tap_groups * kTaps), 0);
  for (int64_t tap = 0; tap < taps; ++tap) {
    const int64_t c = tap / (p.kernel_h * p.kernel_w), r = tap / p.kernel_w % p.kernel_h, s = tap % p.kernel_w;
    offsets[static_cast<size_t>(tap)] = (c * rows + r * p.dilation_h) * cols + s * p.dilation_w;
  }

  // Work items are (image chunk, tap group, channel block): chunks of kChunkImages images
  // give 2 threads enough items even for LeNet's conv1 (5 tap groups). Each item sums its
  // images in order; the chunks' sums are then added in chunk order. Neither depends on
  // the thread count, so neither do the bits. Items run chunk-major with images outermost,
  // so one image's gy and pixels stay in cache while the thread's items pass over them.
  const int64_t per_chunk = tap_groups * blocks, chunks = (p.batch + kChunkImages - 1) / kChunkImages;
  const int64_t items = chunks * per_chunk;
  std::vector<float> sums(static_cast<size_t>(items * kTaps * kChannels), 0.0f);
  detail::parallel_region(static_cast<int>(std::min<int64_t>(threads, items)), [&](int tid, int team) {
    // Per thread, for the chunk at hand: gy[image][block][pixel][lane] = grad_y[n][block * 16 +
    // lane][pixel] (lanes past K are zero), and the images zero-padded when the layer pads.
    // A chunk shared by two threads is laid out by both: bounded memory, no barrier.
    float* gy = conv_util::thread_workspace(
        static_cast<size_t>(kChunkImages * (gy_image_floats + (padded ? image_floats : 0))));
    float* padded_images = gy + kChunkImages * gy_image_floats;
    const int64_t first = items * tid / team, last = items * (tid + 1) / team;
    for (int64_t chunk = first / per_chunk; chunk * per_chunk < last; ++chunk) {
      const int64_t begin = std::max(first, chunk * per_chunk), end = std::min(last, (chunk + 1) * per_chunk);
      const int64_t n0 = chunk * kChunkImages, n1 = std::min(p.batch, n0 + kChunkImages);
      if (K % kChannels) std::fill(gy, gy + (n1 - n0) * gy_image_floats, 0.0f);
      for (int64_t n = n0; n < n1; ++n) {
        for (int64_t k = 0; k < K; ++k) {
          const float* src = grad_y + (n * K + k) * pixels;
          float* dst = gy + (n - n0) * gy_image_floats + (k / kChannels) * pixels * kChannels + k % kChannels;
          for (int64_t i = 0; i < pixels; ++i) dst[i * kChannels] = src[i];
        }
        if (padded) {
          conv_util::copy_padded_image(p, x + n * C * p.in_h * p.in_w, padded_images + (n - n0) * image_floats);
        }
      }
      for (int64_t n = n0; n < n1; ++n) {
        const float* image = padded ? padded_images + (n - n0) * image_floats : x + n * image_floats;
        for (int64_t item = begin; item < end; ++item) {
          const int64_t group = item % per_chunk % tap_groups, block = item % per_chunk / tap_groups;
          direct::WeightTileArgs args{image, offsets.data() + group * kTaps,
                                      gy + (n - n0) * gy_image_floats + block * pixels * kChannels, out_h, out_w,
                                      p.stride_h * cols, p.stride_w, sums.data() + item * kTaps * kChannels};
          tile(args);
        }
      }
    }
  });
  for (int64_t j = 0; j < per_chunk; ++j) {
    const int64_t group = j % tap_groups, k0 = j / tap_groups * kChannels;
    float* acc = sums.data() + j * kTaps * kChannels;  // chunk 0's sums, then the others added in order
    for (int64_t chunk = 1; chunk < chunks; ++chunk) {
      const float* more = sums.data() + (chunk * per_chunk + j) * kTaps * kChannels;
      for (int64_t i = 0; i < kTaps * kChannels; ++i) acc[i] += more[i];
    }
    for (int64_t t = 0; t < kTaps && group * kTaps + t < taps; ++t) {
      for (int64_t k = k0; k < std::min(K, k0 + kChannels); ++k) {
        grad_w[k * taps + group * kTaps + t] = acc[t * kChannels + k - k0];
      }
    }
  }
}

}  // namespace fastcnn::cpu
