// Bindings of the convolution kernels (fastcnn/conv.h). The Python side (fastcnn.ops.conv)
// normalizes padding/stride and allocates the outputs; here every array is checked against
// the convolution it claims to be before the GIL is released.
#include <pybind11/stl.h>

#include <array>
#include <string>

#include "fastcnn/conv.h"
#include "python/array_checks.h"
#include "python/bindings.h"
#include "python/conv_params.h"

namespace fastcnn::python {

namespace py = pybind11;

namespace {

ConvAlgorithm parse_algorithm(const std::string& name) {
  for (ConvAlgorithm a : {ConvAlgorithm::Auto, ConvAlgorithm::Gemm1x1, ConvAlgorithm::Im2col,
                          ConvAlgorithm::Depthwise, ConvAlgorithm::Winograd, ConvAlgorithm::Direct,
                          ConvAlgorithm::DirectPixels}) {
    if (name == conv_algorithm_name(a)) return a;
  }
  throw py::value_error("conv2d: algorithm must be one of 'auto', 'gemm1x1', 'im2col', 'depthwise', 'winograd', 'direct', 'direct_pixels'; got '" +
                        name + "'");
}



void expect_shape(const char* op, const char* name, const FloatArray& a, std::vector<int64_t> shape) {
  if (a.shape != shape) {
    throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_string(a.shape) + ", expected " +
                          shape_string(shape));
  }
}

std::vector<int64_t> output_shape(const Conv2dParams& p) { return {p.batch, p.out_channels, p.out_h(), p.out_w()}; }

py::object forward(const py::object& x_obj, const py::object& w_obj, const py::object& bias_obj,
                   const py::object& y_obj, Pair stride, Quad padding, Pair dilation, int64_t groups, bool relu,
                   const std::string& algorithm) {
  const char* op = "conv2d";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  const FloatArray w = float_array(w_obj, op, "weight", 4, 4);
  const FloatArray y = float_array(y_obj, op, "out", 4, 4, /*writable=*/true);
  const Conv2dParams p = conv_params(op, x.shape, w.shape, stride, padding, dilation, groups);
  expect_shape(op, "out", y, output_shape(p));
  FloatArray bias;
  if (!bias_obj.is_none()) {
    bias = float_array(bias_obj, op, "bias", 1, 1);
    expect_shape(op, "bias", bias, {p.out_channels});
    check_no_overlap(y, bias, op, "out", "bias");
  }
  check_no_overlap(y, x, op, "out", "input");
  check_no_overlap(y, w, op, "out", "weight");
  const ConvAlgorithm chosen = parse_algorithm(algorithm);
  py::gil_scoped_release release;
  cpu::conv2d_forward(p, x.data, w.data, bias.data, relu, y.data, chosen);
  return y_obj;
}

py::object backward_data(const py::object& grad_y_obj, const py::object& w_obj, const py::object& grad_x_obj,
                         Pair stride, Quad padding, Pair dilation, int64_t groups, const std::string& algorithm) {
  const char* op = "conv2d_backward_data";
  const FloatArray grad_y = float_array(grad_y_obj, op, "grad_output", 4, 4);
  const FloatArray w = float_array(w_obj, op, "weight", 4, 4);
  const FloatArray grad_x = float_array(grad_x_obj, op, "grad_input", 4, 4, /*writable=*/true);
  const Conv2dParams p = conv_params(op, grad_x.shape, w.shape, stride, padding, dilation, groups);
  expect_shape(op, "grad_output", grad_y, output_shape(p));
  check_no_overlap(grad_x, grad_y, op, "grad_input", "grad_output");
  check_no_overlap(grad_x, w, op, "grad_input", "weight");
  const ConvAlgorithm chosen = parse_algorithm(algorithm);
  py::gil_scoped_release release;
  cpu::conv2d_backward_data(p, grad_y.data, w.data, grad_x.data, chosen);
  return grad_x_obj;
}

void backward_weight(const py::object& x_obj, const py::object& grad_y_obj, const py::object& grad_w_obj,
                     const py::object& grad_bias_obj, Pair stride, Quad padding, Pair dilation, int64_t groups,
                     const std::string& algorithm) {
  const char* op = "conv2d_backward_weight";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  const FloatArray grad_y = float_array(grad_y_obj, op, "grad_output", 4, 4);
  const FloatArray grad_w = float_array(grad_w_obj, op, "grad_weight", 4, 4, /*writable=*/true);
  const Conv2dParams p = conv_params(op, x.shape, grad_w.shape, stride, padding, dilation, groups);
  expect_shape(op, "grad_output", grad_y, output_shape(p));
  check_no_overlap(grad_w, x, op, "grad_weight", "input");
  check_no_overlap(grad_w, grad_y, op, "grad_weight", "grad_output");
  FloatArray grad_bias;
  if (!grad_bias_obj.is_none()) {
    grad_bias = float_array(grad_bias_obj, op, "grad_bias", 1, 1, /*writable=*/true);
    expect_shape(op, "grad_bias", grad_bias, {p.out_channels});
    check_no_overlap(grad_bias, grad_y, op, "grad_bias", "grad_output");
    check_no_overlap(grad_bias, x, op, "grad_bias", "input");
    check_no_overlap(grad_bias, grad_w, op, "grad_bias", "grad_weight");
  }
  const ConvAlgorithm chosen = parse_algorithm(algorithm);
  py::gil_scoped_release release;
  cpu::conv2d_backward_weight(p, x.data, grad_y.data, grad_w.data, grad_bias.data, chosen);
}

}  // namespace

void bind_conv(py::module_& m) {
  m.def("conv2d_forward", &forward,
        "out = relu?(conv2d(input, weight) + bias), in place; padding is (top, bottom, left, right).",
        py::arg("input"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("relu") = false,
        py::arg("algorithm") = "auto");
  m.def("conv2d_backward_data", &backward_data, "grad_input = d(sum(grad_output * conv2d(input, weight)))/d input.",
        py::arg("grad_output"), py::arg("weight"), py::arg("grad_input"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_backward_weight", &backward_weight,
        "grad_weight (and grad_bias unless None) of sum(grad_output * conv2d(input, weight) + bias), overwritten.",
        py::arg("input"), py::arg("grad_output"), py::arg("grad_weight"), py::arg("grad_bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("algorithm") = "auto");
  m.def("conv2d_choose_algorithm",
        [](const std::vector<int64_t>& input_shape, const std::vector<int64_t>& weight_shape, Pair stride,
           Quad padding, Pair dilation, int64_t groups) {
          const Conv2dParams p =
              conv_params("conv2d_choose_algorithm", input_shape, weight_shape, stride, padding, dilation, groups);
          return std::string(conv_algorithm_name(cpu::conv2d_choose_algorithm(p)));
        },
        "The algorithm 'auto' picks for this convolution.", py::arg("input_shape"), py::arg("weight_shape"),
        py::kw_only(), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
}

}  // namespace fastcnn::python
