// Bindings of the clamp kernels: clamp_forward(x, out, lo, hi) and
// clamp_backward(grad_output, input, grad_input, lo, hi, inclusive), writing into the
// caller's arrays and returning them. Any rank; one shape per call. out may be x itself,
// grad_input may be grad_output itself; nothing else may overlap.
#include <pybind11/pybind11.h>


#include "fastcnn/clamp.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

constexpr int kMaxDims = 64;

}  // namespace

void bind_clamp(py::module_& m) {
  using py::arg;
  m.def("clamp_forward", [](const py::object& x_obj, const py::object& out_obj, float lo, float hi) {
    const FloatArray x = float_array(x_obj, "clamp", "input", 0, kMaxDims);
    const FloatArray out = float_array(out_obj, "clamp", "out", 0, kMaxDims, /*writable=*/true);
    check_same_shape(out, x, "clamp", "out", "input");
    check_in_place_or_disjoint(out, x, "clamp", "out", "input");
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
    check_same_shape(x, g, "clamp_backward", "input", "grad_output");
    check_same_shape(gi, g, "clamp_backward", "grad_input", "grad_output");
    check_in_place_or_disjoint(gi, g, "clamp_backward", "grad_input", "grad_output");
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
