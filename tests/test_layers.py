"""nn layers against the same torch 2.13 layer with the same weights (forward, backward,
running statistics), on both kernel paths and 1 and 2 threads.

The reference is torch in float64 with weights copied from a float32 torch layer (so
both sides hold exactly the same values); our result is float32, so the error is float32
rounding grown over each output's reduction: atol/rtol ~1e-5 for short reductions (tens
of terms), scaled by sqrt(reduction length) beyond that.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import nn


def _to_torch64(module):
    return module.double()


def _pair(ours, theirs, shape, *, train=True, steps=1, tol=2e-5, seed=0, low=-2.0, high=2.0, check_out=None):
    """Load torch's weights into ours, then run `steps` forward/backward passes on both and compare."""
    rng = np.random.default_rng(seed)
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    theirs = _to_torch64(theirs)
    ours.train(train)
    theirs.train(train)
    for _ in range(steps):
        x = rng.uniform(low, high, size=shape).astype(np.float32)
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        xo = fastcnn.tensor(x, requires_grad=True)
        yt, yo = theirs(xt), ours(xo)
        assert yo.shape == tuple(yt.shape)
        scale = max(1.0, float(yt.detach().abs().max()))
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol * scale)
        g = rng.standard_normal(yt.shape)
        yt.backward(torch.tensor(g))
        yo.backward(fastcnn.tensor(g.astype(np.float32)))
        gscale = max(1.0, float(xt.grad.abs().max()))
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol * gscale)
        ours_params = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            mine = ours_params[name]
            pscale = max(1.0, float(p.grad.abs().max()))
            np.testing.assert_allclose(mine.grad.numpy(), p.grad.numpy(), rtol=tol, atol=tol * pscale,
                                       err_msg=f"grad of {name}")
        ours.zero_grad()
        theirs.zero_grad()
    ours_buffers = dict(ours.named_buffers())
    for name, b in theirs.named_buffers():
        np.testing.assert_allclose(ours_buffers[name].numpy(), b.numpy(), rtol=tol, atol=tol, err_msg=name)
        assert ours_buffers[name].dtype == (fastcnn.int64 if b.dtype == torch.int64 else fastcnn.float32)


CONV2D_CASES = [
    # (in, out, kernel, kwargs, input shape)
    (1, 6, 5, dict(padding=2), (2, 1, 12, 12)),
    (3, 4, 3, dict(stride=2, padding=1, bias=False), (1, 3, 9, 7)),
    (4, 4, 3, dict(groups=4, padding="same"), (2, 4, 6, 5)),
    (4, 6, (3, 2), dict(groups=2, dilation=(2, 1), padding="valid"), (1, 4, 9, 8)),
    (2, 3, 4, dict(padding="same"), (1, 2, 7, 6)),  # even kernel: asymmetric 'same' padding
]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("cin,cout,k,kw,shape", CONV2D_CASES)
def test_conv2d(cin, cout, k, kw, shape, kernel_path, threads):
    torch.manual_seed(0)
    _pair(nn.Conv2d(cin, cout, k, **kw), torch.nn.Conv2d(cin, cout, k, **kw), shape, tol=3e-5)


@pytest.mark.parametrize("cin,cout,k,kw,shape", [
    (2, 3, 3, dict(padding=1), (2, 2, 10)),
    (4, 2, 2, dict(stride=2, groups=2, bias=False), (1, 4, 9)),
    (1, 2, 3, dict(padding="same", dilation=2), (3, 1, 8)),
])
def test_conv1d(cin, cout, k, kw, shape, kernel_path, threads):
    torch.manual_seed(1)
    _pair(nn.Conv1d(cin, cout, k, **kw), torch.nn.Conv1d(cin, cout, k, **kw), shape)


def test_conv_unbatched_input():
    torch.manual_seed(2)
    _pair(nn.Conv2d(2, 3, 3), torch.nn.Conv2d(2, 3, 3), (2, 5, 5))


@pytest.mark.parametrize("fin,fout,bias,shape", [(7, 5, True, (3, 7)), (16, 1, False, (1, 16)),
                                                 (4, 3, True, (2, 3, 4))])
def test_linear(fin, fout, bias, shape, kernel_path, threads):
    torch.manual_seed(3)
    _pair(nn.Linear(fin, fout, bias), torch.nn.Linear(fin, fout, bias), shape)


def test_linear_matches_numpy_reference():
    """y = x W^T + b in float64 NumPy, written out."""
    layer = nn.Linear(6, 4)
    x = np.random.default_rng(4).standard_normal((5, 6)).astype(np.float32)
    w = layer.weight.detach().numpy().astype(np.float64)
    b = layer.bias.detach().numpy().astype(np.float64)
    expected = x.astype(np.float64) @ w.T + b
    np.testing.assert_allclose(layer(fastcnn.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


POOL_CASES = [
    (lambda m: m.MaxPool2d(2), (2, 3, 8, 8)),
    (lambda m: m.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (1, 2, 7, 9)),
    (lambda m: m.MaxPool2d((2, 3), dilation=2), (1, 1, 9, 10)),
    (lambda m: m.AvgPool2d(2), (2, 3, 8, 8)),
    (lambda m: m.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (1, 2, 7, 6)),
    (lambda m: m.AvgPool2d(2, ceil_mode=True, divisor_override=3), (1, 1, 5, 5)),
    (lambda m: m.AdaptiveAvgPool2d((3, 2)), (2, 2, 7, 5)),
    (lambda m: m.AdaptiveAvgPool2d(1), (1, 3, 4, 4)),
]


@pytest.mark.parametrize("make,shape", POOL_CASES)
def test_pooling(make, shape, kernel_path, threads):
    _pair(make(nn), make(torch.nn), shape)


ACT_CASES = [
    (lambda m: m.ReLU(), (3, 4, 5)),
    (lambda m: m.LeakyReLU(0.2), (2, 7)),
    (lambda m: m.Tanh(), (2, 3, 4, 4)),
    (lambda m: m.Sigmoid(), (9,)),
    (lambda m: m.Softmax(dim=1), (3, 5)),
    (lambda m: m.Softmax(dim=-1), (2, 3, 4)),
    (lambda m: m.LogSoftmax(dim=1), (4, 6)),
    (lambda m: m.Flatten(), (2, 3, 4, 5)),
    (lambda m: m.Flatten(0, 2), (2, 3, 4, 5)),
    (lambda m: m.Identity(54, unused=1), (2, 3)),
    (lambda m: m.LocalResponseNorm(3), (2, 5, 4, 4)),
    (lambda m: m.LocalResponseNorm(2, alpha=1e-2, beta=0.5, k=2.0), (1, 4, 3, 3)),
    (lambda m: m.Dropout(0.3), (4, 5)),  # in eval mode it is the identity (train below)
]


@pytest.mark.parametrize("make,shape", ACT_CASES)
def test_stateless_layers(make, shape, kernel_path):
    _pair(make(nn), make(torch.nn), shape, train=False)


def test_relu_and_pool_train_mode_same_as_eval():
    _pair(nn.ReLU(), torch.nn.ReLU(), (3, 4), train=True)


@pytest.mark.parametrize("make,shape", [
    (lambda m: m.BatchNorm2d(3), (4, 3, 5, 5)),
    (lambda m: m.BatchNorm2d(2, momentum=None, eps=1e-3), (2, 2, 3, 4)),
    (lambda m: m.BatchNorm2d(3, affine=False), (1, 3, 4, 4)),
    (lambda m: m.BatchNorm1d(5), (6, 5)),
    (lambda m: m.BatchNorm1d(3, momentum=0.3), (4, 3, 7)),
])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm(make, shape, train, kernel_path, threads):
    torch.manual_seed(5)
    theirs = make(torch.nn)
    if theirs.affine:  # non-trivial affine parameters and running statistics
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    with torch.no_grad():
        theirs.running_mean.uniform_(-0.3, 0.3)
        theirs.running_var.uniform_(0.5, 2.0)
    ours = make(nn)
    # Three steps: running statistics and num_batches_tracked are compared after them.
    _pair(ours, theirs, shape, train=train, steps=3, tol=5e-5)
    assert int(ours.num_batches_tracked.item()) == (3 if train else 0)


def test_batchnorm_without_running_stats(kernel_path):
    _pair(nn.BatchNorm2d(2, track_running_stats=False), torch.nn.BatchNorm2d(2, track_running_stats=False),
          (3, 2, 4, 4), train=False, steps=2, tol=5e-5)


def test_batchnorm_eval_matches_numpy_reference():
    bn = nn.BatchNorm2d(3).eval()
    rng = np.random.default_rng(6)
    bn.running_mean.numpy()[...] = rng.uniform(-1, 1, 3)
    bn.running_var.numpy()[...] = rng.uniform(0.5, 2, 3)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    mean = bn.running_mean.numpy().astype(np.float64)[:, None, None]
    var = bn.running_var.numpy().astype(np.float64)[:, None, None]
    expected = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(bn(fastcnn.tensor(x)).detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_dropout_train_mode_masks_and_scales():
    fastcnn.manual_seed(0)
    layer = nn.Dropout(0.25)
    x = fastcnn.ones(1000, requires_grad=True)
    y = layer(x)
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75, rtol=1e-6)
    assert 0.15 < 1 - kept.mean() < 0.35
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy() != 0, kept)
    assert layer.eval()(x) is x


@pytest.mark.parametrize("make_loss,input_shape,target", [
    (lambda m, w: m.CrossEntropyLoss(), (6, 4), "class"),
    (lambda m, w: m.CrossEntropyLoss(weight=w(4), ignore_index=1, label_smoothing=0.1), (6, 4), "class"),
    (lambda m, w: m.CrossEntropyLoss(reduction="sum"), (3, 5, 2, 2), "class"),
    (lambda m, w: m.CrossEntropyLoss(reduction="none", label_smoothing=0.2), (5, 3), "class"),
    (lambda m, w: m.NLLLoss(), (6, 4), "logp"),
    (lambda m, w: m.NLLLoss(weight=w(4), reduction="sum"), (6, 4), "logp"),
    (lambda m, w: m.MSELoss(), (3, 4), "float"),
    (lambda m, w: m.MSELoss(reduction="none"), (2, 3, 2), "float"),
    (lambda m, w: m.BCEWithLogitsLoss(), (4, 3), "prob"),
    (lambda m, w: m.BCEWithLogitsLoss(pos_weight=w(3), reduction="sum"), (4, 3), "prob"),
])
def test_losses(make_loss, input_shape, target, kernel_path):
    rng = np.random.default_rng(7)
    weights = rng.uniform(0.5, 2.0, 8).astype(np.float32)
    ours = make_loss(nn, lambda n: fastcnn.tensor(weights[:n]))
    theirs = make_loss(torch.nn, lambda n: torch.tensor(weights[:n], dtype=torch.float64))
    x = rng.standard_normal(input_shape).astype(np.float32)
    if target in ("class", "logp"):
        shape = (input_shape[0],) + input_shape[2:]
        t = rng.integers(0, input_shape[1], size=shape)
        if target == "logp":
            x = torch.log_softmax(torch.tensor(x, dtype=torch.float64), 1).numpy().astype(np.float32)
        to, tt = fastcnn.tensor(t), torch.tensor(t)
    else:
        t = (rng.uniform(0, 1, input_shape) if target == "prob" else rng.standard_normal(input_shape)).astype(np.float32)
        to, tt = fastcnn.tensor(t), torch.tensor(t, dtype=torch.float64)
    xo = fastcnn.tensor(x, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    lo, lt = ours(xo, to), theirs(xt, tt)
    np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=2e-5, atol=2e-6)
    g = rng.standard_normal(lt.shape)
    lo.backward(fastcnn.tensor(g.astype(np.float32)))
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=2e-5, atol=2e-6)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert repr(ours) == repr(theirs)


# ---- bad arguments ------------------------------------------------------------------------

@pytest.mark.parametrize("make,exc,match", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ValueError, "in_channels"),
    (lambda: nn.Conv2d(4, 3, 3, groups=2), ValueError, "out_channels"),
    (lambda: nn.Conv2d(2, 2, 3, padding="full"), ValueError, "padding"),
    (lambda: nn.Conv2d(2, 2, 3, stride=2, padding="same"), ValueError, "strided"),
    (lambda: nn.Conv2d(2, 2, 3, padding_mode="reflect"), ValueError, "padding_mode"),
    (lambda: nn.Conv2d(2, 2, (3, 3, 3)), TypeError, "kernel_size"),
    (lambda: nn.Conv2d(0, 2, 3), ValueError, "in_channels"),
    (lambda: nn.Conv1d(2, 2, 0), ValueError, "kernel_size"),
    (lambda: nn.Linear(2.5, 3), TypeError, "in_features"),
    (lambda: nn.BatchNorm2d(0), ValueError, "num_features"),
    (lambda: nn.Dropout(1.5), ValueError, "dropout probability"),
    (lambda: nn.CrossEntropyLoss(reduction="avg"), ValueError, "reduction"),
    (lambda: nn.Linear(2, 3, device="cuda:0"), ValueError, "device"),
])
def test_bad_constructor_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
        nn.BatchNorm2d(3)(fastcnn.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="num_features=3"):
        nn.BatchNorm1d(3)(fastcnn.zeros(2, 4))
    with pytest.raises(ValueError, match=r"linear: input \(2, 5\)"):
        nn.Linear(4, 3)(fastcnn.zeros(2, 5))
    with pytest.raises(ValueError, match="conv2d"):
        nn.Conv2d(3, 4, 3)(fastcnn.zeros(1, 2, 5, 5))
    with pytest.raises(TypeError, match="input must be a fastcnn.Tensor"):
        nn.Conv2d(3, 4, 3)(np.zeros((1, 3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="kernel_size"):
        nn.MaxPool2d(5)(fastcnn.zeros(1, 1, 4, 4))


def test_default_init_matches_torch_bounds():
    """kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    fastcnn.manual_seed(0)
    conv = nn.Conv2d(6, 16, 5)
    fan_in = 6 * 25
    bound = 1 / math.sqrt(fan_in)
    for p in (conv.weight, conv.bias):
        a = p.detach().numpy()
        assert np.abs(a).max() <= bound
    w = conv.weight.detach().numpy()
    assert np.abs(w).max() > 0.95 * bound  # 2400 samples fill the interval
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    lin = nn.Linear(400, 120)
    assert np.abs(lin.weight.detach().numpy()).max() <= 1 / 20
    assert np.abs(lin.bias.detach().numpy()).max() <= 1 / 20
    fastcnn.manual_seed(0)
    again = nn.Conv2d(6, 16, 5)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)  # seeded: reproducible
