// Bindings of the clamp kernels: clamp_forward(x, out, lo, hi) and
// clamp_backward(grad_output, input, grad_input, lo, hi, inclusive), writing into the
// caller's arrays and returning them. Any rank; one shape per call. out may be x itself,
// grad_input may be grad_output itself; nothing else may overlap.
#include <pybind11/pybind11.h>

#include <string>

#include "fastcnn/clamp.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

constexpr int kMaxDims = 64;

void check_same_shape(const FloatArray& a, const FloatArray& b, const char* op, const char* a_name,
                      const char* b_name) {
  if (a.shape != b.shape) {
    throw py::value_error(std::string(op) + ": " + b_name + " has shape " + shape_string(b.shape) + " but " +
                          a_name + " has shape " + shape_string(a.shape));
  }
}

void check_alias_or_disjoint(const FloatArray& out, const FloatArray& in, const char* op, const char* out_name,
                             const char* in_name) {
  if (out.data == in.data && out.nbytes == in.nbytes) return;  // elementwise: in place is safe
  check_no_overlap(out, in, op, out_name, in_name);
}

}  // namespace

void bind_clamp(py::module_& m) {
  using py::arg;
  m.def("clamp_forward", [](const py::object& x_obj, const py::object& out_obj, float lo, float hi) {
    const FloatArray x = float_array(x_obj, "clamp", "input", 0, kMaxDims);
    const FloatArray out = float_array(out_obj, "clamp", "out", 0, kMaxDims, /*writable=*/true);
    check_same_shape(x, out, "clamp", "input", "out");
    check_alias_or_disjoint(out, x, "clamp", "out", "input");
    {
      py::gil_scoped_release release;
      cpu::clamp_forward(x.data, out.data, x.numel(), lo, hi);
    }
    return out_obj;
  }, "out = min(max(x, lo), hi) (NaN stays NaN); out may be x.", arg("input"), arg("out"), arg("lo"), arg("hi"));
  m.def("clamp_backward", [](const py::object& g_obj, const py::object& x_obj, const py::object& gi_obj, float lo,
                             float hi, bool inclusive) {
    const FloatArray g = float_array(g_obj, "clamp_backward", "grad_output", 0, kMaxDims);
    const FloatArray x = float_array(x_obj, "clamp_backward", "input", 0, kMaxDims);
    const FloatArray gi = float_array(gi_obj, "clamp_backward", "grad_input", 0, kMaxDims, /*writable=*/true);
    check_same_shape(g, x, "clamp_backward", "grad_output", "input");
    check_same_shape(g, gi, "clamp_backward", "grad_output", "grad_input");
    check_alias_or_disjoint(gi, g, "clamp_backward", "grad_input", "grad_output");
    check_no_overlap(gi, x, "clamp_backward", "grad_input", "input");
    {
      py::gil_scoped_release release;
      cpu::clamp_backward(g.data, x.data, gi.data, g.numel(), lo, hi, inclusive);
    }
    return gi_obj;
  }, "grad_input = grad_output where lo <= x <= hi (inclusive) or lo < x < hi (not), else 0.",
        arg("grad_output"), arg("input"), arg("grad_input"), arg("lo"), arg("hi"), arg("inclusive"));
}

}  // namespace fastcnn::python
