"""fastcnn.fuse: batch norm folded into the conv/Linear before it and ReLU fused into the conv kernel.
Every zoo model with batch norm gives the same eval outputs before and after (random running stats and
affine terms), loses exactly the folded batch norms' parameters, and is left untouched by inplace=False;
the folded weights equal torch.nn.utils.fusion's."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn
from fastcnn.fuse import ConvReLU1d, ConvReLU2d, fuse_conv_bn_weights


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _randomize_bn(model, rng):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            if m.running_mean is not None:
                m.running_mean._data[...] = rng.standard_normal(c) * 0.1
                m.running_var._data[...] = rng.random(c) + 0.5
            m.weight._data[...] = rng.random(c) + 0.5
            m.bias._data[...] = rng.standard_normal(c) * 0.1
    return model


def _count(model, *types):
    return sum(1 for m in model.modules() if type(m) in types)


def _nparams(model):
    return sum(p.numel() for p in model.parameters())


def _run(model, x):
    with fastcnn.no_grad():
        return model(fastcnn.tensor(x)).numpy()


def _small_densenet():
    return models.DenseNet(growth_rate=8, block_config=(2, 2), num_init_features=16, num_classes=10)


# name, builder, input (C, H, W), convs carry a bias, batch norms left (DenseNet: BN before conv),
# ConvReLU2d modules expected (ReLU modules right after a conv or conv-BN in a Sequential)
ZOO = [
    ("resnet18", lambda: models.resnet18(num_classes=10), (3, 32, 32), False, 0, 0),
    ("resnet50", lambda: models.resnet50(num_classes=10), (3, 32, 32), False, 0, 0),
    ("resnet20", lambda: models.resnet20(), (3, 32, 32), False, 0, 0),
    ("mobilenet_v2", lambda: models.mobilenet_v2(num_classes=10), (3, 32, 32), False, 0, 0),  # ReLU6: not fused
    ("mobilenet_v1", lambda: models.mobilenet_v1(num_classes=10), (3, 32, 32), False, 0, 27),
    ("vgg11_bn", lambda: models.vgg11_bn(num_classes=10, init_weights=False), (3, 32, 32), True, 0, 8),
    ("vgg_small", lambda: models.vgg_small(), (1, 28, 28), True, 0, 6),
    ("googlenet", lambda: models.googlenet(num_classes=10), (3, 32, 32), False, 0, 0),
    ("inception_v3", lambda: models.inception_v3(num_classes=10), (3, 75, 75), False, 0, 0),
    ("densenet-small", _small_densenet, (3, 32, 32), False, None, 1),
]


@pytest.mark.parametrize("name,build,shape,conv_bias,bn_left,conv_relus", ZOO, ids=[z[0] for z in ZOO])
def test_zoo_outputs_match_after_fuse(name, build, shape, conv_bias, bn_left, conv_relus):
    rng = _rng(name)
    fastcnn.manual_seed(zlib.crc32(name.encode()))
    model = _randomize_bn(build(), rng).eval()
    x = rng.standard_normal((2,) + shape).astype(np.float32)
    before_state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    before_types = [type(m) for m in model.modules()]
    want = _run(model, x)

    fused = fastcnn.fuse(model)
    got = _run(fused, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * np.abs(want).max())

    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if bn_left is None:  # DenseNet: only the stem's norm0 follows a conv; the rest precede one
        folded, bn_left = [model.features.norm0], len(bns) - 1
    else:
        folded = bns
    assert _count(fused, nn.BatchNorm2d, nn.BatchNorm1d) == bn_left
    # Each folded BN drops weight and bias (2C); a bias-free conv gains a bias (C).
    drop = sum(m.num_features * (2 if conv_bias else 1) for m in folded)
    assert _nparams(model) - _nparams(fused) == drop
    assert _count(fused, ConvReLU2d) == conv_relus

    # inplace=False: the original model is untouched.
    assert [type(m) for m in model.modules()] == before_types
    after_state = model.state_dict()
    assert list(after_state) == list(before_state)
    assert all(np.array_equal(after_state[k].numpy(), v) for k, v in before_state.items())
    np.testing.assert_array_equal(_run(model, x), want)


def test_inplace_fuses_the_model_itself_and_keeps_parameter_keys_of_the_convs():
    model = _randomize_bn(models.vgg_small(), _rng("inplace")).eval()
    x = _rng("inplace-x").standard_normal((3, 1, 28, 28)).astype(np.float32)
    want = _run(model, x)
    keys = [k for k in model.state_dict() if k.startswith("features.0.")]
    out = fastcnn.fuse(model, inplace=True)
    assert out is model
    assert type(model.features[0]) is ConvReLU2d and type(model.features[1]) is nn.Identity
    assert type(model.features[2]) is nn.Identity  # the ReLU, now inside the conv kernel
    assert [k for k in model.state_dict() if k.startswith("features.0.")] == keys  # weight, bias
    np.testing.assert_allclose(_run(model, x), want, rtol=0, atol=1e-4 * np.abs(want).max())


def test_training_mode_model_is_refused():
    model = models.resnet20()
    with pytest.raises(ValueError, match=r"training mode; call model\.eval\(\)"):
        fastcnn.fuse(model)
    with pytest.raises(TypeError, match="fastcnn.nn.Module"):
        fastcnn.fuse("resnet20")


def test_what_is_not_folded():
    # BN before a conv, a BN without running statistics, mismatched channels, and a Sequential subclass
    # with its own forward (its order need not be the data flow) all stay as they are.
    class Custom(nn.Sequential):
        def forward(self, x):
            return self[0](x) + self[1](x)

    model = nn.Sequential(
        nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4, track_running_stats=False),
        nn.Conv2d(4, 4, 1), nn.Tanh(), nn.BatchNorm2d(4),
        Custom(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)),
    )
    _randomize_bn(model, _rng("not-folded"))
    model.eval()
    fused = fastcnn.fuse(model)
    assert [type(m) for m in fused] == [type(m) for m in model]
    assert _count(fused, nn.BatchNorm2d) == 4


def test_linear_and_conv1d_with_batchnorm1d_and_conv1d_relu():
    fastcnn.manual_seed(3)
    model = nn.Sequential(nn.Conv1d(2, 5, 3), nn.BatchNorm1d(5), nn.ReLU(), nn.Flatten(),
                          nn.Linear(5 * 6, 7), nn.BatchNorm1d(7), nn.ReLU(), nn.Linear(7, 3))
    _randomize_bn(model, _rng("1d")).eval()
    x = _rng("1d-x").standard_normal((4, 2, 8)).astype(np.float32)
    want = _run(model, x)
    fused = fastcnn.fuse(model)
    assert [type(m) for m in fused] == [ConvReLU1d, nn.Identity, nn.Identity, nn.Flatten,
                                        nn.Linear, nn.Identity, nn.ReLU, nn.Linear]  # no fused Linear+ReLU
    np.testing.assert_allclose(_run(fused, x), want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_modules_to_fuse_for_a_custom_block():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)

        def forward(self, x):
            return self.norm(self.conv(x)).tanh()

    model = nn.Sequential(Block(), nn.Flatten())
    _randomize_bn(model, _rng("custom")).eval()
    x = _rng("custom-x").standard_normal((2, 3, 5, 5)).astype(np.float32)
    want = _run(model, x)
    assert _count(fastcnn.fuse(model), nn.BatchNorm2d) == 1  # unknown block: not guessed
    fused = fastcnn.fuse(model, modules_to_fuse=[["0.conv", "0.norm"]])
    assert type(fused[0].norm) is nn.Identity
    np.testing.assert_allclose(_run(fused, x), want, rtol=0, atol=1e-5 * np.abs(want).max())
    with pytest.raises(ValueError, match=r"no child 'bn' \(children: conv, norm\)"):
        fastcnn.fuse(model, modules_to_fuse=[["0.conv", "0.bn"]])
    with pytest.raises(ValueError, match="cannot fold 0.conv"):
        fastcnn.fuse(model, modules_to_fuse=[["0.norm", "0.conv"]])
    with pytest.raises(ValueError, match="pair"):
        fastcnn.fuse(model, modules_to_fuse=["0.conv"])


def test_conv_relu_forward_and_backward_match_the_unfused_layers():
    fastcnn.manual_seed(5)
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    fused = ConvReLU2d.from_conv(conv)
    assert fused.weight is conv.weight and list(fused.state_dict()) == ["weight", "bias"]
    assert repr(fused).startswith("ConvReLU2d(3, 8, kernel_size=(3, 3)")
    x = _rng("convrelu").standard_normal((2, 3, 9, 9)).astype(np.float32)
    xa, xb = fastcnn.tensor(x, requires_grad=True), fastcnn.tensor(x, requires_grad=True)
    ref = nn.functional.relu(conv(xa))
    out = fused(xb)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = _rng("convrelu-g").standard_normal(ref.shape).astype(np.float32)
    (ref * fastcnn.tensor(g)).sum().backward()
    want = {n: p.grad.numpy().copy() for n, p in conv.named_parameters()}
    conv.zero_grad()
    (out * fastcnn.tensor(g)).sum().backward()
    np.testing.assert_allclose(xb.grad.numpy(), xa.grad.numpy(), rtol=1e-5, atol=1e-6)
    for n, p in fused.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), want[n], rtol=1e-5, atol=1e-5, err_msg=n)
    with fastcnn.no_grad():  # unbatched (C, H, W), as Conv2d accepts
        np.testing.assert_allclose(fused(fastcnn.tensor(x[0])).numpy(), out.detach().numpy()[0], rtol=1e-6)


@pytest.mark.parametrize("kind", ["conv2d", "conv2d-nobias", "conv1d", "linear"])
def test_folded_weights_equal_torch_fusion(kind):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
    rng = _rng(kind)
    torch.manual_seed(zlib.crc32(kind.encode()))
    if kind == "linear":
        layer, bn = torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5, eps=1e-3)
    elif kind == "conv1d":
        layer, bn = torch.nn.Conv1d(3, 5, 3), torch.nn.BatchNorm1d(5)
    else:
        layer, bn = torch.nn.Conv2d(3, 5, 3, bias=kind == "conv2d"), torch.nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.running_mean.copy_(torch.from_numpy(rng.standard_normal(5).astype(np.float32)))
        bn.running_var.copy_(torch.from_numpy((rng.random(5) + 0.1).astype(np.float32)))
        bn.weight.copy_(torch.from_numpy(rng.standard_normal(5).astype(np.float32)))
        bn.bias.copy_(torch.from_numpy(rng.standard_normal(5).astype(np.float32)))
    layer.eval(), bn.eval()
    ref = (fuse_linear_bn_eval if kind == "linear" else fuse_conv_bn_eval)(layer, bn)
    n = lambda t: None if t is None else t.detach().numpy()  # noqa: E731
    w, b = fuse_conv_bn_weights(n(layer.weight), n(layer.bias), n(bn.running_mean), n(bn.running_var), bn.eps,
                                n(bn.weight), n(bn.bias))
    np.testing.assert_allclose(w, n(ref.weight), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b, n(ref.bias), rtol=1e-6, atol=1e-6)
