"""The autograd engine: composite graphs against torch float64 autograd and finite
differences, accumulation, retain_graph, no_grad, retain_grad and in-place version checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
import fastcnn.nn.functional as F
from op_check import check_op


def _expr(x, w, b):
    """A composite: shared subexpressions, broadcasting, matmul, nonlinearities, reductions."""
    lib = torch if isinstance(x, torch.Tensor) else fastcnn
    h = (x @ w + b).tanh()
    z = h * h.sigmoid() + (h.exp() / (1 + h.abs())) - 0.5 * h
    z = lib.cat([z, h[:, :2] ** 2], 1)
    return (z.sum(1) * z.mean(1)).sum() + z.max()


def test_composite_matches_torch_float64():
    check_op(_expr, None, [(5, 4), (4, 3), (3,)], atol=2e-4, rtol=2e-4)


def test_composite_finite_differences():
    # Central differences in float32 with a large step on a smooth function: truncation
    # error ~ eps^2 * f''' and rounding ~ ulp(f)/eps, both well under 1e-2 relative here.
    rng = np.random.default_rng(3)
    arrays = [rng.uniform(-1, 1, s).astype(np.float32) for s in [(3, 4), (4, 2), (2,)]]
    inputs = [fastcnn.tensor(a, requires_grad=True) for a in arrays]
    _expr(*inputs).backward()
    eps = 1e-2
    for i, a in enumerate(arrays):
        numeric = np.zeros_like(a)
        for j in range(a.size):
            vals = []
            for sign in (1, -1):
                b = a.copy()
                b.flat[j] += sign * eps
                args = [fastcnn.tensor(b if k == i else arrays[k]) for k in range(3)]
                vals.append(_expr(*args).item())
            numeric.flat[j] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(inputs[i].grad.numpy(), numeric, rtol=1e-2, atol=1e-2)


def test_check_op_catches_wrong_gradient():
    # The helper must fail when only the gradient differs (values equal, rule wrong).
    def wrong(a):
        return fastcnn.tensor(a.detach().numpy() * 2) + a * 0.0

    with pytest.raises(AssertionError, match="gradient"):
        check_op(lambda a: a * 2, wrong, [(3,)])


def test_gradients_accumulate_across_backward_calls():
    x = fastcnn.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_shared_input_fan_out():
    check_op(lambda a: a * a + a * 3 - a / 2, None, [(4, 3)])


def test_nonscalar_backward_needs_gradient():
    y = fastcnn.randn(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        y.backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(2,\) but the tensor has shape \(3,\)"):
        y.backward(fastcnn.ones(2))


def test_backward_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fastcnn.randn(3).sum().backward()


def test_second_backward_raises_unless_retained():
    x = fastcnn.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    # Nodes that saved nothing (add, sum) can be reused, as in torch.
    z = x + 1
    z.sum().backward()
    z.sum().backward()


def test_only_leaves_get_grad_unless_retained():
    x = fastcnn.randn(2, 3, requires_grad=True)
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h.sum() + (k * k).sum()).backward()
    assert h.grad is None and k.grad is not None and k.retains_grad
    np.testing.assert_allclose(k.grad.numpy(), 2 * k.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), 2 + 18 * x.detach().numpy(), rtol=1e-5)


def test_leaf_backward_and_constant_inputs():
    x = fastcnn.randn(3, requires_grad=True)
    c = fastcnn.randn(3)
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), c.numpy())
    assert c.grad is None


def test_no_grad_context_and_decorator():
    x = fastcnn.randn(3, requires_grad=True)
    with fastcnn.no_grad():
        assert not fastcnn.is_grad_enabled()
        y = x * 2
        with fastcnn.enable_grad():
            assert fastcnn.is_grad_enabled() and (x * 2).requires_grad
    assert fastcnn.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @fastcnn.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad and fastcnn.is_grad_enabled()

    @fastcnn.no_grad
    def g(t):
        return t * 2

    @fastcnn.enable_grad()
    def h(t):
        return t * 2
    assert not g(x).requires_grad
    with fastcnn.no_grad():
        assert h(x).requires_grad
    fastcnn.set_grad_enabled(False)
    assert not fastcnn.is_grad_enabled()
    fastcnn.set_grad_enabled(True)
    with fastcnn.set_grad_enabled(False):
        assert not (x + 1).requires_grad
    assert fastcnn.is_grad_enabled()


def test_detach_stops_gradient():
    x = fastcnn.tensor([2.0], requires_grad=True)
    (x * x.detach()).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0])


def test_inplace_on_saved_tensor_raises():
    x = fastcnn.randn(3, requires_grad=True)
    h = x * 1
    y = h * h  # saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*expected version 0"):
        y.sum().backward()
    # Modifying a saved output (exp saves its result) is caught too.
    e = (x * 1).exp()
    e.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        e.sum().backward()


def test_inplace_on_leaf_requiring_grad_raises():
    x = fastcnn.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x += 1
    with fastcnn.no_grad():  # allowed, as an optimizer step
        x -= 0.5 * fastcnn.ones(3)
        x.zero_()
    assert np.all(x.detach().numpy() == 0) and x.requires_grad and x._version == 2


def test_inplace_ops_are_differentiated():
    def fn(a, b):
        h = a * 1
        h += b
        h *= b
        h -= 1.5
        h /= 2
        return h

    check_op(fn, None, [(3, 4), (4,)])
    check_op(lambda a: (a * 1).clamp_(-0.5, 0.5), None, [(5,)])


def test_inplace_values_and_versions():
    x = fastcnn.zeros(3)
    v = x._version
    x.add_(fastcnn.ones(3), alpha=2)
    x.mul_(3)
    x.copy_(x + 1)
    assert x.numpy().tolist() == [7.0, 7.0, 7.0] and x._version == v + 3
    view = x[1:]
    view.fill_(0)  # views share memory and version counter
    assert x.numpy().tolist() == [7.0, 0.0, 0.0] and x._version == v + 4
    y = fastcnn.zeros(2, 3)
    y.copy_(fastcnn.tensor([1.0, 2.0, 3.0]))  # broadcasts
    assert y.numpy()[1].tolist() == [1.0, 2.0, 3.0]


def test_functional_saved_input_modified():
    x = fastcnn.randn(1, 2, 4, 4, requires_grad=True)
    h = x * 1
    y = F.max_pool2d(h, 2)
    h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_deep_chain_no_recursion_limit():
    x = fastcnn.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 3000], rtol=1e-3)


def test_fill_and_zero_on_nonleaf_cut_gradient():
    x = fastcnn.randn(4, requires_grad=True)
    h = x * 3
    h.zero_()
    assert h.requires_grad and h.grad_fn is not None
    (h + x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones(4))
