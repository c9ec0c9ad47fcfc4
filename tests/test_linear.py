"""F.linear's own rule (one GEMM per gradient, the weight's gradient row-major) against
torch, over input ranks, an empty batch and without bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
import fastcnn.nn.functional as F
from op_check import check_op


@pytest.mark.parametrize("x_shape", [(7,), (4, 7), (2, 3, 7), (0, 7)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch(x_shape, with_bias):
    shapes = [x_shape, (5, 7)] + ([(5,)] if with_bias else [])
    check_op(lambda *a: torch.nn.functional.linear(*a), lambda *a: F.linear(*a), shapes)


def test_weight_gradient_is_row_major_and_sums_with_a_later_one():
    fastcnn.manual_seed(0)
    layer = fastcnn.nn.Linear(6, 3)
    x = fastcnn.randn(4, 6)
    layer(x).sum().backward()
    assert layer.weight.grad.numpy().flags.c_contiguous
    first = layer.weight.grad.numpy().copy()
    layer(x).sum().backward()  # accumulates
    np.testing.assert_allclose(layer.weight.grad.numpy(), 2 * first, rtol=1e-6)


def test_broadcast_upstream_gradient():
    w = fastcnn.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), requires_grad=True)
    x = fastcnn.tensor(np.ones((300, 4), np.float32), requires_grad=True)
    F.linear(x, w).mean().backward()  # the mean's gradient reaches linear as a broadcast view
    np.testing.assert_allclose(w.grad.numpy(), np.full((3, 4), 300 / 900, np.float32), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), np.tile(np.arange(12).reshape(3, 4).sum(0) / 900, (300, 1)), rtol=1e-6)
