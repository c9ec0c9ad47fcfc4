// Softmax family and losses on float32 arrays (class targets int64).
//
// Layout: a tensor with a class dimension is viewed as (outer, classes, inner), C-contiguous:
// element (o, c, i) at o * classes * inner + c * inner + i. softmax over dim d of shape S has
// outer = prod(S[:d]), classes = S[d], inner = prod(S[d+1:]). Class losses take input
// (N, C, d1, ...) as outer = N, classes = C, inner = d1 * ...; targets are (outer, inner).
//
// Reductions are deterministic whatever the thread count: per-element losses are summed in
// double precision in element order on one thread.
#pragma once

#include <cstdint>

namespace fastcnn {

enum class Reduction { None, Mean, Sum };

struct ClassDims {
  int64_t outer = 0, classes = 0, inner = 1;
};

// nll_loss and cross_entropy with class-index targets, as torch.nn.functional.
struct ClassLossParams {
  ClassDims dims;
  const int64_t* target = nullptr;  // outer * inner class indices
  const float* weight = nullptr;    // classes weights, or null for all ones
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::Mean;
  float label_smoothing = 0.0f;     // cross_entropy only
};

namespace cpu {

// sum of values[0..n) in double, in fixed chunks summed in order: the same bits for any
// thread count (the chunks run in parallel when n is large).
double deterministic_sum(const float* values, int64_t n);

// y = softmax(x) (or log_softmax with `log`) over the class dimension; y must not overlap x.
void softmax_forward(const float* x, float* y, const ClassDims& dims, bool log);
// grad_in = y * (g - sum_c g*y)        (softmax, y its output)
// grad_in = g - exp(y) * sum_c g       (log_softmax, y its output)
void softmax_backward(const float* grad_out, const float* y, float* grad_in, const ClassDims& dims, bool log);

// Throws std::invalid_argument naming the first target outside [0, classes) that is not
// ignore_index (flat position in the target array).
void check_class_targets(const ClassLossParams& p, const char* op);

// loss: outer * inner values for Reduction::None, else one value. Returns the total weight
// (sum of weight[target] over non-ignored elements, the mean's denominator).
double nll_loss_forward(const float* log_probs, const ClassLossParams& p, float* loss);
// grad: outer * inner values for Reduction::None, else one. grad_in: outer * classes * inner.
void nll_loss_backward(const float* grad, const ClassLossParams& p, double total_weight, float* grad_in);

// Fused log_softmax + nll (+ label smoothing). log_probs (outer * classes * inner) is written
// for the backward pass. Returns the total weight as nll_loss_forward.
double cross_entropy_forward(const float* logits, const ClassLossParams& p, float* loss, float* log_probs);
// grad_in = scale * (softmax - smoothed, weighted one-hot), one pass per row; 0 where ignored.
void cross_entropy_backward(const float* grad, const float* log_probs, const ClassLossParams& p,
                            double total_weight, float* grad_in);

// Elementwise losses over n elements. loss: n values for None, else one.
void mse_loss_forward(const float* input, const float* target, int64_t n, Reduction r, float* loss);
void mse_loss_backward(const float* grad, const float* input, const float* target, int64_t n, Reduction r,
                       float* grad_in);
// weight, pos_weight: n values each (broadcast by the caller) or null.
void bce_with_logits_forward(const float* input, const float* target, const float* weight,
                             const float* pos_weight, int64_t n, Reduction r, float* loss);
void bce_with_logits_backward(const float* grad, const float* input, const float* target, const float* weight,
                              const float* pos_weight, int64_t n, Reduction r, float* grad_in);

}  // namespace cpu
}  // namespace fastcnn
