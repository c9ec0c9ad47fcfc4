"""fastcnn.nn.functional against torch.nn.functional, forward and every input gradient,
on both kernel paths and 1 and 2 threads. Tolerances: float32 kernels against torch in
float64, scaled by the reduction length of the op (conv: C*R*S terms of order 1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastcnn
import fastcnn.nn.functional as F
from op_check import check_op


def both(name, *args, **kwargs):
    """(torch_fn, our_fn) calling nn.functional.<name>(inputs..., *args, **kwargs)."""
    return (lambda *xs: getattr(TF, name)(*xs, *args, **kwargs),
            lambda *xs: getattr(F, name)(*xs, *args, **kwargs))


def labels(shape, classes, seed=0, ignore=None):
    t = np.random.default_rng(seed).integers(0, classes, size=shape).astype(np.int64)
    if ignore is not None:
        t.flat[::3] = ignore
    return t


CONV2D = [  # input shape, weight shape, kwargs
    ((1, 1, 5, 5), (1, 1, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(stride=2, padding=1)),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding="same")),
    ((1, 3, 9, 8), (2, 3, 3, 2), dict(dilation=2, padding="valid")),
    ((2, 4, 5, 5), (4, 1, 3, 3), dict(groups=4, padding=(1, 2))),
    ((3, 5, 4, 4), (7, 5, 1, 1), {}),
    ((1, 16, 8, 8), (16, 16, 3, 3), dict(padding=1)),  # winograd-eligible
]


@pytest.mark.parametrize("xs,ws,kw", CONV2D, ids=[str(c[2]) or str(i) for i, c in enumerate(CONV2D)])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv2d(kernel_path, threads, xs, ws, kw, bias):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    k = ws[1] * ws[2] * ws[3]
    check_op(*both("conv2d", **kw), shapes, atol=2e-5 * k, rtol=1e-4, low=-1, high=1)


def test_conv2d_random_geometry(kernel_path):
    rng = np.random.default_rng(11)
    for case in range(8):
        groups = int(rng.choice([1, 2, 3]))
        c, k = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
        r, s = (int(v) for v in rng.integers(1, 4, 2))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = (int(rng.integers(0, r)), int(rng.integers(0, s)))
        h = dilation[0] * (r - 1) + 1 + int(rng.integers(0, 6))
        w = dilation[1] * (s - 1) + 1 + int(rng.integers(0, 6))
        n = int(rng.integers(1, 4))
        check_op(*both("conv2d", stride=stride, padding=padding, dilation=dilation, groups=groups),
                 [(n, c, h, w), (k, c // groups, r, s), (k,)], atol=2e-5 * c * r * s, rtol=1e-4, low=-1,
                 high=1, seed=case)


def test_conv_unbatched():
    check_op(*both("conv2d", padding=1), [(3, 5, 5), (2, 3, 3, 3), (2,)], atol=1e-4)
    check_op(*both("conv1d"), [(3, 7), (2, 3, 3)], atol=1e-4)


@pytest.mark.parametrize("xs,ws,kw", [((2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
                                      ((1, 4, 7), (4, 2, 2), dict(groups=2, dilation=2)),
                                      ((1, 2, 6), (3, 2, 3), dict(padding="same"))], ids=str)
def test_conv1d(kernel_path, xs, ws, kw):
    check_op(*both("conv1d", **kw), [xs, ws, (ws[0],)], atol=1e-4, rtol=1e-4, low=-1, high=1)


@pytest.mark.parametrize("shapes", [[(4, 5), (3, 5), (3,)], [(2, 3, 5), (6, 5)], [(5,), (2, 5), (2,)]], ids=str)
def test_linear(shapes):
    check_op(*both("linear"), shapes)


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=1, dilation=(1, 2)),
                                dict(kernel_size=3, stride=2, ceil_mode=True)], ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 5, 6)], ids=str)
def test_max_pool2d(kernel_path, threads, shape, kw):
    check_op(*both("max_pool2d", **kw), [shape])
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    out, idx = F.max_pool2d(fastcnn.tensor(x), return_indices=True, **kw)
    ref, ref_idx = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    np.testing.assert_array_equal(idx.numpy(), ref_idx.numpy())
    assert idx.dtype == fastcnn.int64


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                                dict(kernel_size=2, ceil_mode=True, stride=2), dict(kernel_size=2, divisor_override=3)],
                         ids=str)
def test_avg_pool2d(kernel_path, threads, kw):
    check_op(*both("avg_pool2d", **kw), [(2, 3, 7, 7)])


@pytest.mark.parametrize("size", [1, (3, 2), (None, 4), 5], ids=str)
def test_adaptive_avg_pool2d(kernel_path, size):
    check_op(*both("adaptive_avg_pool2d", size), [(2, 3, 7, 5)])


@pytest.mark.parametrize("name,args", [("relu", ()), ("leaky_relu", (0.1,)), ("tanh", ()), ("sigmoid", ()),
                                       ("softmax", (1,)), ("log_softmax", (-1,)), ("softmax", (0,))])
@pytest.mark.parametrize("shape", [(1, 1), (4, 7), (2, 3, 5)], ids=str)
def test_activations(kernel_path, threads, name, args, shape):
    check_op(*both(name, *args), [shape], low=-3, high=3)


def test_inplace_activation_without_grad():
    x = fastcnn.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x.numpy().tolist() == [0.0, 2.0]
    with pytest.raises(RuntimeError, match="inplace=True on a tensor that requires grad"):
        F.relu(fastcnn.randn(2, requires_grad=True) * 1, inplace=True)


@pytest.mark.parametrize("kw", [{}, dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=1),
                                dict(label_smoothing=0.2), dict(label_smoothing=0.1, reduction="sum")], ids=str)
def test_cross_entropy(kernel_path, threads, kw):
    check_op(*both("cross_entropy", **kw), [(6, 5), labels((6,), 5)])
    check_op(*both("cross_entropy", **kw), [(2, 4, 3, 3), labels((2, 3, 3), 4, 1)])


def test_cross_entropy_weight_ignore_index():
    w = np.array([0.5, 2.0, 1.0, 1.5], np.float32)
    check_op(*both("cross_entropy", ignore_index=-1), [(9, 4), labels((9,), 4, 2, ignore=-1), w],
             grad_inputs=[0])


@pytest.mark.parametrize("kw", [{}, dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=2)], ids=str)
def test_nll_loss(kernel_path, kw):
    check_op(*both("nll_loss", **kw), [(7, 4), labels((7,), 4, 3)])
    w = np.array([1.0, 0.3, 2.0, 1.0], np.float32)
    check_op(*both("nll_loss", **kw), [(7, 4), labels((7,), 4, 3), w], grad_inputs=[0])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(kernel_path, reduction):
    check_op(*both("mse_loss", reduction=reduction), [(3, 4, 5), (3, 4, 5)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(kernel_path, reduction):
    rng = np.random.default_rng(5)
    target = rng.uniform(0, 1, (4, 6)).astype(np.float32)
    check_op(*both("binary_cross_entropy_with_logits", reduction=reduction), [(4, 6), target])
    w = rng.uniform(0.5, 2, (6,)).astype(np.float32)
    pw = rng.uniform(0.5, 2, (6,)).astype(np.float32)
    check_op(lambda x, t, w_, p_: TF.binary_cross_entropy_with_logits(x, t, w_, reduction=reduction, pos_weight=p_),
             lambda x, t, w_, p_: F.binary_cross_entropy_with_logits(x, t, w_, reduction=reduction, pos_weight=p_),
             [(4, 6), target, w, pw], grad_inputs=[0, 1])


def test_loss_errors():
    x = fastcnn.randn(4, 3, requires_grad=True)
    with pytest.raises(TypeError, match="cross_entropy: target must hold int64 class indices, got dtype float32"):
        F.cross_entropy(x, fastcnn.randn(4))
    with pytest.raises(ValueError, match=r"cross_entropy: target has shape \(5,\)"):
        F.cross_entropy(x, fastcnn.tensor([0, 1, 2, 0, 1]))
    with pytest.raises(ValueError, match=r"mse_loss: input \(4, 3\) and target \(3,\)"):
        F.mse_loss(x, fastcnn.randn(3))
    with pytest.raises(TypeError, match="conv2d: input must be a fastcnn.Tensor, got ndarray"):
        F.conv2d(np.zeros((1, 1, 3, 3), np.float32), fastcnn.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="conv2d: input of shape .* has 2 channels but weight"):
        F.conv2d(fastcnn.randn(1, 2, 5, 5), fastcnn.randn(1, 3, 3, 3))
    with pytest.raises(TypeError, match="softmax: dim must be given"):
        F.softmax(x)
    with pytest.raises(ValueError, match=r"linear: input \(4, 3\) and weight \(2, 5\)"):
        F.linear(x, fastcnn.randn(2, 5))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 3, 4, 4)], ids=str)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_training(kernel_path, threads, shape, affine):
    c = shape[1]
    rm0 = np.random.default_rng(9).standard_normal(c).astype(np.float32)
    rv0 = np.random.default_rng(9).uniform(0.5, 2, c).astype(np.float32)
    stats = {}

    def run(lib, fn, x, *wb):
        rm = lib.tensor(rm0.copy() if lib is fastcnn else rm0.astype(np.float64))
        rv = lib.tensor(rv0.copy() if lib is fastcnn else rv0.astype(np.float64))
        stats[lib.__name__] = (rm, rv)
        return fn(x, rm, rv, *wb, training=True, momentum=0.2)

    check_op(lambda *a: run(torch, TF.batch_norm, *a), lambda *a: run(fastcnn, F.batch_norm, *a),
             [shape] + ([(c,), (c,)] if affine else []), atol=1e-4, rtol=1e-3)
    for ours, ref in zip(stats["fastcnn"], stats["torch"]):
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)
        assert ours._version == 1


def test_batch_norm_eval_and_bias_only():
    rm = np.array([0.1, -0.2, 0.3], np.float32)
    rv = np.array([1.5, 0.7, 1.0], np.float32)
    check_op(lambda x, w, b: TF.batch_norm(x, torch.tensor(rm, dtype=torch.float64),
                                           torch.tensor(rv, dtype=torch.float64), w, b, training=False),
             lambda x, w, b: F.batch_norm(x, fastcnn.tensor(rm), fastcnn.tensor(rv), w, b, training=False),
             [(4, 3, 2, 2), (3,), (3,)])
    check_op(lambda x, b: TF.batch_norm(x, None, None, None, b, training=True),
             lambda x, b: F.batch_norm(x, None, None, None, b, training=True), [(5, 3), (3,)],
             atol=1e-4, rtol=1e-3)


def test_dropout(kernel_path, threads):
    x = fastcnn.ones(50, 40, requires_grad=True)
    fastcnn.manual_seed(7)
    y = F.dropout(x, 0.3)
    fastcnn.manual_seed(7)
    y2 = F.dropout(x, 0.3)
    y3 = F.dropout(x, 0.3)  # the generator moved on
    kept = y.detach().numpy() != 0
    np.testing.assert_array_equal(y.detach().numpy(), y2.detach().numpy())
    assert not np.array_equal(y3.detach().numpy(), y2.detach().numpy())
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.8
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    y.backward(fastcnn.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / 0.7, 0), rtol=1e-6)
    assert F.dropout(x, 0.5, training=False) is x
    with pytest.raises(ValueError, match="dropout: p must be a probability"):
        F.dropout(x, 1.5)


@pytest.mark.parametrize("size", [1, 3, 4])
def test_local_response_norm(kernel_path, size):
    check_op(*both("local_response_norm", size, alpha=1e-2, beta=0.75, k=1.0), [(2, 6, 3, 3)])


@pytest.mark.parametrize("pads,value", [((1, 2), 0.0), ((1, 0, 2, 1), 1.5), ((0, 1, 1, 0, 2, 2), 0.0)], ids=str)
def test_pad(pads, value):
    check_op(*both("pad", pads, value=value), [(2, 3, 4)])


def test_pad_errors():
    with pytest.raises(ValueError, match=r"pad: pad \(1, 2, 3\) must have an even length"):
        F.pad(fastcnn.zeros(2, 2), (1, 2, 3))
    with pytest.raises(ValueError, match="only mode='constant'"):
        F.pad(fastcnn.zeros(2, 2), (1, 1), mode="reflect")


def test_flatten():
    check_op(lambda x: torch.flatten(x, 1), lambda x: F.flatten(x, 1), [(2, 3, 4, 5)])


def test_small_cnn_end_to_end(kernel_path):
    """conv -> bn -> relu -> pool -> linear -> cross_entropy, every parameter's gradient."""
    y = labels((3,), 5, 4)

    def net(lib, fn):
        def f(x, w1, b1, g, bb, w2, b2):
            h = fn.conv2d(x, w1, b1, padding=1)
            h = fn.batch_norm(h, None, None, g, bb, training=True)
            h = fn.max_pool2d(fn.relu(h), 2)
            h = fn.adaptive_avg_pool2d(h, 2).flatten(1)
            return fn.cross_entropy(fn.linear(h, w2, b2), lib.tensor(y), label_smoothing=0.1)
        return f

    check_op(net(torch, TF), net(fastcnn, F),
             [(3, 2, 8, 8), (4, 2, 3, 3), (4,), (4,), (4,), (5, 16), (5,)], atol=1e-4, rtol=1e-3, low=-1, high=1)
