// Elementwise activations on float32 arrays of any shape (n contiguous elements).
//   forward:  y = f(x); y may be x itself (in place), but must not partially overlap it.
//   backward: grad_in = grad_out * f'(.), from the saved x (relu, leaky_relu) or y (tanh,
//             sigmoid, and relu, whose y > 0 exactly where x > 0).
// Semantics follow torch: relu(NaN) = NaN; relu's gradient is 0 where the saved value is
// <= 0 (NaN passes the gradient, as torch's threshold_backward); leaky_relu uses the slope
// for x <= 0.
#pragma once

#include <cstdint>

namespace fastcnn {

enum class Activation { Relu, LeakyRelu, Tanh, Sigmoid };

namespace cpu {

void activation_forward(Activation act, const float* x, float* y, int64_t n, float negative_slope = 0.01f);

// saved: x for Relu/LeakyRelu (y works for Relu too), y for Tanh/Sigmoid.
// grad_in may be grad_out itself.
void activation_backward(Activation act, const float* grad_out, const float* saved, float* grad_in, int64_t n,
                         float negative_slope = 0.01f);

// y = exp(x) over n elements on the calling thread (y may be x): the vectorized exp the
// softmax and loss kernels share. Overflow gives +Inf, underflow 0, NaN stays NaN.
void exp(const float* x, float* y, int64_t n);

}  // namespace cpu
}  // namespace fastcnn
