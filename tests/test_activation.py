"""Activation kernels (relu, leaky_relu, tanh, sigmoid; forward, backward, in place) against
a float64 NumPy reference and torch, on both kernel paths and 1 and 2 threads.

Tolerances: relu / leaky_relu and their backward are exact (one rounding at most, as the
reference rounded to float32). tanh / sigmoid are float32 functions of one argument; the
bar is a relative error of RTOL = 2.5 float32 eps (~3e-7) against float64, plus an absolute
floor of float32's smallest normal, because denormal results are flushed to zero inside
the kernels (FTZ). Their backward is 2-3 float32 products: 4 eps relative.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import _C
from fastcnn import ops as F

EPS = float(np.finfo(np.float32).eps)
TINY = float(np.finfo(np.float32).tiny)
RTOL = 2.5 * EPS

SHAPES = [(), (1,), (7,), (8,), (3, 5, 17), (2, 3, 33, 31), (2, 70001)]  # the last is threaded


def ref_forward(name, x, slope=0.01):
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if name == "relu":
            return np.where(x < 0, 0.0, x)
        if name == "leaky_relu":
            return np.where(x > 0, x, x * np.float64(np.float32(slope)))
        if name == "tanh":
            return np.tanh(x)
        return 0.5 * (1.0 + np.tanh(0.5 * x))  # sigmoid without overflow


def assert_close(result, expected, rtol, atol=TINY, what="", scale=None):
    """|result - expected| <= rtol * scale + atol (scale defaults to |expected|); NaN/Inf placed alike."""
    result = np.asarray(result)
    assert result.dtype == np.float32, what
    assert result.shape == expected.shape, (result.shape, expected.shape, what)
    r = result.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(r), np.isnan(expected), err_msg=f"NaN positions differ {what}")
    inf = np.isinf(expected)
    np.testing.assert_array_equal(r[inf], expected[inf], err_msg=f"Inf mismatch {what}")
    finite = np.isfinite(expected)
    err = np.abs(r[finite] - expected[finite])
    scale = np.abs(expected) if scale is None else np.broadcast_to(scale, expected.shape)
    tol = rtol * scale[finite] + atol
    if err.size and (err > tol).any():
        i = int(np.argmax(err / tol))
        raise AssertionError(f"{what}: {int((err > tol).sum())} elements out of tolerance; worst: got "
                             f"{r[finite][i]!r} expected {expected[finite][i]!r} (err {err[i]:.3g} > {tol[i]:.3g})")


def torch_grad(name, x, g, slope=0.01):
    xt = torch.tensor(x, requires_grad=True)
    fn = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
          "leaky_relu": lambda v: torch.nn.functional.leaky_relu(v, slope)}[name]
    y = fn(xt)
    y.backward(torch.tensor(g))
    return y.detach().numpy(), xt.grad.numpy()


def ours(name, x, slope=0.01, out=None):
    if name == "leaky_relu":
        return F.leaky_relu(x, slope, out=out)
    return getattr(F, name)(x, out=out)


def ours_backward(name, g, x, y, slope=0.01):
    if name == "relu":
        return F.relu_backward(g, y)
    if name == "leaky_relu":
        return F.leaky_relu_backward(g, x, slope)
    return getattr(F, f"{name}_backward")(g, y)


NAMES = ["relu", "leaky_relu", "tanh", "sigmoid"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_forward_backward_vs_reference_and_torch(kernel_path, threads, name, shape):
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    x = np.asarray(rng.standard_normal(shape) * 4, dtype=np.float32)
    if x.size > 3:
        x.flat[:3] = [0.0, -0.0, 1e-3]
    g = np.asarray(rng.standard_normal(shape), dtype=np.float32)
    slope = 0.2 if name == "leaky_relu" else 0.01
    exact = name in ("relu", "leaky_relu")

    y = ours(name, x, slope)
    assert_close(y, ref_forward(name, x, slope), 0.5 * EPS if exact else RTOL, what=f"{name} forward")
    y_torch, gx_torch = torch_grad(name, x, g, slope)
    assert_close(y, y_torch.astype(np.float64), 0.5 * EPS if exact else 2 * RTOL, what=f"{name} vs torch")

    gx = ours_backward(name, g, x, y, slope)
    y64, g64 = y.astype(np.float64), g.astype(np.float64)
    expected = {"relu": np.where(y64 <= 0, 0.0, g64),
                "leaky_relu": np.where(x > 0, g64, g64 * np.float64(np.float32(slope))),
                "tanh": g64 * (1 - y64 * y64),
                "sigmoid": g64 * (1 - y64) * y64}[name]
    # 1 - y^2 and 1 - y cancel: the error scales with the operands' size, not the result's.
    scale = {"relu": np.abs(expected), "leaky_relu": np.abs(expected),
             "tanh": np.abs(g64) * (1 + y64 * y64), "sigmoid": np.abs(g64) * (1 + np.abs(y64)) * np.abs(y64)}[name]
    assert_close(gx, expected, 0.5 * EPS if exact else 4 * EPS, what=f"{name} backward", scale=scale)
    # torch differentiates its own output, which differs from ours by up to RTOL.
    assert_close(gx, gx_torch.astype(np.float64), 0.5 * EPS if exact else 4 * EPS + 4 * RTOL,
                 what=f"{name} backward vs torch", scale=scale)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_dense_sweep_accuracy(kernel_path, name):
    x = np.linspace(-20, 20, 400_001, dtype=np.float32)
    x = np.concatenate([x, np.float32(2.0) ** -np.arange(1, 140, dtype=np.float32),
                        -np.float32(2.0) ** -np.arange(1, 140, dtype=np.float32)])
    assert_close(ours(name, x), ref_forward(name, x), RTOL, what=f"{name} sweep [{kernel_path}]")


@pytest.mark.parametrize("name", NAMES)
def test_special_values_match_torch(kernel_path, name):
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 1e30, -1e30, 88.0, 89.0, -88.0, -89.0, -104.0, 1e-30],
                 dtype=np.float32)
    g = np.arange(1, x.size + 1, dtype=np.float32)
    y = ours(name, x)
    y_torch, gx_torch = torch_grad(name, x, g)
    assert_close(y, y_torch.astype(np.float64), 2 * RTOL, what=f"{name} specials")
    np.testing.assert_array_equal(np.signbit(y[[3, 4]]), np.signbit(y_torch[[3, 4]]))  # sign of zero
    gx = ours_backward(name, g, x, y)
    # atol: a denormal sigmoid(-88) is flushed to 0 in our kernels, then multiplied by g <= 13.
    assert_close(gx, gx_torch.astype(np.float64), 4 * RTOL, atol=16 * TINY, what=f"{name} backward specials")


def test_relu_nan_and_zero_gradient_semantics(kernel_path):
    x = np.array([np.nan, 0.0, -0.0, -1.0, 2.0, np.inf, -np.inf, np.nan, 0.5], dtype=np.float32)
    g = np.full(x.shape, 3.0, dtype=np.float32)
    y = F.relu(x)
    assert np.isnan(y[0]) and np.isnan(y[7])  # NaN passes as in torch.relu
    np.testing.assert_array_equal(F.relu_backward(g, x), [3, 0, 0, 0, 3, 3, 0, 3, 3])
    np.testing.assert_array_equal(F.relu_backward(g, y), F.relu_backward(g, x))
    # leaky_relu at 0 takes the slope side, as torch
    np.testing.assert_array_equal(F.leaky_relu_backward(g, x, 0.5), [1.5, 1.5, 1.5, 1.5, 3, 3, 1.5, 1.5, 3])


def test_exp_accuracy_and_saturation(kernel_path):
    x = np.linspace(-87.0, 88.5, 500_001, dtype=np.float32)
    y = _C.exp_forward(x, np.empty_like(x))
    assert_close(y, np.exp(x.astype(np.float64)), RTOL, what="exp sweep")
    special = np.array([np.inf, -np.inf, np.nan, 88.73, 89.0, 1e30, -104.0, -110.0, -1e30, 0.0], dtype=np.float32)
    y = _C.exp_forward(special, np.empty_like(special))
    assert y[0] == np.inf and y[1] == 0 and np.isnan(y[2]) and y[3] == np.inf and y[4] == np.inf
    assert y[5] == np.inf and y[6] == 0 and y[7] == 0 and y[8] == 0 and y[9] == 1


@pytest.mark.parametrize("name", NAMES)
def test_in_place_and_out(kernel_path, name):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 37)).astype(np.float32)
    expected = ours(name, x)
    out = np.full_like(x, np.nan)
    assert ours(name, x, out=out) is out
    np.testing.assert_array_equal(out, expected)
    x_copy = x.copy()
    assert ours(name, x_copy, out=x_copy) is x_copy
    np.testing.assert_array_equal(x_copy, expected)


def test_threads_give_identical_bits(kernel_path):
    x = np.random.default_rng(2).standard_normal(300_001).astype(np.float32)
    previous = fastcnn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            results.append([F.tanh(x), F.sigmoid(x), F.relu(x), F.sigmoid_backward(x, F.sigmoid(x))])
    finally:
        fastcnn.set_num_threads(previous)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_non_contiguous_input_is_copied():
    x = np.random.default_rng(3).standard_normal((6, 8)).astype(np.float32).T
    np.testing.assert_array_equal(F.relu(x), np.maximum(x, 0))


def test_bad_inputs():
    x = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=r"relu: input has dtype float64, expected float32"):
        F.relu(np.ones(3))
    with pytest.raises(TypeError, match=r"sigmoid: input must be a numpy.ndarray, got list"):
        F.sigmoid([1.0, 2.0])
    with pytest.raises(ValueError, match=r"tanh: out has shape \(4, 3\) but input has shape \(3, 4\)"):
        F.tanh(x, out=np.empty((4, 3), np.float32))
    with pytest.raises(TypeError, match=r"relu: out has dtype float64"):
        F.relu(x, out=np.empty((3, 4)))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"relu: out is read-only"):
        F.relu(x, out=ro)
    with pytest.raises(ValueError, match=r"tanh_backward: grad_output has shape \(3, 4\) but output has shape"):
        F.tanh_backward(x, np.ones((2, 4), np.float32))
    with pytest.raises(TypeError, match=r"leaky_relu: negative_slope must be a real number"):
        F.leaky_relu(x, "0.1")
    with pytest.raises(TypeError, match=r"sigmoid_backward: output has dtype int64"):
        F.sigmoid_backward(x, np.ones((3, 4), np.int64))


def test_binding_rejects_partial_overlap_and_bad_arrays():
    buf = np.zeros(17, dtype=np.float32)
    with pytest.raises(ValueError, match=r"relu: output out overlaps input input"):
        _C.relu_forward(buf[:-1], buf[1:])
    with pytest.raises(ValueError, match=r"not C-contiguous"):
        _C.tanh_forward(buf[::2], np.empty(9, np.float32))
    with pytest.raises(ValueError, match=r"sigmoid_backward: grad_input has shape"):
        _C.sigmoid_backward(buf, buf.copy(), np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"tanh_backward: output grad_input overlaps input output"):
        y = np.zeros(8, np.float32)
        _C.tanh_backward(np.zeros(8, np.float32), y, y)
    with pytest.raises(TypeError, match=r"leaky_relu: input has dtype float64"):
        _C.leaky_relu_forward(np.zeros(3), np.zeros(3, np.float32), 0.1)
