// 2-D pooling on the CPU, NCHW float32, C-contiguous, with PyTorch's semantics
// (torch.nn.functional.max_pool2d / avg_pool2d / adaptive_avg_pool2d).
// Sum pooling is avg pooling with divisor_override = 1.
// Every function checks its parameters (std::invalid_argument) before any kernel runs.
#pragma once

#include <cstdint>

namespace fastcnn {

// Window geometry of max / avg pooling. in_* is the input plane, out_* the output plane
// (computed by pool_output_size). Padding cells are never read: max ignores them, avg
// counts them in the divisor when count_include_pad.
struct Pool2dParams {
  int64_t batch = 0, channels = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // max pooling only; avg requires 1
  bool ceil_mode = false;                  // out_h/out_w must equal pool_output_size(...)
  bool count_include_pad = true;           // avg only
  int64_t divisor_override = 0;            // avg only; 0 = none
};

// Adaptive average pooling: output cell i covers input [floor(i*H/OH), ceil((i+1)*H/OH)).
struct AdaptivePool2dParams {
  int64_t batch = 0, channels = 0;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
};

// PyTorch's output length: floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1, rounded
// up with ceil_mode, minus a last window that would start in the right padding. 0 when no
// window fits (or for a kernel, stride or dilation < 1, or padding < 0).
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                         bool ceil_mode);

namespace cpu {

// y (N, C, OH, OW); indices (N, C, OH, OW) into the flattened in_h*in_w plane (torch's
// return_indices). Ties keep the first cell in row-major window order; a NaN wins (the last one).
void max_pool2d_forward(const Pool2dParams& p, const float* x, float* y, int64_t* indices);

// grad_in (N, C, H, W) = scatter-add of grad_out at indices. An index outside [0, H*W)
// adds nothing: torch gives such an index to a window lying wholly in the padding (possible
// with dilation), whose output -inf depends on no input. Only p's sizes are read.
void max_pool2d_backward(const Pool2dParams& p, const float* grad_out, const int64_t* indices,
                            float* grad_in);

void avg_pool2d_forward(const Pool2dParams& p, const float* x, float* y);
void avg_pool2d_backward(const Pool2dParams& p, const float* grad_out, float* grad_in);

void adaptive_avg_pool2d_forward(const AdaptivePool2dParams& p, const float* x, float* y);
void adaptive_avg_pool2d_backward(const AdaptivePool2dParams& p, const float* grad_out, float* grad_in);

}  // namespace cpu
}  // namespace fastcnn
