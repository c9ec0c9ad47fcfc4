"""fastcnn.cuda status functions, the CUDA part of `fastcnn info`, and the axpy kernel.

Tests marked `cuda` need a usable GPU (skipped otherwise, conftest.py). The axpy argument
checks run before any CUDA call, so they run wherever the CUDA module is built.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import backend

built = pytest.mark.skipif(backend._C_cuda is None, reason="fastcnn was built without CUDA")
no_gpu = pytest.mark.skipif(fastcnn.cuda.is_available(), reason="a usable GPU is present")


def axpy(*args):
    return backend._C_cuda.axpy(*args)


# --------------------------------------------------------------------------------------
# status


def test_is_built_consistent_with_backend():
    assert fastcnn.cuda.is_built() is (backend._C_cuda is not None)
    spec = importlib.util.find_spec("fastcnn._C_cuda")
    if spec is None:  # not compiled: the reason says so
        assert not fastcnn.cuda.is_built()
        assert "built without CUDA" in backend.cuda_import_error
    elif not fastcnn.cuda.is_built():  # compiled but failed to load: the reason says why
        assert backend.cuda_import_error.startswith("fastcnn._C_cuda failed to import")
    else:
        assert backend.cuda_import_error is None


def test_status_functions_are_consistent():
    count = fastcnn.cuda.device_count()
    assert isinstance(count, int) and count >= 0
    assert fastcnn.cuda.is_available() is (count > 0)
    reason = fastcnn.cuda.unavailable_reason()
    if count > 0:
        assert reason is None
    else:
        assert isinstance(reason, str) and reason.strip()
    if not fastcnn.cuda.is_built():
        assert count == 0 and not fastcnn.cuda.is_available()


@no_gpu
def test_without_gpu():
    assert fastcnn.cuda.is_available() is False
    assert fastcnn.cuda.device_count() == 0
    reason = fastcnn.cuda.unavailable_reason()
    assert isinstance(reason, str) and len(reason.strip()) > 0


@built
@no_gpu
def test_device_status_without_gpu():
    status = backend._C_cuda.device_status()
    assert set(status) == {"device_count", "reason", "runtime_version", "driver_version"}
    assert status["device_count"] == 0
    assert status["reason"] == fastcnn.cuda.unavailable_reason()
    assert status["runtime_version"] > 0  # the runtime is linked in even without a driver
    if status["driver_version"] == 0:
        assert "driver" in status["reason"]


@built
def test_cuda_build_info():
    info = backend._C_cuda.build_info()
    assert info["compiler"].strip()
    assert info["architectures"].strip()


def test_info_mentions_cuda_status():
    text = subprocess.run([sys.executable, "-m", "fastcnn", "info"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    if fastcnn.cuda.is_built():
        assert "CUDA:           built (" in text.stdout
    else:
        assert "CUDA:           not built" in text.stdout
    if fastcnn.cuda.is_available():
        assert f"CUDA devices:   {fastcnn.cuda.device_count()}" in text.stdout
    else:
        assert f"CUDA devices:   none ({fastcnn.cuda.unavailable_reason()})" in text.stdout

    as_json = subprocess.run([sys.executable, "-m", "fastcnn", "info", "--json"], capture_output=True, text=True,
                             timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    info = json.loads(as_json.stdout)
    assert info["cuda_built"] is fastcnn.cuda.is_built()
    assert info["cuda_devices"] == fastcnn.cuda.device_count()
    assert info["cuda_unavailable_reason"] == fastcnn.cuda.unavailable_reason()


# --------------------------------------------------------------------------------------
# axpy: argument checks (no GPU needed)

f32 = np.float32


def _read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


AXPY_ERRORS = [
    ("x list", lambda: ([1.0, 2.0], np.zeros(2, f32)), TypeError, r"axpy: x must be a numpy\.ndarray, got list"),
    ("y None", lambda: (np.zeros(2, f32), None), TypeError, r"axpy: y must be a numpy\.ndarray, got NoneType"),
    ("x float64", lambda: (np.zeros(2), np.zeros(2, f32)), TypeError, r"axpy: x has dtype float64, expected float32"),
    ("y int32", lambda: (np.zeros(2, f32), np.zeros(2, np.int32)), TypeError,
     r"axpy: y has dtype int32, expected float32"),
    ("x 2-D", lambda: (np.zeros((2, 2), f32), np.zeros(4, f32)), ValueError,
     r"axpy: x must have 1 dimensions?, got shape \(2, 2\)"),
    ("y 0-D", lambda: (np.zeros(1, f32), np.array(0.0, f32)), ValueError, r"axpy: y must have 1 dimensions?, got shape \(\)"),
    ("x strided", lambda: (np.zeros(8, f32)[::2], np.zeros(4, f32)), ValueError,
     r"axpy: x of shape \(4,\) is not C-contiguous"),
    ("y read-only", lambda: (np.zeros(3, f32), _read_only(np.zeros(3, f32))), ValueError, r"axpy: output y is read-only"),
    ("length", lambda: (np.zeros(3, f32), np.zeros(4, f32)), ValueError, r"axpy: x has shape \(3,\) but y has \(4,\)"),
]


@built
@pytest.mark.parametrize("name,make,exception,match", AXPY_ERRORS, ids=[case[0] for case in AXPY_ERRORS])
def test_axpy_argument_errors(name, make, exception, match):
    x, y = make()
    before = np.array(y, copy=True) if isinstance(y, np.ndarray) else None
    with pytest.raises(exception, match=match):
        axpy(2.0, x, y)
    if before is not None:
        np.testing.assert_array_equal(y, before)


@built
def test_axpy_overlap_error():
    y = np.arange(8, dtype=f32)
    with pytest.raises(ValueError, match=r"axpy: output y overlaps input x"):
        axpy(1.0, y, y)
    with pytest.raises(ValueError, match=r"axpy: output y overlaps input x"):
        axpy(1.0, y[:4], y[2:6])
    np.testing.assert_array_equal(y, np.arange(8))


@built
@no_gpu
def test_axpy_without_gpu_raises_runtime_error():
    """With valid arguments but no GPU, the CUDA failure is a RuntimeError naming the operation."""
    x = np.ones(3, f32)
    y = np.arange(3, dtype=f32)
    with pytest.raises(RuntimeError, match=r"^axpy: "):
        axpy(2.0, x, y)
    np.testing.assert_array_equal(y, np.arange(3))


@built
def test_axpy_empty_is_a_no_op():
    """n == 0 returns before any CUDA call, so it works with or without a GPU."""
    y = np.zeros(0, f32)
    assert axpy(2.0, np.zeros(0, f32), y) is None
    assert y.shape == (0,)


# --------------------------------------------------------------------------------------
# axpy on a GPU


@pytest.mark.cuda
@pytest.mark.parametrize("n", [0, 1, 1000, 1 << 20])
@pytest.mark.parametrize("alpha", [2.5, -1.0, 0.0])
def test_axpy_matches_numpy(n, alpha):
    rng = np.random.default_rng(n)
    x = rng.uniform(-1, 1, n).astype(f32)
    y0 = rng.uniform(-1, 1, n).astype(f32)
    y = y0.copy()
    x_before = x.copy()
    axpy(alpha, x, y)
    # fmaf rounds once: within one ulp of the float64 result.
    expected = alpha * x.astype(np.float64) + y0.astype(np.float64)
    np.testing.assert_allclose(y, expected, rtol=2 * np.finfo(f32).eps, atol=np.finfo(f32).tiny)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.cuda
def test_axpy_twice_accumulates():
    x = np.full(4096, 0.5, f32)
    y = np.zeros(4096, f32)
    axpy(2.0, x, y)
    axpy(2.0, x, y)
    np.testing.assert_array_equal(y, 2.0)
