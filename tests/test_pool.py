"""Pooling kernels (fastcnn.ops.pool) against float64 NumPy references and torch 2.13.

Error model: max pooling selects an input value, so it must match exactly (values and
indices). An average is a float32 sum of n terms divided once: its error is at most
about (n + 1) * eps32 * (sum of |terms|) / divisor, so each result is checked against
that bound computed from the same pooling of |x| (or |grad|) in float64. Torch computes
in float32 too, so comparisons with torch use twice the bound.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional
EPS32 = float(np.finfo(np.float32).eps)


# ---- float64 references -------------------------------------------------------------

def out_size(n, k, s, p, d=1, ceil_mode=False):
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_max_pool(x, k, s, p, d, ceil_mode):
    """Torch's scan: cells in row-major window order, replace when v > best or v is NaN."""
    n, c, h, w = x.shape
    oh, ow = out_size(h, k[0], s[0], p[0], d[0], ceil_mode), out_size(w, k[1], s[1], p[1], d[1], ceil_mode)
    out = np.full((n, c, oh, ow), -np.inf)
    index = np.zeros((n, c, oh, ow), dtype=np.int64)
    for i in range(oh):
        rows = [r for r in range(i * s[0] - p[0], i * s[0] - p[0] + d[0] * (k[0] - 1) + 1, d[0]) if 0 <= r < h]
        for j in range(ow):
            cols = [q for q in range(j * s[1] - p[1], j * s[1] - p[1] + d[1] * (k[1] - 1) + 1, d[1]) if 0 <= q < w]
            index[:, :, i, j] = (rows[0] if rows else 0) * w + (cols[0] if cols else 0)
            for r in rows:
                for q in cols:
                    v = x[:, :, r, q].astype(np.float64)
                    take = (v > out[:, :, i, j]) | np.isnan(v)
                    out[:, :, i, j] = np.where(take, v, out[:, :, i, j])
                    index[:, :, i, j] = np.where(take, r * w + q, index[:, :, i, j])
    return out, index


def ref_max_pool_backward(grad, index, shape):
    n, c, h, w = shape
    out = np.zeros((n * c, h * w))
    g, i = grad.reshape(n * c, -1).astype(np.float64), index.reshape(n * c, -1)
    for plane in range(n * c):
        np.add.at(out[plane], i[plane], g[plane])
    return out.reshape(shape)


def avg_windows(h, w, k, s, p, ceil_mode, count_include_pad, divisor_override):
    """Per output cell: (row slice, col slice, divisor), torch's rule, 0 for an empty window."""
    oh, ow = out_size(h, k[0], s[0], p[0], 1, ceil_mode), out_size(w, k[1], s[1], p[1], 1, ceil_mode)
    windows = {}
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s[0] - p[0], j * s[1] - p[1]
            h1, w1 = min(h0 + k[0], h + p[0]), min(w0 + k[1], w + p[1])
            padded = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h), min(w1, w)
            if h0 >= h1 or w0 >= w1:
                div = 0
            else:
                div = divisor_override or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
            windows[i, j] = (slice(h0, h1), slice(w0, w1), div)
    return (oh, ow), windows


def ref_avg_pool(x, k, s, p, ceil_mode, cip, dov):
    n, c, h, w = x.shape
    (oh, ow), windows = avg_windows(h, w, k, s, p, ceil_mode, cip, dov)
    out = np.zeros((n, c, oh, ow))
    for (i, j), (rs, cs, div) in windows.items():
        if div:
            out[:, :, i, j] = x[:, :, rs, cs].astype(np.float64).sum(axis=(2, 3)) / div
    return out


def ref_avg_pool_backward(grad, shape, k, s, p, ceil_mode, cip, dov):
    n, c, h, w = shape
    _, windows = avg_windows(h, w, k, s, p, ceil_mode, cip, dov)
    out = np.zeros(shape)
    for (i, j), (rs, cs, div) in windows.items():
        if div:
            out[:, :, rs, cs] += grad[:, :, i, j, None, None].astype(np.float64) / div
    return out


def adaptive_windows(h, w, oh, ow):
    for i in range(oh):
        for j in range(ow):
            yield i, j, slice(i * h // oh, -(-(i + 1) * h // oh)), slice(j * w // ow, -(-(j + 1) * w // ow))


def ref_adaptive(x, oh, ow):
    out = np.zeros(x.shape[:2] + (oh, ow))
    for i, j, rs, cs in adaptive_windows(x.shape[2], x.shape[3], oh, ow):
        out[:, :, i, j] = x[:, :, rs, cs].astype(np.float64).mean(axis=(2, 3))
    return out


def ref_adaptive_backward(grad, shape):
    out = np.zeros(shape)
    for i, j, rs, cs in adaptive_windows(shape[2], shape[3], grad.shape[2], grad.shape[3]):
        size = (rs.stop - rs.start) * (cs.stop - cs.start)
        out[:, :, rs, cs] += grad[:, :, i, j, None, None].astype(np.float64) / size
    return out


def assert_close(ours, exact, scale, terms, factor=1.0):
    """|ours - exact| <= factor * (terms + 1) * eps32 * scale (scale: the same op on |inputs|)."""
    assert ours.shape == exact.shape and ours.dtype == np.float32
    bound = factor * (terms + 1) * EPS32 * scale + 1e-30
    err = np.abs(ours.astype(np.float64) - exact)
    assert np.all(err <= bound), f"max error {err.max():.3g}, worst ratio {(err / bound).max():.3g}"


def random_input(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def torch_grad(fn, x, grad):
    xt = torch.from_numpy(x).requires_grad_()
    fn(xt).backward(torch.from_numpy(grad))
    return xt.grad.numpy()


# ---- cases ------------------------------------------------------------------------------

def random_cases(seed, count, dilation):
    """(shape, kernel, stride, padding, dilation, ceil_mode, count_include_pad) covering kernels
    1-5, strides 1-4, padding 0..k/2, dilation 1-3, odd sizes, batch 1 and channels 1 and 3."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        k = tuple(int(v) for v in rng.integers(1, 6, size=2))
        s = tuple(int(v) for v in rng.integers(1, 5, size=2))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        d = tuple(int(v) for v in rng.integers(1, 4, size=2)) if dilation else (1, 1)
        shape = (int(rng.choice([1, 2])), int(rng.choice([1, 3])), int(rng.integers(1, 20)), int(rng.integers(1, 44)))
        ceil_mode, cip = bool(rng.integers(2)), bool(rng.integers(2))
        if all(out_size(n, kk, ss, pp, dd, ceil_mode) >= 1 for n, kk, ss, pp, dd in zip(shape[2:], k, s, p, d)):
            cases.append((shape, k, s, p, d, ceil_mode, cip))
    return cases


# Shapes the AVX2 row kernels vectorize (output width >= 8, stride 1 or 2), with borders,
# and two large enough to run on 2 threads.
VECTOR_CASES = [
    ((2, 3, 17, 40), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ((1, 3, 19, 37), (3, 3), (2, 2), (1, 1), (1, 1), True, False),
    ((1, 1, 9, 33), (3, 3), (1, 1), (1, 1), (1, 1), False, True),
    ((2, 1, 11, 29), (5, 4), (1, 2), (2, 2), (2, 1), True, True),
    ((1, 3, 8, 53), (1, 5), (2, 1), (0, 2), (1, 1), False, False),
    ((1, 1, 6, 24), (2, 3), (1, 2), (1, 0), (3, 1), True, False),
    ((4, 4, 56, 67), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ((4, 4, 64, 61), (3, 3), (1, 1), (1, 1), (1, 1), True, False),
]

MAX_CASES = random_cases(1, 18, dilation=True) + VECTOR_CASES
# Windows tiling the input (kernel == stride, no padding: the backward's fast path), with odd
# sizes leaving uncovered rows/columns, and a ceil_mode one that does not tile.
TILED_AVG_CASES = [
    ((2, 3, 9, 8), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ((1, 2, 7, 10), (3, 2), (3, 2), (0, 0), (1, 1), False, False),
    ((3, 1, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), True, True),
    ((2, 2, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), True, True),
    # 2x2 stride 2 (the forward's fast path too): LeNet's pools (2 threads), a row of exactly
    # one vector, one vector and an odd column, and odd rows.
    ((64, 6, 28, 28), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ((64, 16, 10, 10), (2, 2), (2, 2), (0, 0), (1, 1), False, False),
    ((1, 2, 16, 16), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
    ((2, 3, 19, 19), (2, 2), (2, 2), (0, 0), (1, 1), False, True),
]
AVG_CASES = (random_cases(2, 18, dilation=False) + [c[:4] + ((1, 1),) + c[5:] for c in VECTOR_CASES]
             + TILED_AVG_CASES)


def case_id(case):
    shape, k, s, p, d, ceil_mode, cip = case
    return f"{'x'.join(map(str, shape))}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{p[0]}{p[1]}-d{d[0]}{d[1]}-c{int(ceil_mode)}{int(cip)}"


# ---- tests --------------------------------------------------------------------------------

def test_seed_example(kernel_path):
    x = np.array([[29, 15, 28, 184], [0, 100, 70, 38], [12, 12, 7, 2], [12, 12, 45, 6]], np.float32)
    out, index = ops.max_pool2d(x[None, None], 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[100, 184], [12, 45]])
    np.testing.assert_array_equal(index[0, 0], [[5, 3], [8, 14]])


@pytest.mark.parametrize("size", range(1, 13))
def test_output_size_formula(size):
    for k in range(1, 6):
        for s in range(1, 5):
            for p in range(0, k // 2 + 1):
                if k > size + 2 * p:
                    continue
                expected = math.floor((size - k + 2 * p) / s) + 1
                assert ops.pool_output_size(size, k, s, p) == expected
                x = np.zeros((1, 1, size, size + 1), np.float32)
                assert ops.max_pool2d(x, k, s, p)[0].shape[2] == expected
                assert ops.avg_pool2d(x, k, s, p).shape[2] == expected
                for ceil_mode in (False, True):
                    for d in (1, 2):
                        if d * (k - 1) + 1 > size + 2 * p:
                            continue
                        torch_shape = F.max_pool2d(torch.zeros(1, 1, size, 1), (k, 1), (s, 1), (p, 0), (d, 1),
                                                   ceil_mode).shape
                        assert ops.pool_output_size(size, k, s, p, d, ceil_mode) == torch_shape[2]


@pytest.mark.parametrize("case", MAX_CASES, ids=case_id)
def test_max_pool2d(case, kernel_path, threads):
    shape, k, s, p, d, ceil_mode, _ = case
    rng = np.random.default_rng(zlib.crc32(case_id(case).encode()))  # not hash(): per-process
    x = random_input(rng, shape)
    x[..., ::3, ::4] = np.round(x[..., ::3, ::4])  # some ties
    out, index = ops.max_pool2d(x, k, s, p, d, ceil_mode)
    exact, exact_index = ref_max_pool(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(out, exact.astype(np.float32))
    np.testing.assert_array_equal(index, exact_index)
    t_out, t_index = F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(index, t_index.numpy())

    grad = random_input(rng, out.shape)
    grad_in = ops.max_pool2d_backward(grad, index, x.shape)
    overlaps = math.ceil((d[0] * (k[0] - 1) + 1) / s[0]) * math.ceil((d[1] * (k[1] - 1) + 1) / s[1])
    assert_close(grad_in, ref_max_pool_backward(grad, index, x.shape),
                 ref_max_pool_backward(np.abs(grad), index, x.shape), overlaps)
    assert_close(grad_in, torch_grad(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), x, grad),
                 ref_max_pool_backward(np.abs(grad), index, x.shape), overlaps, factor=2)


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (1, 1, 19, 17), (3, 2, 6, 10), (1, 1, 2, 2)], ids=str)
@pytest.mark.parametrize("divisor_override", [None, 3])
def test_avg_pool2d_2x2_bits(shape, divisor_override, kernel_path, threads):
    """2x2 stride-2 windows: exactly ((x00 + x10) + (x01 + x11)) / divisor in float32, and
    g / divisor on each covered cell (zero on a last odd row or column)."""
    rng = np.random.default_rng(zlib.crc32(str(shape).encode()))
    x = rng.standard_normal(shape, dtype=np.float32)
    divisor = np.float32(divisor_override or 4)
    h, w = shape[2] // 2 * 2, shape[3] // 2 * 2
    expected = ((x[..., 0:h:2, 0:w:2] + x[..., 1:h:2, 0:w:2]) + (x[..., 0:h:2, 1:w:2] + x[..., 1:h:2, 1:w:2])) / divisor
    out = ops.avg_pool2d(x, 2, divisor_override=divisor_override)
    np.testing.assert_array_equal(out, expected)
    g = rng.standard_normal(out.shape, dtype=np.float32)
    grad_in = ops.avg_pool2d_backward(g, x.shape, 2, divisor_override=divisor_override)
    expected_in = np.zeros(shape, np.float32)
    for i in range(2):
        for j in range(2):
            expected_in[..., i:h:2, j:w:2] = g / divisor
    np.testing.assert_array_equal(grad_in, expected_in)


@pytest.mark.parametrize("case", AVG_CASES, ids=case_id)
@pytest.mark.parametrize("divisor_override", [None, 3])
def test_avg_pool2d(case, divisor_override, kernel_path, threads):
    shape, k, s, p, _, ceil_mode, cip = case
    rng = np.random.default_rng(zlib.crc32(case_id(case).encode()))  # not hash(): per-process
    x = random_input(rng, shape)
    args = (k, s, p, ceil_mode, cip, divisor_override)
    out = ops.avg_pool2d(x, *args)
    terms = k[0] * k[1]
    scale = ref_avg_pool(np.abs(x), k, s, p, ceil_mode, cip, divisor_override)
    assert_close(out, ref_avg_pool(x, k, s, p, ceil_mode, cip, divisor_override), scale, terms)
    assert_close(out, F.avg_pool2d(torch.from_numpy(x), *args).numpy(), scale, terms, factor=2)

    grad = random_input(rng, out.shape)
    grad_in = ops.avg_pool2d_backward(grad, x.shape, *args)
    overlaps = math.ceil(k[0] / s[0]) * math.ceil(k[1] / s[1])
    g_scale = ref_avg_pool_backward(np.abs(grad), x.shape, k, s, p, ceil_mode, cip, divisor_override)
    assert_close(grad_in, ref_avg_pool_backward(grad, x.shape, k, s, p, ceil_mode, cip, divisor_override),
                 g_scale, overlaps)
    assert_close(grad_in, torch_grad(lambda t: F.avg_pool2d(t, *args), x, grad), g_scale, overlaps, factor=2)


@pytest.mark.parametrize("case", AVG_CASES[::3], ids=case_id)
def test_sum_pool2d(case, kernel_path):
    shape, k, s, p, _, ceil_mode, _ = case
    rng = np.random.default_rng(7)
    x = random_input(rng, shape)
    out = ops.sum_pool2d(x, k, s, p, ceil_mode)
    scale = ref_avg_pool(np.abs(x), k, s, p, ceil_mode, True, 1)
    assert_close(out, ref_avg_pool(x, k, s, p, ceil_mode, True, 1), scale, k[0] * k[1])
    assert_close(out, F.avg_pool2d(torch.from_numpy(x), k, s, p, ceil_mode, divisor_override=1).numpy(), scale,
                 k[0] * k[1], factor=2)
    grad = random_input(rng, out.shape)
    overlaps = math.ceil(k[0] / s[0]) * math.ceil(k[1] / s[1])
    assert_close(ops.sum_pool2d_backward(grad, x.shape, k, s, p, ceil_mode),
                 ref_avg_pool_backward(grad, x.shape, k, s, p, ceil_mode, True, 1),
                 ref_avg_pool_backward(np.abs(grad), x.shape, k, s, p, ceil_mode, True, 1), overlaps)


ADAPTIVE_CASES = [
    ((1, 1, 7, 7), (1, 1)), ((2, 3, 7, 9), (3, 4)), ((1, 3, 5, 5), (5, 5)), ((2, 1, 4, 6), (7, 9)),
    ((3, 3, 13, 11), (2, 5)), ((1, 1, 1, 1), (1, 1)), ((4, 64, 7, 7), (1, 1)), ((2, 20, 33, 35), (1, 1)),
    ((2, 3, 6, 8), (None, 3)),
    # Global pooling of planes of 8 (no tail), 9 and 4 floats (too small for the AVX2
    # kernel), in counts that leave planes over after groups of 8.
    ((3, 5, 2, 4), (1, 1)), ((2, 13, 3, 3), (1, 1)), ((1, 11, 2, 2), (1, 1)),
    ((4, 16, 40, 41), (1, 1)), ((4, 24, 30, 31), (6, 6)),  # large enough for 2 threads
]


@pytest.mark.parametrize("shape,output_size", ADAPTIVE_CASES)
def test_adaptive_avg_pool2d(shape, output_size, kernel_path, threads):
    rng = np.random.default_rng(shape[2] * 100 + shape[3])
    x = random_input(rng, shape)
    out = ops.adaptive_avg_pool2d(x, output_size)
    oh, ow = out.shape[2:]
    assert (oh, ow) == tuple(shape[2 + i] if v is None else v for i, v in enumerate(output_size))
    terms = max((rs.stop - rs.start) * (cs.stop - cs.start) for _, _, rs, cs in adaptive_windows(*shape[2:], oh, ow))
    scale = ref_adaptive(np.abs(x), oh, ow)
    assert_close(out, ref_adaptive(x, oh, ow), scale, terms)
    assert_close(out, F.adaptive_avg_pool2d(torch.from_numpy(x), output_size).numpy(), scale, terms, factor=2)
    grad = random_input(rng, out.shape)
    grad_in = ops.adaptive_avg_pool2d_backward(grad, x.shape)
    overlaps = (math.ceil(shape[2] / oh) + 1) * (math.ceil(shape[3] / ow) + 1)
    g_scale = ref_adaptive_backward(np.abs(grad), x.shape)
    assert_close(grad_in, ref_adaptive_backward(grad, x.shape), g_scale, overlaps)
    assert_close(grad_in, torch_grad(lambda t: F.adaptive_avg_pool2d(t, output_size), x, grad), g_scale, overlaps,
                 factor=2)


def test_adaptive_int_output_size(kernel_path):
    x = random_input(np.random.default_rng(3), (2, 3, 9, 10))
    np.testing.assert_array_equal(ops.adaptive_avg_pool2d(x, 3), ops.adaptive_avg_pool2d(x, (3, 3)))


@pytest.mark.parametrize("width", [5, 40])  # scalar only / vectorized rows
def test_max_pool2d_nan_and_ties(width, kernel_path):
    x = np.zeros((1, 2, 6, width), np.float32)  # all ties: the first cell of each window
    x[0, 1, 0, 1] = np.nan
    x[0, 1, 1, 0] = np.nan  # two NaNs in one window: the later one wins (torch)
    x[0, 1, 4, 3] = -np.inf
    x[0, 1, 5, 2] = np.nan
    for k, s in [(2, 2), (3, 1), (2, 1)]:
        out, index = ops.max_pool2d(x, k, s)
        t_out, t_index = F.max_pool2d(torch.from_numpy(x), k, s, return_indices=True)
        np.testing.assert_array_equal(out, t_out.numpy())  # NaN == NaN for assert_array_equal
        np.testing.assert_array_equal(index, t_index.numpy())
        assert np.isnan(out[0, 1, 0, 0])
        assert x.reshape(2, -1)[1, index[0, 1, 0, 0]] != x.reshape(2, -1)[1, index[0, 1, 0, 0]]


def test_max_pool2d_all_minus_inf(kernel_path):
    x = np.full((1, 1, 4, 20), -np.inf, np.float32)
    out, index = ops.max_pool2d(x, 3, 1, 1)
    t_out, t_index = F.max_pool2d(torch.from_numpy(x), 3, 1, 1, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(index, t_index.numpy())


def test_window_wholly_in_padding(kernel_path):
    # Dilation can put every cell of a window in the padding: -inf out, torch's index, and no gradient.
    x = np.array([[[[1.0, 2.0]]]], np.float32)
    out, index = ops.max_pool2d(x, 2, 1, 1, 2)
    t_out, t_index = F.max_pool2d(torch.from_numpy(x), 2, 1, 1, 2, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(index, t_index.numpy())
    np.testing.assert_array_equal(ops.max_pool2d_backward(np.ones_like(out), index, x.shape), np.zeros_like(x))


def test_stride_defaults_to_kernel_size(kernel_path):
    x = random_input(np.random.default_rng(4), (1, 2, 9, 9))
    for stride in (None, [], ()):
        np.testing.assert_array_equal(ops.max_pool2d(x, (3, 2), stride)[0], ops.max_pool2d(x, (3, 2), (3, 2))[0])
        np.testing.assert_array_equal(ops.avg_pool2d(x, 3, stride), ops.avg_pool2d(x, 3, 3))


def test_three_dim_input(kernel_path):
    x = random_input(np.random.default_rng(5), (3, 11, 12))
    out, index = ops.max_pool2d(x, 3, 2, 1)
    t_out, t_index = F.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(index, t_index.numpy())
    grad = np.ones_like(out)
    np.testing.assert_array_equal(ops.max_pool2d_backward(grad, index, x.shape),
                                  ops.max_pool2d_backward(grad[None], index[None], (1,) + x.shape)[0])
    avg = ops.avg_pool2d(x, 2)
    assert avg.shape == (3, 5, 6)
    np.testing.assert_allclose(avg, F.avg_pool2d(torch.from_numpy(x), 2).numpy(), rtol=1e-6, atol=1e-7)
    assert ops.avg_pool2d_backward(avg, x.shape, 2).shape == x.shape
    assert ops.adaptive_avg_pool2d(x, 1).shape == (3, 1, 1)
    assert ops.adaptive_avg_pool2d_backward(np.ones((3, 1, 1), np.float32), x.shape).shape == x.shape


def test_empty_batch_and_noncontiguous(kernel_path):
    out, index = ops.max_pool2d(np.zeros((0, 3, 8, 8), np.float32), 2)
    assert out.shape == index.shape == (0, 3, 4, 4)
    assert ops.avg_pool2d_backward(np.zeros((0, 3, 4, 4), np.float32), (0, 3, 8, 8), 2).shape == (0, 3, 8, 8)
    x = random_input(np.random.default_rng(9), (2, 3, 10, 24))[:, :, :, ::2]  # strided view
    np.testing.assert_array_equal(ops.max_pool2d(x, 2)[0], F.max_pool2d(torch.from_numpy(x.copy()), 2).numpy())


# ---- errors --------------------------------------------------------------------------------

X4 = np.zeros((1, 1, 4, 4), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: ops.max_pool2d(X4.astype(np.float64), 2), TypeError, "input has dtype float64"),
    (lambda: ops.max_pool2d([[1.0]], 2), TypeError, "input must be a numpy.ndarray"),
    (lambda: ops.max_pool2d(np.zeros((4, 4), np.float32), 2), ValueError, r"input must have 3 or 4 dimensions"),
    (lambda: ops.max_pool2d(X4, 5), ValueError, r"kernel_size \(5, 5\) is larger than the padded input \(4, 4\)"),
    (lambda: ops.max_pool2d(X4, 3, dilation=2), ValueError, r"kernel_size \(3, 3\) with dilation \(2, 2\) spans \(5, 5\), which is larger than the padded input \(4, 4\)"),
    (lambda: ops.max_pool2d(X4, 2, stride=0), ValueError, "stride must be >= 1"),
    (lambda: ops.max_pool2d(X4, 0), ValueError, "kernel_size must be >= 1"),
    (lambda: ops.max_pool2d(X4, 2, padding=-1), ValueError, "padding must be >= 0"),
    (lambda: ops.max_pool2d(X4, 2, padding=2), ValueError, r"padding \(2, 2\) must be at most half of kernel_size"),
    (lambda: ops.max_pool2d(X4, 2, dilation=0), ValueError, "dilation must be >= 1"),
    (lambda: ops.max_pool2d(X4, (2, 2, 2)), TypeError, "kernel_size must be an int or a sequence of 2"),
    (lambda: ops.max_pool2d(X4, 2.5), TypeError, "kernel_size must be an int"),
    # a broadcast view of 2^59 floats as kernel_size: refused by its length, never copied (was MemoryError)
    (lambda: ops.max_pool2d(X4, np.broadcast_to(np.float32(0), (2**31, 2**28))), TypeError,
     "kernel_size must be an int or a sequence of 2"),
    (lambda: ops.max_pool2d(X4, 2, stride=1.5), TypeError, "stride must be an int"),
    (lambda: ops.max_pool2d(X4, 2, ceil_mode="yes"), TypeError, "ceil_mode must be a bool"),
    (lambda: ops.max_pool2d(np.zeros((1, 0, 4, 4), np.float32), 2), ValueError, r"input of shape \(1, 0, 4, 4\)"),
    (lambda: ops.avg_pool2d(X4, 2, padding=(0, 3)), ValueError, "padding .* at most half of kernel_size"),
    (lambda: ops.avg_pool2d(X4, 6), ValueError, r"kernel_size \(6, 6\) is larger than the padded input"),
    (lambda: ops.avg_pool2d(X4.astype(np.float16), 2), TypeError, "input has dtype float16"),
    (lambda: ops.avg_pool2d(X4, 2, divisor_override=0), ValueError, "divisor_override must be > 0"),
    (lambda: ops.avg_pool2d(X4, 2, divisor_override=1.5), TypeError, "divisor_override must be an int"),
    (lambda: ops.avg_pool2d(X4, 2, count_include_pad=None), TypeError, "count_include_pad must be a bool"),
    (lambda: ops.avg_pool2d_backward(np.zeros((1, 1, 3, 3), np.float32), X4.shape, 2), ValueError,
     r"grad_output \(1, 1, 3, 3\) must have spatial size \(2, 2\)"),
    (lambda: ops.avg_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), X4.shape, 2), ValueError,
     "differ in batch or channels"),
    (lambda: ops.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 3), np.int64),
                                     X4.shape), ValueError, r"indices \(1, 1, 2, 3\) and grad_output"),
    (lambda: ops.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int32),
                                     X4.shape), TypeError, "indices has dtype int32"),
    (lambda: ops.max_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), np.zeros((1, 1, 2, 2), np.int64),
                                     (1, 4, 4)), ValueError, "input_shape .* same number of dimensions"),
    (lambda: ops.sum_pool2d(X4, 2, stride=(1, 0)), ValueError, "stride must be >= 1"),
    (lambda: ops.sum_pool2d_backward(np.zeros((1, 1, 3, 3), np.float32), X4.shape, 2), ValueError,
     "sum_pool2d_backward: grad_output"),
    (lambda: ops.adaptive_avg_pool2d(X4, 0), ValueError, r"output_size \(0, 0\) must be >= 1"),
    (lambda: ops.adaptive_avg_pool2d(X4, (2, 2, 2)), TypeError, "output_size must be an int or a pair"),
    (lambda: ops.adaptive_avg_pool2d(X4.astype(np.int64), 2), TypeError, "input has dtype int64"),
    (lambda: ops.adaptive_avg_pool2d_backward(np.zeros((1, 1, 2, 2), np.float32), (2, 1, 4, 4)), ValueError,
     "differ in batch or channels"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_binding_checks():
    # The native layer checks on its own too: output shape, overlap, dtype, contiguity.
    x = np.zeros((1, 1, 4, 4), np.float32)
    kw = dict(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1), ceil_mode=False)
    with pytest.raises(ValueError, match=r"out has shape \(1, 1, 3, 3\), expected \(1, 1, 2, 2\)"):
        fastcnn._C.max_pool2d_forward(x, np.empty((1, 1, 3, 3), np.float32), np.empty((1, 1, 2, 2), np.int64), **kw)
    with pytest.raises(ValueError, match="overlaps input"):
        fastcnn._C.max_pool2d_forward(x, x.reshape(-1)[:4].reshape(1, 1, 2, 2),
                                      np.empty((1, 1, 2, 2), np.int64), **kw)
    with pytest.raises(TypeError, match="indices has dtype int32"):
        fastcnn._C.max_pool2d_forward(x, np.empty((1, 1, 2, 2), np.float32), np.empty((1, 1, 2, 2), np.int32), **kw)
    with pytest.raises(ValueError, match="padding .* at most half"):
        fastcnn._C.avg_pool2d_forward(x, np.empty((1, 1, 7, 7), np.float32), kernel_size=(2, 2), stride=(1, 1),
                                      padding=(2, 2), ceil_mode=False, count_include_pad=True, divisor_override=0)
    with pytest.raises(ValueError, match="not C-contiguous"):
        fastcnn._C.adaptive_avg_pool2d_forward(np.zeros((1, 1, 4, 8), np.float32)[..., ::2],
                                               np.empty((1, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="output_size .* must be >= 1"):
        fastcnn._C.adaptive_avg_pool2d_forward(x, np.empty((1, 1, 0, 1), np.float32))


def test_tolerance_catches_a_wrong_divisor(kernel_path):
    # The avg bound is tight enough that count_include_pad confusion (divisor 9 vs 4) fails it.
    x = random_input(np.random.default_rng(11), (1, 1, 6, 6))
    out = ops.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    wrong = ref_avg_pool(x, (3, 3), (1, 1), (1, 1), False, True, None)
    with pytest.raises(AssertionError):
        assert_close(out, wrong, ref_avg_pool(np.abs(x), (3, 3), (1, 1), (1, 1), False, False, None), 9)


# ---- ceil_mode with a window larger than the padded input ---------------------------------
# torch accepts it when ceil_mode leaves a window (one that overhangs by less than a stride):
# a (2, 2) input with kernel 3 and stride 2 gives one output covering the whole input.

def _ceil_overhang_cases():
    cases = []
    for n in range(1, 5):
        for k in range(2, 6):
            for s in range(1, 4):
                for p in range(0, k // 2 + 1):
                    for d in (1, 2):
                        if d * (k - 1) + 1 > n + 2 * p:
                            cases.append((n, k, s, p, d))
    return cases


CEIL_OVERHANG = _ceil_overhang_cases()


def _torch_or_none(fn):
    try:
        return fn()
    except RuntimeError:
        return None


@pytest.mark.parametrize("wide", [False, True], ids=["square", "wide"])
def test_ceil_mode_window_larger_than_input_matches_torch(wide, kernel_path):
    # wide: the overhang is in the height only and the rows are 19 wide (8+ outputs: the AVX2 rows).
    rng = np.random.default_rng(zlib.crc32(f"ceil-overhang-{wide}".encode()))
    accepted = 0
    for n, k, s, p, d in CEIL_OVERHANG:
        shape = (2, 3, n, 19) if wide else (2, 3, n, n)
        kernel, stride, pad = ((k, 3), (s, 2), (p, 1)) if wide else (k, s, p)
        x = random_input(rng, shape)
        xt = torch.from_numpy(x)
        for ceil_mode in (False, True):
            where = f"input {shape} kernel {kernel} stride {stride} padding {pad} dilation {d} ceil_mode {ceil_mode}"
            expected = _torch_or_none(lambda: F.max_pool2d(xt, kernel, stride, pad, (d, 1) if wide else d, ceil_mode,
                                                            return_indices=True))
            if expected is None:
                with pytest.raises(ValueError, match="larger than the padded input|too small"):
                    ops.max_pool2d(x, kernel, stride, pad, (d, 1) if wide else d, ceil_mode)
                continue
            assert ceil_mode, where  # without ceil_mode torch rejects every such window
            accepted += 1
            out, index = ops.max_pool2d(x, kernel, stride, pad, (d, 1) if wide else d, ceil_mode)
            np.testing.assert_array_equal(out, expected[0].numpy(), err_msg=where)
            np.testing.assert_array_equal(index, expected[1].numpy(), err_msg=where)
            grad = random_input(rng, out.shape)
            ours = ops.max_pool2d_backward(grad, index, x.shape)
            if np.isfinite(out).all():  # else torch's index lies outside the plane (see the -inf case)
                np.testing.assert_array_equal(
                    ours, torch_grad(lambda t: F.max_pool2d(t, kernel, stride, pad, (d, 1) if wide else d, ceil_mode),
                                     x, grad), err_msg=where)
            if d != 1:
                continue
            for cip in (True, False):
                t_out = F.avg_pool2d(xt, kernel, stride, pad, ceil_mode, cip).numpy()
                mine = ops.avg_pool2d(x, kernel, stride, pad, ceil_mode, cip)
                np.testing.assert_allclose(mine, t_out, rtol=1e-6, atol=1e-6, err_msg=where)
                mine_grad = ops.avg_pool2d_backward(grad, x.shape, kernel, stride, pad, ceil_mode, cip)
                t_grad = torch_grad(lambda t: F.avg_pool2d(t, kernel, stride, pad, ceil_mode, cip), x, grad)
                np.testing.assert_allclose(mine_grad, t_grad, rtol=1e-6, atol=1e-6, err_msg=where)
    assert accepted >= 20  # the sweep does reach the windows torch accepts


def test_ceil_mode_overhang_output_size_and_layers():
    assert ops.pool_output_size(2, 3, 2, 0, 1, True) == 1  # reaches 1 past the input: kept
    assert ops.pool_output_size(2, 4, 2, 0, 1, True) == 0  # reaches 2 past (a whole stride): none
    assert ops.pool_output_size(2, 3, 2, 0, 1, False) == 0
    assert ops.pool_output_size(1, 3, 3, 0, 1, True) == 1
    x = fastcnn.tensor(random_input(np.random.default_rng(5), (1, 2, 2, 2)), requires_grad=True)
    out = fastcnn.nn.MaxPool2d(3, 2, ceil_mode=True)(x)
    assert out.shape == (1, 2, 1, 1)
    out.sum().backward()
    assert x.grad.numpy().sum() == 2.0  # one maximum per plane
    avg = fastcnn.nn.AvgPool2d(3, 2, ceil_mode=True)(x)
    np.testing.assert_allclose(avg.detach().numpy()[..., 0, 0], x.detach().numpy().mean(axis=(2, 3)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"kernel_size \(3, 3\) is larger than the padded input \(2, 2\)"):
        fastcnn.nn.MaxPool2d(3, 2)(x)
