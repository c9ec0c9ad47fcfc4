// Direct convolution with output channels in vector lanes, for layers with few output
// channels (LeNet's 6 and 16), where unfolding the input (im2col) costs more than the
// multiply-adds it feeds: the forward pass and the weight gradient. Shared by the drivers
// (conv_direct.cpp, conv_direct_weight.cpp, with the portable tiles) and the AVX2 tiles
// (conv_direct_avx2.cpp). Internal header.
//
// Layout: each work item copies its image zero-padded (C x padded_h x padded_w) unless the
// layer has no padding; the weights are packed per block of 16 output channels as
// packed[block][c][r][s][16] (lanes past K are zero). A tile is 6 consecutive output
// pixels of one row times 16 channels: 12 accumulators, like the GEMM micro-kernel, with
// A broadcast straight from the input row instead of from a packed panel.
#pragma once

#include <cstdint>

namespace fastcnn::cpu::direct {

constexpr int64_t kPixels = 6;     // output pixels per tile
constexpr int64_t kChannels = 16;  // output channels per tile (one packed weight block)

struct TileArgs {
  const float* input;    // the padded image's first channel, at row oh*stride_h, column ow0*stride_w
  int64_t channels, kernel_h, kernel_w;
  int64_t channel_stride, row_stride;  // floats between channels and rows of the padded image
  int64_t stride_w, dilation_h, dilation_w;
  const float* weights;  // packed weights of this channel block
  float* out;            // 6 x 16 results, pixel-major (out[i * 16 + k])
};

// out[i][k] = sum over c, r, s of input(c, r*dilation_h, i*stride_w + s*dilation_w) * weights[c][r][s][k]
using TileFn = void (*)(const TileArgs& args);

// The same for 5 pixels (out[0, 80)), for rows of 5, 10, 20... outputs.
void tile_ref(const TileArgs& args);
void tile5_ref(const TileArgs& args);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void tile_avx2(const TileArgs& args);
void tile5_avx2(const TileArgs& args);
#endif

// The weight gradient turns the tile around: 6 filter taps x 16 output channels, summed
// over output pixels. grad_y is first laid out pixel-major with its channel block in lanes
// (gy[pixel][16]), so each pixel costs two vector loads, six broadcasts and 12 FMAs.
constexpr int64_t kTaps = 6;  // filter taps per weight-gradient tile

struct WeightTileArgs {
  const float* image;          // the (padded) image of the first pixel row's image
  const int64_t* tap_offsets;  // kTaps offsets into the image, one per tap of this tile
  const float* grad;           // gy[pixel][16] of this image and channel block
  int64_t out_h, out_w;
  int64_t row_step, col_step;  // floats between output rows / columns in the image (stride * row)
  float* acc;                  // kTaps x 16 running sums, tap-major (added to, not overwritten)
};

// acc[t][k] += sum over output pixels (oh, ow) of image[tap_offsets[t] + oh*row_step + ow*col_step] * grad[pixel][k]
using WeightTileFn = void (*)(const WeightTileArgs& args);

void weight_tile_ref(const WeightTileArgs& args);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void weight_tile_avx2(const WeightTileArgs& args);
#endif

}  // namespace fastcnn::cpu::direct
