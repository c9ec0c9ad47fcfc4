"""The GEMM frame's alternative paths give the same bits as the plain ones.

Edge tiles (fewer than 6 rows or 16 columns of C left) have micro-kernels of their own,
and B stored K x N is read in place instead of packed when A is a single block (M <= 144)
and its rows do not crowd a few L1 sets. Both do the same multiply-adds in the same order
as the full-tile kernel on packed panels, so their results must be equal bit for bit,
on each kernel path (fixtures in conftest.py) and thread count.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from fastcnn import _C
from helpers import check_gemm, make_operands, random_matrix


def rng_for(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


EPILOGUES = [
    dict(),
    dict(alpha=-0.5, beta=0.5),
    dict(bias_mode="row", relu=True),
    dict(bias_mode="column", beta=1.0),
]


def run(a, b, epilogue, rng_key, trans_b=False):
    """gemm(a, b) with the epilogue's options. C and the bias are cut from matrices drawn
    from rng_key, at least 12 x 32: equal keys give equal inputs to all tiles inside that."""
    m = a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    rng = rng_for("epilogue", rng_key)
    c = random_matrix(rng, (max(m, 12), max(n, 32)))[:m, :n].copy()
    bias_rows, bias_cols = random_matrix(rng, (max(m, 12),)), random_matrix(rng, (max(n, 32),))
    kwargs = {key: value for key, value in epilogue.items() if key != "bias_mode"}
    if "bias_mode" in epilogue:
        kwargs["bias_mode"] = epilogue["bias_mode"]
        kwargs["bias"] = (bias_rows[:m] if epilogue["bias_mode"] == "row" else bias_cols[:n]).copy()
    return check_gemm(_C.gemm, a, b, c, trans_b=trans_b, **kwargs)


@pytest.mark.parametrize("k", [1, 7, 300, 900])  # 900: three K blocks, the later ones accumulating
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=["plain", "alpha_beta", "row_bias_relu", "col_bias_beta"])
def test_edge_tiles_match_full_tiles_bitwise(kernel_path, threads, k, epilogue):
    """C[:mr, :nr] of a product of whole tiles equals the product of A[:mr] and B[:, :nr]."""
    rng = rng_for("edge-bits", k)
    a, b = make_operands(rng, 12, 32, k)
    full = run(a, b, epilogue, k)
    for mr in range(1, 7):
        for nr in list(range(1, 17)) + [17, 24, 31]:
            part = run(np.ascontiguousarray(a[:mr]), np.ascontiguousarray(b[:, :nr]), epilogue, k)
            np.testing.assert_array_equal(part, full[:mr, :nr], err_msg=f"mr={mr} nr={nr} k={k}")


# N picks the in-place read or not: rows 1000 floats apart spread over L1's sets, rows 1024
# apart all land in one (packed unless M <= 24), N = 100 has a 4-column last panel.
IN_PLACE_SHAPES = [(m, n, k) for m in (5, 24, 25, 64, 144) for n in (100, 1000, 1024) for k in (25, 450)]


@pytest.mark.parametrize("m,n,k", IN_PLACE_SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in IN_PLACE_SHAPES])
def test_b_in_place_matches_packed_bitwise(kernel_path, threads, m, n, k):
    """B stored K x N (read in place where the frame chooses) against the same B stored
    N x K (always packed): equal bits, and both right against float64."""
    rng = rng_for("in-place", m, n, k)
    a, b = make_operands(rng, m, n, k)
    for epilogue in EPILOGUES:
        plain = run(a, b, epilogue, (m, n, k))
        packed = run(a, np.ascontiguousarray(b.T), epilogue, (m, n, k), trans_b=True)
        np.testing.assert_array_equal(plain, packed, err_msg=f"{m}x{n}x{k} {epilogue}")


def test_edge_kernels_touch_only_their_part_of_c(kernel_path):
    """Edge tiles read and write C through lane masks: the floats just before and after C
    in memory keep their values."""
    rng = rng_for("neighbours")
    for m, n, k in [(1, 1, 3), (5, 9, 40), (7, 17, 33), (11, 100, 25), (4, 1000, 30)]:
        a, b = make_operands(rng, m, n, k)
        flat = np.full(m * n + 64, 7.0, np.float32)
        c = flat[32:32 + m * n].reshape(m, n)
        check_gemm(_C.gemm, a, b, c, beta=0.5, bias=random_matrix(rng, (n,)), relu=True)
        np.testing.assert_array_equal(flat[:32], 7.0)
        np.testing.assert_array_equal(flat[32 + m * n:], 7.0)


# Packed A up to 2**18 floats with M <= 144 or a 1 x T grid (300 x 2000 x 70): columns
# dealt out in chunks; otherwise (64 x 300 x 5000, 300 x 200 x 70) a fixed grid of blocks.
SPLIT_SHAPES = [(6, 784, 25), (16, 100, 150), (64, 3000, 27), (144, 1000, 300), (100, 333, 800), (64, 300, 5000),
                (300, 200, 70), (300, 2000, 70)]


@pytest.mark.parametrize("m,n,k", SPLIT_SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SPLIT_SHAPES])
def test_results_do_not_depend_on_the_thread_count(kernel_path, m, n, k):
    """However the threads split C (chunks taken in whatever order, or grid blocks), each
    value is computed with the same K blocks and tile kernels: equal bits for 1 to 4 threads."""
    import fastcnn

    rng = rng_for("split", m, n, k)
    a, b = make_operands(rng, m, n, k)
    previous = fastcnn.get_num_threads()
    try:
        results = []
        for num_threads in (1, 2, 3, 4):
            fastcnn.set_num_threads(num_threads)
            results.append(run(a, b, dict(beta=0.5, bias_mode="column", relu=True), (m, n, k)))
    finally:
        fastcnn.set_num_threads(previous)
    for num_threads, result in zip((2, 3, 4), results[1:]):
        np.testing.assert_array_equal(result, results[0], err_msg=f"{num_threads} threads vs 1")
