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
#include <vector>

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

// Weights prepared once for many forward passes (inference): what `algorithm` would
// otherwise rebuild from w on every call. Im2col and Gemm1x1: each group's weights in the
// GEMM's packed-A layout; Winograd: the transformed filters U, each of their 16 GEMM
// operands packed likewise; Direct and Depthwise: a copy of w. Owns its memory and never
// changes after construction, so threads may share it.
class Conv2dPackedWeights {
 public:
  // p fixes the channels, kernel, stride, padding, dilation and groups (batch, in_h and
  // in_w are not part of it); `algorithm` must not be Auto and must support p.
  // Throws std::invalid_argument otherwise.
  Conv2dPackedWeights(const Conv2dParams& p, const float* w, ConvAlgorithm algorithm);

  const Conv2dParams& params() const { return params_; }
  ConvAlgorithm algorithm() const { return algorithm_; }
  const float* data() const { return data_.data(); }
  int64_t floats() const { return static_cast<int64_t>(data_.size()); }

 private:
  Conv2dParams params_;
  ConvAlgorithm algorithm_;
  std::vector<float> data_;
};

namespace cpu {

// The algorithm to pack for when the weights are packed once for many calls: Auto's
// choice, except that Winograd pays from fewer output tiles once its filter transform is
// not paid per call.
ConvAlgorithm conv2d_choose_packed_algorithm(const Conv2dParams& p);

// Whether p describes the convolution `w` was packed for (all but batch, in_h, in_w).
bool conv2d_packed_matches(const Conv2dParams& p, const Conv2dPackedWeights& w);

// conv2d_forward with pre-packed weights (their algorithm): the same result, bit for bit,
// as conv2d_forward with the raw weights and that algorithm on the same kernel path.
// Throws std::invalid_argument when p does not match w.params() (conv2d_packed_matches).
void conv2d_forward_packed(const Conv2dParams& p, const float* x, const Conv2dPackedWeights& w, const float* bias,
                           bool relu, float* y);

}  // namespace cpu
}  // namespace fastcnn
