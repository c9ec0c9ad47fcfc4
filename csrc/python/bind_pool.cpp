// Bindings of the pool kernels: max_pool2d_*, avg_pool2d_* (sum pooling is avg with
// divisor_override=1), adaptive_avg_pool2d_*. Each checks dtype, rank, contiguity, the
// output shapes implied by the window and overlap of outputs with inputs, then releases
// the GIL around the kernel. Outputs are passed in (allocated by fastcnn.ops.pool).
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <string>

#include "fastcnn/pool.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

using Pair = std::array<int64_t, 2>;

void check_shape(const char* op, const char* name, const std::vector<int64_t>& shape,
                 const std::vector<int64_t>& expected) {
  if (shape != expected) {
    throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_string(shape) + ", expected " +
                          shape_string(expected));
  }
}

// Window parameters for x's plane; the C++ API re-checks them before the kernel runs.
Pool2dParams window_params(const char* op, const FloatArray& x, Pair kernel, Pair stride, Pair padding,
                           Pair dilation, bool ceil_mode) {
  Pool2dParams p;
  p.batch = x.dim(0), p.channels = x.dim(1), p.in_h = x.dim(2), p.in_w = x.dim(3);
  p.kernel_h = kernel[0], p.kernel_w = kernel[1];
  p.stride_h = stride[0], p.stride_w = stride[1];
  p.pad_h = padding[0], p.pad_w = padding[1];
  p.dilation_h = dilation[0], p.dilation_w = dilation[1];
  p.ceil_mode = ceil_mode;
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 ||
      p.dilation_w < 1) {
    throw py::value_error(std::string(op) + ": kernel_size, stride and dilation must be >= 1");
  }
  p.out_h = pool_output_size(p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, ceil_mode);
  p.out_w = pool_output_size(p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, ceil_mode);
  return p;
}

py::tuple max_pool2d_forward(const py::object& x_obj, const py::object& y_obj, const py::object& indices_obj,
                             Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  const FloatArray y = float_array(y_obj, op, "out", 4, 4, /*writable=*/true);
  const Int64Array indices = int64_array(indices_obj, op, "indices", 4, 4, /*writable=*/true);
  const Pool2dParams p = window_params(op, x, kernel, stride, padding, dilation, ceil_mode);
  const std::vector<int64_t> out_shape{p.batch, p.channels, p.out_h, p.out_w};
  check_shape(op, "out", y.shape, out_shape);
  check_shape(op, "indices", indices.shape, out_shape);
  check_no_overlap(y, x, op, "out", "input");
  check_no_overlap(indices, x, op, "indices", "input");
  check_no_overlap(indices, y, op, "indices", "out");
  {
    py::gil_scoped_release release;
    cpu::max_pool2d_forward(p, x.data, y.data, indices.data);
  }
  return py::make_tuple(y_obj, indices_obj);
}

// A max-pooling window for max_pool2d_forward_window. fastcnn.ops caches one per window:
// converting four tuples on every call costs more than pooling a small image. Values are
// checked by each call, as for the tuple form.
struct PoolWindow {
  Pair kernel, stride, padding, dilation;
  bool ceil_mode;
};

py::tuple max_pool2d_forward_window(const py::object& x_obj, const py::object& y_obj,
                                    const py::object& indices_obj, const PoolWindow& w) {
  return max_pool2d_forward(x_obj, y_obj, indices_obj, w.kernel, w.stride, w.padding, w.dilation, w.ceil_mode);
}

py::object max_pool2d_backward(const py::object& grad_out_obj, const py::object& indices_obj,
                               const py::object& grad_in_obj) {
  const char* op = "max_pool2d_backward";
  const FloatArray grad_out = float_array(grad_out_obj, op, "grad_output", 4, 4);
  const Int64Array indices = int64_array(indices_obj, op, "indices", 4, 4);
  const FloatArray grad_in = float_array(grad_in_obj, op, "grad_input", 4, 4, /*writable=*/true);
  check_shape(op, "indices", indices.shape, grad_out.shape);
  if (grad_in.dim(0) != grad_out.dim(0) || grad_in.dim(1) != grad_out.dim(1)) {
    throw py::value_error(std::string(op) + ": grad_input " + shape_string(grad_in.shape) +
                          " and grad_output " + shape_string(grad_out.shape) + " differ in batch or channels");
  }
  check_no_overlap(grad_in, grad_out, op, "grad_input", "grad_output");
  check_no_overlap(grad_in, indices, op, "grad_input", "indices");
  Pool2dParams p;
  p.batch = grad_in.dim(0), p.channels = grad_in.dim(1), p.in_h = grad_in.dim(2), p.in_w = grad_in.dim(3);
  p.out_h = grad_out.dim(2), p.out_w = grad_out.dim(3);
  {
    py::gil_scoped_release release;
    cpu::max_pool2d_backward(p, grad_out.data, indices.data, grad_in.data);
  }
  return grad_in_obj;
}

Pool2dParams avg_params(const char* op, const FloatArray& x, Pair kernel, Pair stride, Pair padding,
                        bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  if (divisor_override < 0) throw py::value_error(std::string(op) + ": divisor_override must be > 0");
  Pool2dParams p = window_params(op, x, kernel, stride, padding, Pair{1, 1}, ceil_mode);
  p.count_include_pad = count_include_pad;
  p.divisor_override = divisor_override;
  return p;
}

py::object avg_pool2d_forward(const py::object& x_obj, const py::object& y_obj, Pair kernel, Pair stride,
                              Pair padding, bool ceil_mode, bool count_include_pad, int64_t divisor_override) {
  const char* op = "avg_pool2d";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  const FloatArray y = float_array(y_obj, op, "out", 4, 4, /*writable=*/true);
  const Pool2dParams p = avg_params(op, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override);
  check_shape(op, "out", y.shape, {p.batch, p.channels, p.out_h, p.out_w});
  check_no_overlap(y, x, op, "out", "input");
  {
    py::gil_scoped_release release;
    cpu::avg_pool2d_forward(p, x.data, y.data);
  }
  return y_obj;
}

py::object avg_pool2d_backward(const py::object& grad_out_obj, const py::object& grad_in_obj, Pair kernel,
                               Pair stride, Pair padding, bool ceil_mode, bool count_include_pad,
                               int64_t divisor_override) {
  const char* op = "avg_pool2d_backward";
  const FloatArray grad_out = float_array(grad_out_obj, op, "grad_output", 4, 4);
  const FloatArray grad_in = float_array(grad_in_obj, op, "grad_input", 4, 4, /*writable=*/true);
  const Pool2dParams p =
      avg_params(op, grad_in, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override);
  check_shape(op, "grad_output", grad_out.shape, {p.batch, p.channels, p.out_h, p.out_w});
  check_no_overlap(grad_in, grad_out, op, "grad_input", "grad_output");
  {
    py::gil_scoped_release release;
    cpu::avg_pool2d_backward(p, grad_out.data, grad_in.data);
  }
  return grad_in_obj;
}

AdaptivePool2dParams adaptive_params(const FloatArray& in, const FloatArray& out, const char* op,
                                     const char* out_name) {
  if (in.dim(0) != out.dim(0) || in.dim(1) != out.dim(1)) {
    throw py::value_error(std::string(op) + ": " + out_name + " " + shape_string(out.shape) +
                          " differs from the input " + shape_string(in.shape) + " in batch or channels");
  }
  AdaptivePool2dParams p;
  p.batch = in.dim(0), p.channels = in.dim(1), p.in_h = in.dim(2), p.in_w = in.dim(3);
  p.out_h = out.dim(2), p.out_w = out.dim(3);
  return p;
}

py::object adaptive_avg_pool2d_forward(const py::object& x_obj, const py::object& y_obj) {
  const char* op = "adaptive_avg_pool2d";
  const FloatArray x = float_array(x_obj, op, "input", 4, 4);
  const FloatArray y = float_array(y_obj, op, "out", 4, 4, /*writable=*/true);
  const AdaptivePool2dParams p = adaptive_params(x, y, op, "out");
  check_no_overlap(y, x, op, "out", "input");
  {
    py::gil_scoped_release release;
    cpu::adaptive_avg_pool2d_forward(p, x.data, y.data);
  }
  return y_obj;
}

py::object adaptive_avg_pool2d_backward(const py::object& grad_out_obj, const py::object& grad_in_obj) {
  const char* op = "adaptive_avg_pool2d_backward";
  const FloatArray grad_out = float_array(grad_out_obj, op, "grad_output", 4, 4);
  const FloatArray grad_in = float_array(grad_in_obj, op, "grad_input", 4, 4, /*writable=*/true);
  const AdaptivePool2dParams p = adaptive_params(grad_in, grad_out, op, "grad_output");
  check_no_overlap(grad_in, grad_out, op, "grad_input", "grad_output");
  {
    py::gil_scoped_release release;
    cpu::adaptive_avg_pool2d_backward(p, grad_out.data, grad_in.data);
  }
  return grad_in_obj;
}

}  // namespace

void bind_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward,
        "Fills out and indices (N, C, OH, OW) with torch's max_pool2d(return_indices=True).", py::arg("input"),
        py::arg("out"), py::arg("indices"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"));
  py::class_<PoolWindow>(m, "PoolWindow", "kernel_size, stride, padding, dilation (pairs) and ceil_mode of a pooling.")
      .def(py::init([](Pair kernel, Pair stride, Pair padding, Pair dilation, bool ceil_mode) {
             return PoolWindow{kernel, stride, padding, dilation, ceil_mode};
           }),
           py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("ceil_mode"));
  m.def("max_pool2d_forward_window", &max_pool2d_forward_window,
        "max_pool2d_forward with its window as one PoolWindow (cheaper to pass than four tuples).", py::arg("input"),
        py::arg("out"), py::arg("indices"), py::arg("window"));
  m.def("max_pool2d_backward", &max_pool2d_backward,
        "grad_input (N, C, H, W) = scatter-add of grad_output at indices; returns grad_input.",
        py::arg("grad_output"), py::arg("indices"), py::arg("grad_input"));
  m.def("avg_pool2d_forward", &avg_pool2d_forward, "Fills out with torch's avg_pool2d (divisor_override 0 = none).",
        py::arg("input"), py::arg("out"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("avg_pool2d_backward", &avg_pool2d_backward, "Fills grad_input (the input's shape) from grad_output.",
        py::arg("grad_output"), py::arg("grad_input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding"), py::arg("ceil_mode"), py::arg("count_include_pad"), py::arg("divisor_override"));
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward,
        "Fills out (N, C, OH, OW) with torch's adaptive_avg_pool2d of input.", py::arg("input"), py::arg("out"));
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward,
        "Fills grad_input (N, C, H, W) from grad_output (N, C, OH, OW).", py::arg("grad_output"),
        py::arg("grad_input"));
}

}  // namespace fastcnn::python
