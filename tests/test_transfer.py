"""fastcnn.transfer: replace_head finds each zoo family's classifier and swaps in a fresh Linear;
freeze/unfreeze set requires_grad by top-level child; the optimizers leave frozen parameters alone,
and the trainable ones follow the same steps as torch's with the same parameters frozen."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn, transfer


def _ids(module):
    return {id(p) for p in module.parameters()}


# name, builder kwargs, path of the head, in_features, aux head paths
HEADS = [
    ("resnet18", {}, "fc", 512, []),
    ("resnet20", {}, "fc", 64, []),
    ("googlenet", {}, "fc", 1024, ["aux1.fc2", "aux2.fc2"]),
    ("inception_v3", {}, "fc", 2048, ["AuxLogits.fc"]),
    ("vgg11", {"init_weights": False}, "classifier.6", 4096, []),  # skips a slow normal_ of 120M weights
    ("alexnet", {}, "classifier.6", 4096, []),
    ("mobilenet_v2", {}, "classifier.1", 1280, []),
    ("densenet121", {}, "classifier", 1024, []),
    ("lenet5", {"variant": "modern"}, "classifier.2", 84, []),
]


def _get(model, path):
    for part in path.split("."):
        model = model._modules[part]
    return model


@pytest.mark.parametrize("name,kw,path,in_features,aux", HEADS, ids=[h[0] for h in HEADS])
def test_replace_head_swaps_in_a_fresh_linear(name, kw, path, in_features, aux):
    fastcnn.manual_seed(zlib.crc32(name.encode()))
    model = models.get_model(name, **kw)
    old = {p: _get(model, p) for p in [path] + aux}
    body = {n: p for n, p in model.named_parameters()
            if not any(n.startswith(h + ".") for h in old)}
    parent, child = transfer.find_head(model)
    assert _get(model, path) is parent._modules[child]

    assert transfer.replace_head(model, 5) is model
    for p, before in old.items():
        head = _get(model, p)
        assert type(head) is nn.Linear and head is not before, p
        assert (head.in_features, head.out_features) == (before.in_features, 5), p
        assert head.weight.shape == (5, before.in_features) and head.bias.shape == (5,)
        bound = 1 / math.sqrt(before.in_features)  # torch's default Linear init: U(-bound, bound)
        w = head.weight.detach().numpy()
        assert np.abs(w).max() <= bound and w.std() > bound / 4
    assert _get(model, path).in_features == in_features
    # Everything else is the very same parameter objects.
    after = dict(model.named_parameters())
    assert all(after[n] is p for n, p in body.items())


def test_replaced_model_trains_on_the_new_classes():
    model = transfer.replace_head(models.resnet8(in_channels=1), 3)
    x = fastcnn.tensor(np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32))
    out = model(x)
    assert out.shape == (2, 3)
    nn.CrossEntropyLoss()(out, fastcnn.tensor(np.array([0, 2]))).backward()
    assert model.fc.weight.grad.shape == (3, 64)


def test_replace_head_errors():
    with pytest.raises(TypeError, match="no nn.Linear"):
        transfer.replace_head(nn.Sequential(nn.Conv2d(1, 2, 3)), 3)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="num_classes must be a positive int"):
            transfer.replace_head(models.lenet5(), bad)
    with pytest.raises(TypeError, match="fastcnn.nn.Module"):
        transfer.freeze(object())


def _trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_until_a_child_and_until_none():
    model = models.resnet18(num_classes=4)
    assert transfer.freeze(model, until="layer3") is model
    want = {n for n, _ in model.named_parameters() if n.startswith(("layer4.", "fc."))}
    assert _trainable(model) == want and want
    transfer.unfreeze(model)
    assert _trainable(model) == {n for n, _ in model.named_parameters()}
    transfer.freeze(model)  # until=None: everything but the head
    assert _trainable(model) == {"fc.weight", "fc.bias"}

    g = models.googlenet(num_classes=4)
    transfer.freeze(g)  # the auxiliary heads are heads too
    assert _trainable(g) == {f"{h}.{w}" for h in ("fc", "aux1.fc2", "aux2.fc2") for w in ("weight", "bias")}
    v = models.vgg_small()
    transfer.freeze(v)
    assert _trainable(v) == {"classifier.1.weight", "classifier.1.bias"}


def test_freeze_unknown_child_lists_the_children():
    with pytest.raises(ValueError, match=r"until='layer5' is not a child of ResNet; children: conv1, bn1, relu, "
                                         r"maxpool, layer1, layer2, layer3, layer4, avgpool, fc"):
        transfer.freeze(models.resnet18(), until="layer5")


def _net(m):
    # Written once for both libraries (same module names, so the same state_dict keys).
    return m.Sequential(m.Conv2d(2, 4, 3), m.BatchNorm2d(4), m.ReLU(), m.Flatten(), m.Linear(4 * 4 * 4, 3))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_optimizer_skips_frozen_parameters_as_torch(opt):
    torch = pytest.importorskip("torch")
    fastcnn.manual_seed(1)
    ours, ref = _net(nn), _net(torch.nn)
    ref.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    transfer.freeze(ours, until="1")  # conv and batch norm
    for p in list(ref[0].parameters()) + list(ref[1].parameters()):
        p.requires_grad_(False)
    initial = {n: p.detach().numpy().copy() for n, p in ours.named_parameters()}
    frozen = {n for n, p in ours.named_parameters() if not p.requires_grad}
    assert set(frozen) == {"0.weight", "0.bias", "1.weight", "1.bias"}

    kw = dict(lr=0.05, weight_decay=0.01)  # decay would move a frozen parameter if it were stepped
    if opt == "sgd":
        o, t = fastcnn.optim.SGD(ours.parameters(), momentum=0.9, **kw), torch.optim.SGD(ref.parameters(),
                                                                                          momentum=0.9, **kw)
    else:
        o, t = fastcnn.optim.Adam(ours.parameters(), **kw), torch.optim.Adam(ref.parameters(), **kw)
    rng = np.random.default_rng(zlib.crc32(opt.encode()))
    for _ in range(3):
        x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
        y = rng.integers(0, 3, 4)
        o.zero_grad(), t.zero_grad()
        nn.CrossEntropyLoss()(ours(fastcnn.tensor(x)), fastcnn.tensor(y)).backward()
        torch.nn.CrossEntropyLoss()(ref(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        o.step(), t.step()
    theirs = dict(ref.named_parameters())
    for n, p in ours.named_parameters():
        if n in frozen:
            assert p.grad is None, n
            np.testing.assert_array_equal(p.detach().numpy(), initial[n], err_msg=n)
        else:
            assert not np.array_equal(p.detach().numpy(), initial[n]), n
        np.testing.assert_allclose(p.detach().numpy(), theirs[n].detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=n)
