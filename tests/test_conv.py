"""conv2d / conv1d kernels: every algorithm against a float64 NumPy reference and torch.

The reference below is written for clarity, not speed: a padded, dilated sliding window
and an einsum per group, with both gradients from the same windows.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastcnn
from fastcnn import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional

ALGORITHMS = ["gemm1x1", "im2col", "depthwise", "winograd", "direct", "direct_pixels"]


# ---- reference ------------------------------------------------------------------------

def _windows(xpad, kernel, stride, dilation, out_hw):
    """View (N, C, OH, OW, R, S) of xpad: the input each filter tap meets at each output pixel."""
    n, c = xpad.shape[:2]
    (r, s), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    st = xpad.strides
    return np.lib.stride_tricks.as_strided(
        xpad, (n, c, oh, ow, r, s), (st[0], st[1], st[2] * sh, st[3] * sw, st[2] * dh, st[3] * dw), writeable=False)


def reference_conv2d(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1, grad_y=None):
    """(y, grad_x, grad_w, grad_b) in float64; the gradients are of sum(grad_y * y)."""
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    n, c, h, wd = x.shape
    k, cg, r, s = w.shape
    pt, pb, pl, pr = pads
    xpad = np.pad(x64, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dilation[0] * (r - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dilation[1] * (s - 1) - 1) // stride[1] + 1
    win = _windows(xpad, (r, s), stride, dilation, (oh, ow))
    kg = k // groups
    y = np.empty((n, k, oh, ow))
    for g in range(groups):
        y[:, g * kg:(g + 1) * kg] = np.einsum("ncyxrs,kcrs->nkyx", win[:, g * cg:(g + 1) * cg],
                                              w64[g * kg:(g + 1) * kg], optimize=True)
    if b is not None:
        y += b.astype(np.float64)[None, :, None, None]
    if grad_y is None:
        return y
    gy = grad_y.astype(np.float64)
    grad_w = np.empty_like(w64)
    grad_xpad = np.zeros_like(xpad)
    for g in range(groups):
        cs, ks = slice(g * cg, (g + 1) * cg), slice(g * kg, (g + 1) * kg)
        grad_w[ks] = np.einsum("ncyxrs,nkyx->kcrs", win[:, cs], gy[:, ks], optimize=True)
        contrib = np.einsum("nkyx,kcrs->ncyxrs", gy[:, ks], w64[ks], optimize=True)
        for i in range(r):
            for j in range(s):
                h0, w0 = i * dilation[0], j * dilation[1]
                grad_xpad[:, cs, h0:h0 + stride[0] * oh:stride[0], w0:w0 + stride[1] * ow:stride[1]] += \
                    contrib[..., i, j]
    grad_x = grad_xpad[:, :, pt:pt + h, pl:pl + wd]
    return y, grad_x, grad_w, gy.sum(axis=(0, 2, 3))


def _assert_close(ours, expected, terms, name, scale=None):
    """float32 result against float64: error bounded by ~sqrt(terms) eps of the magnitude."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = np.abs(expected).max() + 1.0 if scale is None else scale
    tol = 8 * np.finfo(np.float32).eps * np.sqrt(terms) * scale + 1e-6
    assert ours.dtype == np.float32, name
    assert ours.shape == expected.shape, f"{name}: shape {ours.shape} != {expected.shape}"
    err = np.abs(ours - expected).max() if ours.size else 0.0
    assert err <= tol, f"{name}: max error {err:.3g} > tolerance {tol:.3g}"


def _pads(padding, kernel, dilation):
    if padding == "same":
        return tuple(v for k, d in zip(kernel, dilation) for v in (d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2))
    if padding == "valid":
        return (0, 0, 0, 0)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, ph, pw, pw)


def check_conv(x_shape, w_shape, stride=1, padding=0, dilation=1, groups=1, bias=True, algorithm=None,
               activation=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = ops.conv2d(x, w, b, **kw, algorithm=algorithm, activation=activation)
    gy = rng.standard_normal(y.shape, dtype=np.float32)
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    ref_gy = gy if activation is None else np.where(y > 0, gy, 0).astype(np.float32)
    y_ref, gx_ref, gw_ref, gb_ref = reference_conv2d(x, w, b, pair(stride), _pads(padding, w_shape[2:], pair(dilation)),
                                                     pair(dilation), groups, grad_y=ref_gy)
    if activation == "relu":
        y_ref = np.maximum(y_ref, 0)
    terms = int(np.prod(w_shape[1:]))
    _assert_close(y, y_ref, terms, "forward")
    gx, gw, gb = ops.conv2d_backward(gy, x, w, **kw, algorithm=algorithm, activation=activation, output=y)
    _assert_close(gx, gx_ref, terms, "grad_input")
    _assert_close(gw, gw_ref, y.size // w_shape[0], "grad_weight")
    _assert_close(gb, gb_ref, y.size // w_shape[0], "grad_bias")
    return x, w, b, y, gy, (gx, gw, gb)


# ---- the seed example -------------------------------------------------------------------

def test_seed_high_pass_filter():
    image = np.array([[10, 73, 64, 12, 87, 16], [91, 45, 26, 14, 8, 71], [56, 80, 27, 0, 26, 48],
                      [42, 25, 71, 18, 9, 3], [69, 74, 34, 45, 99, 30], [78, 49, 33, 87, 51, 25]], np.float32)
    high_pass = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32)
    for algorithm in ("im2col", "winograd"):
        y = ops.conv2d(image[None, None], high_pass[None, None], algorithm=algorithm)[0, 0]
        assert y.shape == (4, 4)  # floor((6 - 3 + 2*0) / 1) + 1
        np.testing.assert_array_equal(y[0], [-90, -46, 10, -166])
        assert y[1, 0] == 167 and y[3, 3] == 261


@pytest.mark.parametrize("size,kernel,pad,stride", [(6, 3, 0, 1), (7, 3, 1, 2), (32, 5, 0, 1), (227, 11, 0, 4),
                                                    (224, 7, 3, 2), (5, 5, 2, 3), (9, 4, 1, 3)])
def test_output_size_formula(size, kernel, pad, stride):
    x = np.zeros((1, 1, size, size), np.float32)
    w = np.zeros((1, 1, kernel, kernel), np.float32)
    expected = (size - kernel + 2 * pad) // stride + 1
    assert ops.conv2d(x, w, stride=stride, padding=pad).shape == (1, 1, expected, expected)
    assert ops.conv2d_output_shape(x.shape, w.shape, stride, pad) == (1, 1, expected, expected)


# ---- each algorithm on its own ----------------------------------------------------------

GENERAL_CASES = [
    # x shape, w shape, stride, padding, dilation, groups
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1, 1),
    ((2, 3, 9, 11), (4, 3, 3, 3), 1, 1, 1, 1),
    ((1, 3, 13, 13), (5, 3, 5, 5), 2, 2, 1, 1),
    ((2, 3, 23, 23), (8, 3, 11, 11), 4, 0, 1, 1),
    ((2, 3, 17, 17), (4, 3, 7, 7), 2, 3, 1, 1),
    ((2, 4, 10, 9), (6, 2, 3, 5), (2, 3), (1, 2), (2, 1), 2),
    ((1, 6, 12, 12), (6, 2, 3, 3), 1, 1, 3, 3),
    ((3, 8, 7, 7), (16, 8, 1, 1), 1, 0, 1, 1),
    ((3, 8, 9, 9), (16, 8, 1, 1), 2, 0, 1, 1),
    ((2, 5, 6, 6), (3, 5, 3, 3), 1, 4, 1, 1),  # padding larger than half the kernel
    ((2, 4, 8, 8), (4, 4, 2, 4), 1, "same", 1, 1),  # even kernel: asymmetric padding
    ((1, 2, 9, 9), (2, 2, 3, 3), 1, "same", 2, 1),
    ((2, 3, 5, 7), (2, 3, 5, 7), 1, "valid", 1, 1),  # kernel as large as the input
]


@pytest.mark.parametrize("case", GENERAL_CASES, ids=lambda c: f"{c[0]}x{c[1]}s{c[2]}p{c[3]}d{c[4]}g{c[5]}")
def test_im2col_matches_reference(case, kernel_path, threads):
    check_conv(*case, algorithm="im2col")


@pytest.mark.parametrize("x_shape,w_shape,stride", [((3, 8, 7, 7), (16, 8, 1, 1), 1), ((1, 1, 5, 3), (1, 1, 1, 1), 1),
                                                    ((2, 17, 31, 3), (33, 17, 1, 1), 1),
                                                    ((2, 5, 20, 20), (7, 5, 1, 1), 1)])  # large: one image per GEMM
def test_gemm1x1_matches_reference(x_shape, w_shape, stride, kernel_path, threads):
    check_conv(x_shape, w_shape, stride, 0, 1, 1, algorithm="gemm1x1")


def test_gemm1x1_grouped(kernel_path):
    check_conv((2, 8, 5, 5), (12, 4, 1, 1), groups=2, algorithm="gemm1x1")


@pytest.mark.parametrize("case", [
    ((2, 8, 9, 9), (8, 1, 3, 3), 1, 1, 1), ((2, 8, 9, 9), (8, 1, 3, 3), 2, 1, 1), ((1, 3, 12, 11), (3, 1, 5, 5), 1, 2, 1),
    ((1, 3, 12, 11), (3, 1, 5, 5), 2, 2, 1), ((2, 4, 10, 10), (4, 1, 3, 3), 3, 4, 2), ((1, 1, 4, 4), (1, 1, 3, 3), 1, 0, 1),
    ((2, 5, 8, 13), (5, 1, 3, 5), (1, 2), (0, 3), (2, 1)), ((1, 16, 7, 7), (16, 1, 7, 7), 1, 3, 1),
    ((1, 3, 6, 6), (3, 1, 3, 3), 1, 3, 1),  # padding beyond the filter's reach
    ((1, 2, 10, 10), (2, 1, 9, 9), 1, 4, 1),  # more taps than the AVX2 fast path keeps
    ((2, 3, 17, 21), (3, 1, 3, 3), 1, 1, 1),  # rows not a multiple of 4, columns of 8
    # 3x3 in blocks of 7 rows (MobileNet planes), then 4, 2 and 1: rows 14, 7, 15 and 13
    ((2, 4, 14, 14), (4, 1, 3, 3), 1, 1, 1), ((2, 3, 15, 15), (3, 1, 3, 3), 2, 1, 1), ((1, 2, 13, 9), (2, 1, 3, 3), 1, 1, 1),
    # rows shorter than 8: plain stores spill into the next row, the plane's last is masked
    ((2, 3, 7, 7), (3, 1, 3, 3), 1, 1, 1), ((1, 2, 5, 3), (2, 1, 3, 3), 1, 1, 1), ((3, 2, 2, 2), (2, 1, 3, 3), 1, 1, 1),
    # planes narrower than 8, 'same' 3x3: one flat vector of pixels, in blocks of 7 vectors
    ((2, 3, 6, 6), (3, 1, 3, 3), 1, 1, 1), ((1, 2, 4, 4), (2, 1, 3, 3), 1, 1, 1), ((1, 2, 2, 4), (2, 1, 3, 3), 1, 1, 1),
    ((1, 2, 36, 7), (2, 1, 3, 3), 1, 1, 1), ((1, 2, 7, 1), (2, 1, 3, 3), 1, 1, 1),
    ((2, 3, 16, 9), (3, 1, 3, 3), 1, (1, 2), (1, 2)),  # column dilation in the 3x3 row blocks
    ((1, 2, 11, 17), (2, 1, 3, 3), 3, 1, 1),  # stride 3: phases split from the scratch row
    # stride 2 on rows of 16 or more: phases split straight from the input rows
    ((1, 2, 32, 32), (2, 1, 3, 3), 2, 1, 1), ((2, 3, 17, 21), (3, 1, 3, 3), 2, 1, 1),
    ((1, 2, 20, 35), (2, 1, 3, 3), 2, 0, 1), ((1, 2, 16, 16), (2, 1, 5, 5), 2, 2, 1),
    ((2, 3, 14, 14), (3, 1, 3, 3), 2, 1, 1), ((1, 2, 9, 11), (2, 1, 3, 3), 2, 1, 1),  # rows of 8 to 15
    # strided backward data, grad_y spread over every other row or column: stride (2, 1),
    # padding equal to the filter's reach (none left), dilation 2
    ((1, 3, 12, 10), (3, 1, 3, 3), (2, 1), 1, 1), ((1, 2, 11, 9), (2, 1, 3, 3), 2, 2, 1),
    ((1, 2, 12, 12), (2, 1, 5, 5), 2, 1, 2),
], ids=str)
def test_depthwise_matches_reference(case, kernel_path, threads):
    x_shape, w_shape, stride, padding, dilation = case
    check_conv(x_shape, w_shape, stride, padding, dilation, groups=x_shape[1], algorithm="depthwise")


@pytest.mark.parametrize("x_shape,k,padding", [((1, 1, 4, 4), 1, 0), ((2, 3, 9, 9), 4, 1), ((1, 5, 8, 7), 6, (0, 2)),
                                                ((2, 16, 14, 14), 32, 1), ((1, 64, 7, 7), 64, 1), ((3, 2, 3, 3), 2, 3),
                                                ((2, 3, 21, 37), 5, 1),  # tile rows longer than 8 tiles, odd
                                                ((5, 4, 5, 6), 3, 1)])  # several images per item
def test_winograd_matches_reference(x_shape, k, padding, kernel_path, threads):
    check_conv(x_shape, (k, x_shape[1], 3, 3), 1, padding, 1, 1, algorithm="winograd")


@pytest.mark.parametrize("case", GENERAL_CASES, ids=lambda c: f"{c[0]}x{c[1]}s{c[2]}p{c[3]}d{c[4]}g{c[5]}")
def test_direct_matches_reference(case, kernel_path, threads):
    if case[5] != 1:
        pytest.skip("direct computes groups=1 only")
    check_conv(*case, algorithm="direct")


# LeNet's conv2 (10-pixel rows) and the 1x20 and 3x4 rows take 5-pixel tiles, the others 6.
@pytest.mark.parametrize("x_shape,w_shape", [((64, 1, 32, 32), (6, 1, 5, 5)), ((4, 6, 14, 14), (16, 6, 5, 5)),
                                              ((2, 3, 12, 12), (33, 3, 3, 3)), ((1, 2, 5, 40), (17, 2, 2, 3)),
                                              ((3, 2, 3, 22), (5, 2, 3, 3)), ((1, 1, 6, 6), (2, 1, 3, 3))])
def test_direct_on_lenet_shapes_and_channel_blocks(x_shape, w_shape, kernel_path):
    check_conv(x_shape, w_shape, algorithm="direct")


@pytest.mark.parametrize("x_shape,w_shape,stride,padding,dilation", [
    ((11, 3, 9, 9), (20, 3, 3, 3), 2, 1, 1),   # 2 chunks of images (the last partial), 2 channel blocks, padded
    ((9, 2, 10, 8), (7, 2, 3, 2), 1, 2, 2),    # dilated, padding wider than half the kernel
])
def test_direct_weight_gradient_over_image_chunks(x_shape, w_shape, stride, padding, dilation, kernel_path, threads):
    check_conv(x_shape, w_shape, stride, padding, dilation, algorithm="direct")


@pytest.mark.parametrize("case", GENERAL_CASES, ids=lambda c: f"{c[0]}x{c[1]}s{c[2]}p{c[3]}d{c[4]}g{c[5]}")
def test_direct_pixels_matches_reference(case, kernel_path, threads):
    stride = case[2] if isinstance(case[2], tuple) else (case[2], case[2])
    if case[5] != 1 or stride[1] != 1:
        pytest.skip("direct_pixels computes groups=1, stride_w=1 only")
    check_conv(*case, algorithm="direct_pixels")


# Shapes for the pixel-lane tiles (6 channels x 16 pixels forward and input gradient; 6
# channels x 2 taps x 8-pixel vectors weight gradient): rows narrower than, equal to and
# wider than a tile, not multiples of 8; channel counts below, at and past one block of 6;
# an odd number of taps; 9+ images (two chunks of the weight gradient, the last partial);
# batch 1; stride_h 2 (the input gradient then falls back to im2col); dilation; padding
# on one side only and padding wider than the kernel's reach.
PIXEL_CASES = [
    # x shape, w shape, stride, padding, dilation
    ((64, 1, 32, 32), (6, 1, 5, 5), 1, 0, 1),      # LeNet conv1
    ((4, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),      # LeNet conv2 (its input gradient: 16 -> 6 channels)
    ((1, 16, 10, 10), (6, 16, 5, 5), 1, 4, 1),     # conv2's input gradient as a forward pass
    ((1, 1, 5, 5), (1, 1, 3, 3), 1, 0, 1),         # batch 1, one channel, 3-pixel rows
    ((2, 3, 9, 18), (7, 3, 3, 3), 1, 0, 1),        # 16-pixel rows, 2 blocks (6 + 1)
    ((9, 2, 7, 21), (13, 2, 3, 2), 1, 1, 1),       # 19-pixel rows, 3 blocks, 2 weight-gradient chunks
    ((3, 5, 11, 40), (5, 5, 2, 4), (2, 1), (1, 2), (2, 1)),  # stride_h 2, dilated rows
    ((2, 4, 12, 23), (6, 4, 3, 3), 1, (0, 3), (1, 2)),       # dilated columns, padding wider than reach
    ((2, 2, 8, 8), (3, 2, 4, 4), 1, "same", 1),     # even kernel: asymmetric padding
    ((2, 3, 6, 6), (2, 3, 3, 3), 1, 5, 1),          # rows of only padding
]


@pytest.mark.parametrize("case", PIXEL_CASES, ids=str)
def test_direct_pixels_tiles_and_edges(case, kernel_path, threads):
    check_conv(*case, algorithm="direct_pixels")


@pytest.mark.parametrize("x_shape,w_shape", [((64, 1, 32, 32), (6, 1, 5, 5)), ((17, 3, 12, 30), (8, 3, 3, 5))])
def test_direct_pixels_weight_gradient_bits_do_not_depend_on_threads(x_shape, w_shape, kernel_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    gy = rng.standard_normal(ops.conv2d_output_shape(x_shape, w_shape), dtype=np.float32)
    previous = fastcnn.get_num_threads()
    try:
        grads = []
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            grads.append(ops.conv2d_backward(gy, x, w, algorithm="direct_pixels"))
    finally:
        fastcnn.set_num_threads(previous)
    for one, two in zip(*grads):
        np.testing.assert_array_equal(one, two)


def test_direct_pixels_nonfinite_inputs_reach_what_torch_reaches(kernel_path):
    """Tiles read (and discard, or mask) pixels past a row's last output: an Inf there must not
    turn a zero product into NaN. x[..., -1] is read only by the last filter column."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 1, 12, 20), dtype=np.float32)
    w = rng.standard_normal((6, 1, 3, 3), dtype=np.float32)
    x[0, 0, 5, -1] = np.inf
    x[1, 0, 0, 9] = np.nan
    gy = rng.standard_normal(ops.conv2d_output_shape(x.shape, w.shape), dtype=np.float32)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = F.conv2d(xt, wt)
    yt.backward(torch.from_numpy(gy))
    y = ops.conv2d(x, w, algorithm="direct_pixels")
    _, gw, _ = ops.conv2d_backward(gy, x, w, algorithm="direct_pixels")
    for ours, theirs in ((y, yt.detach().numpy()), (gw, wt.grad.numpy())):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(theirs))
    # The NaN (row 0) reaches filter row 0, the Inf (last column) filter column 2 only.
    assert np.isfinite(gw[:, :, 1:, :2]).all() and not np.isfinite(gw[:, :, 1:, 2]).any()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_fused_relu_forward_and_backward(algorithm, kernel_path):
    shapes = {"gemm1x1": ((2, 4, 6, 6), (5, 4, 1, 1), 0, 1), "im2col": ((2, 4, 6, 6), (5, 4, 3, 3), 1, 1),
              "depthwise": ((2, 4, 6, 6), (4, 1, 3, 3), 1, 4), "winograd": ((2, 4, 6, 6), (5, 4, 3, 3), 1, 1),
              "direct": ((2, 4, 9, 9), (5, 4, 3, 3), 1, 1), "direct_pixels": ((2, 4, 9, 20), (7, 4, 3, 3), 1, 1)}
    x_shape, w_shape, padding, groups = shapes[algorithm]
    _, _, _, y, _, _ = check_conv(x_shape, w_shape, 1, padding, 1, groups, algorithm=algorithm, activation="relu")
    assert (y >= 0).all() and (y == 0).any() and (y > 0).any()


@pytest.mark.parametrize("bias", [True, False])
def test_without_bias(bias):
    check_conv((2, 3, 6, 6), (4, 3, 3, 3), padding=1, bias=bias)


def test_depthwise_buffer_reuse_across_layouts(kernel_path, threads):
    """The stride-1 fast path keeps its buffer's zeros between planes and calls; calls of
    other layouts (stride 2, another padding, the backward passes) write over them."""
    rng = np.random.default_rng(11)
    others = [((2, 8, 14, 14), 2, 1), ((2, 8, 14, 14), 1, 2), ((1, 8, 9, 12), 1, 0), ((1, 8, 16, 16), 1, 1),
              ((1, 8, 14, 14), 1, 1), ((1, 8, 33, 33), 2, 1), ((1, 8, 32, 32), 2, 0)]
    sequence = []
    for same in (((2, 8, 14, 14), 1, 1), ((1, 8, 32, 32), 2, 1)):  # each comes back after each other layout
        sequence += [same] + [case for other in others for case in (other, same)]
    for x_shape, stride, padding in sequence:
        x = rng.standard_normal(x_shape, dtype=np.float32)
        w = rng.standard_normal((8, 1, 3, 3), dtype=np.float32)
        y = ops.conv2d(x, w, stride=stride, padding=padding, groups=8, algorithm="depthwise")
        expected = ops.conv2d(x, w, stride=stride, padding=padding, groups=8, algorithm="im2col")
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
        gy = rng.standard_normal(y.shape, dtype=np.float32)
        ops.conv2d_backward(gy, x, w, stride=stride, padding=padding, groups=8, algorithm="depthwise")


def test_depthwise_strided_backward_after_a_dense_one(kernel_path, threads):
    """Strided backward data spreads grad_y over every other row of the kept-zeros buffer.
    Stride 1 and 2 on 9x9 (3x3, padding 1) lay that buffer out alike, but stride 1 writes
    every row: the buffer must be zeroed again between them, either way round."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 8, 9, 9), dtype=np.float32)
    w = rng.standard_normal((8, 1, 3, 3), dtype=np.float32)
    for stride in (1, 2, 1, 2, 2, 1):  # backward passes only: a forward one would reset the buffer
        gy = rng.standard_normal(ops.conv2d_output_shape(x.shape, w.shape, stride, 1, 1, 8), dtype=np.float32)
        kw = dict(stride=stride, padding=1, groups=8, output_mask=(True, False, False))
        got = ops.conv2d_backward(gy, x, w, **kw, algorithm="depthwise")[0]
        expected = ops.conv2d_backward(gy, x, w, **kw, algorithm="im2col")[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=f"stride {stride}")


def test_all_algorithms_agree_on_a_shape_they_share(kernel_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 10, 10), dtype=np.float32)
    w = rng.standard_normal((6, 1, 3, 3), dtype=np.float32)
    depthwise = ops.conv2d(x, w, padding=1, groups=6, algorithm="depthwise")
    im2col = ops.conv2d(x, w, padding=1, groups=6, algorithm="im2col")
    np.testing.assert_allclose(depthwise, im2col, rtol=1e-5, atol=1e-5)


# ---- randomized parity with torch -------------------------------------------------------

def _random_case(rng):
    groups = int(rng.choice([1, 1, 2, 3]))
    depthwise = rng.random() < 0.25
    c = groups * int(rng.integers(1, 4))
    k = c if depthwise else groups * int(rng.integers(1, 4))
    if depthwise:
        groups = c
    r, s = int(rng.choice([1, 2, 3, 5, 7])), int(rng.choice([1, 3, 5]))
    stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
    padding = (int(rng.integers(0, r + 2)), int(rng.integers(0, s + 2)))
    h = max(1, dilation[0] * (r - 1) + 1 - 2 * padding[0]) + int(rng.integers(0, 9))
    w = max(1, dilation[1] * (s - 1) + 1 - 2 * padding[1]) + int(rng.integers(0, 9))
    return (int(rng.integers(1, 4)), c, h, w), (k, c // groups, r, s), stride, padding, dilation, groups


@pytest.mark.parametrize("seed", range(40))
def test_random_shapes_match_torch(seed):
    rng = np.random.default_rng(1000 + seed)
    x_shape, w_shape, stride, padding, dilation, groups = _random_case(rng)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.conv2d(xt, wt, bt, **kw)
    gy = rng.standard_normal(tuple(yt.shape), dtype=np.float32)
    yt.backward(torch.from_numpy(gy))
    y = ops.conv2d(x, w, b, **kw)
    gx, gw, gb = ops.conv2d_backward(gy, x, w, **kw)
    terms = int(np.prod(w_shape[1:]))
    _assert_close(y, yt.detach().numpy(), terms, "forward")
    _assert_close(gx, xt.grad.numpy(), terms, "grad_input")
    _assert_close(gw, wt.grad.numpy(), max(1, y.size // w_shape[0]), "grad_weight")
    _assert_close(gb, bt.grad.numpy(), max(1, y.size // w_shape[0]), "grad_bias")


def test_conv1d_matches_torch():
    rng = np.random.default_rng(3)
    for stride, padding, dilation, groups in [(1, 0, 1, 1), (2, 3, 1, 1), (1, "same", 2, 2), (3, 1, 2, 4)]:
        x = rng.standard_normal((2, 4, 19), dtype=np.float32)
        w = rng.standard_normal((8, 4 // groups, 4), dtype=np.float32)
        b = rng.standard_normal(8, dtype=np.float32)
        kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        yt = F.conv1d(xt, wt, bt, **kw)
        gy = rng.standard_normal(tuple(yt.shape), dtype=np.float32)
        yt.backward(torch.from_numpy(gy))
        y = ops.conv1d(x, w, b, **kw)
        gx, gw, gb = ops.conv1d_backward(gy, x, w, **kw)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(gb, bt.grad.numpy(), rtol=1e-5, atol=1e-4)


# ---- the heuristic, forcing, workspace bounds --------------------------------------------

@pytest.mark.parametrize("fn", [ops.conv2d_output_shape, ops.conv2d_algorithm, ops.conv2d_packed_algorithm],
                         ids=lambda f: f.__name__)
def test_shape_functions_refuse_what_is_not_a_shape(fn):
    x, w = np.zeros((1, 3, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32)
    # The arrays themselves: named by their shapes, never printed whole.
    with pytest.raises(TypeError, match=r"input_shape must be a shape .* got an array of shape \(1, 3, 8, 8\)"):
        fn(x, w)
    with pytest.raises(TypeError, match="weight_shape must be a sequence of 4 ints"):
        fn((1, 3, 8, 8), (4, 3, 3))
    with pytest.raises(TypeError, match="input_shape must be a sequence of 4 ints"):
        fn((1, 3, 8, 8.5), (4, 3, 3, 3))  # a float size was passed through as 6.0
    with pytest.raises(ValueError, match=r"input_shape \(1, 3, 8, -8\) has a negative size"):
        fn((1, 3, 8, -8), (4, 3, 3, 3))
    assert fn(x.shape, list(w.shape)) == fn((1, 3, 8, 8), (4, 3, 3, 3))


def test_heuristic_choices():
    assert ops.conv2d_algorithm((8, 32, 28, 28), (32, 1, 3, 3), 1, 1, 1, 32) == "depthwise"
    assert ops.conv2d_algorithm((8, 64, 56, 56), (256, 64, 1, 1)) == "gemm1x1"
    assert ops.conv2d_algorithm((8, 64, 56, 56), (256, 64, 1, 1), stride=2) == "im2col"
    assert ops.conv2d_algorithm((1, 3, 227, 227), (96, 3, 11, 11), stride=4) == "direct"  # strided, 3 channels
    assert ops.conv2d_algorithm((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3) == "direct"  # ResNet's stem
    assert ops.conv2d_algorithm((8, 32, 112, 112), (64, 32, 3, 3), stride=2, padding=1) == "im2col"  # 32 channels
    assert ops.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1) == "winograd"
    assert ops.conv2d_algorithm((1, 256, 14, 14), (256, 256, 3, 3), padding=1) == "winograd"  # 49 tiles, 4 MiB
    assert ops.conv2d_algorithm((1, 512, 7, 7), (512, 512, 3, 3), padding=1) == "im2col"  # 16 tiles
    assert ops.conv2d_algorithm((4, 512, 7, 7), (512, 512, 3, 3), padding=1) == "im2col"  # 16 MiB of filters
    assert ops.conv2d_algorithm((16, 512, 7, 7), (512, 512, 3, 3), padding=1) == "winograd"  # 256 tiles
    assert ops.conv2d_algorithm((8, 3, 56, 56), (64, 3, 3, 3), padding=1) == "im2col"  # too few channels
    assert ops.conv2d_algorithm((64, 6, 14, 14), (16, 6, 5, 5)) == "direct"  # LeNet's conv2
    assert ops.conv2d_algorithm((64, 1, 32, 32), (6, 1, 5, 5)) == "direct_pixels"  # LeNet's conv1
    assert ops.conv2d_algorithm((64, 1, 32, 32), (6, 1, 5, 5), stride=(1, 2)) == "im2col"  # pixels not adjacent
    assert ops.conv2d_algorithm((64, 3, 10, 10), (6, 3, 5, 5)) == "im2col"  # 6-pixel rows: lanes would idle
    assert ops.conv2d_algorithm((8, 3, 32, 32), (8, 3, 3, 3)) == "direct_pixels"  # 8 channels, 30-pixel rows
    assert ops.conv2d_algorithm((8, 16, 14, 14), (8, 16, 3, 3)) == "im2col"  # 8 channels, 12-pixel rows
    assert ops.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1, stride=2) == "im2col"
    assert ops.conv2d_algorithm((8, 64, 56, 56), (64, 32, 3, 3), padding=1, groups=2) == "im2col"


def test_force_conv_algorithm():
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6), dtype=np.float32)
    w = np.ones((3, 2, 1, 1), np.float32)
    with ops.force_conv_algorithm("im2col"):
        forced = ops.conv2d(x, w)
        with pytest.raises(ValueError, match="'depthwise' cannot compute"):
            ops.conv2d(x, w, algorithm="depthwise")
    np.testing.assert_allclose(forced, ops.conv2d(x, w, algorithm="gemm1x1"), rtol=1e-6)
    with ops.force_conv_algorithm("depthwise"):
        with pytest.raises(ValueError, match="cannot compute"):
            ops.conv2d(x, w)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        ops.conv2d(x, w, algorithm="fft")
    with pytest.raises(ValueError, match="'direct_pixels' cannot compute .* stride 1x2"):
        ops.conv2d(x, w, stride=(1, 2), algorithm="direct_pixels")
    with pytest.raises(ValueError, match="'direct_pixels' cannot compute .* groups 2"):
        ops.conv2d(x, np.ones((2, 1, 1, 1), np.float32), groups=2, algorithm="direct_pixels")


@pytest.mark.parametrize("algorithm,stride", [("direct", 1), ("direct_pixels", (2, 1))])  # input gradients
def test_backward_falls_back_to_im2col_where_an_algorithm_has_none(algorithm, stride):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 6, 6), dtype=np.float32)
    w = rng.standard_normal((2, 2, 3, 3), dtype=np.float32)
    gy = rng.standard_normal(ops.conv2d_output_shape(x.shape, w.shape, stride), dtype=np.float32)
    with ops.force_conv_algorithm(algorithm):
        gx, gw, gb = ops.conv2d_backward(gy, x, w, stride)
    expected = ops.conv2d_backward(gy, x, w, stride, algorithm="im2col")
    for ours, theirs in zip((gx, gw, gb), expected):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_large_unfold_is_processed_in_blocks():
    """VGG conv1-sized unfolding (27 x 50176 per image) through the bounded workspace."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 3, 224, 224), dtype=np.float32)
    w = rng.standard_normal((8, 3, 3, 3), dtype=np.float32)
    y = ops.conv2d(x, w, padding=1, algorithm="im2col")
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_im2col_blocks_of_pixels_forward_and_backward(threads):
    """400 x 3600 columns exceed the per-thread budget: the image is processed in blocks."""
    check_conv((1, 16, 64, 64), (4, 16, 5, 5), padding=0, algorithm="im2col")


def test_empty_batch():
    x = np.zeros((0, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    assert ops.conv2d(x, w).shape == (0, 4, 6, 6)
    gx, gw, gb = ops.conv2d_backward(np.zeros((0, 4, 6, 6), np.float32), x, w)
    assert gx.shape == x.shape and not gw.any() and not gb.any()


def test_non_contiguous_input_is_accepted():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8, 8), dtype=np.float32).transpose(0, 1, 3, 2)
    w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    expected = F.conv2d(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(ops.conv2d(x, w), expected, rtol=1e-5, atol=1e-5)


# ---- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape,w_shape,kwargs,error,match", [
    ((3, 8, 8), (4, 3, 3, 3), {}, ValueError, r"input must have 4 dimensions, got shape \(3, 8, 8\)"),
    ((1, 3, 8, 8), (4, 3, 3), {}, ValueError, r"weight must have 4 dimensions"),
    ((1, 3, 8, 8), (4, 2, 3, 3), {}, ValueError, r"input of shape \(1, 3, 8, 8\) has 3 channels but weight of shape "
                                                 r"\(4, 2, 3, 3\) expects 2 \(groups=1\)"),
    ((1, 4, 8, 8), (4, 4, 3, 3), {"groups": 2}, ValueError, r"has 4 channels but weight .* expects 8 \(groups=2\)"),
    ((1, 4, 8, 8), (3, 2, 3, 3), {"groups": 2}, ValueError, r"groups=2 must divide out_channels=3"),
    ((1, 3, 4, 4), (4, 3, 5, 5), {}, ValueError, r"kernel 5x5 .* larger than the padded input 4x4"),
    ((1, 3, 4, 4), (4, 3, 3, 3), {"dilation": 2}, ValueError, r"dilated 5x5\) is larger than the padded input"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}, ValueError, r"stride must be >= 1"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": -1}, ValueError, r"padding must be >= 0"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": "full"}, ValueError, r"padding must be an int, a pair, 'valid' or 'same'"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": "same", "stride": 2}, ValueError, r"padding='same' needs stride 1"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"groups": 0}, ValueError, r"groups must be an int >= 1"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"stride": (1, 2, 3)}, TypeError, r"stride must be an int or a sequence of 2 ints"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"activation": "gelu"}, ValueError, r"activation must be None or 'relu'"),
    ((1, 3, 8, 8), (4, 3, 3, 3), {"padding": 2**31}, ValueError,
     r"the output \(1, 4, 4294967302, 4294967302\) is larger than any array can be \(input \(1, 3, 8, 8\), padding"),
])
def test_bad_arguments_raise_clear_errors(x_shape, w_shape, kwargs, error, match):
    x = np.zeros(x_shape, np.float32)
    w = np.zeros(w_shape, np.float32)
    with pytest.raises(error, match=match):
        ops.conv2d(x, w, **kwargs)


def test_wrong_dtypes_raise_type_error():
    x = np.zeros((1, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="input has dtype float64, expected float32"):
        ops.conv2d(x.astype(np.float64), w)
    with pytest.raises(TypeError, match="weight has dtype int64"):
        ops.conv2d(x, w.astype(np.int64))
    with pytest.raises(TypeError, match="bias has dtype float16"):
        ops.conv2d(x, w, np.zeros(4, np.float16))
    with pytest.raises(TypeError, match="input must be a numpy.ndarray, got list"):
        ops.conv2d([[1.0]], w)


def test_bias_and_grad_shapes_are_checked():
    x = np.zeros((1, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"bias has shape \(5,\), expected \(4,\)"):
        ops.conv2d(x, w, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"grad_output has shape \(1, 4, 5, 5\), expected \(1, 4, 6, 6\)"):
        ops.conv2d_backward(np.zeros((1, 4, 5, 5), np.float32), x, w)
    with pytest.raises(ValueError, match="activation='relu' needs the forward output"):
        ops.conv2d_backward(np.zeros((1, 4, 6, 6), np.float32), x, w, activation="relu")


def test_binding_rejects_overlapping_and_misshaped_outputs():
    C = fastcnn.backend._C
    geometry = dict(stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups=1)
    x = np.zeros((1, 2, 4, 4), np.float32)
    w = np.zeros((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"out has shape \(1, 2, 3, 3\), expected \(1, 2, 2, 2\)"):
        C.conv2d_forward(x, w, None, np.zeros((1, 2, 3, 3), np.float32), **geometry)
    buffer = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match="output out overlaps input input"):
        C.conv2d_forward(buffer[:32].reshape(1, 2, 4, 4), w, None, buffer[:8].reshape(1, 2, 2, 2), **geometry)
    with pytest.raises(ValueError, match="read-only"):
        out = np.zeros((1, 2, 2, 2), np.float32)
        out.flags.writeable = False
        C.conv2d_forward(x, w, None, out, **geometry)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        C.conv2d_forward(x, w, None, np.zeros((1, 2, 2, 2), np.float32), stride=(1, 1), padding=(-1, 0, 0, 0),
                         dilation=(1, 1), groups=1)
