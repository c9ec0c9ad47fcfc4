"""Reference GEMM and the tolerance used to compare fastcnn's float32 results with it.

Error model
-----------
fastcnn computes each element of C as a float32 dot product of K terms, accumulated in
order (in K blocks, but never split across threads), followed by an epilogue of a few
float32 operations (alpha*, +beta*C, +bias, ReLU). For a K-term float32 dot product the
rounding error is bounded by gamma_K * sum_k |a_ik||b_kj| with gamma_K ~= K * eps
(worst case); with rounding errors of random sign it grows like sqrt(K) * eps instead.
The bound used here is

    |result - exact| <= SAFETY * eps32 * (sqrt(K) + EPILOGUE_OPS) * scale

where ``scale`` is the same GEMM computed on absolute values,
    scale = |alpha| * |op(A)| @ |op(B)| + |beta| * |C| + |bias|,
i.e. the largest magnitude any intermediate of that element could have. SAFETY = 4 and
EPILOGUE_OPS = 4 leave a wide margin for the sqrt(K) random-walk model (the observed
error is well below it) while staying tight enough that a relative error of 1e-3 in a
result is always caught (tests/test_gemm.py::test_tolerance_catches_perturbations).
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
TINY32 = float(np.finfo(np.float32).tiny)
SAFETY = 4.0
EPILOGUE_OPS = 4.0


def _op(x: np.ndarray, trans: bool) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if trans else x


def reference_gemm(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None,
                   bias_mode="column", relu=False):
    """relu?(alpha * op(a) @ op(b) + beta * c + bias) in float64, with fastcnn's conventions.

    a and b may be 2-D or 3-D (a batch; 2-D operands broadcast over it). beta == 0 never
    reads c, alpha == 0 or K == 0 never reads a or b (as in BLAS), and ReLU lets NaN pass
    (as torch.relu). Returns a float64 array.
    """
    a64 = _op(np.asarray(a, dtype=np.float64), trans_a)
    b64 = _op(np.asarray(b, dtype=np.float64), trans_b)
    k = a64.shape[-1]
    assert b64.shape[-2] == k, (a64.shape, b64.shape)
    batch_shape = np.broadcast_shapes(a64.shape[:-2], b64.shape[:-2])
    if c is not None:
        batch_shape = np.broadcast_shapes(batch_shape, np.shape(c)[:-2])
    shape = (*batch_shape, a64.shape[-2], b64.shape[-1])
    with np.errstate(all="ignore"):
        if alpha == 0.0 or k == 0:
            out = np.zeros(shape)
        else:
            out = np.broadcast_to(alpha * np.matmul(a64, b64), shape).copy()
        if beta != 0.0:
            out = out + beta * np.asarray(c, dtype=np.float64)
        if bias is not None:
            bias64 = np.asarray(bias, dtype=np.float64)
            if bias_mode == "row":
                out = out + bias64[:, None]
            elif bias_mode == "column":
                out = out + bias64[None, :]
            else:
                raise ValueError(bias_mode)
        if relu:
            out = np.where(out < 0.0, 0.0, out)  # NaN is not < 0: it passes through
    return out


def reference_scale(a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None, bias=None,
                    bias_mode="column"):
    """|alpha| |op(a)| @ |op(b)| + |beta| |c| + |bias|: the magnitude the error bound scales with."""
    absolute = lambda x: None if x is None else np.abs(np.asarray(x, dtype=np.float64))  # noqa: E731
    return reference_gemm(absolute(a), absolute(b), trans_a, trans_b, abs(alpha), abs(beta), absolute(c),
                          absolute(bias), bias_mode, relu=False)


def gemm_tolerance(k: int, scale) -> np.ndarray:
    """Elementwise absolute tolerance for a K-term float32 GEMM of the given scale."""
    scale = np.abs(np.asarray(scale, dtype=np.float64))
    # A floor of a few float32 `tiny`: denormals may be flushed to zero inside the kernels.
    return SAFETY * EPS32 * (np.sqrt(max(int(k), 0)) + EPILOGUE_OPS) * scale + 4 * TINY32


def assert_gemm_close(result, expected, k, scale=None, context=""):
    """Asserts a float32 GEMM result matches the float64 reference within gemm_tolerance.

    NaN must appear exactly where the reference has NaN, +-Inf exactly where it has the
    same infinity. ``scale`` (from reference_scale) should be given whenever the product
    can cancel; without it |expected| is used, which is only right for non-cancelling data.
    """
    result = np.asarray(result)
    expected = np.asarray(expected, dtype=np.float64)
    where = f" [{context}]" if context else ""
    assert result.dtype == np.float32, f"result dtype {result.dtype}, expected float32{where}"
    assert result.shape == expected.shape, f"result shape {result.shape}, expected {expected.shape}{where}"
    if scale is None:
        scale = np.abs(expected)
    result64 = result.astype(np.float64)

    nan_r, nan_e = np.isnan(result64), np.isnan(expected)
    if not np.array_equal(nan_r, nan_e):
        bad = np.argwhere(nan_r != nan_e)[0]
        raise AssertionError(f"NaN mismatch at {tuple(bad)}: got {result64[tuple(bad)]}, "
                             f"expected {expected[tuple(bad)]}{where}")
    inf_r, inf_e = np.isinf(result64), np.isinf(expected)
    if not np.array_equal(inf_r, inf_e) or not np.array_equal(result64[inf_r], expected[inf_e]):
        bad = np.argwhere((inf_r != inf_e) | (inf_r & (result64 != expected)))[0]
        raise AssertionError(f"Inf mismatch at {tuple(bad)}: got {result64[tuple(bad)]}, "
                             f"expected {expected[tuple(bad)]}{where}")

    finite = np.isfinite(expected)
    tol = np.broadcast_to(gemm_tolerance(k, scale), expected.shape)
    # A NaN or Inf tolerance would make the comparison below vacuous: refuse it.
    assert np.isfinite(tol[finite]).all(), f"non-finite tolerance for a finite expected value{where}"
    with np.errstate(invalid="ignore"):
        error = np.where(finite, np.abs(result64 - expected), 0.0)
    excess = error > tol
    if excess.any():
        index = tuple(np.argwhere(excess)[0])
        worst = np.unravel_index(np.argmax(np.where(finite, error / np.maximum(tol, 1e-300), 0)), error.shape)
        raise AssertionError(
            f"{int(excess.sum())} of {excess.size} elements outside tolerance (K={k}){where}: "
            f"first at {index}: got {result64[index]!r}, expected {expected[index]!r}, "
            f"|error| {error[index]:.3g} > tol {tol[index]:.3g}; "
            f"worst at {tuple(int(i) for i in worst)}: error/tol = {error[worst] / tol[worst]:.3g}")


def random_matrix(rng: np.random.Generator, shape, low=-1.0, high=1.0) -> np.ndarray:
    """A C-contiguous float32 array of uniform values in [low, high)."""
    return rng.uniform(low, high, size=shape).astype(np.float32)


def make_operands(rng, m, n, k, trans_a=False, trans_b=False, batch_a=None, batch_b=None):
    """Random a and b stored as fastcnn expects: a is M x K (K x M when trans_a), likewise b.

    batch_a / batch_b: a leading batch dimension for that operand (None: 2-D).
    """
    a_shape = (k, m) if trans_a else (m, k)
    b_shape = (n, k) if trans_b else (k, n)
    a = random_matrix(rng, a_shape if batch_a is None else (batch_a, *a_shape))
    b = random_matrix(rng, b_shape if batch_b is None else (batch_b, *b_shape))
    return a, b


def check_gemm(gemm, a, b, c, *, context="", **kwargs):
    """Runs fastcnn's `gemm` (or gemm_batched) in place on c and checks it against the reference.

    Also checks the call returns c itself and leaves a, b and bias untouched. Returns the result.
    """
    trans_a, trans_b = kwargs.get("trans_a", False), kwargs.get("trans_b", False)
    alpha, beta = kwargs.get("alpha", 1.0), kwargs.get("beta", 0.0)
    bias, bias_mode, relu = kwargs.get("bias"), kwargs.get("bias_mode", "column"), kwargs.get("relu", False)
    # The reference uses the float32 values of alpha and beta, as the kernel does.
    alpha32, beta32 = float(np.float32(alpha)), float(np.float32(beta))
    c_before = c.copy()
    a_before, b_before = a.copy(), b.copy()
    bias_before = None if bias is None else bias.copy()
    expected = reference_gemm(a, b, trans_a, trans_b, alpha32, beta32, c_before, bias, bias_mode, relu)
    scale = reference_scale(a, b, trans_a, trans_b, alpha32, beta32,
                            None if beta32 == 0.0 else c_before, bias, bias_mode)
    k = (a.shape[-2] if trans_a else a.shape[-1])

    returned = gemm(a, b, c, **kwargs)

    assert returned is c, f"gemm must return c itself{' [' + context + ']' if context else ''}"
    np.testing.assert_array_equal(a, a_before, err_msg=f"a was modified [{context}]")
    np.testing.assert_array_equal(b, b_before, err_msg=f"b was modified [{context}]")
    if bias is not None:
        np.testing.assert_array_equal(bias, bias_before, err_msg=f"bias was modified [{context}]")
    assert_gemm_close(c, expected, k, scale=scale, context=context)
    return c
