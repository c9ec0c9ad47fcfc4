// Direct convolution with output pixels in vector lanes ("direct_pixels"), for layers with
// few output channels where "direct" (channels in lanes) would leave lanes idle: LeNet's
// conv1 (1 -> 6 channels) and the input gradient of its conv2 (a "full" convolution of the
// gradient, 16 -> 6 channels). Needs groups 1 and stride_w 1, so that 16 neighbouring
// output pixels read 16 neighbouring inputs. Drivers in conv_direct_pixels.cpp (with the
// portable tiles), AVX2 tiles in conv_direct_pixels_avx2.cpp. Internal header.
//
// Forward tile: 6 output channels x 16 consecutive output pixels of one row, 12
// accumulators; per filter tap two unaligned input loads and six weight broadcasts feed
// 12 FMAs. Weights are packed per block of 6 channels as packed[block][c][r][s][6].
// Weight-gradient tile: 6 output channels x 2 filter taps, each accumulator 8 pixel lanes
// wide, summed over the output pixels 8 at a time, straight from grad_y and the image.
#pragma once

#include <cstdint>

#include "fastcnn/conv.h"

namespace fastcnn::cpu {

// The three passes (parameters checked; groups 1, stride_w 1; backward data also stride_h 1).
void conv2d_direct_pixels_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                                  bool relu, float* y);
void conv2d_direct_pixels_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x);
void conv2d_direct_pixels_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y,
                                          float* grad_w);

namespace direct_pixels {

constexpr int64_t kChannels = 6;  // output channels per tile
constexpr int64_t kPixels = 16;   // output pixels per forward tile (two vectors)
constexpr int64_t kLanes = 8;     // pixels per weight-gradient accumulator
constexpr int64_t kTaps = 2;      // filter taps per weight-gradient tile

struct TileArgs {
  const float* input;  // channel 0 of the (padded) image, at the tile's first input row and column
  int64_t channels, kernel_h, kernel_w;
  int64_t row_begin, row_end;  // the filter rows [row_begin, row_end) that meet nonzero input
  int64_t channel_stride, row_stride, dilation_h, dilation_w;
  const float* weights;  // packed weights of this channel block: [c][r][s][6]
  const float* bias;     // 6 values added to every pixel (zeros when the layer has none)
  float* out;            // channel 0's first pixel of the tile in the output
  int64_t out_channel_stride;
  int64_t channels_out;  // channels of this block to store (<= 6)
  int64_t width;         // pixels to store (<= 16)
  bool relu;
};

// out[k][i] = relu?(bias[k] + sum over c, r in [row_begin, row_end), s of
// input(c, r*dilation_h, i + s*dilation_w) * weights[c][r][s][k]) for k < channels_out,
// i < width. Reads 16 pixels per row whatever width.
using TileFn = void (*)(const TileArgs& args);

struct WeightTileArgs {
  const float* image;          // the (padded) image
  const int64_t* tap_offsets;  // kTaps offsets into the image, one per tap
  const float* grad;           // grad_y of the image at the block's first channel, read in place
  int64_t grad_channels;       // channels of the block in grad_y (<= 6; the others repeat the last)
  int64_t out_h, out_w;        // output rows and pixels per row (grad_y's row stride)
  int64_t row_step;            // floats between output rows in the image (stride_h * its row length)
  float* acc;                  // [kTaps][6][8] running lane sums (added to, not overwritten)
};

// acc[t][k][ow % 8] += sum over oh, ow < out_w of image[tap_offsets[t] + oh*row_step + ow] *
// grad[k][oh][ow]. A row's last, partial vector is read masked from both, so nothing past
// out_w is read (no 0 * Inf from a neighbouring pixel, no read past grad_y's end).
using WeightTileFn = void (*)(const WeightTileArgs& args);

void tile_ref(const TileArgs& args);
void weight_tile_ref(const WeightTileArgs& args);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void tile_avx2(const TileArgs& args);
void weight_tile_avx2(const WeightTileArgs& args);
#endif

}  // namespace direct_pixels
}  // namespace fastcnn::cpu
