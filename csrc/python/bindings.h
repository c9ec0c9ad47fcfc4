// The binding functions of fastcnn._C, one per op family (csrc/python/bind_<family>.cpp).
// module_cpu.cpp calls each once; every binding checks its arguments with array_checks.h
// and releases the GIL while its kernel runs.
#pragma once

#include <pybind11/pybind11.h>

namespace fastcnn::python {

void bind_conv(pybind11::module_& m);        // conv2d forward / backward-data / backward-weight
void bind_conv_packed(pybind11::module_& m); // pre-packed conv2d weights (inference)
void bind_pool(pybind11::module_& m);        // max, average, sum, adaptive pooling
void bind_activation(pybind11::module_& m);  // relu, leaky_relu, tanh, sigmoid
void bind_loss(pybind11::module_& m);        // softmax, log_softmax, cross-entropy, MSE
void bind_norm(pybind11::module_& m);        // batch norm, local response norm, dropout masks
void bind_optim(pybind11::module_& m);       // fused SGD, Adam/AdamW, RMSprop updates
void bind_resize(pybind11::module_& m);      // bilinear resize (transforms.Resize)
void bind_clamp(pybind11::module_& m);       // clamp, ReLU6, hardtanh

}  // namespace fastcnn::python
