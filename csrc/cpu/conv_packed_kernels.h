// The pre-packed forward paths of the convolution algorithms: Conv2dPackedWeights
// (conv_packed.cpp) builds its buffer with the *_pack functions and runs the matching
// *_forward_packed. Internal header: parameters are already checked.
#pragma once

#include <cstdint>

#include "fastcnn/conv.h"

namespace fastcnn::cpu {

// conv_gemm.cpp (Im2col, Gemm1x1): each group's K/G x CRS weights as the GEMM's pre-packed
// A (gemm_pack_a), group after group.
int64_t conv2d_gemm_packed_floats(const Conv2dParams& p);
void conv2d_gemm_pack(const Conv2dParams& p, const float* w, float* packed);
void conv2d_gemm_forward_packed(const Conv2dParams& p, bool direct, const float* x, const float* packed_w,
                                const float* bias, bool relu, float* y);

// conv_winograd.cpp: the transformed filters U[xi] (K x C), each as the GEMM's pre-packed A.
int64_t conv2d_winograd_packed_floats(const Conv2dParams& p);
void conv2d_winograd_pack(const Conv2dParams& p, const float* w, float* packed);
void conv2d_winograd_forward_packed(const Conv2dParams& p, const float* x, const float* packed_u,
                                    const float* bias, bool relu, float* y);

}  // namespace fastcnn::cpu
