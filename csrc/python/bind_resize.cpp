// Binding of the bilinear resize kernel: resize_bilinear_forward(input, out) with input
// (..., H, W) and out (..., OH, OW) float32, C-contiguous, same leading dimensions,
// disjoint. Writes out and returns it.
#include <pybind11/pybind11.h>

#include <string>

#include "fastcnn/resize.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

void bind_resize(py::module_& m) {
  m.def("resize_bilinear_forward", [](const py::object& x_obj, const py::object& out_obj) {
    const char* op = "resize_bilinear";
    const FloatArray x = float_array(x_obj, op, "input", 2, 16);
    const FloatArray out = float_array(out_obj, op, "out", 2, 16, /*writable=*/true);
    const int nd = x.ndim();
    bool same_lead = out.ndim() == nd;
    for (int i = 0; same_lead && i < nd - 2; ++i) same_lead = x.dim(i) == out.dim(i);
    if (!same_lead) {
      throw py::value_error(std::string(op) + ": out has shape " + shape_string(out.shape) + " but input has shape " +
                            shape_string(x.shape) + " (only the last two dimensions may differ)");
    }
    cpu::ResizeParams p;
    p.in_h = x.dim(nd - 2), p.in_w = x.dim(nd - 1);
    p.out_h = out.dim(nd - 2), p.out_w = out.dim(nd - 1);
    p.planes = 1;
    for (int i = 0; i < nd - 2; ++i) p.planes *= x.dim(i);
    if (p.in_h < 1 || p.in_w < 1 || p.out_h < 1 || p.out_w < 1) {
      throw py::value_error(std::string(op) + ": input " + shape_string(x.shape) + " and out " +
                            shape_string(out.shape) + " must have non-empty spatial dimensions");
    }
    check_no_overlap(out, x, op, "out", "input");
    {
      py::gil_scoped_release release;
      cpu::resize_bilinear_forward(x.data, out.data, p);
    }
    return out_obj;
  }, "Bilinear resize (align_corners=False) of the last two dimensions of input into out.",
        py::arg("input"), py::arg("out"));
}

}  // namespace fastcnn::python
