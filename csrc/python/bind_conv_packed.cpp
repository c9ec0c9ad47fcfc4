// Bindings of pre-packed convolution weights (Conv2dPackedWeights, fastcnn/conv.h): a
// Python object owning the packed buffer, made by conv2d_prepack and passed to
// conv2d_forward_packed. fastcnn.ops.conv_packed normalizes the arguments; here the
// input is checked against the convolution the weights were packed for.
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "common/str_cat.h"
#include "fastcnn/conv.h"
#include "python/array_checks.h"
#include "python/bindings.h"
#include "python/conv_params.h"

namespace fastcnn::python {

namespace py = pybind11;

namespace {


ConvAlgorithm parse_packed_algorithm(const std::string& name) {
  for (ConvAlgorithm a : {ConvAlgorithm::Gemm1x1, ConvAlgorithm::Im2col, ConvAlgorithm::Depthwise,
                          ConvAlgorithm::Winograd, ConvAlgorithm::Direct, ConvAlgorithm::DirectPixels}) {
    if (name == conv_algorithm_name(a)) return a;
  }
  throw py::value_error("conv2d_prepack: algorithm must be one of 'gemm1x1', 'im2col', 'depthwise', 'winograd', "
                        "'direct', 'direct_pixels' (resolve 'auto' for an input shape first); got '" + name + "'");
}

std::vector<int64_t> weight_shape(const Conv2dParams& p) {
  return {p.out_channels, p.in_channels / p.groups, p.kernel_h, p.kernel_w};
}

std::unique_ptr<Conv2dPackedWeights> prepack(const py::object& w_obj, Pair stride, Quad padding, Pair dilation,
                                             int64_t groups, const std::string& algorithm) {
  const char* op = "conv2d_prepack";
  const FloatArray w = float_array(w_obj, op, "weight", 4, 4);
  // Bounded before the multiplication below (conv2d_check bounds the rest).
  if (groups < 1 || groups >= (int64_t{1} << 31)) {
    throw py::value_error(detail::str_cat(op, ": groups must be in [1, 2^31), got ", groups));
  }
  if (w.dim(1) >= (int64_t{1} << 31)) {
    throw py::value_error(detail::str_cat(op, ": weight of shape ", shape_string(w.shape), " is too large"));
  }
  Conv2dParams p;
  p.in_channels = w.dim(1) * groups;
  p.out_channels = w.dim(0), p.kernel_h = w.dim(2), p.kernel_w = w.dim(3);
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_top = padding[0], p.pad_bottom = padding[1], p.pad_left = padding[2], p.pad_right = padding[3];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.groups = groups;
  const ConvAlgorithm chosen = parse_packed_algorithm(algorithm);
  py::gil_scoped_release release;
  return std::make_unique<Conv2dPackedWeights>(p, w.data, chosen);
}

py::array forward_packed(const py::object& x_obj, const Conv2dPackedWeights& packed, const py::object& bias_obj,
                         bool relu) {
  const char* op = "conv2d_packed";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  Conv2dParams p = packed.params();
  if (x.dim(1) != p.in_channels) {
    throw py::value_error(detail::str_cat(op, ": input of shape ", shape_string(x.shape), " has ", x.dim(1),
                                          " channels but the weights were packed for ", p.in_channels,
                                          " (weight ", shape_string(weight_shape(p)), ", groups=", p.groups, ")"));
  }
  p.batch = x.dim(0), p.in_h = x.dim(2), p.in_w = x.dim(3);
  cpu::conv2d_check(p);  // input too small for the kernel: a ValueError naming both
  FloatArray bias;
  if (!bias_obj.is_none()) {
    bias = float_array(bias_obj, op, "bias", 1, 1);
    if (bias.dim(0) != p.out_channels) {
      throw py::value_error(detail::str_cat(op, ": bias has shape ", shape_string(bias.shape), ", expected (",
                                            p.out_channels, ",) for weight ", shape_string(weight_shape(p))));
    }
  }
  py::array_t<float> y({p.batch, p.out_channels, p.out_h(), p.out_w()});
  float* y_data = y.mutable_data();
  {
    py::gil_scoped_release release;
    cpu::conv2d_forward_packed(p, x.data, packed, bias.data, relu, y_data);
  }
  return std::move(y);
}

}  // namespace

void bind_conv_packed(py::module_& m) {
  py::class_<Conv2dPackedWeights>(m, "Conv2dPacked",
                                   "Convolution weights packed once for one algorithm (conv2d_prepack).")
      .def_property_readonly(
          "algorithm", [](const Conv2dPackedWeights& w) { return std::string(conv_algorithm_name(w.algorithm())); })
      .def_property_readonly("weight_shape", [](const Conv2dPackedWeights& w) { return weight_shape(w.params()); })
      .def_property_readonly(
          "stride", [](const Conv2dPackedWeights& w) { return Pair{w.params().stride_h, w.params().stride_w}; })
      .def_property_readonly("padding",
                             [](const Conv2dPackedWeights& w) {
                               const Conv2dParams& p = w.params();
                               return Quad{p.pad_top, p.pad_bottom, p.pad_left, p.pad_right};
                             })
      .def_property_readonly(
          "dilation", [](const Conv2dPackedWeights& w) { return Pair{w.params().dilation_h, w.params().dilation_w}; })
      .def_property_readonly("groups", [](const Conv2dPackedWeights& w) { return w.params().groups; })
      .def_property_readonly("nbytes", [](const Conv2dPackedWeights& w) { return w.floats() * 4; })
      .def("__repr__", [](const Conv2dPackedWeights& w) {
        return detail::str_cat("Conv2dPacked(algorithm='", conv_algorithm_name(w.algorithm()), "', weight=",
                               shape_string(weight_shape(w.params())), ", groups=", w.params().groups,
                               ", nbytes=", w.floats() * 4, ")");
      });
  m.def("conv2d_prepack", &prepack,
        "The weights (K, C/groups, R, S) packed for `algorithm` (not 'auto'); padding is (top, bottom, left, right).",
        py::arg("weight"), py::kw_only(), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("algorithm"));
  m.def("conv2d_choose_packed_algorithm",
        [](const std::vector<int64_t>& x, const std::vector<int64_t>& w, Pair stride, Quad padding, Pair dilation,
           int64_t groups) {
          const Conv2dParams p = conv_params("conv2d_packed_algorithm", x, w, stride, padding, dilation, groups);
          return std::string(conv_algorithm_name(cpu::conv2d_choose_packed_algorithm(p)));
        },
        "The algorithm to pack for, for inputs of this shape.", py::arg("input_shape"), py::arg("weight_shape"),
        py::kw_only(), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"));
  m.def("conv2d_forward_packed", &forward_packed,
        "relu?(conv2d(input, packed weights) + bias) as a new array, with the packed weights' algorithm.",
        py::arg("input"), py::arg("packed"), py::arg("bias") = py::none(), py::kw_only(), py::arg("relu") = false);
}

}  // namespace fastcnn::python
