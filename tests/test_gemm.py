"""fastcnn._C.gemm and gemm_batched against a float64 NumPy reference.

Every test runs on each supported kernel path (avx2, ref) and, where the problem is large
enough for the thread count to matter, with 1 and 2 threads (fixtures in conftest.py).
Below 2**18 multiply-adds per thread a GEMM runs on one thread whatever the setting, so
the shapes that exercise the threaded frame are the medium and large ones.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SUPPORTED_KERNEL_PATHS
from fastcnn import _C
import fastcnn
from helpers import (
    assert_gemm_close,
    check_gemm,
    make_operands,
    random_matrix,
    reference_gemm,
    reference_scale,
)

# Around the 6 x 16 register tile: below, at and above one and two tiles.
EDGE_SIZES = [1, 5, 6, 7, 15, 16, 17, 31, 32, 33]


def rng_for(*key) -> np.random.Generator:
    """A generator seeded by the key, the same in every run (str hashes are salted per process)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def fresh_c(rng, shape, beta):
    """C for a call: NaN when beta == 0 (it must not be read), random values otherwise."""
    if beta == 0.0:
        return np.full(shape, np.nan, dtype=np.float32)
    return random_matrix(rng, shape)


# --------------------------------------------------------------------------------------
# the tolerance itself


def test_tolerance_catches_perturbations():
    """assert_gemm_close accepts fastcnn's result and rejects one that is off by 1e-3 relative."""
    rng = np.random.default_rng(0)
    m, n, k = 37, 101, 257
    a, b = make_operands(rng, m, n, k)
    c = np.empty((m, n), np.float32)
    _C.gemm(a, b, c)
    expected = reference_gemm(a, b)
    scale = reference_scale(a, b)
    assert_gemm_close(c, expected, k, scale=scale)  # the real result passes

    # The largest element off by 1e-3 of itself.
    index = np.unravel_index(np.argmax(np.abs(expected)), expected.shape)
    bad = c.copy()
    bad[index] *= np.float32(1 + 1e-3)
    with pytest.raises(AssertionError, match="outside tolerance"):
        assert_gemm_close(bad, expected, k, scale=scale)
    # Every element scaled by 1 + 1e-3.
    with pytest.raises(AssertionError, match="outside tolerance"):
        assert_gemm_close(c * np.float32(1 + 1e-3), expected, k, scale=scale)
    # One element off by 1e-3 of the largest magnitude.
    bad = c.copy()
    bad[5, 7] += np.float32(1e-3 * np.abs(expected).max())
    with pytest.raises(AssertionError, match="outside tolerance"):
        assert_gemm_close(bad, expected, k, scale=scale)
    # A NaN or an Inf where a finite value belongs.
    bad = c.copy()
    bad[0, 0] = np.nan
    with pytest.raises(AssertionError, match="NaN mismatch"):
        assert_gemm_close(bad, expected, k, scale=scale)
    bad[0, 0] = np.inf
    with pytest.raises(AssertionError, match="Inf mismatch"):
        assert_gemm_close(bad, expected, k, scale=scale)
    # A float64 result or a transposed one.
    with pytest.raises(AssertionError, match="dtype"):
        assert_gemm_close(c.astype(np.float64), expected, k, scale=scale)
    with pytest.raises(AssertionError, match="shape"):
        assert_gemm_close(c[:, :-1], expected, k, scale=scale)


def test_tolerance_is_not_loose_for_small_k():
    """For K=1 the product is one rounding: an error of a few ulps must already fail."""
    a = np.array([[3.0]], np.float32)
    b = np.array([[1.0 / 3.0]], np.float32)
    expected = reference_gemm(a, b)
    off = np.array([[np.float32(expected[0, 0]) * np.float32(1 + 1e-5)]], np.float32)
    with pytest.raises(AssertionError):
        assert_gemm_close(off, expected, 1, scale=reference_scale(a, b))


# --------------------------------------------------------------------------------------
# shapes


def test_1x1x1(kernel_path, threads):
    a = np.array([[3.0]], np.float32)
    b = np.array([[-2.5]], np.float32)
    c = np.full((1, 1), np.nan, np.float32)
    assert _C.gemm(a, b, c) is c
    np.testing.assert_array_equal(c, [[-7.5]])
    _C.gemm(a, b, c, alpha=2.0, beta=1.0)
    np.testing.assert_array_equal(c, [[-22.5]])


@pytest.mark.parametrize("k", [1, 3, 16, 33])
def test_tile_edges(kernel_path, threads, k):
    """Every M, N pair around the 6 x 16 tile edges, with a K below, at and above a tile."""
    rng = rng_for("edges", k)
    for m, n in itertools.product(EDGE_SIZES, EDGE_SIZES):
        a, b = make_operands(rng, m, n, k)
        check_gemm(_C.gemm, a, b, np.full((m, n), np.nan, np.float32), context=f"m={m} n={n} k={k}")


def test_all_small_shapes(kernel_path):
    """All M, N in 1..33 (one and two tiles plus edges in each direction), K = 5."""
    rng = rng_for("all-small")
    k = 5
    for m in range(1, 34):
        for n in range(1, 34):
            a, b = make_operands(rng, m, n, k)
            c = random_matrix(rng, (m, n))
            check_gemm(_C.gemm, a, b, c, beta=0.5, context=f"m={m} n={n} k={k}")


SHAPES = [
    # primes, one of them just above KC = 256
    (37, 101, 257),
    (101, 257, 37),
    (257, 37, 101),
    (37, 37, 37),
    # K at and across multiples of KC = 256, where the number of K blocks changes
    (13, 29, 255),
    (13, 29, 256),
    (13, 29, 257),
    (13, 29, 511),
    (13, 29, 512),
    (13, 29, 513),
    (50, 70, 1000),
    # M at and across MC = 144
    (143, 40, 64),
    (144, 40, 64),
    (145, 40, 64),
    (289, 17, 70),
    # N across NC = 4080
    (7, 4081, 30),
    # across MC, NC and KC at once
    (147, 4097, 259),
    # large enough for two threads, with edge tiles in both directions
    (145, 67, 300),
    # tall-skinny and short-wide
    (1000, 1, 300),
    (1, 1000, 300),
    (2000, 3, 5),
    # convolution shapes (im2col): conv 3x3x64 on 56x56; LeNet conv1; its transpose
    (64, 3136, 576),
    (6, 784, 25),
    (3136, 64, 576),
]


@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
def test_shapes(kernel_path, threads, m, n, k):
    rng = rng_for("shapes", m, n, k)
    a, b = make_operands(rng, m, n, k)
    check_gemm(_C.gemm, a, b, np.full((m, n), np.nan, np.float32), context=f"{m}x{n}x{k}")


TRANSPOSE_SHAPES = [(1, 1, 1), (7, 17, 33), (37, 101, 257), (145, 67, 300), (300, 20, 520)]


@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)),
                         ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k", TRANSPOSE_SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in TRANSPOSE_SHAPES])
def test_transposes(kernel_path, threads, trans_a, trans_b, m, n, k):
    rng = rng_for("trans", m, n, k, trans_a, trans_b)
    a, b = make_operands(rng, m, n, k, trans_a, trans_b)
    if m > 1 and k > 1:  # a stored transposed is a different array from a stored plainly
        assert a.shape == ((k, m) if trans_a else (m, k))
    check_gemm(_C.gemm, a, b, np.full((m, n), np.nan, np.float32), trans_a=trans_a, trans_b=trans_b,
               context=f"{m}x{n}x{k} trans_a={trans_a} trans_b={trans_b}")


def test_transposed_storage_matches_plain(kernel_path):
    """op(a) given as a stored K x M with trans_a equals the plain M x K product."""
    rng = np.random.default_rng(1)
    m, n, k = 23, 45, 67
    a, b = make_operands(rng, m, n, k)
    plain = _C.gemm(a, b, np.empty((m, n), np.float32))
    both = _C.gemm(np.ascontiguousarray(a.T), np.ascontiguousarray(b.T), np.empty((m, n), np.float32),
                   trans_a=True, trans_b=True)
    assert_gemm_close(both, reference_gemm(a, b), k, scale=reference_scale(a, b))
    np.testing.assert_allclose(both, plain, rtol=1e-5, atol=1e-5)


ODD_THREAD_SHAPES = [(1, 1000, 600), (1000, 1, 600), (145, 67, 300), (7, 4081, 30), (600, 600, 20)]


@pytest.mark.parametrize("num_threads", [3, 4, 5, 7])
@pytest.mark.parametrize("m,n,k", ODD_THREAD_SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in ODD_THREAD_SHAPES])
def test_thread_grids(kernel_path, num_threads, m, n, k):
    """Thread counts with other grids (3 and 7: 1-D only; 4: 2 x 2), more threads than cores."""
    rng = rng_for("grids", m, n, k)
    a, b = make_operands(rng, m, n, k)
    bias = random_matrix(rng, (m,))
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(num_threads)
    try:
        check_gemm(_C.gemm, a, b, np.full((m, n), np.nan, np.float32), bias=bias, bias_mode="row",
                   context=f"{num_threads} threads")
    finally:
        fastcnn.set_num_threads(previous)


def unaligned_copy(x: np.ndarray, byte_offset: int) -> np.ndarray:
    """A C-contiguous copy of x whose data starts byte_offset bytes past a 64-byte boundary."""
    buffer = np.zeros(x.nbytes + 128, np.uint8)
    start = (-buffer.ctypes.data) % 64 + byte_offset
    y = buffer[start:start + x.nbytes].view(np.float32).reshape(x.shape)
    y[...] = x
    return y


def test_float_aligned_arrays(kernel_path, threads):
    """NumPy arrays need only be 4-byte aligned (views, frombuffer), not 16 or 32: still correct."""
    rng = rng_for("unaligned", 4)
    for m, n, k in [(7, 17, 33), (145, 67, 300)]:
        a, b = make_operands(rng, m, n, k)
        a, b = unaligned_copy(a, 4), unaligned_copy(b, 4)
        bias = unaligned_copy(random_matrix(rng, (n,)), 4)
        c = unaligned_copy(random_matrix(rng, (m, n)), 4)
        assert a.ctypes.data % 32 == 4 and c.flags.c_contiguous
        check_gemm(_C.gemm, a, b, c, beta=0.5, bias=bias, relu=True, context=f"{m}x{n}x{k}")
        c = unaligned_copy(random_matrix(rng, (m, n)), 4)
        a0 = unaligned_copy(np.empty((m, 0), np.float32), 4)
        b0 = unaligned_copy(np.empty((0, n), np.float32), 4)
        check_gemm(_C.gemm, a0, b0, c, beta=-0.5, bias=bias, context=f"K=0 {m}x{n}")
        c3 = unaligned_copy(np.full((3, m, n), np.nan, np.float32), 4)
        check_gemm(_C.gemm_batched, a, b, c3, context=f"batched {m}x{n}x{k}")


def test_byte_misaligned_arrays_are_refused_by_the_kernel_and_copied_by_matmul():
    """A float32 view starting at an odd byte cannot be loaded without undefined behaviour:
    the binding refuses it with a clear error, and fastcnn.matmul makes an aligned copy."""
    rng = rng_for("unaligned", 1)
    a, b = make_operands(rng, 7, 17, 33)
    a1, b1 = unaligned_copy(a, 1), unaligned_copy(b, 1)
    assert not a1.flags.aligned
    with pytest.raises(ValueError, match=r"gemm: a of shape \(7, 33\) is not aligned to its element size"):
        _C.gemm(a1, b, np.empty((7, 17), np.float32))
    with pytest.raises(ValueError, match="c of shape .* is not aligned"):
        _C.gemm(a, b, unaligned_copy(np.zeros((7, 17), np.float32), 1))
    expected = a.astype(np.float64) @ b.astype(np.float64)
    np.testing.assert_allclose(fastcnn.matmul(a1, b1), expected, rtol=1e-5, atol=1e-4)


# --------------------------------------------------------------------------------------
# alpha, beta


ALPHA_BETA = [(1.0, 0.0), (1.0, 1.0), (1.0, -0.5), (2.5, 0.0), (-1.5, 0.75), (0.5, 2.0)]


@pytest.mark.parametrize("alpha,beta", ALPHA_BETA)
@pytest.mark.parametrize("m,n,k", [(7, 17, 33), (145, 67, 300), (20, 40, 600)])
def test_alpha_beta(kernel_path, threads, alpha, beta, m, n, k):
    rng = rng_for("alpha-beta", alpha, beta, m, n, k)
    a, b = make_operands(rng, m, n, k)
    c = fresh_c(rng, (m, n), beta)
    check_gemm(_C.gemm, a, b, c, alpha=alpha, beta=beta, context=f"alpha={alpha} beta={beta}")


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (6, 16, 8), (7, 17, 300), (145, 67, 600)])
def test_beta_zero_never_reads_c(kernel_path, threads, m, n, k):
    """beta == 0 with C full of NaN (and Inf): the result is finite and correct."""
    rng = rng_for("beta0", m, n, k)
    a, b = make_operands(rng, m, n, k)
    c = np.full((m, n), np.nan, np.float32)
    c.flat[::3] = np.inf
    check_gemm(_C.gemm, a, b, c, beta=0.0)
    assert np.isfinite(c).all()


@pytest.mark.parametrize("beta", [1.0, -0.5, 0.0])
@pytest.mark.parametrize("m,n,k", [(5, 9, 3), (145, 67, 300)])
def test_alpha_zero_never_reads_a_or_b(kernel_path, threads, beta, m, n, k):
    """alpha == 0: A and B are not read, so Inf and NaN in them cannot reach C; C = beta*C."""
    rng = rng_for("alpha0", beta, m, n, k)
    a, b = make_operands(rng, m, n, k)
    a[0, 0] = np.inf
    a[-1, -1] = np.nan
    b[0, :] = -np.inf
    c0 = random_matrix(rng, (m, n))
    c = c0.copy()
    _C.gemm(a, b, c, alpha=0.0, beta=beta)
    np.testing.assert_array_equal(c, np.float32(beta) * c0)  # beta is a power of two or 0: exact
    assert np.isfinite(c).all()


def test_alpha_zero_beta_zero_with_bias_and_relu(kernel_path, threads):
    m, n, k = 9, 21, 4
    rng = np.random.default_rng(2)
    a, b = make_operands(rng, m, n, k)
    a[:] = np.inf
    bias = random_matrix(rng, (n,))
    c = np.full((m, n), np.nan, np.float32)
    _C.gemm(a, b, c, alpha=0.0, beta=0.0, bias=bias, relu=True)
    np.testing.assert_array_equal(c, np.broadcast_to(np.maximum(bias, 0), (m, n)))


def test_inf_in_a_propagates_when_alpha_nonzero(kernel_path):
    """The alpha == 0 shortcut must not hide Inf otherwise: Inf * positive is Inf."""
    a = np.ones((6, 4), np.float32)
    b = np.ones((4, 16), np.float32)
    a[2, 1] = np.inf
    c = _C.gemm(a, b, np.zeros((6, 16), np.float32))
    assert np.isposinf(c[2]).all()
    np.testing.assert_array_equal(np.delete(c, 2, axis=0), 4.0)


# --------------------------------------------------------------------------------------
# bias and ReLU


@pytest.mark.parametrize("bias_mode", ["row", "column"])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 17, 33), (13, 29, 513), (145, 67, 300)])
def test_bias(kernel_path, threads, bias_mode, relu, m, n, k):
    rng = rng_for("bias", bias_mode, relu, m, n, k)
    a, b = make_operands(rng, m, n, k)
    bias = random_matrix(rng, (m if bias_mode == "row" else n,), -3.0, 3.0)
    c = np.full((m, n), np.nan, np.float32)
    check_gemm(_C.gemm, a, b, c, bias=bias, bias_mode=bias_mode, relu=relu,
               context=f"bias_mode={bias_mode} relu={relu}")
    if relu:
        assert (c >= 0).all()


def test_bias_row_vs_column_distinguished(kernel_path):
    """A per-row bias adds bias[i] to row i, a per-column bias bias[j] to column j."""
    m, n, k = 3, 4, 2
    a = np.zeros((m, k), np.float32)
    b = np.zeros((k, n), np.float32)
    row_bias = np.array([1, 2, 3], np.float32)
    col_bias = np.array([10, 20, 30, 40], np.float32)
    c = _C.gemm(a, b, np.empty((m, n), np.float32), bias=row_bias, bias_mode="row")
    np.testing.assert_array_equal(c, np.repeat(row_bias[:, None], n, axis=1))
    c = _C.gemm(a, b, np.empty((m, n), np.float32), bias=col_bias, bias_mode="column")
    np.testing.assert_array_equal(c, np.repeat(col_bias[None, :], m, axis=0))
    c = _C.gemm(a, b, np.empty((m, n), np.float32), bias=col_bias)  # default: column
    np.testing.assert_array_equal(c, np.repeat(col_bias[None, :], m, axis=0))


@pytest.mark.parametrize("bias_mode", ["row", "column"])
@pytest.mark.parametrize("m,n,k", [(7, 17, 33), (145, 67, 300), (20, 30, 700)])
def test_relu_bias_beta_together(kernel_path, threads, bias_mode, m, n, k):
    """The whole epilogue at once, with K spanning several blocks (bias and ReLU once, at the end)."""
    rng = rng_for("epilogue", bias_mode, m, n, k)
    a, b = make_operands(rng, m, n, k, trans_a=True, trans_b=False)
    bias = random_matrix(rng, (m if bias_mode == "row" else n,), -2.0, 2.0)
    c = random_matrix(rng, (m, n), -5.0, 5.0)
    check_gemm(_C.gemm, a, b, c, trans_a=True, alpha=-0.75, beta=-0.5, bias=bias, bias_mode=bias_mode,
               relu=True)
    assert (c >= 0).all()
    assert (c == 0).any() and (c > 0).any()  # ReLU had something to do on both sides


def test_relu_zeroes_negatives_exactly(kernel_path, threads):
    m, n, k = 13, 35, 300
    a = np.full((m, k), -1.0, np.float32)
    b = np.full((k, n), 0.5, np.float32)
    c = _C.gemm(a, b, np.full((m, n), np.nan, np.float32), relu=True)
    np.testing.assert_array_equal(c, 0.0)
    bias = np.full((n,), 200.0, np.float32)
    c = _C.gemm(a, b, np.full((m, n), np.nan, np.float32), relu=True, bias=bias)
    np.testing.assert_array_equal(c, 50.0)  # -150 + 200


@pytest.mark.parametrize("m,n,k", [(6, 16, 4), (7, 17, 5), (145, 67, 300)])
def test_relu_lets_nan_through(kernel_path, threads, m, n, k):
    """As torch.relu: NaN from A, or from C with beta != 0, stays NaN; other values are clamped."""
    rng = rng_for("relu-nan", m, n, k)
    a, b = make_operands(rng, m, n, k)
    a[1, 0] = np.nan  # row 1 of the product is NaN
    c = random_matrix(rng, (m, n))
    c[0, n - 1] = np.nan  # with beta != 0, this element is NaN too
    check_gemm(_C.gemm, a, b, c, beta=1.0, relu=True)
    assert np.isnan(c[1]).all()
    assert np.isnan(c[0, n - 1])
    others = np.ones((m, n), bool)
    others[1] = False
    others[0, n - 1] = False
    assert not np.isnan(c[others]).any()
    assert (c[others] >= 0).all()


# --------------------------------------------------------------------------------------
# empty dimensions


@pytest.mark.parametrize("trans_a,trans_b", list(itertools.product([False, True], repeat=2)))
@pytest.mark.parametrize("m,n", [(1, 1), (7, 17), (145, 67)])
def test_k_zero(kernel_path, threads, trans_a, trans_b, m, n):
    """K == 0: the product is zero, C = epilogue(beta * C); A and B (empty) are not read."""
    rng = rng_for("k0", m, n, trans_a, trans_b)
    a, b = make_operands(rng, m, n, 0, trans_a, trans_b)
    assert a.size == 0 and b.size == 0
    c = np.full((m, n), np.nan, np.float32)
    _C.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b)
    np.testing.assert_array_equal(c, 0.0)

    c0 = random_matrix(rng, (m, n))
    c = c0.copy()
    _C.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b, beta=2.0)
    np.testing.assert_array_equal(c, 2 * c0)

    bias = random_matrix(rng, (m,))
    c = c0.copy()
    check_gemm(_C.gemm, a, b, c, trans_a=trans_a, trans_b=trans_b, beta=-0.5, bias=bias, bias_mode="row",
               relu=True)


@pytest.mark.parametrize("m,n,k", [(0, 5, 3), (5, 0, 3), (0, 0, 3), (0, 0, 0), (0, 7, 0), (7, 0, 0)])
def test_m_or_n_zero(kernel_path, threads, m, n, k):
    """An empty C: nothing to do, no error, c returned; bias of length 0 allowed."""
    rng = rng_for("mn0", m, n, k)
    a, b = make_operands(rng, m, n, k)
    c = np.empty((m, n), np.float32)
    assert _C.gemm(a, b, c, beta=1.0) is c
    assert c.shape == (m, n)
    _C.gemm(a, b, c, bias=np.zeros((m,), np.float32), bias_mode="row", relu=True)
    _C.gemm(a, b, c, bias=np.zeros((n,), np.float32), bias_mode="column")


def test_m_zero_does_not_touch_neighbouring_memory(kernel_path):
    """M == 0 inside a larger buffer: the memory around the empty C is unchanged."""
    buffer = np.full((4, 8), 7.0, np.float32)
    c = buffer[2:2]  # (0, 8), C-contiguous, points into buffer
    a = np.ones((0, 3), np.float32)
    b = np.ones((3, 8), np.float32)
    _C.gemm(a, b, c)
    np.testing.assert_array_equal(buffer, 7.0)


# --------------------------------------------------------------------------------------
# batched


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("layout", ["3d", "shared_a", "shared_b"])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_batched_small(kernel_path, threads, batch, layout, trans_a, trans_b):
    """Small matrices: with more than one thread the batch itself is split across threads."""
    m, n, k = 5, 17, 9
    rng = rng_for("batched", batch, layout, trans_a, trans_b)
    a, b = make_operands(rng, m, n, k, trans_a, trans_b,
                         batch_a=None if layout == "shared_a" else batch,
                         batch_b=None if layout == "shared_b" else batch)
    c = np.full((batch, m, n), np.nan, np.float32)
    check_gemm(_C.gemm_batched, a, b, c, trans_a=trans_a, trans_b=trans_b, context=layout)


@pytest.mark.parametrize("layout", ["3d", "shared_a", "shared_b"])
def test_batched_items_are_independent(kernel_path, threads, layout):
    """Each batch item equals a separate gemm on that item (no mixing between items)."""
    batch, m, n, k = 7, 6, 16, 11
    rng = rng_for("batched-independent", layout)
    a, b = make_operands(rng, m, n, k,
                         batch_a=None if layout == "shared_a" else batch,
                         batch_b=None if layout == "shared_b" else batch)
    c = _C.gemm_batched(a, b, np.full((batch, m, n), np.nan, np.float32))
    for i in range(batch):
        a_i = a if a.ndim == 2 else a[i]
        b_i = b if b.ndim == 2 else b[i]
        single = _C.gemm(a_i, b_i, np.empty((m, n), np.float32))
        np.testing.assert_array_equal(c[i], single, err_msg=f"batch item {i}")


@pytest.mark.parametrize("layout", ["3d", "shared_a", "shared_b"])
def test_batched_large_items(kernel_path, threads, layout):
    """Items big enough that all threads work inside each GEMM, one item after another."""
    batch, m, n, k = 3, 100, 130, 260
    rng = rng_for("batched-large", layout)
    a, b = make_operands(rng, m, n, k, trans_b=True,
                         batch_a=None if layout == "shared_a" else batch,
                         batch_b=None if layout == "shared_b" else batch)
    c = np.full((batch, m, n), np.nan, np.float32)
    check_gemm(_C.gemm_batched, a, b, c, trans_b=True, context=layout)
    bias = random_matrix(rng, (m,))
    c = random_matrix(rng, (batch, m, n))
    check_gemm(_C.gemm_batched, a, b, c, trans_b=True, beta=0.5, bias=bias, bias_mode="row", relu=True,
               context=layout + " epilogue")


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("bias_mode", ["row", "column"])
def test_batched_epilogue(kernel_path, threads, batch, bias_mode):
    """alpha, beta, bias (shared by all items) and ReLU in a batched call."""
    m, n, k = 7, 18, 13
    rng = rng_for("batched-epilogue", batch, bias_mode)
    a, b = make_operands(rng, m, n, k, batch_a=batch, batch_b=batch)
    bias = random_matrix(rng, (m if bias_mode == "row" else n,))
    c = random_matrix(rng, (batch, m, n))
    check_gemm(_C.gemm_batched, a, b, c, alpha=1.5, beta=-0.5, bias=bias, bias_mode=bias_mode, relu=True)


@pytest.mark.parametrize("batch", [1, 7])
def test_batched_degenerate(kernel_path, threads, batch):
    """K == 0 and alpha == 0 in batches: C = beta * C, and beta == 0 ignores NaN in C."""
    m, n = 6, 10
    rng = rng_for("batched-degenerate", batch)
    c0 = random_matrix(rng, (batch, m, n))
    c = c0.copy()
    _C.gemm_batched(np.empty((batch, m, 0), np.float32), np.empty((batch, 0, n), np.float32), c, beta=-0.5)
    np.testing.assert_array_equal(c, np.float32(-0.5) * c0)
    a = np.full((batch, m, 3), np.inf, np.float32)
    b = np.full((3, n), np.nan, np.float32)
    c = np.full((batch, m, n), np.nan, np.float32)
    _C.gemm_batched(a, b, c, alpha=0.0, beta=0.0)
    np.testing.assert_array_equal(c, 0.0)


@pytest.mark.parametrize("batch,m,k", [(1, 3, 4), (2, 0, 4), (2, 0, 0)])
def test_batched_empty_matrices(kernel_path, batch, m, k):
    c = np.empty((batch, m, 0), np.float32)
    assert _C.gemm_batched(np.ones((batch, m, k), np.float32), np.ones((k, 0), np.float32), c) is c


@pytest.mark.parametrize("k", [4, 0])
def test_batched_n_zero(k):
    """An empty output (N == 0) is a no-op for any batch, as it is for batch 1 and for M == 0."""
    c = np.empty((2, 3, 0), np.float32)
    assert _C.gemm_batched(np.ones((2, 3, k), np.float32), np.ones((2, k, 0), np.float32), c) is c


def test_batched_empty_batch(kernel_path):
    a = np.ones((0, 3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    c = np.empty((0, 3, 5), np.float32)
    assert _C.gemm_batched(a, b, c) is c


# --------------------------------------------------------------------------------------
# random shapes


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(0, 72),
    n=st.integers(0, 72),
    k=st.integers(0, 300),
    trans_a=st.booleans(),
    trans_b=st.booleans(),
    alpha=st.sampled_from([1.0, 0.0, -0.5, 2.0]),
    beta=st.sampled_from([0.0, 1.0, -0.5]),
    bias_mode=st.sampled_from([None, "row", "column"]),
    relu=st.booleans(),
    path=st.sampled_from(SUPPORTED_KERNEL_PATHS),
    num_threads=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes(m, n, k, trans_a, trans_b, alpha, beta, bias_mode, relu, path, num_threads, seed):
    rng = np.random.default_rng(seed)
    a, b = make_operands(rng, m, n, k, trans_a, trans_b)
    c = fresh_c(rng, (m, n), beta)
    bias = None if bias_mode is None else random_matrix(rng, (m if bias_mode == "row" else n,))
    previous_path, previous_threads = _C.kernel_path(), fastcnn.get_num_threads()
    _C.set_kernel_path(path)
    fastcnn.set_num_threads(num_threads)
    try:
        check_gemm(_C.gemm, a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, bias=bias,
                   bias_mode=bias_mode or "column", relu=relu)
    finally:
        _C.set_kernel_path(previous_path)
        fastcnn.set_num_threads(previous_threads)
