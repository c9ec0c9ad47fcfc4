// Depthwise convolution: the portable build of conv_depthwise_impl.h, and the dispatch
// between it and the AVX2 build by the active instruction set.
#define FASTCNN_DEPTHWISE_NS depthwise_ref
#include "cpu/conv_depthwise_impl.h"
#undef FASTCNN_DEPTHWISE_NS

#include "cpu/conv_kernels.h"

namespace fastcnn::cpu {

namespace depthwise_ref {
void depthwise_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                       float* y) {
  generic_forward(p, x, w, bias, relu, y);
}
void depthwise_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  generic_backward_data(p, grad_y, w, grad_x);
}
void depthwise_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  generic_backward_weight(p, x, grad_y, grad_w);
}
}  // namespace depthwise_ref

#if defined(FASTCNN_HAVE_AVX2_KERNELS)
namespace depthwise_avx2 {
void depthwise_forward(const Conv2dParams&, const float*, const float*, const float*, bool, float*);
void depthwise_backward_data(const Conv2dParams&, const float*, const float*, float*);
void depthwise_backward_weight(const Conv2dParams&, const float*, const float*, float*);
}  // namespace depthwise_avx2
#define FASTCNN_DEPTHWISE_DISPATCH(call) \
  (active_isa() == Isa::Avx2 ? depthwise_avx2::call : depthwise_ref::call)
#else
#define FASTCNN_DEPTHWISE_DISPATCH(call) depthwise_ref::call
#endif

void conv2d_depthwise_forward(const Conv2dParams& p, const float* x, const float* w, const float* bias, bool relu,
                              float* y) {
  FASTCNN_DEPTHWISE_DISPATCH(depthwise_forward(p, x, w, bias, relu, y));
}

void conv2d_depthwise_backward_data(const Conv2dParams& p, const float* grad_y, const float* w, float* grad_x) {
  FASTCNN_DEPTHWISE_DISPATCH(depthwise_backward_data(p, grad_y, w, grad_x));
}

void conv2d_depthwise_backward_weight(const Conv2dParams& p, const float* x, const float* grad_y, float* grad_w) {
  FASTCNN_DEPTHWISE_DISPATCH(depthwise_backward_weight(p, x, grad_y, grad_w));
}

}  // namespace fastcnn::cpu
