"""clamp, hardtanh and ReLU6: the native kernels (fastcnn.ops.clamp*) and the layers on them,
against torch 2.13, including the values where the two gradients differ (the bounds, NaN)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
import fastcnn.nn.functional as F
from fastcnn import nn, ops
from op_check import check_op

# Every case the semantics care about: inside, at each bound, outside, infinities, NaN.
EDGES = np.array([-7.0, -1.0, -0.5, 0.0, 0.5, 1.0, 6.0, 6.5, np.inf, -np.inf, np.nan], np.float32)


def _big(seed=0, size=100_003):  # odd length: the vector loops' tails, and two threads' shares
    x = np.random.default_rng(seed).uniform(-8, 8, size).astype(np.float32)
    x[::97] = 0.0
    x[1::89] = 6.0
    return x


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.0, 1.0), (None, 0.5), (-0.5, None), (2.0, 1.0)])
def test_clamp_kernel_matches_torch(lo, hi, threads):
    for x in (EDGES, _big()):
        got = ops.clamp(x, lo, hi)
        want = torch.clamp(torch.from_numpy(x), lo, hi).numpy()
        np.testing.assert_array_equal(got, want)  # selects only: bit for bit, NaN where torch has NaN
        g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
        t = torch.from_numpy(x.copy()).requires_grad_()
        torch.clamp(t, lo, hi).backward(torch.from_numpy(g))
        np.testing.assert_array_equal(ops.clamp_backward(g, x, lo, hi), t.grad.numpy())


@pytest.mark.parametrize("lo,hi", [(0.0, 6.0), (-1.0, 1.0), (-2.5, 0.25)])
def test_hardtanh_backward_matches_torch(lo, hi, threads):
    for x in (EDGES, _big(3)):
        g = np.random.default_rng(2).standard_normal(x.shape).astype(np.float32)
        t = torch.from_numpy(x.copy()).requires_grad_()
        torch.nn.functional.hardtanh(t, lo, hi).backward(torch.from_numpy(g))
        np.testing.assert_array_equal(ops.hardtanh_backward(g, x, lo, hi), t.grad.numpy())


def test_clamp_in_place_and_bad_arguments():
    x = EDGES.copy()
    assert ops.clamp(x, 0.0, 6.0, out=x) is x
    np.testing.assert_array_equal(x, torch.clamp(torch.from_numpy(EDGES), 0.0, 6.0).numpy())
    with pytest.raises(ValueError, match="at least one of min and max"):
        ops.clamp(EDGES)
    with pytest.raises(TypeError, match="clamp: input has dtype float64"):
        ops.clamp(EDGES.astype(np.float64), 0.0, 1.0)
    with pytest.raises(TypeError, match="min must be a real number"):
        ops.clamp(EDGES, "0", 1.0)
    with pytest.raises(ValueError, match="grad_output has shape \\(3,\\) but input has shape \\(11,\\)"):
        ops.clamp_backward(np.zeros(3, np.float32), EDGES, 0.0, 1.0)
    with pytest.raises(ValueError, match="out must be a float32 array"):
        ops.clamp(EDGES, 0.0, 1.0, out=np.empty(3, np.float32))


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1000,)])
def test_functional_and_tensor_against_torch(shape):
    check_op(lambda x: torch.nn.functional.relu6(x), lambda x: F.relu6(x), [shape], low=-3, high=9)
    check_op(lambda x: torch.nn.functional.hardtanh(x, -0.5, 2.0), lambda x: F.hardtanh(x, -0.5, 2.0), [shape])
    check_op(lambda x: x.clamp(-0.5, 0.75), None, [shape])
    check_op(lambda x: x.clamp(max=0.25), None, [shape])


def test_relu6_gradient_at_the_bounds_follows_torch():
    x = fastcnn.tensor(EDGES, requires_grad=True)
    F.relu6(x).sum().backward()
    t = torch.from_numpy(EDGES.copy()).requires_grad_()
    torch.nn.functional.relu6(t).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())  # 0 at 0 and 6, NaN passes


def test_tensor_clamp_keeps_other_dtypes_and_tensor_bounds():
    labels = fastcnn.tensor(np.array([-3, 2, 9]))
    np.testing.assert_array_equal(labels.clamp(0, 5).numpy(), [0, 2, 5])
    x = fastcnn.tensor(np.array([-1.0, 0.5, 3.0], np.float32), requires_grad=True)
    bound = np.array([0.0, 0.0, 1.0], np.float32)
    y = x.clamp(bound, None)
    np.testing.assert_array_equal(y.detach().numpy(), [0.0, 0.5, 3.0])


def test_layers_match_torch_repr_and_values():
    x = np.random.default_rng(4).uniform(-3, 9, (4, 6)).astype(np.float32)
    for ours, theirs in [(nn.ReLU6(), torch.nn.ReLU6()), (nn.ReLU6(inplace=True), torch.nn.ReLU6(inplace=True)),
                         (nn.Hardtanh(), torch.nn.Hardtanh()), (nn.Hardtanh(-2.0, 3.0), torch.nn.Hardtanh(-2.0, 3.0))]:
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(ours(fastcnn.tensor(x.copy())).numpy(), theirs(torch.from_numpy(x.copy())).numpy())
    with pytest.raises(ValueError, match="min_val 2.0 is greater than max_val 1.0"):
        nn.Hardtanh(2.0, 1.0)


@pytest.mark.parametrize("lo,hi", [(np.nan, 1.0), (0.0, np.nan), (None, np.nan)])
def test_nan_bound_gives_nan_and_zero_gradient_as_torch(lo, hi):
    x = fastcnn.tensor(EDGES, requires_grad=True)
    y = x.clamp(lo, hi)
    y.sum().backward()
    t = torch.from_numpy(EDGES.copy()).requires_grad_()
    u = torch.clamp(t, lo, hi)
    u.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), u.detach().numpy())
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
