// Bindings of the activation kernels: <op>_forward(x, out[, negative_slope]) and
// <op>_backward(grad_output, saved, grad_input[, negative_slope]), all writing into the
// caller's arrays and returning them. Any rank; all arrays of one call share one shape.
// out may be x itself (in place) but may not partially overlap it; grad_input may be
// grad_output itself but may not overlap saved.
#include <pybind11/pybind11.h>

#include <string>

#include "fastcnn/activation.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

constexpr int kMaxDims = 64;

py::object forward(Activation act, const std::string& op, const py::object& x_obj, const py::object& out_obj,
                   float slope) {
  const FloatArray x = float_array(x_obj, op.c_str(), "input", 0, kMaxDims);
  const FloatArray out = float_array(out_obj, op.c_str(), "out", 0, kMaxDims, /*writable=*/true);
  check_same_shape(out, x, op.c_str(), "out", "input");
  check_in_place_or_disjoint(out, x, op.c_str(), "out", "input");
  {
    py::gil_scoped_release release;
    cpu::activation_forward(act, x.data, out.data, x.numel(), slope);
  }
  return out_obj;
}

py::object backward(Activation act, const std::string& op, const py::object& g_obj, const py::object& s_obj,
                    const py::object& gi_obj, const char* saved_name, float slope) {
  const FloatArray g = float_array(g_obj, op.c_str(), "grad_output", 0, kMaxDims);
  const FloatArray s = float_array(s_obj, op.c_str(), saved_name, 0, kMaxDims);
  const FloatArray gi = float_array(gi_obj, op.c_str(), "grad_input", 0, kMaxDims, /*writable=*/true);
  check_same_shape(s, g, op.c_str(), saved_name, "grad_output");
  check_same_shape(gi, g, op.c_str(), "grad_input", "grad_output");
  check_in_place_or_disjoint(gi, g, op.c_str(), "grad_input", "grad_output");
  check_no_overlap(gi, s, op.c_str(), "grad_input", saved_name);
  {
    py::gil_scoped_release release;
    cpu::activation_backward(act, g.data, s.data, gi.data, g.numel(), slope);
  }
  return gi_obj;
}

}  // namespace

void bind_activation(py::module_& m) {
  using py::arg;
  m.def("relu_forward", [](const py::object& x, const py::object& out) {
    return forward(Activation::Relu, "relu", x, out, 0.0f);
  }, "out = max(x, 0) (NaN passes); out may be x.", arg("input"), arg("out"));
  m.def("leaky_relu_forward", [](const py::object& x, const py::object& out, float slope) {
    return forward(Activation::LeakyRelu, "leaky_relu", x, out, slope);
  }, "out = x if x > 0 else negative_slope * x; out may be x.", arg("input"), arg("out"),
        arg("negative_slope"));
  m.def("tanh_forward", [](const py::object& x, const py::object& out) {
    return forward(Activation::Tanh, "tanh", x, out, 0.0f);
  }, "out = tanh(x); out may be x.", arg("input"), arg("out"));
  m.def("sigmoid_forward", [](const py::object& x, const py::object& out) {
    return forward(Activation::Sigmoid, "sigmoid", x, out, 0.0f);
  }, "out = 1 / (1 + exp(-x)); out may be x.", arg("input"), arg("out"));

  m.def("relu_backward", [](const py::object& g, const py::object& s, const py::object& gi) {
    return backward(Activation::Relu, "relu_backward", g, s, gi, "saved", 0.0f);
  }, "grad_input = grad_output where saved (x or relu(x)) > 0, else 0.", arg("grad_output"), arg("saved"),
        arg("grad_input"));
  m.def("leaky_relu_backward", [](const py::object& g, const py::object& x, const py::object& gi, float slope) {
    return backward(Activation::LeakyRelu, "leaky_relu_backward", g, x, gi, "input", slope);
  }, "grad_input = grad_output * (1 if x > 0 else negative_slope).", arg("grad_output"), arg("input"),
        arg("grad_input"), arg("negative_slope"));
  m.def("tanh_backward", [](const py::object& g, const py::object& y, const py::object& gi) {
    return backward(Activation::Tanh, "tanh_backward", g, y, gi, "output", 0.0f);
  }, "grad_input = grad_output * (1 - y^2), y the forward output.", arg("grad_output"), arg("output"),
        arg("grad_input"));
  m.def("sigmoid_backward", [](const py::object& g, const py::object& y, const py::object& gi) {
    return backward(Activation::Sigmoid, "sigmoid_backward", g, y, gi, "output", 0.0f);
  }, "grad_input = grad_output * (1 - y) * y, y the forward output.", arg("grad_output"), arg("output"),
        arg("grad_input"));
  m.def("exp_forward", [](const py::object& x_obj, const py::object& out_obj) {
    const FloatArray x = float_array(x_obj, "exp", "input", 0, kMaxDims);
    const FloatArray out = float_array(out_obj, "exp", "out", 0, kMaxDims, true);
    check_same_shape(out, x, "exp", "out", "input");
    check_in_place_or_disjoint(out, x, "exp", "out", "input");
    {
      py::gil_scoped_release release;
      cpu::exp(x.data, out.data, x.numel());
    }
    return out_obj;
  }, "out = exp(x) with the kernels' vectorized exp (single thread); out may be x.", arg("input"), arg("out"));
}

}  // namespace fastcnn::python
