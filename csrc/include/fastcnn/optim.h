// Fused optimizer updates, one pass over n contiguous float32 elements per parameter,
// with torch.optim's single-tensor formulas and order of operations (torch 2.13):
//   sgd_step:     SGD with momentum / dampening / Nesterov / weight decay / maximize.
//   adam_step:    Adam, or AdamW with decoupled weight decay; optional AMSGrad.
//   rmsprop_step: RMSprop, optionally centered and with momentum.
// param and the state buffers are updated in place; grad is only read. No array may
// overlap another. Scalars that depend on the step count are computed here in double,
// as torch computes them in Python.
#pragma once

#include <cstdint>

namespace fastcnn::cpu {

struct SgdParams {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
  // momentum_buffer holds no history yet: it is set to the gradient (torch's clone).
  bool first_step = false;
};
// momentum_buffer may be null only when momentum == 0.
void sgd_step(float* param, const float* grad, float* momentum_buffer, int64_t n, const SgdParams& p);

struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
  int64_t step = 1;  // the step count after this step's increment (>= 1)
};
// max_exp_avg_sq may be null only when !amsgrad.
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, float* max_exp_avg_sq,
               int64_t n, const AdamParams& p);

struct RmspropParams {
  double lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0;
  bool centered = false, maximize = false;
};
// grad_avg may be null unless centered; momentum_buffer may be null unless momentum > 0.
void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* momentum_buffer,
                  int64_t n, const RmspropParams& p);

}  // namespace fastcnn::cpu
