// fastcnn._C: the CPU kernels for Python. Each binding checks its arguments (array_checks.h),
// releases the GIL, and calls the C++ API in fastcnn/*.h.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <omp.h>

#include <algorithm>
#include <string>

#include "fastcnn/gemm.h"
#include "fastcnn/runtime.h"
#include "build_info.h"
#include "python/array_checks.h"
#include "python/bindings.h"

namespace py = pybind11;
using fastcnn::python::check_no_overlap;
using fastcnn::python::float_array;
using fastcnn::python::FloatArray;
using fastcnn::python::shape_string;

namespace {

fastcnn::Isa parse_isa(const std::string& name) {
  if (name == "avx2") return fastcnn::Isa::Avx2;
  if (name == "ref") return fastcnn::Isa::Ref;
  throw py::value_error("kernel path must be 'avx2' or 'ref', got '" + name + "'");
}

fastcnn::BiasMode parse_bias_mode(const std::string& mode) {
  if (mode == "row") return fastcnn::BiasMode::PerRow;
  if (mode == "column") return fastcnn::BiasMode::PerColumn;
  throw py::value_error("gemm: bias_mode must be 'row' or 'column', got '" + mode + "'");
}

struct BatchedGemm {
  fastcnn::GemmParams params;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  FloatArray a, b, c, bias;
};

// Checks A, B, C (and bias) and fills GemmParams. With `batched`, C is (batch, M, N) and A
// and B are 3-D with the same batch, or 2-D to share one matrix across the batch.
BatchedGemm parse_gemm(const char* op, bool batched, const py::object& a_obj, const py::object& b_obj,
                       const py::object& c_obj, bool trans_a, bool trans_b, float alpha, float beta,
                       const py::object& bias_obj, const std::string& bias_mode, bool relu) {
  BatchedGemm g;
  g.a = float_array(a_obj, op, "a", 2, batched ? 3 : 2);
  g.b = float_array(b_obj, op, "b", 2, batched ? 3 : 2);
  g.c = float_array(c_obj, op, "c", batched ? 3 : 2, batched ? 3 : 2, /*writable=*/true);
  const int c_off = batched ? 1 : 0;
  const int a_off = g.a.ndim() - 2, b_off = g.b.ndim() - 2;
  const int64_t m = trans_a ? g.a.dim(a_off + 1) : g.a.dim(a_off);
  const int64_t k = trans_a ? g.a.dim(a_off) : g.a.dim(a_off + 1);
  const int64_t k_b = trans_b ? g.b.dim(b_off + 1) : g.b.dim(b_off);
  const int64_t n = trans_b ? g.b.dim(b_off) : g.b.dim(b_off + 1);
  // Built only on error: this runs on every call, and a small GEMM takes microseconds.
  auto fail = [&](const std::string& what) {
    throw py::value_error(std::string(op) + ": " + what + " (a " + shape_string(g.a.shape) +
                          (trans_a ? " transposed" : "") + ", b " + shape_string(g.b.shape) +
                          (trans_b ? " transposed" : "") + ", c " + shape_string(g.c.shape) + ")");
  };
  if (k != k_b) fail("inner dimensions differ, " + std::to_string(k) + " vs " + std::to_string(k_b));
  if (g.c.dim(c_off) != m || g.c.dim(c_off + 1) != n) {
    fail("c must be " + std::to_string(m) + " x " + std::to_string(n));
  }
  if (batched) {
    g.batch = g.c.dim(0);
    if (g.a.ndim() == 3 && g.a.dim(0) != g.batch) fail("batch of a differs from c");
    if (g.b.ndim() == 3 && g.b.dim(0) != g.batch) fail("batch of b differs from c");
    g.stride_a = g.a.ndim() == 3 ? m * k : 0;
    g.stride_b = g.b.ndim() == 3 ? k * n : 0;
    g.stride_c = m * n;
  }
  check_no_overlap(g.c, g.a, op, "c", "a");
  check_no_overlap(g.c, g.b, op, "c", "b");

  fastcnn::GemmParams& p = g.params;
  p.m = m, p.n = n, p.k = k;
  p.trans_a = trans_a, p.trans_b = trans_b;
  p.alpha = alpha, p.beta = beta;
  p.a = g.a.data, p.lda = g.a.dim(a_off + 1);
  p.b = g.b.data, p.ldb = g.b.dim(b_off + 1);
  p.c = g.c.data, p.ldc = n;
  p.epilogue.relu = relu;
  const fastcnn::BiasMode mode = parse_bias_mode(bias_mode);  // checked even without a bias
  if (!bias_obj.is_none()) {
    g.bias = float_array(bias_obj, op, "bias", 1, 1);
    p.epilogue.bias_mode = mode;
    const int64_t expected = p.epilogue.bias_mode == fastcnn::BiasMode::PerRow ? m : n;
    if (g.bias.dim(0) != expected) {
      fail("bias of shape " + shape_string(g.bias.shape) + " with bias_mode='" + bias_mode + "' must have " +
           std::to_string(expected) + " values");
    }
    check_no_overlap(g.c, g.bias, op, "c", "bias");
    p.epilogue.bias = g.bias.data;
  }
  // lda etc. must be >= 1 even for empty matrices; the kernel reads nothing then.
  p.lda = std::max<int64_t>(p.lda, 1), p.ldb = std::max<int64_t>(p.ldb, 1), p.ldc = std::max<int64_t>(p.ldc, 1);
  return g;
}

py::object gemm(const py::object& a, const py::object& b, const py::object& c, bool trans_a, bool trans_b,
                float alpha, float beta, const py::object& bias, const std::string& bias_mode, bool relu) {
  BatchedGemm g = parse_gemm("gemm", false, a, b, c, trans_a, trans_b, alpha, beta, bias, bias_mode, relu);
  {
    py::gil_scoped_release release;
    fastcnn::cpu::gemm(g.params);
  }
  return c;
}

// The Tensor layer's matmul: positional arguments and no epilogue, because pybind11 spends
// about a microsecond on each keyword argument, more than a small product takes.
py::object gemm_plain(const py::object& a, const py::object& b, const py::object& c, bool trans_a, bool trans_b) {
  return gemm(a, b, c, trans_a, trans_b, 1.0f, 0.0f, py::none(), "column", false);
}

py::object gemm_batched(const py::object& a, const py::object& b, const py::object& c, bool trans_a,
                        bool trans_b, float alpha, float beta, const py::object& bias,
                        const std::string& bias_mode, bool relu) {
  BatchedGemm g =
      parse_gemm("gemm_batched", true, a, b, c, trans_a, trans_b, alpha, beta, bias, bias_mode, relu);
  {
    py::gil_scoped_release release;
    fastcnn::cpu::gemm_strided_batched(g.params, g.batch, g.stride_a, g.stride_b, g.stride_c);
  }
  return c;
}

py::dict build_info() {
  py::dict info;
  info["compiler"] = FASTCNN_CXX_COMPILER;
  info["flags"] = FASTCNN_CXX_FLAGS;
  info["openmp"] = _OPENMP;
#if defined(FASTCNN_HAVE_AVX2_KERNELS)
  info["avx2_kernels_compiled"] = true;
#else
  info["avx2_kernels_compiled"] = false;
#endif
  return info;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "fastcnn CPU kernels (AVX2/FMA with a portable fallback, OpenMP)";
  fastcnn::get_num_threads();  // reads the environment and registers the fork handler now

  const auto gemm_doc =
      "c = relu?(alpha * op(a) @ op(b) + beta * c + bias), in place; returns c.\n"
      "a, b, c: float32 C-contiguous; bias_mode 'row' (len M) or 'column' (len N).";
  m.def("gemm", &gemm, gemm_doc, py::arg("a"), py::arg("b"), py::arg("c"), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("bias") = py::none(), py::arg("bias_mode") = "column", py::arg("relu") = false);
  m.def("gemm_plain", &gemm_plain, "c = op(a) @ op(b), in place; returns c (gemm without options, positional).",
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("trans_a"), py::arg("trans_b"));
  m.def("gemm_batched", &gemm_batched,
        "gemm over a batch: c is (batch, M, N); a and b are 3-D, or 2-D to share one matrix.",
        py::arg("a"), py::arg("b"), py::arg("c"), py::kw_only(), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("alpha") = 1.0f, py::arg("beta") = 0.0f,
        py::arg("bias") = py::none(), py::arg("bias_mode") = "column", py::arg("relu") = false);

  m.def("get_num_threads", &fastcnn::get_num_threads);
  m.def("set_num_threads", &fastcnn::set_num_threads, py::arg("n"));
  m.def("num_threads_source", &fastcnn::num_threads_source);
  m.def("usable_physical_cores", &fastcnn::usable_physical_cores);
  m.def("flush_denormal", &fastcnn::flush_denormal);
  m.def("set_flush_denormal", &fastcnn::set_flush_denormal, py::arg("enabled"));
  m.def("deterministic", &fastcnn::deterministic);
  m.def("set_deterministic", &fastcnn::set_deterministic, py::arg("enabled"));

  m.def("cpu_features", [] {
    const fastcnn::CpuFeatures f = fastcnn::detect_cpu_features();
    py::dict features;
    features["avx"] = f.avx, features["avx2"] = f.avx2, features["fma"] = f.fma;
    return features;
  });
  m.def("kernel_path", [] { return std::string(fastcnn::isa_name(fastcnn::active_isa())); });
  m.def("set_kernel_path", [](const std::string& name) { fastcnn::set_active_isa(parse_isa(name)); },
        py::arg("name"));
  m.def("kernel_path_supported", [](const std::string& name) { return fastcnn::isa_supported(parse_isa(name)); },
        py::arg("name"));
  m.def("build_info", &build_info);
  m.def("measure_peak_gflops", [](int threads, double seconds) {
    py::gil_scoped_release release;
    return fastcnn::cpu::measure_peak_gflops(threads, seconds);
  }, py::arg("threads"), py::arg("seconds") = 0.2);

  fastcnn::python::bind_conv(m);
  fastcnn::python::bind_conv_packed(m);
  fastcnn::python::bind_pool(m);
  fastcnn::python::bind_activation(m);
  fastcnn::python::bind_loss(m);
  fastcnn::python::bind_norm(m);
  fastcnn::python::bind_optim(m);
  fastcnn::python::bind_resize(m);
  fastcnn::python::bind_clamp(m);
}
