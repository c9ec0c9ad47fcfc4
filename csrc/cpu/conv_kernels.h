// The convolution algorithms behind cpu::conv2d_* (conv.cpp dispatches between them).
// Internal header: parameters are already checked, and every algorithm computes exactly
// what fastcnn/conv.h specifies, in NCHW.
#pragma once

#include <cstdint>

#include "fastcnn/conv.h"

namespace fastcnn::cpu {

// conv_gemm.cpp: as GEMMs of the weights with the image's columns. `direct` means the
// columns are the image itself (1x1 kernel, stride 1, no padding: Gemm1x1); otherwise
// they are unfolded block by block into a bounded workspace (Im2col).
void conv2d_gemm_forward(const Conv2dParams& p, bool direct, const float* x, const float* w, const float* bias,
                         bool relu, float* y);
void conv2d_gemm_backward_data(const Conv2dParams& p, bool direct, const float* grad_y, const float* w,
                               float* grad_x);
void conv2d_gemm_backward_weight(const Conv2dParams& p, bool direct, const float* x, const float* grad_y,
                                 float* grad_w);

// conv_depthwise*.cpp: direct loops for groups == C == K (one filter per channel).
void conv2d_depthwise_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                              float* y);
void conv2d_depthwise_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x);
void conv2d_depthwise_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w);

// conv_winograd*.cpp: F(2x2, 3x3) for 3x3 kernels, stride 1, dilation 1, groups 1.
void conv2d_winograd_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                             float* y);
void conv2d_winograd_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x);
void conv2d_winograd_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w);

// conv_direct*.cpp: output channels in vector lanes, forward and weight gradient (groups 1).
void conv2d_direct_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                           float* y);
void conv2d_direct_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w);

}  // namespace fastcnn::cpu
