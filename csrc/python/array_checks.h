// Argument checks shared by the bindings: every array a kernel sees has passed through
// here, so a wrong dtype, rank, layout or overlap is a Python exception naming the
// argument and its shape, never a crash or silent garbage.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common/str_cat.h"

namespace fastcnn::python {

namespace py = pybind11;

inline std::string shape_string(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

// A checked C-contiguous array of T (float32, int64 or uint8): its data pointer and shape. It
// borrows the array, which the caller's arguments keep alive. (No py::array member:
// pybind11's default py::array() allocates an empty NumPy array, a cost on every call.)
template <class T>
struct CheckedArray {
  std::vector<int64_t> shape;
  T* data = nullptr;
  int64_t nbytes = 0;

  int64_t dim(int i) const { return shape[static_cast<size_t>(i)]; }
  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  const char* begin_byte() const { return reinterpret_cast<const char*>(data); }
  const char* end_byte() const { return begin_byte() + nbytes; }
};
using FloatArray = CheckedArray<float>;
using Int64Array = CheckedArray<int64_t>;

using Uint8Array = CheckedArray<uint8_t>;

template <class T>
constexpr char dtype_kind() {
  if constexpr (std::is_floating_point_v<T>) return 'f';
  return std::is_signed_v<T> ? 'i' : 'u';
}
template <class T>
constexpr const char* dtype_name() {
  if constexpr (std::is_same_v<T, float>) return "float32";
  if constexpr (std::is_same_v<T, int64_t>) return "int64";
  return "uint8";
}

template <class T>
CheckedArray<T> checked_array(const py::object& obj, const char* op, const char* name, int min_ndim, int max_ndim,
                              bool writable = false) {
  if (!py::isinstance<py::array>(obj)) {
    throw py::type_error(std::string(op) + ": " + name + " must be a numpy.ndarray, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const auto array = py::reinterpret_borrow<py::array>(obj);
  CheckedArray<T> out;
  for (py::ssize_t i = 0; i < array.ndim(); ++i) out.shape.push_back(array.shape(i));
  // By value, not identity: pickled arrays and dtypes with metadata are float32 too.
  const py::dtype dtype = array.dtype();
  if (dtype.kind() != dtype_kind<T>() || dtype.itemsize() != sizeof(T) || dtype.byteorder() == '>') {
    const std::string order = dtype.byteorder() == '>' ? " (big-endian)" : "";
    throw py::type_error(std::string(op) + ": " + name + " has dtype " + std::string(py::str(py::handle(dtype))) + order +
                         ", expected " + dtype_name<T>());
  }
  if (array.ndim() < min_ndim || array.ndim() > max_ndim) {
    const std::string range = max_ndim != min_ndim ? detail::str_cat(" to ", max_ndim) : "";
    throw py::value_error(detail::str_cat(op, ": ", name, " must have ", min_ndim, range, " dimensions, got shape ",
                                          shape_string(out.shape)));
  }
  if (!(array.flags() & py::array::c_style)) {
    throw py::value_error(std::string(op) + ": " + name + " of shape " + shape_string(out.shape) +
                          " is not C-contiguous; pass numpy.ascontiguousarray(" + name + ")");
  }
  // A misaligned element (a view starting at an odd byte) is undefined behaviour to load.
  if (!(array.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
    throw py::value_error(std::string(op) + ": " + name + " of shape " + shape_string(out.shape) +
                          " is not aligned to its element size; pass a copy (" + name + ".copy())");
  }
  if (writable && !array.writeable()) {
    throw py::value_error(std::string(op) + ": output " + name + " is read-only");
  }
  out.data = static_cast<T*>(const_cast<void*>(array.data()));
  out.nbytes = static_cast<int64_t>(array.nbytes());
  return out;
}

inline FloatArray float_array(const py::object& obj, const char* op, const char* name, int min_ndim, int max_ndim,
                              bool writable = false) {
  return checked_array<float>(obj, op, name, min_ndim, max_ndim, writable);
}

inline Int64Array int64_array(const py::object& obj, const char* op, const char* name, int min_ndim, int max_ndim,
                              bool writable = false) {
  return checked_array<int64_t>(obj, op, name, min_ndim, max_ndim, writable);
}

inline Uint8Array uint8_array(const py::object& obj, const char* op, const char* name, int min_ndim, int max_ndim,
                              bool writable = false) {
  return checked_array<uint8_t>(obj, op, name, min_ndim, max_ndim, writable);
}

// a and b must have one shape (elementwise kernels).
template <class A, class B>
void check_same_shape(const A& a, const B& b, const char* op, const char* a_name, const char* b_name) {
  if (a.shape != b.shape) {
    throw py::value_error(std::string(op) + ": " + a_name + " has shape " + shape_string(a.shape) + " but " +
                          b_name + " has shape " + shape_string(b.shape));
  }
}

// Outputs must not share memory with inputs: the kernels read inputs after writing output.
template <class A, class B>
void check_no_overlap(const A& out, const B& in, const char* op, const char* out_name,
                             const char* in_name) {
  if (out.nbytes == 0 || in.nbytes == 0) return;
  if (out.begin_byte() < in.end_byte() && in.begin_byte() < out.end_byte()) {
    throw py::value_error(std::string(op) + ": output " + out_name + " overlaps input " + in_name);
  }
}

// An elementwise kernel may write in place (out exactly in: each element is read before it
// is written); any other overlap is refused.
template <class A, class B>
void check_in_place_or_disjoint(const A& out, const B& in, const char* op, const char* out_name, const char* in_name) {
  if (out.data == in.data && out.nbytes == in.nbytes) return;
  check_no_overlap(out, in, op, out_name, in_name);
}

}  // namespace fastcnn::python
