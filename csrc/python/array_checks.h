// Argument checks shared by the bindings: every array a kernel sees has passed through
// here, so a wrong dtype, rank, layout or overlap is a Python exception naming the
// argument and its shape, never a crash or silent garbage.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace fastcnn::python {

namespace py = pybind11;

inline std::string shape_string(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << (shape.size() == 1 ? ",)" : ")");
  return out.str();
}

// A checked float32 C-contiguous array: its data pointer and shape. It borrows the
// array, which the caller's arguments keep alive. (No py::array member: pybind11's
// default py::array() allocates an empty NumPy array, a cost on every call.)
struct FloatArray {
  std::vector<int64_t> shape;
  float* data = nullptr;
  int64_t nbytes = 0;

  int64_t dim(int i) const { return shape[static_cast<size_t>(i)]; }
  int ndim() const { return static_cast<int>(shape.size()); }
  const char* begin_byte() const { return reinterpret_cast<const char*>(data); }
  const char* end_byte() const { return begin_byte() + nbytes; }
};

inline FloatArray float_array(const py::object& obj, const char* op, const char* name, int min_ndim,
                              int max_ndim, bool writable = false) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(op) + ": " + name + " must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const auto array = py::reinterpret_borrow<py::array>(obj);
  FloatArray out;
  for (py::ssize_t i = 0; i < array.ndim(); ++i) out.shape.push_back(array.shape(i));
  // By value, not identity: pickled arrays and dtypes with metadata are float32 too.
  const py::dtype dtype = array.dtype();
  if (dtype.kind() != 'f' || dtype.itemsize() != 4 || dtype.byteorder() == '>') {
    const std::string order = dtype.byteorder() == '>' ? " (big-endian)" : "";
    throw py::type_error(std::string(op) + ": " + name + " has dtype " + std::string(py::str(dtype)) + order +
                         ", expected float32");
  }
  if (array.ndim() < min_ndim || array.ndim() > max_ndim) {
    std::ostringstream message;
    message << op << ": " << name << " must have " << min_ndim;
    if (max_ndim != min_ndim) message << " to " << max_ndim;
    message << " dimensions, got shape " << shape_string(out.shape);
    throw py::value_error(message.str());
  }
  if (!(array.flags() & py::array::c_style)) {
    throw py::value_error(std::string(op) + ": " + name + " of shape " + shape_string(out.shape) +
                          " is not C-contiguous; pass numpy.ascontiguousarray(" + name + ")");
  }
  if (writable && !array.writeable()) {
    throw py::value_error(std::string(op) + ": output " + name + " is read-only");
  }
  out.data = static_cast<float*>(const_cast<void*>(array.data()));
  out.nbytes = static_cast<int64_t>(array.nbytes());
  return out;
}

// Outputs must not share memory with inputs: the kernels read inputs after writing output.
inline void check_no_overlap(const FloatArray& out, const FloatArray& in, const char* op, const char* out_name,
                             const char* in_name) {
  if (out.nbytes == 0 || in.nbytes == 0) return;
  if (out.begin_byte() < in.end_byte() && in.begin_byte() < out.end_byte()) {
    throw py::value_error(std::string(op) + ": output " + out_name + " overlaps input " + in_name);
  }
}

}  // namespace fastcnn::python
