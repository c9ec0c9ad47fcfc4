// Clamping float32 arrays to [lo, hi] (torch.clamp, ReLU6, hardtanh), forward and
// backward. A bound of -inf or +inf is no bound. NaN stays NaN in the forward pass, as
// torch.clamp; lo > hi gives hi everywhere, as torch. A NaN bound makes every output NaN
// and every gradient 0, as torch.
#pragma once

#include <cstdint>

namespace fastcnn::cpu {

// y = min(max(x, lo), hi); y may be x itself.
void clamp_forward(const float* x, float* y, int64_t n, float lo, float hi);

// grad_in = grad_out where x lies within the bounds, else 0. With `inclusive` (torch.clamp)
// x == lo or x == hi passes and NaN does not; without it (hardtanh, ReLU6) the bounds
// themselves give 0 and NaN passes, as torch's hardtanh_backward. grad_in may be grad_out.
void clamp_backward(const float* grad_out, const float* x, float* grad_in, int64_t n, float lo, float hi,
                    bool inclusive);

}  // namespace fastcnn::cpu
