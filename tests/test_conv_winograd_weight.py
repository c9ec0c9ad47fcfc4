"""Winograd F(2x2, 3x3) weight gradient (csrc/cpu/conv_winograd_weight.cpp), on its own:
against a float64 torch reference, over item and part boundaries, and on the image sizes
whose power-of-two strides once made it slow (the padding must not change results).
test_conv.py's Winograd cases check it against the NumPy reference as well."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import ops

CASES = [  # (batch, in channels, out channels, height, width, padding)
    (1, 1, 1, 3, 3, 1),
    (2, 3, 5, 7, 9, 0),        # odd sizes: half tiles at the right and bottom edges
    (3, 4, 6, 5, 6, 2),        # padding 2: tiles whose patches are mostly padding
    (4, 16, 16, 32, 32, 1),    # 256-tile items (padded strides), several parts
    (16, 32, 24, 7, 7, 1),     # many images per item
    (2, 8, 4, 21, 37, 1),      # tile rows longer than 8 tiles (the AVX2 input transform)
    (1, 64, 64, 14, 14, 1),
]


def _torch_weight_grad(x, gy, w_shape, padding):
    return torch.ops.aten.convolution_backward(
        torch.from_numpy(gy).double(), torch.from_numpy(x).double(), torch.zeros(w_shape, dtype=torch.float64), None,
        [1, 1], [padding, padding], [1, 1], False, [0, 0], 1, [False, True, False])[1].numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_weight_gradient_matches_torch_float64(case, kernel_path, threads):
    n, c, k, h, w, pad = case
    rng = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = rng.standard_normal((n, c, h, w), dtype=np.float32)
    weight = rng.standard_normal((k, c, 3, 3), dtype=np.float32)
    gy = rng.standard_normal(ops.conv2d_output_shape(x.shape, weight.shape, padding=pad), dtype=np.float32)
    _, gw, gb = ops.conv2d_backward(gy, x, weight, padding=pad, output_mask=(False, True, True), algorithm="winograd")
    want = _torch_weight_grad(x, gy, weight.shape, pad)
    # Each entry sums n*oh*ow products; the transforms add a few roundings per term.
    terms = gy.size // k
    tolerance = 8 * np.finfo(np.float32).eps * np.sqrt(terms) * (np.abs(want).max() + 1)
    np.testing.assert_allclose(gw, want, rtol=0, atol=tolerance)
    np.testing.assert_allclose(gb, gy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-4)


def test_auto_uses_winograd_weight_gradient_where_the_forward_does():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 16, 16, 16), dtype=np.float32)
    w = rng.standard_normal((32, 16, 3, 3), dtype=np.float32)
    gy = rng.standard_normal((8, 32, 16, 16), dtype=np.float32)
    assert ops.conv2d_algorithm(x.shape, w.shape, padding=1) == "winograd"
    mask = (False, True, False)
    auto = ops.conv2d_backward(gy, x, w, padding=1, output_mask=mask)[1]
    forced = ops.conv2d_backward(gy, x, w, padding=1, output_mask=mask, algorithm="winograd")[1]
    unfolded = ops.conv2d_backward(gy, x, w, padding=1, output_mask=mask, algorithm="im2col")[1]
    np.testing.assert_array_equal(auto, forced)  # the same kernel, bit for bit
    assert not np.array_equal(auto, unfolded)  # im2col rounds differently: the choice is visible
    np.testing.assert_allclose(auto, unfolded, rtol=1e-4, atol=1e-3)


def test_weight_gradient_through_autograd_matches_torch():
    fastcnn.manual_seed(0)
    conv = fastcnn.nn.Conv2d(16, 16, 3, padding=1)
    theirs = torch.nn.Conv2d(16, 16, 3, padding=1)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(conv.weight.detach().numpy()))
        theirs.bias.copy_(torch.from_numpy(conv.bias.detach().numpy()))
    x = np.random.default_rng(1).standard_normal((8, 16, 16, 16)).astype(np.float32)
    (conv(fastcnn.from_numpy(x)) ** 2).sum().backward()
    (theirs(torch.from_numpy(x)) ** 2).sum().backward()
    want = theirs.weight.grad.numpy()
    assert np.abs(conv.weight.grad.numpy() - want).max() <= 1e-5 * np.abs(want).max()
