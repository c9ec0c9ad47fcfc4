"""Pre-packed convolution weights (ops.conv2d_prepack / conv2d_packed) and the eval-mode cache of
Conv1d/Conv2d that uses them.

The packed forward runs the same kernels on the same values as the unpacked one: the GEMM reads
panels that gemm_pack_a laid out with the frame's own K blocking and packing routine (the values
pack_a_block would write on the call), and Winograd's U comes from the same filter transform. So
on one kernel path the outputs are equal bit for bit, and that is what is asserted; against torch
(a different summation order) the float32 bound of tests/test_conv.py applies.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import fastcnn
from fastcnn import nn, ops
from fastcnn.nn import conv as conv_module

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# algorithm, x shape, w shape, stride, padding, dilation, groups
CASES = [
    ("im2col", (1, 3, 9, 11), (4, 3, 3, 3), 1, 1, 1, 1),
    ("im2col", (3, 4, 10, 9), (6, 2, 3, 5), (2, 3), (1, 2), (2, 1), 2),  # odd sizes, groups, dilation
    ("im2col", (2, 6, 12, 12), (6, 2, 3, 3), 1, 1, 3, 3),
    ("im2col", (1, 32, 7, 7), (150, 32, 3, 3), 1, 1, 1, 1),  # M > MC (two A blocks), CRS > KC (two K blocks)
    ("im2col", (2, 4, 8, 8), (4, 4, 2, 4), 1, "same", 1, 1),  # asymmetric padding
    ("im2col", (2, 3, 23, 23), (8, 3, 11, 11), 4, 0, 1, 1),
    ("gemm1x1", (3, 8, 7, 7), (16, 8, 1, 1), 1, 0, 1, 1),  # several images per GEMM
    ("gemm1x1", (2, 300, 5, 3), (20, 300, 1, 1), 1, 0, 1, 1),  # K blocks of the GEMM
    ("gemm1x1", (1, 64, 6, 6), (300, 64, 1, 1), 1, 0, 1, 1),  # with 2 threads the GEMM splits rows
    ("gemm1x1", (2, 8, 5, 5), (12, 4, 1, 1), 1, 0, 1, 2),
    ("winograd", (2, 16, 9, 7), (20, 16, 3, 3), 1, 1, 1, 1),
    ("winograd", (1, 5, 8, 7), (6, 5, 3, 3), 1, (0, 2), 1, 1),
    ("winograd", (1, 64, 7, 7), (160, 64, 3, 3), 1, "same", 1, 1),  # K > MC
    ("depthwise", (2, 8, 9, 9), (8, 1, 3, 3), 2, 1, 1, 8),
    ("depthwise", (1, 3, 12, 11), (3, 1, 5, 5), 1, 2, 2, 3),
    ("direct", (2, 5, 11, 9), (12, 5, 3, 3), 2, 1, 1, 1),
    ("direct", (1, 2, 5, 40), (17, 2, 2, 3), 1, 0, 1, 1),
    ("direct_pixels", (2, 1, 32, 32), (6, 1, 5, 5), 1, 0, 1, 1),  # LeNet's conv1
    ("direct_pixels", (1, 3, 13, 29), (8, 3, 3, 3), (2, 1), 1, 1, 1),
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _torch_conv(x, w, b, stride, padding, dilation, groups, relu):
    if isinstance(padding, str):
        y = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                      stride, padding, dilation, groups)
    else:
        y = TF.conv2d(torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
                      _pair(stride), _pair(padding), _pair(dilation), groups)
    return (torch.relu(y) if relu else y).numpy()


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}s{c[3]}p{c[4]}d{c[5]}g{c[6]}")
@pytest.mark.parametrize("bias,activation", [(True, None), (False, "relu"), (True, "relu")])
def test_packed_forward_equals_unpacked_bit_for_bit(case, bias, activation, kernel_path, threads):
    algorithm, x_shape, w_shape, stride, padding, dilation, groups = case
    rng = np.random.default_rng(len(x_shape) + sum(w_shape))
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32) if bias else None
    packed = ops.conv2d_prepack(w, stride, padding, dilation, groups, algorithm=algorithm)
    assert packed.algorithm == algorithm and packed.weight_shape == list(w_shape)
    got = ops.conv2d_packed(x, packed, b, activation=activation)
    want = ops.conv2d(x, w, b, stride, padding, dilation, groups, activation=activation, algorithm=algorithm)
    np.testing.assert_array_equal(got, want)
    # And against torch: float32 rounding of a sum of C/G*R*S products (test_conv.py's bound).
    ref = _torch_conv(x, w, b, stride, padding, dilation, groups, activation == "relu")
    terms = int(np.prod(w_shape[1:]))
    tol = 8 * np.finfo(np.float32).eps * np.sqrt(terms) * (np.abs(ref).max() + 1.0)
    assert np.abs(got - ref).max() <= tol


def test_the_pack_is_a_snapshot_of_the_weights():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4, 8, 8), dtype=np.float32)
    w = rng.standard_normal((6, 4, 3, 3), dtype=np.float32)
    for algorithm in ("im2col", "winograd", "direct", "direct_pixels"):
        packed = ops.conv2d_prepack(w, padding=1, algorithm=algorithm)
        want = ops.conv2d(x, w, padding=1, algorithm=algorithm)
        w_changed = w * 2
        np.testing.assert_array_equal(ops.conv2d_packed(x, packed), want)
        assert not np.array_equal(ops.conv2d(x, w_changed, padding=1, algorithm=algorithm), want)


def test_auto_resolves_to_the_heuristic_for_the_input_shape():
    w = np.random.default_rng(2).standard_normal((64, 64, 3, 3), dtype=np.float32)
    for shape in [(1, 64, 56, 56), (1, 64, 4, 4)]:
        packed = ops.conv2d_prepack(w, padding=1, input_shape=shape)
        assert packed.algorithm == ops.conv2d_packed_algorithm(shape, w.shape, padding=1)
    assert {ops.conv2d_prepack(w, padding=1, input_shape=s).algorithm
            for s in [(1, 64, 56, 56), (1, 64, 4, 4)]} == {"winograd", "im2col"}
    with ops.force_conv_algorithm("direct"):
        assert ops.conv2d_prepack(w, padding=1).algorithm == "direct"
    with pytest.raises(ValueError, match="input_shape"):
        ops.conv2d_prepack(w, padding=1)
    with pytest.raises(ValueError, match=r"input of shape \(1, 32, 8, 8\) has 32 channels"):
        ops.conv2d_prepack(w, padding=1, input_shape=(1, 32, 8, 8))


@pytest.mark.parametrize("x_shape,w_shape,padding,groups,packed,unpacked", [
    ((1, 512, 7, 7), (512, 512, 3, 3), 1, 1, "winograd", "im2col"),  # 16 tiles: Winograd pays once packed
    ((2, 512, 7, 7), (512, 512, 3, 3), 1, 1, "winograd", "im2col"),  # 16 MiB of U: Auto avoids it per call
    ((1, 64, 5, 5), (64, 64, 3, 3), 1, 1, "im2col", "im2col"),  # 9 tiles: too few
    ((1, 8, 56, 56), (32, 8, 3, 3), 1, 1, "im2col", "im2col"),  # too few channels for the transforms
    ((1, 64, 7, 7), (64, 64, 3, 3), 0, 1, "im2col", "im2col"),  # 5x5 output: 9 tiles
    ((1, 64, 56, 56), (64, 64, 3, 3), 1, 1, "winograd", "winograd"),
    ((1, 32, 7, 7), (12, 32, 3, 3), 1, 1, "direct", "direct"),
    ((1, 32, 7, 7), (32, 1, 3, 3), 1, 32, "depthwise", "depthwise"),
    ((1, 32, 7, 7), (64, 32, 1, 1), 0, 1, "gemm1x1", "gemm1x1"),
])
def test_packed_algorithm_choice(x_shape, w_shape, padding, groups, packed, unpacked):
    assert ops.conv2d_packed_algorithm(x_shape, w_shape, padding=padding, groups=groups) == packed
    assert ops.conv2d_algorithm(x_shape, w_shape, padding=padding, groups=groups) == unpacked


def test_bad_arguments_raise_clear_errors():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((8, 4, 3, 3), dtype=np.float32)
    packed = ops.conv2d_prepack(w, stride=1, padding=1, algorithm="im2col")
    with pytest.raises(ValueError, match=r"input of shape \(2, 5, 8, 8\) has 5 channels but the weights were packed "
                                         r"for 4 \(weight \(8, 4, 3, 3\), groups=1\)"):
        ops.conv2d_packed(np.zeros((2, 5, 8, 8), np.float32), packed)
    grouped = ops.conv2d_prepack(w, groups=2, algorithm="im2col")
    with pytest.raises(ValueError, match=r"has 4 channels but the weights were packed for 8 \(weight \(8, 4, 3, 3\), "
                                         r"groups=2\)"):
        ops.conv2d_packed(np.zeros((1, 4, 8, 8), np.float32), grouped)
    unpadded = ops.conv2d_prepack(w, algorithm="im2col")
    with pytest.raises(ValueError, match="larger than the padded input"):
        ops.conv2d_packed(np.zeros((1, 4, 2, 2), np.float32), unpadded)
    with pytest.raises(ValueError, match=r"bias has shape \(7,\), expected \(8,\)"):
        ops.conv2d_packed(np.zeros((1, 4, 8, 8), np.float32), packed, np.zeros(7, np.float32))
    with pytest.raises(ValueError, match="activation"):
        ops.conv2d_packed(np.zeros((1, 4, 8, 8), np.float32), packed, activation="tanh")
    with pytest.raises(TypeError, match="float32"):
        ops.conv2d_packed(np.zeros((1, 4, 8, 8)), packed)
    with pytest.raises(ValueError, match="4 dimensions"):
        ops.conv2d_packed(np.zeros((4, 8, 8), np.float32), packed)
    with pytest.raises(TypeError, match="Conv2dPacked"):
        ops.conv2d_packed(np.zeros((1, 4, 8, 8), np.float32), w)
    with pytest.raises(ValueError, match="'winograd' cannot compute"):
        ops.conv2d_prepack(w, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="'depthwise' cannot compute"):
        ops.conv2d_prepack(w, algorithm="depthwise")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        ops.conv2d_prepack(w, algorithm="fft")
    with pytest.raises(ValueError, match="groups"):
        ops.conv2d_prepack(w, groups=3, algorithm="im2col")
    with pytest.raises(TypeError):
        pickle.dumps(packed)  # a cache, never saved
    # Batch 0 is a valid empty convolution.
    assert ops.conv2d_packed(np.zeros((0, 4, 8, 8), np.float32), packed).shape == (0, 8, 8, 8)


def test_packed_on_one_kernel_path_runs_on_the_other():
    """A layer packed under AVX2 keeps working after a switch to the portable kernels (same layout)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 16, 10, 10), dtype=np.float32)
    w = rng.standard_normal((24, 16, 3, 3), dtype=np.float32)
    previous = fastcnn._C.kernel_path()
    try:
        for pack_path, run_path in [("avx2", "ref"), ("ref", "avx2")]:
            if not all(fastcnn._C.kernel_path_supported(p) for p in (pack_path, run_path)):
                pytest.skip("needs both kernel paths")
            for algorithm in ("im2col", "winograd"):
                fastcnn._C.set_kernel_path(pack_path)
                packed = ops.conv2d_prepack(w, padding=1, algorithm=algorithm)
                fastcnn._C.set_kernel_path(run_path)
                got = ops.conv2d_packed(x, packed)
                ref = _torch_conv(x, w, None, 1, 1, 1, 1, False)
                tol = 8 * np.finfo(np.float32).eps * np.sqrt(16 * 9) * (np.abs(ref).max() + 1.0)
                assert np.abs(got - ref).max() <= tol
    finally:
        fastcnn._C.set_kernel_path(previous)


# ---- the module cache ------------------------------------------------------------------------

@pytest.fixture
def pack_calls(monkeypatch):
    """The algorithms of every conv2d_prepack call the layers make."""
    calls = []
    real = ops.conv2d_prepack

    def counting(*args, **kwargs):
        packed = real(*args, **kwargs)
        calls.append(packed.algorithm)
        return packed
    monkeypatch.setattr(ops, "conv2d_prepack", counting)
    return calls


def _unpacked(module, x, algorithm=None):
    """module(x) through the regular path (the packed one switched off), with `algorithm` forced."""
    saved = conv_module._ConvNd._packed_forward
    conv_module._ConvNd._packed_forward = lambda self, input, activation=None: None
    try:
        with fastcnn.no_grad(), ops.force_conv_algorithm(algorithm or "auto"):
            return module(x).numpy().copy()
    finally:
        conv_module._ConvNd._packed_forward = saved


def _packs(layer):
    """The layer's packs by algorithm."""
    return {key[0]: entry for key, entry in layer.__dict__.get("_packs", {}).items()}


def _conv(seed=0, **kw):
    fastcnn.manual_seed(seed)
    args = dict(in_channels=16, out_channels=32, kernel_size=3, padding=1)
    args.update(kw)
    return nn.Conv2d(**args).eval()


def _input(shape, seed=0):
    return fastcnn.from_numpy(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32))


def test_eval_layer_packs_once_and_reuses_it(pack_calls):
    conv = _conv()
    x = _input((2, 16, 12, 12))
    with fastcnn.no_grad():
        first = conv(x).numpy().copy()
        packed = _packs(conv)["winograd"].packed
        second = conv(x).numpy()
    assert pack_calls == ["winograd"] and _packs(conv)["winograd"].packed is packed
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, _unpacked(conv, x))
    # No grad mode needed when nothing requires grad: the graph would be empty anyway.
    conv.requires_grad_(False)
    out = conv(x)
    assert out.grad_fn is None and pack_calls == ["winograd"]
    np.testing.assert_array_equal(out.numpy(), first)


def test_graph_recording_and_training_take_the_regular_path(pack_calls):
    conv = _conv()
    x = _input((1, 16, 12, 12))
    y = conv(x)  # eval mode, but grad mode on and the weights require grad: record the graph
    assert y.grad_fn is not None and pack_calls == []
    y.sum().backward()
    assert conv.weight.grad is not None
    with fastcnn.no_grad():
        conv(x)
    assert pack_calls == ["winograd"] and _packs(conv)
    conv.train()
    assert not _packs(conv)  # dropped
    with fastcnn.no_grad():
        conv(x)
    assert pack_calls == ["winograd"] and not _packs(conv)


@pytest.mark.parametrize("edit", ["mul_", "setitem", "copy_", "load_state_dict", "new_parameter", "optimizer"])
def test_weight_changes_invalidate_the_pack(edit, pack_calls):
    conv = _conv()
    x = _input((2, 16, 12, 12))
    with fastcnn.no_grad():
        before = conv(x).numpy().copy()
    new = np.random.default_rng(5).standard_normal(conv.weight.shape, dtype=np.float32)
    if edit == "mul_":
        with fastcnn.no_grad():
            conv.weight.mul_(2)
    elif edit == "setitem":
        with fastcnn.no_grad():
            conv.weight[0] = 0.0
    elif edit == "copy_":
        with fastcnn.no_grad():
            conv.weight.copy_(fastcnn.from_numpy(new))
    elif edit == "load_state_dict":
        conv.load_state_dict({"weight": new, "bias": conv.bias.detach().numpy()})
    elif edit == "new_parameter":
        conv.weight = nn.Parameter(new)
    else:
        conv.weight.grad = fastcnn.from_numpy(np.ones(conv.weight.shape, np.float32))
        fastcnn.optim.SGD(conv.parameters(), lr=0.1).step()
    with fastcnn.no_grad():
        after = conv(x).numpy()
    assert pack_calls == ["winograd", "winograd"] and len(_packs(conv)) == 1
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, _unpacked(conv, x))


def test_bias_changes_need_no_repack(pack_calls):
    conv = _conv()
    x = _input((1, 16, 12, 12))
    with fastcnn.no_grad():
        conv(x)
        conv.bias.add_(1.0)
        after = conv(x).numpy()
    assert pack_calls == ["winograd"]
    np.testing.assert_array_equal(after, _unpacked(conv, x))


def test_cache_is_bounded_when_input_shapes_vary(pack_calls):
    conv = _conv(in_channels=64, out_channels=64)
    sizes = [56, 4, 30, 3, 17, 56, 9, 5, 40, 6, 7, 8, 33, 2, 50]
    with fastcnn.no_grad():
        for size in sizes:
            x = _input((1, 64, size, size), seed=size)
            algorithm = ops.conv2d_packed_algorithm(x.shape, conv.weight.shape, padding=1)
            np.testing.assert_array_equal(conv(x).numpy(), _unpacked(conv, x, algorithm))
            assert len(_packs(conv)) <= conv_module._MAX_PACKS
            assert len(conv.__dict__["_algorithm_memo"]) <= conv_module._MAX_ALGORITHM_MEMO
    # Winograd for the large inputs, im2col for the small: two packs, each made once.
    assert sorted(pack_calls) == ["im2col", "winograd"] and set(_packs(conv)) == {"im2col", "winograd"}


def test_forced_algorithm_is_packed_for(pack_calls):
    conv = _conv()
    x = _input((1, 16, 12, 12))
    with fastcnn.no_grad(), ops.force_conv_algorithm("direct"):
        got = conv(x).numpy()
    assert pack_calls == ["direct"]
    np.testing.assert_array_equal(got, ops.conv2d(x.numpy(), conv.weight.detach().numpy(), conv.bias.detach().numpy(),
                                                  padding=1, algorithm="direct"))


def test_packs_are_not_saved(pack_calls):
    conv = _conv()
    x = _input((1, 16, 12, 12))
    with fastcnn.no_grad():
        want = conv(x).numpy().copy()
    assert _packs(conv)
    assert set(conv.state_dict()) == {"weight", "bias"}
    for clone in (pickle.loads(pickle.dumps(conv)), copy.deepcopy(conv)):
        assert "_packs" not in clone.__dict__
        with fastcnn.no_grad():
            np.testing.assert_array_equal(clone(x).numpy(), want)
    assert _packs(conv)  # the original keeps its own


def test_unbatched_input_and_conv1d(pack_calls):
    conv = _conv()
    x = _input((16, 12, 12))
    with fastcnn.no_grad():
        np.testing.assert_array_equal(conv(x).numpy(), _unpacked(conv, x))
    fastcnn.manual_seed(1)
    conv1 = nn.Conv1d(6, 12, 5, stride=2, padding=2, dilation=1).eval()
    for shape in [(3, 6, 31), (6, 31)]:
        x1 = _input(shape)
        with fastcnn.no_grad():
            got = conv1(x1).numpy()
        np.testing.assert_array_equal(got, _unpacked(conv1, x1))
        ref = torch.nn.functional.conv1d(torch.from_numpy(x1.numpy()), torch.from_numpy(conv1.weight.detach().numpy()),
                                         torch.from_numpy(conv1.bias.detach().numpy()), 2, 2)
        assert np.abs(got - ref.numpy()).max() <= 1e-5 * (np.abs(ref.numpy()).max() + 1)
    assert pack_calls == ["winograd", "direct"]  # one pack per layer, reused for the unbatched input


def test_fused_model_packs_the_fused_weights(pack_calls):
    fastcnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean._data[...] = np.linspace(-1, 1, m.num_features)
            m.running_var._data[...] = np.linspace(0.5, 2, m.num_features)
    x = _input((2, 3, 20, 20))
    with fastcnn.no_grad():
        want = model(x).numpy().copy()
        fused = fastcnn.fuse(model)
        got = fused(x).numpy()
    assert type(fused[0]).__name__ == "ConvReLU2d"
    np.testing.assert_array_equal(got, _unpacked(fused, x))
    assert np.abs(got - want).max() <= 1e-5 * (np.abs(want).max() + 1)
    assert len(pack_calls) == 4  # two layers of the original, two of the fused copy
    assert _packs(fused[0])["direct"].valid_for(fused[0].weight)
    assert not _packs(model[0])["direct"].valid_for(fused[0].weight)


@pytest.mark.parametrize("name,size", [("resnet18", 64), ("mobilenet_v2", 64)])
def test_zoo_models_in_eval_mode_match_the_unpacked_path(name, size):
    fastcnn.manual_seed(0)
    model = fastcnn.models.get_model(name).eval()
    x = _input((1, 3, size, size))
    with fastcnn.no_grad():
        got = model(x).numpy()
        again = model(x).numpy()
    np.testing.assert_array_equal(again, got)
    # Where packing makes Winograd pay (ResNet's 8x8 layers here: 16 tiles) the regular path runs im2col:
    # the two round each layer's sums differently, and the network carries that to its output
    # (measured 5e-7 of the output scale, a few float32 ulps; the bound leaves 40x).
    want = _unpacked(model, x)
    assert np.abs(got - want).max() <= 2e-5 * np.abs(want).max()
    layers = [m for m in model.modules() if isinstance(m, conv_module._ConvNd)]
    assert all(len(_packs(m)) == 1 for m in layers)


def test_lenet_in_eval_mode_packs_direct_pixels(pack_calls):
    """LeNet's conv1 (1 -> 6 channels, 28-pixel rows) runs direct_pixels: it must pack too."""
    fastcnn.manual_seed(0)
    model = fastcnn.models.get_model("lenet5").eval()
    x = _input((2, 1, 32, 32))
    with fastcnn.no_grad():
        got = model(x).numpy()
    assert pack_calls[0] == "direct_pixels"
    np.testing.assert_array_equal(got, _unpacked(model, x))


def test_unhashable_settings_take_the_regular_path(pack_calls):
    conv = _conv()
    conv.padding = [1, 1]  # a list, as a user may assign: no cache key, but a valid convolution
    x = _input((1, 16, 12, 12))
    with fastcnn.no_grad():
        got = conv(x).numpy()
    assert pack_calls == []
    np.testing.assert_array_equal(got, _unpacked(conv, x))


def test_changed_geometry_is_packed_anew(pack_calls):
    conv = _conv()
    x = _input((1, 16, 12, 12))
    with fastcnn.no_grad():
        conv(x)
        conv.padding = (2, 2)  # same weight and version, another convolution
        got = conv(x).numpy()
    assert got.shape == (1, 32, 14, 14) and pack_calls == ["winograd", "winograd"]
    np.testing.assert_array_equal(got, _unpacked(conv, x, "winograd"))


def test_threads_sharing_an_eval_model_agree():
    import threading
    fastcnn.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
                          nn.Conv2d(32, 16, 1)).eval().requires_grad_(False)
    inputs = [_input((1, 8, 10 + i, 10 + i), seed=i) for i in range(4)]
    want = [model(x).numpy().copy() for x in inputs]  # packed, one thread
    results, errors = {}, []

    def work(i):
        try:
            for _ in range(5):
                results.setdefault(i, []).append(model(inputs[i]).numpy())
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)
    model[0].train().eval()  # drop one layer's packs: the threads race to rebuild them
    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not errors and sorted(results) == [0, 1, 2, 3]
    for i, outs in results.items():
        for out in outs:
            np.testing.assert_array_equal(out, want[i])
