// Bindings of the fused optimizer updates: sgd_step, adam_step, rmsprop_step. Each takes
// the parameter (updated in place), its gradient and its state buffers (updated in place;
// None where the options need none), all float32 C-contiguous arrays of one shape, no two
// sharing memory; options are keyword-only. Returns None.
#include <pybind11/pybind11.h>

#include <string>
#include <utility>
#include <vector>

#include "fastcnn/optim.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace fastcnn::python {

namespace {

constexpr int kMaxDims = 64;

// The arrays of one update: param first, then grad, then the state buffers present.
struct UpdateArrays {
  std::vector<std::pair<const char*, FloatArray>> arrays;

  // Checks obj (None allowed when `optional`) and returns its data, or null for None.
  float* add(const py::object& obj, const char* op, const char* name, bool writable, bool required) {
    if (obj.is_none()) {
      if (required) throw py::value_error(std::string(op) + ": " + name + " is required with these options");
      return nullptr;
    }
    FloatArray a = float_array(obj, op, name, 0, kMaxDims, writable);
    if (!arrays.empty() && a.shape != arrays.front().second.shape) {
      throw py::value_error(std::string(op) + ": " + name + " has shape " + shape_string(a.shape) +
                            " but param has shape " + shape_string(arrays.front().second.shape));
    }
    for (const auto& [other_name, other] : arrays) {
      if (writable) {
        check_no_overlap(a, other, op, name, other_name);
      } else {
        check_no_overlap(other, a, op, other_name, name);  // grad is read, never written
      }
    }
    arrays.emplace_back(name, a);
    return a.data;
  }
  int64_t numel() const { return arrays.front().second.numel(); }
};

void sgd_step(const py::object& param, const py::object& grad, const py::object& momentum_buffer, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
              bool first_step) {
  const char* op = "sgd_step";
  UpdateArrays u;
  cpu::SgdParams p;
  p.lr = lr, p.momentum = momentum, p.dampening = dampening, p.weight_decay = weight_decay;
  p.nesterov = nesterov, p.maximize = maximize, p.first_step = first_step;
  float* x = u.add(param, op, "param", true, true);
  const float* g = u.add(grad, op, "grad", false, true);
  float* buf = u.add(momentum_buffer, op, "momentum_buffer", true, momentum != 0);
  py::gil_scoped_release release;
  cpu::sgd_step(x, g, buf, u.numel(), p);
}

void adam_step(const py::object& param, const py::object& grad, const py::object& exp_avg,
               const py::object& exp_avg_sq, const py::object& max_exp_avg_sq, int64_t step, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
               bool decoupled_weight_decay) {
  const char* op = "adam_step";
  if (step < 1) throw py::value_error("adam_step: step must be >= 1, got " + std::to_string(step));
  UpdateArrays u;
  cpu::AdamParams p;
  p.lr = lr, p.beta1 = beta1, p.beta2 = beta2, p.eps = eps, p.weight_decay = weight_decay;
  p.amsgrad = amsgrad, p.maximize = maximize, p.decoupled_weight_decay = decoupled_weight_decay, p.step = step;
  float* x = u.add(param, op, "param", true, true);
  const float* g = u.add(grad, op, "grad", false, true);
  float* m = u.add(exp_avg, op, "exp_avg", true, true);
  float* v = u.add(exp_avg_sq, op, "exp_avg_sq", true, true);
  float* v_max = u.add(max_exp_avg_sq, op, "max_exp_avg_sq", true, amsgrad);
  py::gil_scoped_release release;
  cpu::adam_step(x, g, m, v, v_max, u.numel(), p);
}

void rmsprop_step(const py::object& param, const py::object& grad, const py::object& square_avg,
                  const py::object& grad_avg, const py::object& momentum_buffer, double lr, double alpha,
                  double eps, double weight_decay, double momentum, bool centered, bool maximize) {
  const char* op = "rmsprop_step";
  UpdateArrays u;
  cpu::RmspropParams p;
  p.lr = lr, p.alpha = alpha, p.eps = eps, p.weight_decay = weight_decay, p.momentum = momentum;
  p.centered = centered, p.maximize = maximize;
  float* x = u.add(param, op, "param", true, true);
  const float* g = u.add(grad, op, "grad", false, true);
  float* sa = u.add(square_avg, op, "square_avg", true, true);
  float* ga = u.add(grad_avg, op, "grad_avg", true, centered);
  float* buf = u.add(momentum_buffer, op, "momentum_buffer", true, momentum > 0);
  py::gil_scoped_release release;
  cpu::rmsprop_step(x, g, sa, ga, buf, u.numel(), p);
}

}  // namespace

void bind_optim(py::module_& m) {
  using py::arg;
  m.def("sgd_step", &sgd_step,
        "One SGD update of param in place (torch.optim.SGD); momentum_buffer is set to the\n"
        "gradient when first_step, else updated.",
        arg("param"), arg("grad"), arg("momentum_buffer") = py::none(), py::kw_only(), arg("lr"),
        arg("momentum") = 0.0, arg("dampening") = 0.0, arg("weight_decay") = 0.0, arg("nesterov") = false,
        arg("maximize") = false, arg("first_step") = false);
  m.def("adam_step", &adam_step,
        "One Adam / AdamW update of param in place (torch.optim.Adam); step is the count after\n"
        "this step's increment.",
        arg("param"), arg("grad"), arg("exp_avg"), arg("exp_avg_sq"), arg("max_exp_avg_sq") = py::none(),
        py::kw_only(), arg("step"), arg("lr"), arg("beta1"), arg("beta2"), arg("eps"), arg("weight_decay") = 0.0,
        arg("amsgrad") = false, arg("maximize") = false, arg("decoupled_weight_decay") = false);
  m.def("rmsprop_step", &rmsprop_step, "One RMSprop update of param in place (torch.optim.RMSprop).",
        arg("param"), arg("grad"), arg("square_avg"), arg("grad_avg") = py::none(),
        arg("momentum_buffer") = py::none(), py::kw_only(), arg("lr"), arg("alpha"), arg("eps"),
        arg("weight_decay") = 0.0, arg("momentum") = 0.0, arg("centered") = false, arg("maximize") = false);
}

}  // namespace fastcnn::python
