// fastcnn._C_cuda: the CUDA kernels for Python. Built only where a CUDA compiler was
// found; imports on machines with no GPU or driver (the runtime is linked statically).
#include <pybind11/pybind11.h>

#include "fastcnn/cuda.h"
#include "build_info.h"
#include "python/array_checks.h"

namespace py = pybind11;

PYBIND11_MODULE(_C_cuda, m) {
  m.doc() = "fastcnn CUDA kernels";

  m.def("device_status", [] {
    const fastcnn::cuda::DeviceStatus status = fastcnn::cuda::device_status();
    py::dict out;
    out["device_count"] = status.device_count;
    out["reason"] = status.reason;
    out["runtime_version"] = status.runtime_version;
    out["driver_version"] = status.driver_version;
    return out;
  });
  m.def("build_info", [] {
    py::dict info;
    info["compiler"] = FASTCNN_CUDA_COMPILER;
    info["architectures"] = FASTCNN_CUDA_ARCHITECTURES;
    return info;
  });
  m.def("axpy", [](float alpha, const py::object& x_obj, const py::object& y_obj) {
    const auto x = fastcnn::python::float_array(x_obj, "axpy", "x", 1, 1);
    const auto y = fastcnn::python::float_array(y_obj, "axpy", "y", 1, 1, /*writable=*/true);
    if (x.dim(0) != y.dim(0)) {
      throw py::value_error("axpy: x has shape " + fastcnn::python::shape_string(x.shape) + " but y has " +
                            fastcnn::python::shape_string(y.shape));
    }
    fastcnn::python::check_no_overlap(y, x, "axpy", "y", "x");
    py::gil_scoped_release release;
    fastcnn::cuda::axpy_host(x.dim(0), alpha, x.data, y.data);
  }, "y = alpha * x + y on the GPU, for float32 host arrays (in place).", py::arg("alpha"), py::arg("x"), py::arg("y"));
}
