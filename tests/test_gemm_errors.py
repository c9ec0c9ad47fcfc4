"""Argument errors of gemm, gemm_batched and the kernel-path functions, and fastcnn.matmul
(its errors and its NumPy semantics).

Every error must have the right type and a message naming the argument and the shapes,
and must leave the output untouched.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import fastcnn
from fastcnn import _C
from helpers import assert_gemm_close, random_matrix, reference_gemm, reference_scale

f32 = np.float32


def ones(*shape, dtype=f32):
    return np.ones(shape, dtype=dtype)


def read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


def raises_and_keeps_c(exception, match, fn, a, b, c, **kwargs):
    """fn(a, b, c, **kwargs) raises `exception` matching `match`, and c is unchanged."""
    c_before = np.array(c, copy=True) if isinstance(c, np.ndarray) else None
    with pytest.raises(exception, match=match):
        fn(a, b, c, **kwargs)
    if c_before is not None:
        np.testing.assert_array_equal(c, c_before)


A, B, C = (2, 3), (3, 5), (2, 5)  # a consistent gemm: (2 x 3) @ (3 x 5) -> (2 x 5)
SHAPES = re.escape("(a (2, 3), b (3, 5), c (2, 5))")


# --------------------------------------------------------------------------------------
# TypeError: not an ndarray, not float32

TYPE_CASES = [
    ("a list", lambda: ([[1.0] * 3] * 2, ones(*B), ones(*C)), {}, r"gemm: a must be a numpy\.ndarray, got list"),
    ("b scalar", lambda: (ones(*A), f32(1.0), ones(*C)), {}, r"gemm: b must be a numpy\.ndarray, got float32"),
    ("c None", lambda: (ones(*A), ones(*B), None), {}, r"gemm: c must be a numpy\.ndarray, got NoneType"),
    ("a float64", lambda: (ones(*A, dtype=np.float64), ones(*B), ones(*C)), {},
     r"gemm: a has dtype float64, expected float32"),
    ("b float16", lambda: (ones(*A), ones(*B, dtype=np.float16), ones(*C)), {},
     r"gemm: b has dtype float16, expected float32"),
    ("c int32", lambda: (ones(*A), ones(*B), ones(*C, dtype=np.int32)), {},
     r"gemm: c has dtype int32, expected float32"),
    ("bias float64", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": np.ones(5)},
     r"gemm: bias has dtype float64, expected float32"),
    ("bias list", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": [1.0] * 5},
     r"gemm: bias must be a numpy\.ndarray, got list"),
]


@pytest.mark.parametrize("name,make,kwargs,match", TYPE_CASES, ids=[case[0] for case in TYPE_CASES])
def test_gemm_type_errors(name, make, kwargs, match):
    a, b, c = make()
    raises_and_keeps_c(TypeError, match, _C.gemm, a, b, c, **kwargs)


def test_non_native_byte_order_is_a_type_error():
    big_endian = ones(*A).astype(">f4")
    raises_and_keeps_c(TypeError, r"gemm: a has dtype >f4 \(big-endian\), expected float32", _C.gemm, big_endian, ones(*B), ones(*C))
    with pytest.raises(TypeError, match=r"matmul: a has dtype >f4, expected float32"):
        fastcnn.matmul(big_endian, ones(*B))


def _pickled(x):
    return pickle.loads(pickle.dumps(x))


def _with_metadata(x):
    return x.view(np.dtype(np.float32, metadata={"source": "test"}))


@pytest.mark.parametrize("variant", [_pickled, _with_metadata], ids=["pickled", "metadata"])
def test_gemm_accepts_equivalent_float32_dtypes(variant):
    a = variant(np.arange(6, dtype=f32).reshape(A))
    assert a.dtype == np.float32 and a.flags.c_contiguous  # a genuine native float32 array
    c = _C.gemm(a, ones(*B), np.empty(C, f32))
    np.testing.assert_array_equal(c, np.repeat([[3.0], [12.0]], 5, axis=1))


def test_matmul_accepts_pickled_float32():
    a, b = _pickled(np.arange(6, dtype=f32).reshape(A)), _pickled(ones(*B))
    np.testing.assert_array_equal(fastcnn.matmul(a, b), np.repeat([[3.0], [12.0]], 5, axis=1))


def test_gemm_batched_type_error_names_op():
    with pytest.raises(TypeError, match=r"gemm_batched: a has dtype float64, expected float32"):
        _C.gemm_batched(ones(2, *A, dtype=np.float64), ones(*B), ones(2, *C))
    with pytest.raises(TypeError, match=r"gemm_batched: b must be a numpy\.ndarray, got tuple"):
        _C.gemm_batched(ones(2, *A), (1, 2), ones(2, *C))


def test_gemm_keyword_only_options():
    """alpha and the rest are keyword-only: a positional 4th argument is a TypeError."""
    c = ones(*C)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _C.gemm(ones(*A), ones(*B), c, 2.0)
    with pytest.raises(TypeError, match="incompatible function arguments"):
        _C.gemm(ones(*A), ones(*B), c, alpha="two")
    np.testing.assert_array_equal(c, 1.0)


# --------------------------------------------------------------------------------------
# ValueError: rank, layout, writability


VALUE_CASES = [
    ("a 1-D", lambda: (ones(3), ones(*B), ones(*C)), {}, r"gemm: a must have 2 dimensions, got shape \(3,\)"),
    ("b 3-D", lambda: (ones(*A), ones(1, *B), ones(*C)), {},
     r"gemm: b must have 2 dimensions, got shape \(1, 3, 5\)"),
    ("c 0-D", lambda: (ones(*A), ones(*B), np.array(1.0, f32)), {},
     r"gemm: c must have 2 dimensions, got shape \(\)"),
    ("bias 2-D", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(1, 5)},
     r"gemm: bias must have 1 dimensions?, got shape \(1, 5\)"),
    ("a Fortran order", lambda: (np.asfortranarray(ones(*A)), ones(*B), ones(*C)), {},
     r"gemm: a of shape \(2, 3\) is not C-contiguous"),
    ("b strided", lambda: (ones(*A), ones(3, 10)[:, ::2], ones(*C)), {},
     r"gemm: b of shape \(3, 5\) is not C-contiguous"),
    ("c transposed view", lambda: (ones(*A), ones(*B), np.zeros((5, 2), f32).T), {},
     r"gemm: c of shape \(2, 5\) is not C-contiguous"),
    ("bias strided", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(10)[::2]},
     r"gemm: bias of shape \(5,\) is not C-contiguous"),
    ("c read-only", lambda: (ones(*A), ones(*B), read_only(ones(*C))), {}, r"gemm: output c is read-only"),
    ("inner dims", lambda: (ones(*A), ones(4, 5), ones(*C)), {},
     r"gemm: inner dimensions differ, 3 vs 4 " + re.escape("(a (2, 3), b (4, 5), c (2, 5))")),
    ("inner dims trans_a", lambda: (ones(*A), ones(*B), ones(*C)), {"trans_a": True},
     r"gemm: inner dimensions differ, 2 vs 3 " + re.escape("(a (2, 3) transposed, b (3, 5), c (2, 5))")),
    ("inner dims trans_b", lambda: (ones(*A), ones(*B), ones(*C)), {"trans_b": True},
     r"gemm: inner dimensions differ, 3 vs 5 " + re.escape("(a (2, 3), b (3, 5) transposed, c (2, 5))")),
    ("c transposed shape", lambda: (ones(*A), ones(*B), ones(5, 2)), {},
     r"gemm: c must be 2 x 5 " + re.escape("(a (2, 3), b (3, 5), c (5, 2))")),
    ("c too many rows", lambda: (ones(*A), ones(*B), ones(3, 5)), {},
     r"gemm: c must be 2 x 5 " + re.escape("(a (2, 3), b (3, 5), c (3, 5))")),
    ("column bias length", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(4)},
     r"gemm: bias of shape \(4,\) with bias_mode='column' must have 5 values " + SHAPES),
    ("row bias length", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(5), "bias_mode": "row"},
     r"gemm: bias of shape \(5,\) with bias_mode='row' must have 2 values " + SHAPES),
    ("bad bias_mode", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(5), "bias_mode": "diagonal"},
     r"gemm: bias_mode must be 'row' or 'column', got 'diagonal'"),
    ("bias_mode case", lambda: (ones(*A), ones(*B), ones(*C)), {"bias": ones(5), "bias_mode": "Column"},
     r"gemm: bias_mode must be 'row' or 'column', got 'Column'"),
]


@pytest.mark.parametrize("name,make,kwargs,match", VALUE_CASES, ids=[case[0] for case in VALUE_CASES])
def test_gemm_value_errors(name, make, kwargs, match):
    a, b, c = make()
    raises_and_keeps_c(ValueError, match, _C.gemm, a, b, c, **kwargs)


def test_gemm_errors_are_not_type_errors_for_shapes():
    """Shape problems are ValueError, not TypeError (and vice versa for dtypes)."""
    with pytest.raises(ValueError):
        _C.gemm(ones(*A), ones(4, 5), ones(*C))
    with pytest.raises(TypeError):
        _C.gemm(ones(*A), ones(4, 5, dtype=np.float64), ones(*C))


# --------------------------------------------------------------------------------------
# overlap


def test_c_is_a():
    x = np.ones((3, 3), f32)
    raises_and_keeps_c(ValueError, r"gemm: output c overlaps input a", _C.gemm, x, np.ones((3, 3), f32), x)


def test_c_is_b():
    x = np.ones((3, 3), f32)
    raises_and_keeps_c(ValueError, r"gemm: output c overlaps input b", _C.gemm, np.ones((3, 3), f32), x, x)


def test_c_partially_overlaps_a():
    buffer = np.arange(20, dtype=f32)
    a = buffer[:9].reshape(3, 3)
    c = buffer[8:17].reshape(3, 3)  # shares one float with a
    raises_and_keeps_c(ValueError, r"gemm: output c overlaps input a", _C.gemm, a, np.ones((3, 3), f32), c)
    np.testing.assert_array_equal(buffer, np.arange(20))


def test_c_overlaps_bias():
    c = np.ones(C, f32)
    raises_and_keeps_c(ValueError, r"gemm: output c overlaps input bias", _C.gemm, ones(*A), ones(*B), c,
                       bias=c[1])


def test_adjacent_but_disjoint_is_fine():
    """Back-to-back views of one buffer do not overlap: no error, correct result."""
    buffer = np.zeros(18, f32)
    a = buffer[:9].reshape(3, 3)
    c = buffer[9:].reshape(3, 3)
    a[:] = np.arange(9, dtype=f32).reshape(3, 3)
    b = np.eye(3, dtype=f32)
    _C.gemm(a, b, c)
    np.testing.assert_array_equal(c, a)


def test_inputs_may_alias_each_other_and_be_read_only():
    x = read_only(random_matrix(np.random.default_rng(0), (20, 20)))
    c = np.empty((20, 20), f32)
    _C.gemm(x, x, c, trans_b=True)  # x @ x.T from one read-only array
    assert_gemm_close(c, reference_gemm(x, x, trans_b=True), 20, scale=reference_scale(x, x, trans_b=True))


def test_batched_overlap():
    c = np.ones((2, 3, 3), f32)
    raises_and_keeps_c(ValueError, r"gemm_batched: output c overlaps input a", _C.gemm_batched, c[1], ones(3, 3), c)
    raises_and_keeps_c(ValueError, r"gemm_batched: output c overlaps input b", _C.gemm_batched, ones(2, 3, 3), c, c)


# --------------------------------------------------------------------------------------
# gemm_batched shapes

BATCHED_CASES = [
    ("c 2-D", lambda: (ones(*A), ones(*B), ones(*C)), {}, r"gemm_batched: c must have 3 dimensions, got shape \(2, 5\)"),
    ("a 4-D", lambda: (ones(1, 1, *A), ones(*B), ones(3, *C)), {},
     r"gemm_batched: a must have 2 to 3 dimensions, got shape \(1, 1, 2, 3\)"),
    ("b 1-D", lambda: (ones(*A), ones(3), ones(3, *C)), {},
     r"gemm_batched: b must have 2 to 3 dimensions, got shape \(3,\)"),
    ("a batch", lambda: (ones(2, *A), ones(*B), ones(3, *C)), {},
     r"gemm_batched: batch of a differs from c " + re.escape("(a (2, 2, 3), b (3, 5), c (3, 2, 5))")),
    ("b batch", lambda: (ones(*A), ones(4, *B), ones(3, *C)), {},
     r"gemm_batched: batch of b differs from c " + re.escape("(a (2, 3), b (4, 3, 5), c (3, 2, 5))")),
    ("inner dims", lambda: (ones(3, *A), ones(3, 4, 5), ones(3, *C)), {},
     r"gemm_batched: inner dimensions differ, 3 vs 4 " + re.escape("(a (3, 2, 3), b (3, 4, 5), c (3, 2, 5))")),
    ("c matrix shape", lambda: (ones(3, *A), ones(*B), ones(3, 2, 6)), {},
     r"gemm_batched: c must be 2 x 5 " + re.escape("(a (3, 2, 3), b (3, 5), c (3, 2, 6))")),
    ("c read-only", lambda: (ones(*A), ones(*B), read_only(ones(3, *C))), {}, r"gemm_batched: output c is read-only"),
    ("c non-contiguous", lambda: (ones(*A), ones(*B), ones(3, 2, 10)[:, :, ::2]), {},
     r"gemm_batched: c of shape \(3, 2, 5\) is not C-contiguous"),
    ("bias length", lambda: (ones(*A), ones(*B), ones(3, *C)), {"bias": ones(3), "bias_mode": "row"},
     r"gemm_batched: bias of shape \(3,\) with bias_mode='row' must have 2 values"),
]


@pytest.mark.parametrize("name,make,kwargs,match", BATCHED_CASES, ids=[case[0] for case in BATCHED_CASES])
def test_gemm_batched_value_errors(name, make, kwargs, match):
    a, b, c = make()
    raises_and_keeps_c(ValueError, match, _C.gemm_batched, a, b, c, **kwargs)


# --------------------------------------------------------------------------------------
# kernel path selection


def test_kernel_path_errors():
    before = _C.kernel_path()
    with pytest.raises(ValueError, match=r"kernel path must be 'avx2' or 'ref', got 'sse'"):
        _C.set_kernel_path("sse")
    with pytest.raises(ValueError, match=r"kernel path must be 'avx2' or 'ref', got 'AVX2'"):
        _C.kernel_path_supported("AVX2")
    assert _C.kernel_path() == before


def test_kernel_path_round_trip():
    before = _C.kernel_path()
    assert before in ("avx2", "ref")
    assert _C.kernel_path_supported("ref") is True
    try:
        _C.set_kernel_path("ref")
        assert _C.kernel_path() == "ref"
        if _C.kernel_path_supported("avx2"):
            _C.set_kernel_path("avx2")
            assert _C.kernel_path() == "avx2"
        else:
            with pytest.raises(ValueError, match="not supported"):
                _C.set_kernel_path("avx2")
            assert _C.kernel_path() == "ref"
    finally:
        _C.set_kernel_path(before)


def test_avx2_supported_matches_cpu_features():
    features = _C.cpu_features()
    compiled = _C.build_info()["avx2_kernels_compiled"]
    assert _C.kernel_path_supported("avx2") == (compiled and features["avx2"] and features["fma"])


# ======================================================================================
# fastcnn.matmul


def rand(rng, *shape):
    return random_matrix(rng, shape)


def check_matmul(a, b, **kwargs):
    """fastcnn.matmul(a, b) against numpy.matmul in float64: shape and values."""
    result = fastcnn.matmul(a, b, **kwargs)
    expected = np.matmul(a.astype(np.float64), b.astype(np.float64))
    scale = np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64)))
    result = np.asarray(result)
    assert result.shape == np.shape(expected), (result.shape, np.shape(expected))
    assert_gemm_close(result, np.asarray(expected), a.shape[-1], scale=np.asarray(scale))
    return result


MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 6)),
    ((5, 4), (4,)),
    ((5, 4), (4, 6)),
    ((2, 1, 5, 4), (3, 4, 6)),
    ((3, 5, 4), (4, 6)),
    ((5, 4), (3, 4, 6)),
    ((4,), (3, 4, 6)),
    ((3, 5, 4), (4,)),
    ((2, 3, 5, 4), (2, 3, 4, 6)),
    ((1, 5, 4), (7, 4, 6)),
    ((0, 5, 4), (4, 6)),
    ((5, 0), (0, 6)),
    ((0,), (0,)),
    ((37, 300), (300, 101)),
]


@pytest.mark.parametrize("a_shape,b_shape", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul_matches_numpy(kernel_path, a_shape, b_shape):
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    a, b = rand(rng, *a_shape), rand(rng, *b_shape)
    a_before, b_before = a.copy(), b.copy()
    result = check_matmul(a, b)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 4), (4, 0)), ((2, 3, 0), (2, 0, 0))])
def test_matmul_empty_n_with_batch(a_shape, b_shape):
    a, b = ones(*a_shape), ones(*b_shape)
    result = fastcnn.matmul(a, b)
    assert result.shape == np.matmul(a, b).shape


def test_matmul_vector_dot_is_a_scalar_as_in_numpy():
    a = np.array([1, 2, 3], f32)
    b = np.array([4, 5, 6], f32)
    result = fastcnn.matmul(a, b)
    assert type(result) is type(np.matmul(a, b)) is np.float32
    assert float(result) == 32.0


def test_matmul_broadcast_shape():
    rng = np.random.default_rng(3)
    result = check_matmul(rand(rng, 2, 1, 5, 4), rand(rng, 3, 4, 6))
    assert result.shape == (2, 3, 5, 6)


@pytest.mark.parametrize("which", ["a", "b", "both"])
def test_matmul_transposed_views(kernel_path, which):
    rng = np.random.default_rng(4)
    a = rand(rng, 40, 30).T if which in ("a", "both") else rand(rng, 30, 40)  # (30, 40)
    b = rand(rng, 50, 40).T if which in ("b", "both") else rand(rng, 40, 50)  # (40, 50)
    assert a.shape == (30, 40) and b.shape == (40, 50)
    check_matmul(a, b)


def test_matmul_transposed_views_are_not_copied(monkeypatch):
    """An x.T view reaches the kernel as the original buffer with a transpose flag."""
    rng = np.random.default_rng(5)
    a_store, b_store = rand(rng, 40, 30), rand(rng, 50, 40)
    calls = []
    real_gemm = _C.gemm

    def spy(a, b, c, **kwargs):
        calls.append((a, b, kwargs))
        return real_gemm(a, b, c, **kwargs)

    monkeypatch.setattr(_C, "gemm", spy)
    check_matmul(a_store.T, b_store.T)
    assert len(calls) == 1
    a_seen, b_seen, kwargs = calls[0]
    assert kwargs.get("trans_a") is True and kwargs.get("trans_b") is True
    assert np.shares_memory(a_seen, a_store) and np.shares_memory(b_seen, b_store)


@pytest.mark.parametrize("case", ["a[:, ::2]", "b[::2]", "negative stride", "3-D transposed"])
def test_matmul_strided_inputs(kernel_path, case):
    rng = np.random.default_rng(6)
    if case == "a[:, ::2]":
        a, b = rand(rng, 9, 20)[:, ::2], rand(rng, 10, 7)
    elif case == "b[::2]":
        a, b = rand(rng, 9, 10), rand(rng, 20, 7)[::2]
    elif case == "negative stride":
        a, b = rand(rng, 9, 10)[::-1], rand(rng, 10, 7)[:, ::-1]
    else:
        a, b = rand(rng, 3, 10, 9).transpose(0, 2, 1), rand(rng, 3, 10, 7)
    assert not (a.flags.c_contiguous and b.flags.c_contiguous)
    check_matmul(a, b)


def test_matmul_out(kernel_path):
    rng = np.random.default_rng(7)
    a, b = rand(rng, 5, 4), rand(rng, 4, 6)
    out = np.full((5, 6), np.nan, f32)
    result = fastcnn.matmul(a, b, out=out)
    assert result is out
    assert_gemm_close(out, a.astype(np.float64) @ b, 4, scale=np.abs(a.astype(np.float64)) @ np.abs(b))


def test_matmul_out_batched_and_vector(kernel_path):
    rng = np.random.default_rng(8)
    a, b = rand(rng, 2, 1, 5, 4), rand(rng, 3, 4, 6)
    out = np.full((2, 3, 5, 6), np.nan, f32)
    assert fastcnn.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-5, atol=1e-5)
    v = rand(rng, 4)
    out = np.full((3, 5), np.nan, f32)
    assert fastcnn.matmul(rand(rng, 3, 5, 4), v, out=out) is out
    assert np.isfinite(out).all()
    out0 = np.full((), np.nan, f32)
    assert fastcnn.matmul(v, v, out=out0) is out0
    np.testing.assert_allclose(out0, np.dot(v.astype(np.float64), v), rtol=1e-5)


def test_matmul_large_threaded(kernel_path, threads):
    rng = np.random.default_rng(9)
    check_matmul(rand(rng, 130, 200), rand(rng, 200, 90).T.copy().T)


# matmul errors ------------------------------------------------------------------------

MATMUL_ERRORS = [
    ("a list", lambda: ([[1.0]], ones(1, 1)), {}, TypeError, r"matmul: a must be a numpy\.ndarray, got list"),
    ("b float64", lambda: (ones(2, 3), ones(3, 2, dtype=np.float64)), {}, TypeError,
     r"matmul: b has dtype float64, expected float32"),
    ("a int", lambda: (ones(2, 3, dtype=np.int64), ones(3, 2)), {}, TypeError,
     r"matmul: a has dtype int64, expected float32"),
    ("a scalar", lambda: (np.array(2.0, f32), ones(3, 2)), {}, ValueError,
     r"matmul: a must have at least 1 dimension"),
    ("inner dims", lambda: (ones(2, 3), ones(4, 2)), {}, ValueError,
     r"matmul: inner dimensions differ, a \(2, 3\) @ b \(4, 2\)"),
    ("vector dims", lambda: (ones(3), ones(4)), {}, ValueError,
     r"matmul: inner dimensions differ, a \(3,\) @ b \(4,\)"),
    ("batch broadcast", lambda: (ones(2, 3, 4), ones(5, 4, 6)), {}, ValueError,
     r"matmul: batch dimensions do not broadcast, a \(2, 3, 4\) @ b \(5, 4, 6\)"),
    ("out shape", lambda: (ones(2, 3), ones(3, 4)), {"out": np.empty((4, 2), f32)}, ValueError,
     r"matmul: out has shape \(4, 2\), expected \(2, 4\)"),
    ("out shape vector", lambda: (ones(3), ones(3, 4)), {"out": np.empty((1, 4), f32)}, ValueError,
     r"matmul: out has shape \(1, 4\), expected \(4,\)"),
    ("out dtype", lambda: (ones(2, 3), ones(3, 4)), {"out": np.empty((2, 4))}, TypeError,
     r"matmul: out must be a C-contiguous float32"),
    ("out non-contiguous", lambda: (ones(2, 3), ones(3, 4)), {"out": np.empty((4, 2), f32).T}, TypeError,
     r"matmul: out must be a C-contiguous float32"),
    ("out list", lambda: (ones(2, 3), ones(3, 4)), {"out": [[0.0] * 4] * 2}, TypeError,
     r"matmul: out must be a C-contiguous float32"),
]


@pytest.mark.parametrize("name,make,kwargs,exception,match", MATMUL_ERRORS, ids=[case[0] for case in MATMUL_ERRORS])
def test_matmul_errors(name, make, kwargs, exception, match):
    a, b = make()
    out = kwargs.get("out")
    before = np.array(out, copy=True) if isinstance(out, np.ndarray) else None
    with pytest.raises(exception, match=match):
        fastcnn.matmul(a, b, **kwargs)
    if before is not None:
        np.testing.assert_array_equal(out, before)


def test_matmul_out_overlaps_input():
    x = np.ones((3, 3), f32)
    with pytest.raises(ValueError, match=r"matmul: out overlaps an input"):
        fastcnn.matmul(x, np.ones((3, 3), f32), out=x)
    with pytest.raises(ValueError, match=r"matmul: out overlaps an input"):
        fastcnn.matmul(np.ones((3, 3), f32), x.T, out=x)
    np.testing.assert_array_equal(x, 1.0)


def test_bad_bias_mode_is_rejected_without_a_bias():
    c = np.full(C, 7.0, f32)
    with pytest.raises(ValueError, match=r"gemm: bias_mode must be 'row' or 'column', got 'diagonal'"):
        _C.gemm(ones(*A), ones(*B), c, bias_mode="diagonal")
    np.testing.assert_array_equal(c, 7.0)

