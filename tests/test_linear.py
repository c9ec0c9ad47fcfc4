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


def test_owned_gradients_are_kept_without_a_copy_and_never_shared():
    fastcnn.manual_seed(0)
    fc = fastcnn.nn.Linear(6, 3)
    conv = fastcnn.nn.Conv2d(2, 4, 3)
    x = fastcnn.randn(2, 2, 5, 5)
    (fc(conv(x).flatten(1)[:, :6]).sum()).backward()
    for p in (fc.weight, conv.weight, conv.bias):
        assert p.grad.numpy().flags.writeable and p.grad.numpy().flags.c_contiguous
    first = {id(p): p.grad.numpy().copy() for p in (fc.weight, fc.bias, conv.weight, conv.bias)}
    (fc(conv(x).flatten(1)[:, :6]).sum()).backward()  # accumulates in place into the kept arrays
    for p in (fc.weight, fc.bias, conv.weight, conv.bias):
        np.testing.assert_allclose(p.grad.numpy(), 2 * first[id(p)], rtol=1e-5, atol=1e-6)
    # Two leaves fed the same array by one rule (add) must still get separate gradients.
    a = fastcnn.tensor(np.ones(3, np.float32), requires_grad=True)
    b = fastcnn.tensor(np.ones(3, np.float32), requires_grad=True)
    (a + b).sum().backward()
    a.grad.numpy()[...] = 5.0
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, np.float32))


def test_owned_gradient_with_retain_graph_twice():
    fastcnn.manual_seed(1)
    fc = fastcnn.nn.Linear(4, 2)
    x = fastcnn.randn(3, 4)
    loss = fc(x).sum()
    loss.backward(retain_graph=True)
    once = fc.weight.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(fc.weight.grad.numpy(), 2 * once, rtol=1e-6)
