"""nn.Module mechanics (registration, traversal, modes, freezing, state_dict) and nn.init,
checked against torch 2.13's behaviour on the same models."""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import nn
from fastcnn.nn import init


def vgg_like(m):
    """A small VGG-like net, built the same way from torch.nn or fastcnn.nn."""
    return m.Sequential(OrderedDict([
        ("features", m.Sequential(
            m.Conv2d(3, 8, 3, padding=1), m.BatchNorm2d(8), m.ReLU(inplace=False),
            m.Conv2d(8, 8, 3, padding=1, bias=False), m.BatchNorm2d(8), m.ReLU(), m.MaxPool2d(2))),
        ("pool", m.AdaptiveAvgPool2d((2, 2))),
        ("flatten", m.Flatten()),
        ("classifier", m.Sequential(m.Linear(32, 16), m.ReLU(), m.Dropout(0.5), m.Linear(16, 10))),
    ]))


def lenet_class(m):
    class LeNet5(m.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = m.Conv2d(1, 6, 5, padding=2)
            self.bn1 = m.BatchNorm2d(6)
            self.conv2 = m.Conv2d(6, 16, 5)
            self.pool = m.AvgPool2d(2)
            self.fcs = m.ModuleList([m.Linear(400, 120), m.Linear(120, 84)])
            self.heads = m.ModuleDict({"out": m.Linear(84, 10)})
            self.act = m.Tanh()

        def forward(self, x):
            x = self.pool(self.act(self.bn1(self.conv1(x))))
            x = self.pool(self.act(self.conv2(x))).flatten(1)
            for fc in self.fcs:
                x = self.act(fc(x))
            return self.heads["out"](x)
    return LeNet5()


@pytest.mark.parametrize("build", [vgg_like, lenet_class])
def test_state_dict_keys_shapes_and_traversal_match_torch(build):
    ours, theirs = build(nn), build(torch.nn)
    sd_ours, sd_theirs = ours.state_dict(), theirs.state_dict()
    assert isinstance(sd_ours, OrderedDict)
    assert list(sd_ours) == list(sd_theirs)
    for key, value in sd_theirs.items():
        assert sd_ours[key].shape == tuple(value.shape), key
        assert not sd_ours[key].requires_grad
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert len(list(ours.children())) == len(list(theirs.children()))
    assert sd_ours["features.1.num_batches_tracked" if build is vgg_like else "bn1.num_batches_tracked"].dtype \
        == fastcnn.int64
    assert repr(ours) == repr(theirs)
    # torch's state dict loads into ours and ours into torch; forward agrees in eval mode.
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()})
    ours.eval()
    theirs.eval()
    shape = (2, 3, 8, 8) if build is vgg_like else (2, 1, 28, 28)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(fastcnn.tensor(x)).detach().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_state_dict_shares_memory_and_load_copies_in_place():
    layer = nn.Linear(3, 2)
    sd = layer.state_dict()
    assert np.shares_memory(sd["weight"].numpy(), layer.weight.detach().numpy())
    weight = layer.weight
    new = {"weight": np.ones((2, 3), np.float32), "bias": torch.zeros(2)}  # numpy and torch values
    result = layer.load_state_dict(new)
    assert layer.weight is weight  # same Parameter, values copied in
    np.testing.assert_array_equal(layer.weight.detach().numpy(), 1)
    np.testing.assert_array_equal(layer.bias.detach().numpy(), 0)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"


def test_load_state_dict_strict_errors_name_keys_and_shapes():
    model = vgg_like(nn)
    before = model.state_dict()["classifier.0.weight"].numpy().copy()
    sd = dict(vgg_like(torch.nn).state_dict())
    del sd["features.1.running_mean"]
    sd["extra.weight"] = torch.zeros(3)
    sd["classifier.0.weight"] = torch.zeros(16, 31)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(sd)
    msg = str(info.value)
    assert "Error(s) in loading state_dict for Sequential" in msg
    assert 'Missing key(s) in state_dict: "features.1.running_mean"' in msg
    assert 'Unexpected key(s) in state_dict: "extra.weight"' in msg
    assert ("size mismatch for classifier.0.weight: copying a param with shape (16, 31) from checkpoint, "
            "the shape in current model is (16, 32)") in msg
    np.testing.assert_array_equal(model.state_dict()["classifier.0.weight"].numpy(), before)  # untouched
    # strict=False: missing/unexpected are returned, shape mismatches still raise (as torch).
    with pytest.raises(RuntimeError, match="size mismatch for classifier.0.weight"):
        model.load_state_dict(sd, strict=False)
    sd["classifier.0.weight"] = torch.zeros(16, 32)
    result = model.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["features.1.running_mean"]
    assert result.unexpected_keys == ["extra.weight"]
    with pytest.raises(TypeError, match="dict-like"):
        model.load_state_dict([1, 2])


def test_registration_and_attribute_rules():
    m = nn.Module()
    m.w = nn.Parameter(fastcnn.zeros(2))
    m.register_buffer("stat", fastcnn.ones(2))
    m.register_buffer("scratch", fastcnn.zeros(1), persistent=False)
    m.child = nn.Linear(2, 2)
    m.plain = 3
    assert [n for n, _ in m.named_parameters()] == ["w", "child.weight", "child.bias"]
    assert list(m.state_dict()) == ["w", "stat", "child.weight", "child.bias"]  # scratch is not persistent
    assert [n for n, _ in m.named_buffers()] == ["stat", "scratch"]
    assert m.w.requires_grad and isinstance(m.w, fastcnn.Tensor)
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = fastcnn.zeros(2)
    with pytest.raises(TypeError, match="buffer 'stat'"):
        m.stat = 3
    with pytest.raises(KeyError, match="attribute 'plain' already exists"):
        m.register_buffer("plain", fastcnn.zeros(1))
    with pytest.raises(KeyError, match="name can.*t contain"):
        m.add_module("a.b", nn.ReLU())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing  # noqa: B018
    m.w = None
    assert "w" not in dict(m.named_parameters())
    del m.child
    assert list(m.state_dict()) == ["stat"]
    shared = nn.Linear(2, 2)
    tied = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(tied.parameters())) == 2  # no duplicates, as torch
    assert len(list(tied.modules())) == 3


def test_train_eval_zero_grad_freeze_and_apply():
    model = vgg_like(nn)
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="boolean"):
        model.train("yes")
    # Freeze the features: only the classifier gets gradients.
    model.features.requires_grad_(False)
    x = fastcnn.randn(2, 3, 8, 8)
    model(x).sum().backward()
    for name, p in model.named_parameters():
        if name.startswith("features"):
            assert p.grad is None and not p.requires_grad, name
        else:
            assert p.grad is not None and p.grad.shape == p.shape, name
    model.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in model.classifier.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Sequential" and seen[0] == "Conv2d"  # children before parents, as torch
    model.apply(lambda m: init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
    assert np.all(model.classifier[0].bias.detach().numpy() == 0)


def test_sequential_modulelist_moduledict():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "1", "2"] and isinstance(seq[1], nn.Linear)
    with pytest.raises(IndexError):
        seq[5]
    out = seq(fastcnn.randn(5, 4))
    assert out.shape == (5, 2)
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.append(nn.Sigmoid())
    ml += [nn.Identity()]
    assert len(ml) == 4 and isinstance(ml[2], nn.Sigmoid) and isinstance(ml[1:], nn.ModuleList)
    md = nn.ModuleDict({"a": nn.Linear(2, 2)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    t = torch.nn
    assert repr(nn.Sequential(nn.Linear(4, 3), nn.ReLU())) == repr(t.Sequential(t.Linear(4, 3), t.ReLU()))


@pytest.mark.parametrize("build", [
    lambda m: m.ModuleList([m.Linear(2, 2) for _ in range(3)] + [m.ReLU(), m.Sequential(m.Tanh(), m.Tanh())] * 2),
    lambda m: m.ModuleList(),
    lambda m: m.ModuleDict({"a": m.Conv2d(1, 2, 3), "b": m.ModuleList([m.ReLU()])}),
])
def test_container_repr_matches_torch(build):
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(1, 6, 5, padding=2),
    lambda m: m.Conv2d(4, 8, (3, 1), stride=(2, 1), dilation=2, groups=2, bias=False),
    lambda m: m.Conv2d(3, 3, 3, padding="same"),
    lambda m: m.Conv1d(2, 4, 3, padding=1),
    lambda m: m.Linear(400, 120),
    lambda m: m.Linear(3, 1, bias=False),
    lambda m: m.MaxPool2d(2),
    lambda m: m.MaxPool2d((3, 2), stride=1, padding=1, ceil_mode=True),
    lambda m: m.AvgPool2d(2, stride=1),
    lambda m: m.AdaptiveAvgPool2d((1, 1)),
    lambda m: m.BatchNorm2d(16),
    lambda m: m.BatchNorm1d(5, eps=1e-3, momentum=None, affine=False),
    lambda m: m.Dropout(0.2),
    lambda m: m.ReLU(),
    lambda m: m.ReLU(inplace=True),
    lambda m: m.LeakyReLU(0.2),
    lambda m: m.Tanh(),
    lambda m: m.Sigmoid(),
    lambda m: m.Softmax(dim=1),
    lambda m: m.LogSoftmax(dim=-1),
    lambda m: m.Flatten(),
    lambda m: m.Identity(),
    lambda m: m.LocalResponseNorm(5, alpha=1e-3),
    lambda m: m.CrossEntropyLoss(label_smoothing=0.1),
    lambda m: m.MSELoss(),
])
def test_repr_matches_torch(make):
    assert repr(make(nn)) == repr(make(torch.nn))


# ---- nn.init -------------------------------------------------------------------------------

def test_calculate_gain_and_fans_match_torch():
    for args in [("linear",), ("conv2d",), ("sigmoid",), ("tanh",), ("relu",), ("leaky_relu",),
                 ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu",)]:
        assert init.calculate_gain(*args) == pytest.approx(torch.nn.init.calculate_gain(*args), rel=1e-12)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)
    for shape in [(5, 3), (16, 6, 5, 5), (4, 2, 3)]:
        ours = init._calculate_fan_in_and_fan_out(fastcnn.zeros(*shape))
        assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(fastcnn.zeros(3))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(fastcnn.zeros(3, 3), mode="fan_avg")


# Each case: the fill, the shape (fans from it), the support (or None) and the target mean and std.
# With 160000+ samples the sample std is within ~0.25% (1 standard error) of the true one, so
# 1% is a 4-sigma bound; the mean is checked to 5 standard errors.
@pytest.mark.parametrize("fill,shape,low,high,mean,std", [
    (lambda t: init.uniform_(t, -2.0, 3.0), (400, 500), -2.0, 3.0, 0.5, 5 / math.sqrt(12)),
    (lambda t: init.normal_(t, 1.0, 0.5), (400, 500), None, None, 1.0, 0.5),
    # xavier: fan_in 800 + fan_out 200 = 1000
    (lambda t: init.xavier_uniform_(t, gain=2.0), (200, 800), -2 * math.sqrt(6 / 1000), 2 * math.sqrt(6 / 1000),
     0, 2 * math.sqrt(2 / 1000)),
    (lambda t: init.xavier_normal_(t), (200, 800), None, None, 0, math.sqrt(2 / 1000)),
    # kaiming, fan_in = 200 * 2 * 2 = 800; a=sqrt(5) is torch's default layer init: bound 1/sqrt(fan_in)
    (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), (200, 200, 2, 2), -1 / math.sqrt(800),
     1 / math.sqrt(800), 0, 1 / math.sqrt(3 * 800)),
    (lambda t: init.kaiming_normal_(t, nonlinearity="tanh"), (200, 200, 2, 2), None, None, 0,
     5 / 3 / math.sqrt(800)),
    # fan_out = 100 * 2 * 2 = 400, relu gain sqrt(2)
    (lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu"), (100, 800, 2, 2),
     -math.sqrt(6 / 400), math.sqrt(6 / 400), 0, math.sqrt(2 / 400)),
])
def test_init_distributions(fill, shape, low, high, mean, std):
    fastcnn.manual_seed(1)
    t = nn.Parameter(fastcnn.zeros(*shape))
    version = t._version
    assert fill(t) is t
    assert t._version > version and t.grad is None and t.is_leaf and t.requires_grad
    a = t.detach().numpy().astype(np.float64)
    if low is not None:
        assert low <= a.min() and a.max() <= high
        assert a.min() < low + 0.01 * (high - low) and a.max() > high - 0.01 * (high - low)
    assert abs(a.mean() - mean) < 5 * std / math.sqrt(a.size)
    assert abs(a.std() - std) < 0.01 * std


def test_constant_zeros_ones_and_seeding():
    t = fastcnn.empty(3, 4)
    np.testing.assert_array_equal(init.constant_(t, 0.25).numpy(), 0.25)
    np.testing.assert_array_equal(init.zeros_(t).numpy(), 0)
    np.testing.assert_array_equal(init.ones_(t).numpy(), 1)
    fastcnn.manual_seed(3)
    a = init.normal_(fastcnn.empty(10)).numpy().copy()
    fastcnn.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(fastcnn.empty(10)).numpy(), a)
    g = fastcnn.Generator(3)
    np.testing.assert_array_equal(init.normal_(fastcnn.empty(10), generator=g).numpy(), a)
    with pytest.raises(TypeError, match="tensor must be a fastcnn.Tensor"):
        init.ones_(np.zeros(3))


def test_parameter_semantics():
    data = fastcnn.zeros(2, 3)
    p = nn.Parameter(data)
    assert p.requires_grad and np.shares_memory(p.detach().numpy(), data.numpy())
    assert not nn.Parameter(data, requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p.detach()) is fastcnn.Tensor


def test_optimizer_updates_parameters_in_place_and_bumps_their_version():
    layer = nn.Linear(3, 2)
    w = layer.weight.detach().numpy()  # shares the parameter's memory
    before = w.copy()
    x = fastcnn.randn(4, 3)
    layer(x).sum().backward()
    pending = layer(x)  # its graph saved the weight before the step
    version = layer.weight._version
    fastcnn.optim.SGD(layer.parameters(), lr=0.1).step()
    assert layer.weight._version == version + 1
    np.testing.assert_allclose(w, before - 0.1 * layer.weight.grad.numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|version"):
        pending.sum().backward()


def test_deepcopy_gives_independent_parameters():
    import copy
    model = vgg_like(nn)
    clone = copy.deepcopy(model)
    assert list(clone.state_dict()) == list(model.state_dict())
    for (n, p), q in zip(model.named_parameters(), clone.parameters()):
        assert isinstance(q, nn.Parameter) and q.requires_grad, n
        assert not np.shares_memory(p.detach().numpy(), q.detach().numpy()), n
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
