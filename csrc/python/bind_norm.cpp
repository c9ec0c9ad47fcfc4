// Bindings of the norm kernels: batch norm, local response norm, dropout masks. Each
// checks dtypes, ranks, shapes, contiguity and output/input overlap before the kernel
// runs, then releases the GIL. Outputs are allocated by the caller (fastcnn.ops.norm).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "fastcnn/norm.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

// A per-channel vector (length C) or null for None.
float* channel_vector(const py::object& obj, const char* op, const char* name, int64_t c, bool writable,
                      FloatArray* holder) {
  if (obj.is_none()) return nullptr;
  *holder = float_array(obj, op, name, 1, 1, writable);
  if (holder->dim(0) != c) {
    throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_string(holder->shape) +
                          " but the input has " + std::to_string(c) + " channels");
  }
  return holder->data;
}

struct Nci {
  int64_t n, c, inner;
};
Nci view_nci(const FloatArray& x) {
  int64_t inner = 1;
  for (int i = 2; i < x.ndim(); ++i) inner *= x.dim(i);
  return {x.dim(0), x.dim(1), inner};
}

void require_channels(const Nci& v, const FloatArray& x, const char* op) {
  if (v.c < 1) throw py::value_error(std::string(op) + ": input of shape " + shape_string(x.shape) + " has no channels");
}

py::tuple batch_norm_forward(const py::object& x_obj, const py::object& out_obj, const py::object& rm_obj,
                             const py::object& rv_obj, const py::object& w_obj, const py::object& b_obj,
                             const py::object& sm_obj, const py::object& si_obj, bool training, float momentum,
                             float eps) {
  const char* op = "batch_norm";
  const FloatArray x = float_array(x_obj, op, "input", 2, 8);
  const FloatArray out = float_array(out_obj, op, "out", 2, 8, true);
  check_same_shape(out, x, op, "out", "input");
  const Nci v = view_nci(x);
  require_channels(v, x, op);
  FloatArray rm, rv, w, b, sm, si;
  BatchNormParams p;
  p.n = v.n, p.c = v.c, p.inner = v.inner;
  p.training = training, p.momentum = momentum, p.eps = eps;
  p.x = x.data, p.out = out.data;
  p.running_mean = channel_vector(rm_obj, op, "running_mean", v.c, true, &rm);
  p.running_var = channel_vector(rv_obj, op, "running_var", v.c, true, &rv);
  p.weight = channel_vector(w_obj, op, "weight", v.c, false, &w);
  p.bias = channel_vector(b_obj, op, "bias", v.c, false, &b);
  p.save_mean = channel_vector(sm_obj, op, "save_mean", v.c, true, &sm);
  p.save_invstd = channel_vector(si_obj, op, "save_invstd", v.c, true, &si);
  if (!p.save_mean || !p.save_invstd) throw py::value_error("batch_norm: save_mean and save_invstd are required");
  const FloatArray* outputs[] = {&out, &sm, &si, &rm, &rv};
  const char* out_names[] = {"out", "save_mean", "save_invstd", "running_mean", "running_var"};
  const FloatArray* inputs[] = {&x, &w, &b};
  const char* in_names[] = {"input", "weight", "bias"};
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 3; ++j) check_no_overlap(*outputs[i], *inputs[j], op, out_names[i], in_names[j]);
    for (int j = 0; j < i; ++j) check_no_overlap(*outputs[i], *outputs[j], op, out_names[i], out_names[j]);
  }
  {
    py::gil_scoped_release release;
    cpu::batch_norm_forward(p);
  }
  return py::make_tuple(out_obj, sm_obj, si_obj);
}

py::tuple batch_norm_backward(const py::object& go_obj, const py::object& x_obj, const py::object& w_obj,
                              const py::object& sm_obj, const py::object& si_obj, const py::object& gi_obj,
                              const py::object& gw_obj, const py::object& gb_obj, bool training) {
  const char* op = "batch_norm_backward";
  const FloatArray go = float_array(go_obj, op, "grad_output", 2, 8);
  const FloatArray x = float_array(x_obj, op, "input", 2, 8);
  const FloatArray gi = float_array(gi_obj, op, "grad_input", 2, 8, true);
  check_same_shape(go, x, op, "grad_output", "input");
  check_same_shape(gi, x, op, "grad_input", "input");
  const Nci v = view_nci(x);
  require_channels(v, x, op);
  FloatArray w, sm, si, gw, gb;
  BatchNormBackwardParams p;
  p.n = v.n, p.c = v.c, p.inner = v.inner, p.training = training;
  p.grad_out = go.data, p.x = x.data, p.grad_input = gi.data;
  p.weight = channel_vector(w_obj, op, "weight", v.c, false, &w);
  p.save_mean = channel_vector(sm_obj, op, "save_mean", v.c, false, &sm);
  p.save_invstd = channel_vector(si_obj, op, "save_invstd", v.c, false, &si);
  p.grad_weight = channel_vector(gw_obj, op, "grad_weight", v.c, true, &gw);
  p.grad_bias = channel_vector(gb_obj, op, "grad_bias", v.c, true, &gb);
  if (!p.save_mean || !p.save_invstd) throw py::value_error(std::string(op) + ": save_mean and save_invstd are required");
  if ((p.grad_weight == nullptr) != (p.grad_bias == nullptr))
    throw py::value_error(std::string(op) + ": grad_weight and grad_bias must both be given or both be None");
  const FloatArray* outputs[] = {&gi, &gw, &gb};
  const char* out_names[] = {"grad_input", "grad_weight", "grad_bias"};
  const FloatArray* inputs[] = {&go, &x, &w, &sm, &si};
  const char* in_names[] = {"grad_output", "input", "weight", "save_mean", "save_invstd"};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 5; ++j) check_no_overlap(*outputs[i], *inputs[j], op, out_names[i], in_names[j]);
    for (int j = 0; j < i; ++j) check_no_overlap(*outputs[i], *outputs[j], op, out_names[i], out_names[j]);
  }
  {
    py::gil_scoped_release release;
    cpu::batch_norm_backward(p);
  }
  return py::make_tuple(gi_obj, gw_obj, gb_obj);
}

LrnParams lrn_params(const FloatArray& x, const char* op, int64_t size, float alpha, float beta, float k) {
  const Nci v = view_nci(x);
  require_channels(v, x, op);
  if (size < 1) throw py::value_error(std::string(op) + ": size must be >= 1, got " + std::to_string(size));
  LrnParams p;
  p.n = v.n, p.c = v.c, p.inner = v.inner, p.size = size, p.alpha = alpha, p.beta = beta, p.k = k;
  return p;
}

py::tuple lrn_forward(const py::object& x_obj, const py::object& out_obj, const py::object& scale_obj, int64_t size,
                      float alpha, float beta, float k) {
  const char* op = "local_response_norm";
  const FloatArray x = float_array(x_obj, op, "input", 3, 8);
  const FloatArray out = float_array(out_obj, op, "out", 3, 8, true);
  const FloatArray scale = float_array(scale_obj, op, "scale", 3, 8, true);
  check_same_shape(out, x, op, "out", "input");
  check_same_shape(scale, x, op, "scale", "input");
  check_no_overlap(out, x, op, "out", "input");
  check_no_overlap(scale, x, op, "scale", "input");
  check_no_overlap(scale, out, op, "scale", "out");
  const LrnParams p = lrn_params(x, op, size, alpha, beta, k);
  {
    py::gil_scoped_release release;
    cpu::local_response_norm_forward(p, x.data, out.data, scale.data);
  }
  return py::make_tuple(out_obj, scale_obj);
}

py::object lrn_backward(const py::object& go_obj, const py::object& x_obj, const py::object& scale_obj,
                        const py::object& gi_obj, int64_t size, float alpha, float beta, float k) {
  const char* op = "local_response_norm_backward";
  const FloatArray go = float_array(go_obj, op, "grad_output", 3, 8);
  const FloatArray x = float_array(x_obj, op, "input", 3, 8);
  const FloatArray scale = float_array(scale_obj, op, "scale", 3, 8);
  const FloatArray gi = float_array(gi_obj, op, "grad_input", 3, 8, true);
  check_same_shape(go, x, op, "grad_output", "input");
  check_same_shape(scale, x, op, "scale", "input");
  check_same_shape(gi, x, op, "grad_input", "input");
  check_no_overlap(gi, go, op, "grad_input", "grad_output");
  check_no_overlap(gi, x, op, "grad_input", "input");
  check_no_overlap(gi, scale, op, "grad_input", "scale");
  const LrnParams p = lrn_params(x, op, size, alpha, beta, k);
  {
    py::gil_scoped_release release;
    cpu::local_response_norm_backward(p, go.data, x.data, scale.data, gi.data);
  }
  return gi_obj;
}

void check_p(double p, const char* op) {
  if (!(p >= 0.0 && p <= 1.0)) throw py::value_error(std::string(op) + ": p must be in [0, 1], got " + std::to_string(p));
}

py::object bernoulli_mask(const py::object& mask_obj, double p, uint64_t seed, uint64_t offset) {
  const char* op = "bernoulli_mask";
  const Uint8Array mask = uint8_array(mask_obj, op, "mask", 0, 32, true);
  check_p(p, op);
  {
    py::gil_scoped_release release;
    cpu::bernoulli_mask(mask.data, mask.numel(), p, seed, offset);
  }
  return mask_obj;
}

py::object dropout_apply(const char* op, const char* in_name, const char* out_name, const py::object& x_obj,
                         const py::object& mask_obj, const py::object& out_obj, double p) {
  const FloatArray x = float_array(x_obj, op, in_name, 0, 32);
  const Uint8Array mask = uint8_array(mask_obj, op, "mask", 0, 32);
  const FloatArray out = float_array(out_obj, op, out_name, 0, 32, true);
  check_same_shape(mask, x, op, "mask", in_name);
  check_same_shape(out, x, op, out_name, in_name);
  check_no_overlap(out, x, op, out_name, in_name);
  check_no_overlap(out, mask, op, out_name, "mask");
  check_p(p, op);
  {
    py::gil_scoped_release release;
    cpu::dropout_apply(x.data, mask.data, out.data, x.numel(), p);
  }
  return out_obj;
}

}  // namespace

void bind_norm(pybind11::module_& m) {
  m.def("batch_norm_forward", &batch_norm_forward,
        "out = batch norm of input (N, C, ...); fills save_mean/save_invstd (C,), updates running stats in "
        "training. Returns (out, save_mean, save_invstd).",
        py::arg("input"), py::arg("out"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight"),
        py::arg("bias"), py::arg("save_mean"), py::arg("save_invstd"), py::kw_only(), py::arg("training"),
        py::arg("momentum"), py::arg("eps"));
  m.def("batch_norm_backward", &batch_norm_backward,
        "Gradients of batch norm into grad_input (and grad_weight/grad_bias unless None).",
        py::arg("grad_output"), py::arg("input"), py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"),
        py::arg("grad_input"), py::arg("grad_weight"), py::arg("grad_bias"), py::kw_only(), py::arg("training"));
  m.def("local_response_norm_forward", &lrn_forward,
        "out = input * scale^-beta across channels; returns (out, scale).", py::arg("input"), py::arg("out"),
        py::arg("scale"), py::kw_only(), py::arg("size"), py::arg("alpha"), py::arg("beta"), py::arg("k"));
  m.def("local_response_norm_backward", &lrn_backward, "Gradient of local_response_norm into grad_input.",
        py::arg("grad_output"), py::arg("input"), py::arg("scale"), py::arg("grad_input"), py::kw_only(),
        py::arg("size"), py::arg("alpha"), py::arg("beta"), py::arg("k"));
  m.def("bernoulli_mask", &bernoulli_mask, "mask (uint8) = 1 with probability 1 - p, from (seed, offset + index).",
        py::arg("mask"), py::kw_only(), py::arg("p"), py::arg("seed"), py::arg("offset"));
  m.def("dropout_forward",
        [](const py::object& x, const py::object& mask, const py::object& out, double p) {
          return dropout_apply("dropout", "input", "out", x, mask, out, p);
        },
        "out = input * mask / (1 - p) (zeros when p == 1).", py::arg("input"), py::arg("mask"), py::arg("out"),
        py::kw_only(), py::arg("p"));
  m.def("dropout_backward",
        [](const py::object& g, const py::object& mask, const py::object& out, double p) {
          return dropout_apply("dropout_backward", "grad_output", "grad_input", g, mask, out, p);
        },
        "grad_input = grad_output * mask / (1 - p).", py::arg("grad_output"), py::arg("mask"), py::arg("grad_input"),
        py::kw_only(), py::arg("p"));
}

}  // namespace fastcnn::python
