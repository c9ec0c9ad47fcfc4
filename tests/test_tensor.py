"""fastcnn.Tensor: tensor ops forward and backward against torch (check_op), metadata,
conversions, DLPack, factories and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
from op_check import check_op

BROADCAST_PAIRS = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((5,), ()), ((), (2, 3)),
                   ((1,), (1,)), ((2, 1, 3), (4, 1))]


@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("fn", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b], ids=["add", "sub", "mul", "div"])
def test_binary_broadcast(fn, shapes):
    sa, sb = shapes
    b = np.random.default_rng(1).uniform(0.5, 2.0, size=sb).astype(np.float32)  # away from 0 for div
    check_op(fn, None, [sa, b])


@pytest.mark.parametrize("fn", [lambda a: a + 2, lambda a: 3 - a, lambda a: a * -1.5, lambda a: 2 / a,
                                lambda a: a / 4, lambda a: -a, lambda a: a ** 2, lambda a: a ** 0.5,
                                lambda a: 2.0 ** a, lambda a: a ** -1],
                         ids=["radd", "rsub", "mul_scalar", "rdiv", "div_scalar", "neg", "square", "pow_half",
                              "rpow", "reciprocal"])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3)], ids=str)
def test_scalar_operands(fn, shape):
    check_op(fn, None, [shape], low=0.5, high=2.0)


def test_binary_broadcast_random_shapes():
    rng = np.random.default_rng(42)
    for case in range(12):
        ndim = int(rng.integers(0, 5))
        full = [int(d) for d in rng.integers(1, 5, ndim)]
        sa = tuple(d if rng.random() < 0.6 else 1 for d in full)
        sb = tuple(d if rng.random() < 0.6 else 1 for d in full)[int(rng.integers(0, ndim + 1)):]
        op = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b * a][case % 3]
        check_op(op, None, [sa, sb], seed=case)


def test_numpy_operands():
    x = fastcnn.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0], np.float32)
    for y in (a * x, x * a, np.float32(2) * x, x + np.int64(1), a - x):
        assert isinstance(y, fastcnn.Tensor) and y.requires_grad
    (a * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a)
    assert (fastcnn.tensor([1, 0]) * np.bool_(True)).dtype == fastcnn.int64


def test_pow_tensor_tensor():
    check_op(lambda a, b: a ** b, None, [(3, 4), (4,)], low=0.5, high=2.0)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(), (1,), (3, 5), (2, 3, 4)], ids=str)
def test_unary(name, shape):
    low = 0.2 if name in ("log", "sqrt") else -2.0
    check_op(lambda a: getattr(a, name)(), None, [shape], low=low)


def test_clamp():
    check_op(lambda a: a.clamp(-0.5, 0.7), None, [(4, 5)])
    check_op(lambda a: a.clamp(min=0.1), None, [(6,)])


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), False),
                                         ((0, 2), True)])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_reductions(name, dim, keepdim):
    if dim is None:
        check_op(lambda a: getattr(a, name)(), None, [(3, 4, 5)])
    else:
        check_op(lambda a: getattr(a, name)(dim, keepdim), None, [(3, 4, 5)])


@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False)])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim(name, dim, keepdim):
    check_op(lambda a: getattr(a, name)(dim, keepdim)[0], None, [(3, 4, 5)])
    x = fastcnn.randn(3, 4, 5)
    ours = getattr(x, name)(dim, keepdim)[1].numpy()
    ref = getattr(torch.from_numpy(x.numpy()), name)(dim, keepdim)[1].numpy()
    np.testing.assert_array_equal(ours, ref)


def test_max_full_ties_share_gradient():
    check_op(lambda a: a.max(), None, [np.array([1.0, 3.0, 3.0, -1.0], np.float32)])
    check_op(lambda a: a.min(), None, [(4, 3)])


def test_argmax():
    x = fastcnn.randn(4, 6)
    t = torch.from_numpy(x.numpy())
    assert x.argmax().item() == t.argmax().item()
    np.testing.assert_array_equal(x.argmax(1).numpy(), t.argmax(1).numpy())
    np.testing.assert_array_equal(x.argmax(0, keepdim=True).numpy(), t.argmax(0, keepdim=True).numpy())


@pytest.mark.parametrize("a,b", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                 ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                 ((1, 1), (1, 1)), ((4,), (3, 4, 2))], ids=str)
def test_matmul(a, b):
    check_op(lambda x, y: x @ y, None, [a, b])


def test_matmul_errors():
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\) cannot be multiplied"):
        fastcnn.randn(3, 4) @ fastcnn.randn(5, 2)
    with pytest.raises(ValueError, match=r"matmul: batch dimensions of shapes \(2, 3, 4\) and \(3, 4, 5\)"):
        fastcnn.randn(2, 3, 4) @ fastcnn.randn(3, 4, 5)
    with pytest.raises(TypeError, match="matmul: input has dtype int64"):
        fastcnn.arange(4) @ fastcnn.randn(4)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        fastcnn.tensor(2.0) @ fastcnn.randn(4)


def test_broadcast_error_names_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\) cannot be broadcast"):
        fastcnn.randn(3, 4) + fastcnn.randn(5)
    with pytest.raises(ValueError, match=r"mul: shapes \(2,\) and \(3,\)"):
        fastcnn.randn(2) * fastcnn.randn(3)
    with pytest.raises(TypeError, match="add: unsupported operand type str"):
        fastcnn.randn(2) + "a"


@pytest.mark.parametrize("fn", [
    lambda a: a.reshape(4, 6), lambda a: a.reshape(-1), lambda a: a.view(2, 12), lambda a: a.flatten(),
    lambda a: a.flatten(1), lambda a: a.permute(2, 0, 1), lambda a: a.transpose(0, 2), lambda a: a[0].T,
    lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(-1), lambda a: a[1], lambda a: a[:, 1:3, ::2],
    lambda a: a[..., -1], lambda a: a[None, 0, :, 1], lambda a: a.reshape(2, 1, 3, 4).squeeze(),
    lambda a: a.reshape(2, 1, 3, 4).squeeze(1), lambda a: a[:, 0:1].expand(2, 3, 4),
], ids=["reshape", "reshape-1", "view", "flatten", "flatten1", "permute", "transpose", "T", "unsqueeze",
        "unsqueeze-1", "int", "slices", "ellipsis", "none", "squeeze", "squeeze1", "expand"])
def test_shape_ops(fn):
    check_op(fn, None, [(2, 3, 4)])


def test_t():
    check_op(lambda a: a.t(), None, [(3, 5)])
    check_op(lambda a: a.t(), None, [(3,)])


def test_advanced_indexing_accumulates():
    idx = np.array([0, 2, 0, 0], dtype=np.int64)
    check_op(lambda a: a[torch.from_numpy(idx)] if isinstance(a, torch.Tensor) else a[fastcnn.tensor(idx)],
             None, [(3, 4)])
    check_op(lambda a: a[[1, 1, 0], [0, 3, 3]], None, [(3, 4)])
    x = fastcnn.randn(3, 4)
    mask = x > 0
    np.testing.assert_array_equal(x[mask].numpy(), x.numpy()[x.numpy() > 0])
    check_op(lambda a: a[a > 0], None, [(3, 4)])


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    check_op(lambda a, b, c: (torch if isinstance(a, torch.Tensor) else fastcnn).cat([a, b, c], dim), None,
             [(2, 3, 2), (2, 3, 2), (2, 3, 2)])
    check_op(lambda a, b: (torch if isinstance(a, torch.Tensor) else fastcnn).stack([a, b], dim), None,
             [(2, 3), (2, 3)])
    check_op(lambda a, b: (torch if isinstance(a, torch.Tensor) else fastcnn).cat([a, b], 0), None,
             [(1, 3), (4, 3)])


def test_cat_stack_errors():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\), which does not match \(2, 3\)"):
        fastcnn.cat([fastcnn.zeros(2, 3), fastcnn.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(3,\) but tensor 0 has shape \(2,\)"):
        fastcnn.stack([fastcnn.zeros(2), fastcnn.zeros(3)])
    with pytest.raises(ValueError, match="non-empty"):
        fastcnn.cat([])


def test_comparisons():
    a, b = fastcnn.tensor([1.0, 2.0, 3.0]), fastcnn.tensor([3.0, 2.0, 1.0])
    for op, ref in [("__eq__", [0, 1, 0]), ("__ne__", [1, 0, 1]), ("__lt__", [1, 0, 0]), ("__le__", [1, 1, 0]),
                    ("__gt__", [0, 0, 1]), ("__ge__", [0, 1, 1])]:
        r = getattr(a, op)(b)
        assert r.dtype == fastcnn.bool and not r.requires_grad
        np.testing.assert_array_equal(r.numpy(), np.array(ref, bool))
    assert ((fastcnn.randn(3, requires_grad=True) > 0).requires_grad) is False
    np.testing.assert_array_equal((a == 2).numpy(), [False, True, False])


def test_dtypes_and_promotion():
    assert fastcnn.tensor(np.zeros(3, np.float64)).dtype == fastcnn.float32
    assert fastcnn.tensor([1, 2]).dtype == fastcnn.int64
    assert fastcnn.tensor(np.zeros(2, np.int32)).dtype == fastcnn.int64
    assert fastcnn.tensor([True]).dtype == fastcnn.bool
    assert (fastcnn.tensor([1, 2]) + 1).dtype == fastcnn.int64
    assert (fastcnn.tensor([1, 2]) + 0.5).dtype == fastcnn.float32
    assert (fastcnn.tensor([1, 2]) / 2).dtype == fastcnn.float32
    assert fastcnn.tensor([1.5]).long().dtype == fastcnn.int64
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        fastcnn.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="cannot convert data of dtype"):
        fastcnn.tensor(np.array(["a"]))


def test_metadata_and_item():
    x = fastcnn.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3 and x.numel() == 24
    assert x.size() == (2, 3, 4) and x.size(-1) == 4 and len(x) == 2 and x.device == "cpu"
    assert fastcnn.tensor(2.5).item() == 2.5
    assert fastcnn.tensor([[7]]).item() == 7
    with pytest.raises(ValueError, match=r"item: only one-element tensors.*\(2, 3, 4\)"):
        x.item()
    assert x.is_leaf and not x.requires_grad and x.grad is None and x.grad_fn is None


def test_repr_like_torch():
    for data in ([1.0, 2.0], [[1.5, -2.25], [0.125, 3.0]], [1, 2], 2.5):
        assert repr(fastcnn.tensor(data)) == repr(torch.tensor(data))
    assert repr(fastcnn.tensor([1.5], requires_grad=True)) == "tensor([1.5000], requires_grad=True)"
    y = fastcnn.tensor([1.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2.], grad_fn=<MulBackward0>)"


def test_tensor_copies_from_numpy_shares():
    a = np.arange(6, dtype=np.float32)
    t = fastcnn.tensor(a)
    s = fastcnn.from_numpy(a)
    a[0] = 100
    assert t.numpy()[0] == 0 and s.numpy()[0] == 100
    assert s.numpy() is a
    assert np.asarray(s) is a
    with pytest.raises(TypeError, match="from_numpy: array has dtype float64"):
        fastcnn.from_numpy(np.zeros(2))


def test_numpy_refused_with_grad():
    x = fastcnn.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        x.numpy()
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.detach().numpy())


def test_dlpack_round_trip_shares_memory():
    x = fastcnn.arange(6).float().reshape(2, 3).contiguous()
    t = torch.from_dlpack(x)
    t[0, 0] = 42.0  # torch writes, we see it
    assert x.numpy()[0, 0] == 42.0
    back = fastcnn.from_dlpack(t)
    back.numpy()[1, 2] = -7.0
    assert t[1, 2].item() == -7.0 and x.numpy()[1, 2] == -7.0
    src = torch.arange(4, dtype=torch.int64)
    y = fastcnn.from_dlpack(src)
    assert y.dtype == fastcnn.int64
    src[1] = 9
    assert y.numpy()[1] == 9
    with pytest.raises(RuntimeError, match="requires grad"):
        torch.from_dlpack(fastcnn.randn(2, requires_grad=True))


def test_factories_and_seed():
    assert fastcnn.zeros(2, 3).numpy().sum() == 0 and fastcnn.zeros((2, 3)).shape == (2, 3)
    assert fastcnn.ones(4).numpy().sum() == 4 and fastcnn.empty(3, 2).shape == (3, 2)
    assert fastcnn.full((2, 2), 1.5).numpy().tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert fastcnn.full((2,), 3).dtype == fastcnn.int64
    x = fastcnn.randn(5)
    assert fastcnn.zeros_like(x).shape == (5,) and fastcnn.ones_like(x).numpy().sum() == 5
    np.testing.assert_array_equal(fastcnn.arange(5).numpy(), np.arange(5))
    assert fastcnn.arange(0, 1, 0.25).dtype == fastcnn.float32
    assert fastcnn.arange(3, dtype=fastcnn.float32).dtype == fastcnn.float32
    fastcnn.manual_seed(123)
    a, b = fastcnn.randn(4, 5), fastcnn.rand(6)
    fastcnn.manual_seed(123)
    np.testing.assert_array_equal(a.numpy(), fastcnn.randn(4, 5).numpy())
    np.testing.assert_array_equal(b.numpy(), fastcnn.rand(6).numpy())
    assert not np.array_equal(fastcnn.randn(4, 5).numpy(), a.numpy())
    r = fastcnn.rand(1000).numpy()
    assert r.dtype == np.float32 and r.min() >= 0 and r.max() < 1
    assert fastcnn.randn(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="manual_seed: seed must be an int"):
        fastcnn.manual_seed(1.5)
    assert fastcnn.zeros(2, device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="zeros: only device='cpu' is supported"):
        fastcnn.zeros(2, device="cuda")
    with pytest.raises(TypeError, match="randn: dtype must be fastcnn.float32"):
        fastcnn.randn(2, dtype=fastcnn.int64)


def test_index_errors():
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        fastcnn.zeros(2, 3)[5]
    with pytest.raises(IndexError, match="sum: dim 3 is out of range"):
        fastcnn.zeros(2, 3).sum(3)
    with pytest.raises(RuntimeError, match=r"reshape: shape \(4, 4\) is invalid for input of size 6"):
        fastcnn.zeros(2, 3).reshape(4, 4)
    with pytest.raises(RuntimeError, match="view: the tensor is not contiguous"):
        fastcnn.zeros(2, 3).t().view(6)


def test_setitem():
    x = fastcnn.zeros(3, 4)
    x[1] = fastcnn.ones(4)
    x[0, 2] = 5
    x[x > 4] = 7.0
    ref = np.zeros((3, 4), np.float32)
    ref[1], ref[0, 2] = 1, 7
    np.testing.assert_array_equal(x.numpy(), ref)

    def put(a, v):
        h = a * 1
        h[1:, ::2] = v * 2
        return h
    check_op(put, None, [(3, 4), (2,)])
    with pytest.raises(ValueError, match=r"setitem: value of shape \(3,\)"):
        x[0] = fastcnn.ones(3)


def test_iteration_and_device():
    x = fastcnn.arange(6).reshape(3, 2)
    assert [r.tolist() for r in x] == [[0, 1], [2, 3], [4, 5]]
    assert x.to("cpu") is x and x.cpu() is x
    with pytest.raises(ValueError, match="only the 'cpu' device"):
        x.to("cuda")


def test_return_types_and_int_promotion():
    x = fastcnn.randn(3, 4)
    r = x.max(1)
    values, indices = r
    assert r.values is values and r.indices is indices and indices.dtype == fastcnn.int64
    i = fastcnn.tensor([1, 4, 9])
    np.testing.assert_allclose(i.sqrt().numpy(), [1, 2, 3])
    assert i.exp().dtype == fastcnn.float32
    with pytest.raises(TypeError, match="mean: could not infer the output dtype"):
        i.mean()
    y = fastcnn.zeros(2, 4)
    assert x[:2].view_as(y).shape == (2, 4) and x[:1].expand_as(y).shape == (2, 4)
    assert x.reshape_as(fastcnn.zeros(12)).shape == (12,)


def test_review_fixes_match_torch():
    """Found in review: where() with a wider condition, pow's gradient at 0**0, cat's dtype."""
    import torch

    x = fastcnn.tensor([0.0, 2.0], requires_grad=True)
    y = fastcnn.tensor([0.0, 3.0], requires_grad=True)
    (x ** y).sum().backward()
    xt = torch.tensor([0.0, 2.0], requires_grad=True)
    yt = torch.tensor([0.0, 3.0], requires_grad=True)
    (xt ** yt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_allclose(y.grad.numpy(), yt.grad.numpy(), rtol=1e-6)

    cond = np.array([[True, False, True], [False, True, False]])
    a = fastcnn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = fastcnn.tensor(0.5, requires_grad=True)
    fastcnn.where(fastcnn.tensor(cond), a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])
    assert b.grad.item() == 3.0

    mixed = fastcnn.cat([fastcnn.tensor(np.array([True])), fastcnn.tensor(np.array([5]))])
    assert mixed.dtype == fastcnn.int64 and mixed.numpy().tolist() == [1, 5]
