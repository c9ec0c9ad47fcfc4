// Direct convolution with output channels in vector lanes, for layers with few output
// channels (LeNet's 6 and 16), where unfolding the input (im2col) costs more than the
// multiply-adds it feeds. Shared by the driver (conv_direct.cpp, with the portable tile
// kernel) and the AVX2 tile kernel (conv_direct_avx2.cpp). Internal header.
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

void tile_ref(const TileArgs& args);
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
void tile_avx2(const TileArgs& args);
#endif

}  // namespace fastcnn::cpu::direct
