"""fastcnn.models against torchvision: state_dict keys and shapes, parameter counts, eval-mode outputs
with torchvision's random weights loaded (strict), training-mode outputs, native-size forwards and
small-input backwards; the models without a torchvision twin against published parameter counts."""

import warnings

import numpy as np
import pytest

import fastcnn
from fastcnn import models
from fastcnn.bench._deps import import_torchvision_models

torch = pytest.importorskip("torch")


try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tvm = import_torchvision_models()  # torchvision.models, under a stub if need be
except ImportError:
    tvm = None
needs_tv = pytest.mark.skipif(tvm is None, reason="torchvision not installed")


def nparams(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters())


def shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def tv_model(name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # googlenet/inception warn about the init scheme
        torch.manual_seed(0)
        return getattr(tvm, name)(weights=None, **kw)


# name, kwargs, torchvision's parameter count (the figures where it gives them)
TV_CASES = [
    ("resnet18", {}, 11_689_512), ("resnet34", {}, 21_797_672), ("resnet50", {}, 25_557_032),
    ("alexnet", {}, 61_100_840), ("vgg16", {}, 138_357_544),
    ("vgg13_bn", {}, 133_053_736), ("googlenet", {"aux_logits": False}, 6_624_904),
    ("googlenet", {}, 13_004_888), ("inception_v3", {}, 27_161_264), ("mobilenet_v2", {}, 3_504_872),
    ("densenet121", {}, 7_978_856),
]


@needs_tv
@pytest.mark.parametrize("name,kw,count", TV_CASES, ids=[f"{n}{'-noaux' if k else ''}" for n, k, _ in TV_CASES])
def test_state_dict_keys_shapes_and_parameter_count_equal_torchvision(name, kw, count):
    ours, ref = models.get_model(name, **kw), tv_model(name, **kw)
    assert list(ours.state_dict()) == list(ref.state_dict())  # same keys in the same order
    assert shapes(ours.state_dict()) == shapes(ref.state_dict())
    assert nparams(ours) == sum(p.numel() for p in ref.parameters()) == count


@pytest.mark.parametrize("name,count", [("resnet101", 44_549_160), ("resnet152", 60_192_808),
                                        ("vgg19_bn", 143_678_248)])
def test_deep_variants_parameter_counts(name, count):
    assert nparams(models.get_model(name)) == count  # torchvision's published counts


# name, kwargs, input size (small where the architecture allows, to keep the suite fast)
PARITY = [("resnet18", {}, 64), ("resnet50", {}, 64), ("alexnet", {}, 64), ("vgg11_bn", {}, 32),
          ("googlenet", {"aux_logits": True}, 64), ("inception_v3", {}, 75), ("mobilenet_v2", {}, 64),
          ("densenet121", {}, 64)]


def _load_from_torch(ours, ref):
    result = ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()}, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def _randomize_bn(ref, seed=0):
    # Non-trivial running statistics and affine terms so eval-mode batch norm is exercised.
    g = torch.Generator().manual_seed(seed)
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@needs_tv
@pytest.mark.parametrize("name,kw,size", PARITY, ids=[p[0] for p in PARITY])
def test_eval_outputs_match_torchvision_with_its_weights(name, kw, size):
    ref = tv_model(name, **kw)
    with torch.no_grad():
        _randomize_bn(ref)
    ours = models.get_model(name, **kw)
    _load_from_torch(ours, ref)
    ref.eval(), ours.eval()
    x = np.random.default_rng(1).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    with fastcnn.no_grad():
        got = ours(fastcnn.tensor(x)).numpy()
    assert got.shape == want.shape == (2, 1000)
    # float32 through tens of layers, both sides: errors relative to the logits' scale.
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * scale)


@needs_tv
def test_training_mode_outputs_and_gradients_match_torchvision_resnet18():
    ref, ours = tv_model("resnet18", num_classes=10), models.resnet18(num_classes=10)
    _load_from_torch(ours, ref)
    x = np.random.default_rng(2).standard_normal((4, 3, 64, 64)).astype(np.float32)  # >= 16 values per channel in layer4 batch norm
    want = ref(torch.from_numpy(x))
    got = ours(fastcnn.tensor(x))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=0,
                               atol=1e-4 * float(want.detach().abs().max()))
    want.square().sum().backward()
    (got * got).sum().backward()
    grads = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        g = grads[name].grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=0, atol=1e-3 * np.abs(g).max() + 1e-7, err_msg=name)
    ref_bn, our_bn = ref.layer2[0].bn1, ours.layer2[0].bn1  # running statistics updated the same way
    np.testing.assert_allclose(our_bn.running_var.numpy(), ref_bn.running_var.numpy(), rtol=1e-4)


@needs_tv
@pytest.mark.parametrize("name,n_out", [("googlenet", 3), ("inception_v3", 2)])
def test_aux_heads_in_training_mode_only(name, n_out):
    size = 64 if name == "googlenet" else 299  # inception's aux head needs its native 17x17 Mixed_6e
    ours = models.get_model(name, num_classes=7)
    x = fastcnn.tensor(np.random.default_rng(3).standard_normal((2, 3, size, size)).astype(np.float32))
    out = ours(x)
    assert isinstance(out, tuple) and len(out) == n_out and all(o.shape == (2, 7) for o in out)
    assert out._fields[0] == "logits"
    ours.eval()
    with fastcnn.no_grad():
        assert ours(x).shape == (2, 7)
    noaux = models.get_model(name, num_classes=7, aux_logits=False)
    assert noaux(x).shape == (2, 7)  # training mode without aux heads: plain logits


@needs_tv
@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_transform_input_matches_torchvision(name):
    size = 64 if name == "googlenet" else 75
    ref = tv_model(name, aux_logits=False, transform_input=True, init_weights=True)
    ours = models.get_model(name, aux_logits=False, transform_input=True)
    _load_from_torch(ours, ref)
    ref.eval(), ours.eval()
    x = np.random.default_rng(4).standard_normal((1, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    with fastcnn.no_grad():
        got = ours(fastcnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4 * np.abs(want).max())


# ---- native input size (batch 1) and a backward at a small input, for every model ---------------

NATIVE = [("lenet5", {}, (1, 32, 32), 10), ("lenet5", {"variant": "modern"}, (1, 32, 32), 10),
          ("alexnet", {"variant": "original"}, (3, 227, 227), 1000), ("resnet18", {}, (3, 224, 224), 1000),
          ("mobilenet_v2", {}, (3, 224, 224), 1000), ("mobilenet_v1", {}, (3, 224, 224), 1000),
          ("googlenet", {}, (3, 224, 224), 1000), ("resnet20", {}, (3, 32, 32), 10),
          ("resnet8", {"in_channels": 1}, (1, 28, 28), 10), ("vgg_small", {}, (1, 28, 28), 10),
          ("vgg_small", {"in_channels": 3}, (3, 32, 32), 10)]


@pytest.mark.parametrize("name,kw,shape,classes", NATIVE, ids=[f"{n}-{s[1]}" for n, _, s, _ in NATIVE])
def test_forward_at_native_input_size(name, kw, shape, classes):
    model = models.get_model(name, **kw).eval()
    x = fastcnn.tensor(np.random.default_rng(5).standard_normal((1,) + shape).astype(np.float32))
    with fastcnn.no_grad():
        out = model(x).numpy()
    assert out.shape == (1, classes) and np.isfinite(out).all()


BACKWARD = [("lenet5", (1, 32, 32)), ("alexnet", (3, 64, 64)), ("vgg11_bn", (3, 32, 32)), ("vgg_small", (1, 28, 28)),
            ("googlenet", (3, 32, 32)), ("inception_v3", (3, 75, 75)), ("resnet18", (3, 32, 32)),
            ("resnet50", (3, 32, 32)), ("resnet20", (3, 32, 32)), ("densenet121", (3, 32, 32)),
            ("mobilenet_v1", (3, 32, 32)), ("mobilenet_v2", (3, 32, 32))]


@pytest.mark.parametrize("name,shape", BACKWARD, ids=[b[0] for b in BACKWARD])
def test_backward_reaches_every_parameter(name, shape):
    kw = {"in_channels": 1} if name == "vgg_small" else {}
    if name == "inception_v3":
        kw = {"aux_logits": False}  # at 75x75 (its smallest input) the aux head's 5x5 pool does not fit
    model = models.get_model(name, num_classes=5, **kw)
    x = fastcnn.tensor(np.random.default_rng(6).standard_normal((2,) + shape).astype(np.float32))
    out = model(x)
    if isinstance(out, tuple):  # aux heads: torchvision's training loss weights them 0.3
        loss = out[0].sum() + 0.3 * sum(o.sum() for o in out[1:])
    else:
        loss = out.sum()
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad.numpy()).all(), pname
    assert any(np.abs(p.grad.numpy()).max() > 0 for p in model.parameters())


# ---- models without a torchvision twin -----------------------------------------------------------

def test_lenet5_layout():
    m = models.lenet5()
    assert nparams(m) == 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850
    assert [type(l).__name__ for l in m.features] == ["Conv2d", "Tanh", "AvgPool2d"] * 2 + ["Conv2d", "Tanh"]
    modern = models.lenet5(variant="modern")
    assert [type(l).__name__ for l in modern.features][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert nparams(models.lenet5(num_classes=10, in_channels=3)) == 61_706 + 2 * 150


def test_alexnet_original_layout():
    m = models.alexnet(variant="original")
    conv1 = m.features[0]
    assert (conv1.out_channels, conv1.kernel_size, conv1.stride) == (96, (11, 11), (4, 4))
    assert nparams(conv1) == 34_944
    assert nparams(m) == 62_378_344  # single-tower AlexNet, as the published tables
    with pytest.raises(ValueError, match="227x227"):
        with fastcnn.no_grad():
            m.eval()(fastcnn.zeros(1, 3, 224, 224))


def test_mobilenet_v1_parameter_count_and_shapes():
    m = models.mobilenet_v1()
    assert nparams(m) == 4_231_976  # the paper's 4.2M
    dw = m.features[1][0][0]
    assert dw.groups == dw.in_channels == 32 and dw.kernel_size == (3, 3)
    assert m.features[13][1][0].out_channels == 1024 and len(m.features) == 14
    assert nparams(models.mobilenet_v1(width_mult=0.5)) < 1_400_000  # the paper's 1.3M


def test_cifar_resnets():
    assert nparams(models.resnet20()) == 269_722  # the paper's 0.27M (option-A shortcuts)
    assert nparams(models.resnet8()) == 75_290
    assert nparams(models.resnet56()) == 853_018  # 0.85M
    x = fastcnn.tensor(np.arange(2 * 16 * 6 * 6, dtype=np.float32).reshape(2, 16, 6, 6))
    y = models.resnet.ShortcutA(16)(x).numpy()  # 16 -> 32 channels, subsampled, zeros around
    assert y.shape == (2, 32, 3, 3)
    np.testing.assert_array_equal(y[:, 8:24], x.numpy()[:, :, ::2, ::2])
    assert not y[:, :8].any() and not y[:, 24:].any()


def test_registry():
    names = models.list_models()
    for n in ("lenet5", "alexnet", "vgg16_bn", "googlenet", "inception_v3", "resnet152", "densenet121",
              "mobilenet_v1", "mobilenet_v2", "resnet20", "vgg_small"):
        assert n in names
    assert names == sorted(names)
    assert isinstance(models.get_model("ResNet8", num_classes=3), models.CifarResNet)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: models.get_model("resnet9000"), ValueError, "unknown model 'resnet9000'"),
    (lambda: models.get_model(18), TypeError, "name must be a str"),
    (lambda: models.resnet18(num_classes=0), ValueError, "num_classes"),
    (lambda: models.lenet5(variant="new"), ValueError, "variant"),
    (lambda: models.alexnet(variant="2013"), ValueError, "variant"),
    (lambda: models.resnet20(in_channels=-1), ValueError, "in_channels"),
    (lambda: models.CifarResNet(depth=21), ValueError, "depth"),
    (lambda: models.mobilenet_v2(width_mult=0), ValueError, "width_mult"),
])
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
