// 2-D convolution on the CPU, PyTorch's semantics (cross-correlation), NCHW float32:
//   y[n, k, oh, ow] = bias[k] + sum_{c, r, s} w[k, c, r, s] *
//                     x[n, g*C/G + c, oh*stride_h - pad_top + r*dilation_h,
//                                     ow*stride_w - pad_left + s*dilation_w]
// for k in group g (K/G output channels per group, C/G input channels), zero outside x.
// Padding may differ on each side (PyTorch's padding="same" with an even kernel).
// conv1d is conv2d with H = 1. Several algorithms compute the same thing; `Auto` picks
// one per shape (conv2d_choose_algorithm), the others force it (for tests and tuning).
#pragma once

#include <cstdint>

namespace fastcnn {

enum class ConvAlgorithm { Auto, Gemm1x1, Im2col, Depthwise, Winograd, Direct, DirectPixels };
const char* conv_algorithm_name(ConvAlgorithm algorithm);

struct Conv2dParams {
  int64_t batch = 1, in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;

  int64_t out_h() const { return (in_h + pad_top + pad_bottom - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (in_w + pad_left + pad_right - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
};

namespace cpu {

// Throws std::invalid_argument when the parameters describe no valid convolution.
void conv2d_check(const Conv2dParams& p);

// Whether `algorithm` can compute this shape, and the one Auto uses.
bool conv2d_algorithm_supports(ConvAlgorithm algorithm, const Conv2dParams& p);
ConvAlgorithm conv2d_choose_algorithm(const Conv2dParams& p);

// y (N, K, OH, OW) = relu?(conv(x, w) + bias); bias (K) may be null.
void conv2d_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu, float* y,
                    ConvAlgorithm algorithm = ConvAlgorithm::Auto);

// The backward passes run the algorithm asked for where it has one (Winograd both
// gradients; Direct the weight gradient, not the input gradient; DirectPixels both, its
// input gradient for stride 1 only) and im2col otherwise. With Auto, each pass picks its
// own algorithm (conv.cpp says which and why).

// grad_x (N, C, H, W) = the gradient of sum(grad_y * conv(x, w)) with respect to x.
void conv2d_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x,
                          ConvAlgorithm algorithm = ConvAlgorithm::Auto);

// grad_w (K, C/G, R, S) and grad_bias (K, may be null): the gradients with respect to w
// and bias. Overwritten, not accumulated.
void conv2d_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w,
                            float* grad_bias, ConvAlgorithm algorithm = ConvAlgorithm::Auto);

}  // namespace cpu
}  // namespace fastcnn
