"""fastcnn.use_deterministic_algorithms: the same bits whatever the thread count, and across runs.

Per-kernel cases use shapes large enough that the kernels split their work over threads
(the conv weight gradient's case is checked to differ between 1 and 2 threads with the mode
off, so it exercises the split the mode fixes). Training cases run a few optimizer steps of
LeNet-5 and of a small CNN with batch norm and dropout, and compare every parameter bit.
"""

from __future__ import annotations

import zlib
from contextlib import contextmanager

import numpy as np
import pytest

import fastcnn
from fastcnn import nn, ops

THREAD_COUNTS = (1, 2, 3)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


@contextmanager
def _settings(threads: int, deterministic: bool):
    previous = (fastcnn.get_num_threads(), fastcnn.are_deterministic_algorithms_enabled())
    fastcnn.set_num_threads(threads)
    fastcnn.use_deterministic_algorithms(deterministic)
    try:
        yield
    finally:
        fastcnn.set_num_threads(previous[0])
        fastcnn.use_deterministic_algorithms(previous[1])


def _per_thread_count(fn, deterministic=True, counts=THREAD_COUNTS):
    results = []
    for n in counts:
        with _settings(n, deterministic):
            results.append([np.array(r, copy=True) for r in fn()])
    return results


def _assert_bitwise_equal(results, what):
    first = results[0]
    for n, other in zip(THREAD_COUNTS[1:], results[1:]):
        for i, (a, b) in enumerate(zip(first, other)):
            assert a.dtype == b.dtype and a.shape == b.shape
            differ = np.count_nonzero(np.frombuffer(a.tobytes(), np.uint8) != np.frombuffer(b.tobytes(), np.uint8))
            assert differ == 0, f"{what}: output {i} differs in {differ} bytes between 1 and {n} threads"


# ---- the API ------------------------------------------------------------------------------------

def test_mode_round_trip_and_errors():
    assert not fastcnn.are_deterministic_algorithms_enabled()  # off by default
    try:
        fastcnn.use_deterministic_algorithms(True, warn_only=True)
        assert fastcnn.are_deterministic_algorithms_enabled()
        assert fastcnn.determinism.is_deterministic_algorithms_warn_only_enabled()
        fastcnn.use_deterministic_algorithms(False)
        assert not fastcnn.are_deterministic_algorithms_enabled()
        assert not fastcnn.determinism.is_deterministic_algorithms_warn_only_enabled()
        with pytest.raises(TypeError, match="mode must be a bool"):
            fastcnn.use_deterministic_algorithms(1)
        with pytest.raises(TypeError, match="warn_only must be a bool"):
            fastcnn.use_deterministic_algorithms(True, warn_only="yes")
        assert not fastcnn.are_deterministic_algorithms_enabled()  # a refused call changes nothing
    finally:
        fastcnn.use_deterministic_algorithms(False)


# ---- kernels ------------------------------------------------------------------------------------

# (batch, in_channels, out_channels, size, kernel, stride, padding, groups): im2col with small
# outputs (several images per GEMM), im2col with large ones, 1x1, grouped, depthwise, LeNet's conv2.
CONV_CASES = [
    (16, 8, 24, 12, 3, 1, 1, 1),
    (6, 3, 20, 34, 5, 2, 2, 1),
    (12, 16, 32, 14, 1, 1, 0, 1),
    (8, 8, 16, 16, 3, 1, 1, 2),
    (8, 12, 12, 20, 3, 1, 1, 12),
    (32, 6, 16, 14, 5, 1, 0, 1),
    (8, 16, 32, 16, 3, 1, 1, 1),  # Winograd, its weight gradient summed in parts
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c)))
def test_conv2d_gradients_same_bits_for_any_thread_count(case):
    n, c, k, size, r, stride, pad, groups = case
    rng = _rng(f"conv{case}")
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((k, c // groups, r, r), dtype=np.float32)
    b = rng.standard_normal(k, dtype=np.float32)
    y = ops.conv2d(x, w, b, stride, pad, groups=groups)
    gy = rng.standard_normal(y.shape, dtype=np.float32)

    def run():
        out = ops.conv2d(x, w, b, stride, pad, groups=groups)
        gx, gw, gb = ops.conv2d_backward(gy, x, w, stride, pad, groups=groups)
        return out, gx, gw, gb

    _assert_bitwise_equal(_per_thread_count(run), f"conv2d {case}")


def test_conv2d_weight_grad_case_splits_over_threads():
    """Without the mode the im2col weight gradient sums per-thread partials, so 1 and 2
    threads round differently on this shape: the case above does exercise the split."""
    n, c, k, size, r, stride, pad, groups = CONV_CASES[0]
    rng = _rng("conv-split")
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((k, c, r, r), dtype=np.float32)
    gy = rng.standard_normal((n, k, size, size), dtype=np.float32)
    run = lambda: ops.conv2d_backward(gy, x, w, stride, pad, output_mask=(False, True, False))[1:2]  # noqa: E731
    loose = _per_thread_count(run, deterministic=False, counts=(1, 2))
    assert not np.array_equal(loose[0][0].view(np.uint32), loose[1][0].view(np.uint32))
    np.testing.assert_allclose(loose[0][0], loose[1][0], rtol=1e-4, atol=1e-4)  # rounding, not a bug
    strict = _per_thread_count(run, deterministic=True, counts=(1, 2))
    np.testing.assert_allclose(strict[0][0], loose[0][0], rtol=1e-4, atol=1e-4)  # still the gradient


def test_linear_gradients_same_bits_for_any_thread_count():
    rng = _rng("linear")
    x = rng.standard_normal((96, 300), dtype=np.float32)
    w = rng.standard_normal((200, 300), dtype=np.float32)
    b = rng.standard_normal(200, dtype=np.float32)
    gy = rng.standard_normal((96, 200), dtype=np.float32)

    def run():
        xt = fastcnn.tensor(x, requires_grad=True)
        wt = fastcnn.tensor(w, requires_grad=True)
        bt = fastcnn.tensor(b, requires_grad=True)
        out = nn.functional.linear(xt, wt, bt)
        out.backward(fastcnn.tensor(gy))
        return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()

    _assert_bitwise_equal(_per_thread_count(run), "linear")


@pytest.mark.parametrize("kind", ["max", "avg", "adaptive", "global"])
def test_pooling_backward_same_bits_for_any_thread_count(kind):
    rng = _rng(f"pool-{kind}")
    # Overlapping windows (3, stride 2), so backward adds several gradients into one input.
    # Global pooling: 3 x 661 planes of 7 x 7, so thread shares split a group of 8 planes
    # (the AVX2 kernel sums 8 planes side by side, the rest one by one).
    shape = (3, 661, 7, 7) if kind == "global" else (8, 16, 33, 33)
    x = fastcnn.tensor(rng.standard_normal(shape, dtype=np.float32), requires_grad=True)
    f = nn.functional

    def run():
        x.grad = None
        if kind == "max":
            out = f.max_pool2d(x, 3, 2, padding=1)
        elif kind == "avg":
            out = f.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True)
        elif kind == "adaptive":
            out = f.adaptive_avg_pool2d(x, (7, 5))
        else:
            out = f.adaptive_avg_pool2d(x, 1)
        out.backward(fastcnn.tensor(_rng(f"gy-{kind}").standard_normal(out.shape, dtype=np.float32)))
        return out.detach().numpy(), x.grad.numpy()

    _assert_bitwise_equal(_per_thread_count(run), f"{kind} pooling")


def test_batchnorm_and_loss_same_bits_for_any_thread_count():
    rng = _rng("bn-loss")
    x = rng.standard_normal((32, 24, 20, 20), dtype=np.float32)
    labels = rng.integers(0, 24, size=32)

    def run():
        fastcnn.manual_seed(3)
        bn = nn.BatchNorm2d(24)
        xt = fastcnn.tensor(x, requires_grad=True)
        logits = bn(xt).mean(dim=(2, 3))
        loss = nn.functional.cross_entropy(logits, fastcnn.tensor(labels))
        loss.backward()
        grads = xt.grad.numpy(), bn.weight.grad.numpy(), bn.bias.grad.numpy()
        return (loss.detach().numpy(), *grads, bn.running_var.numpy())

    _assert_bitwise_equal(_per_thread_count(run), "batch norm + cross-entropy")


def test_dropout_mask_same_for_any_thread_count():
    x = fastcnn.ones(4, 64, 32, 32)  # 2^18 elements: the mask generator splits them over threads

    def run():
        fastcnn.manual_seed(11)
        return (nn.functional.dropout(x, 0.3, training=True).detach().numpy(),)

    results = _per_thread_count(run, deterministic=False)  # the generator is deterministic anyway
    _assert_bitwise_equal(results, "dropout")
    assert 0.25 < np.mean(results[0][0] == 0) < 0.35


def test_conv_algorithm_choice_ignores_thread_count():
    shapes = [((8, 3, 32, 32), (6, 3, 5, 5)), ((8, 6, 14, 14), (16, 6, 5, 5)), ((4, 64, 28, 28), (64, 64, 3, 3)),
              ((4, 32, 28, 28), (32, 1, 3, 3)), ((4, 64, 14, 14), (128, 64, 1, 1))]
    groups = [1, 1, 1, 32, 1]
    chosen = {}
    for n in THREAD_COUNTS:
        with _settings(n, True):
            chosen[n] = [ops.conv2d_algorithm(s, w, padding=1, groups=g) for (s, w), g in zip(shapes, groups)]
    assert chosen[1] == chosen[2] == chosen[3]
    assert len(set(chosen[1])) >= 4  # the shapes reach different algorithms


# ---- training -----------------------------------------------------------------------------------

class SmallNet(nn.Module):
    """Conv, batch norm, ReLU, max pool, dropout, linear: every op family a CNN trains with."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(12, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(), nn.AvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.25), nn.Linear(24 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def _train(model_name: str, optimizer_name: str, threads: int, steps: int = 3) -> dict:
    with _settings(threads, True):
        fastcnn.manual_seed(1234)
        if model_name == "lenet5":
            model, shape = fastcnn.models.lenet5(), (16, 1, 32, 32)
        else:
            model, shape = SmallNet(), (16, 3, 16, 16)
        if optimizer_name == "sgd":
            optimizer = fastcnn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        else:
            optimizer = fastcnn.optim.Adam(model.parameters(), lr=1e-3)
        rng = _rng(f"train-{model_name}")
        model.train()
        for _ in range(steps):
            x = fastcnn.tensor(rng.standard_normal(shape, dtype=np.float32))
            y = fastcnn.tensor(rng.integers(0, 10, size=shape[0]))
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        return {k: np.array(v.detach().numpy(), copy=True)
                for k, v in model.state_dict().items()}


@pytest.mark.parametrize("model_name,optimizer_name",
                         [("lenet5", "sgd"), ("lenet5", "adam"), ("smallnet", "sgd"), ("smallnet", "adam")])
def test_training_same_bits_across_thread_counts_and_runs(model_name, optimizer_name):
    one = _train(model_name, optimizer_name, threads=1)
    two = _train(model_name, optimizer_name, threads=2)
    again = _train(model_name, optimizer_name, threads=2)
    untrained_seed = _train(model_name, optimizer_name, threads=1, steps=0)
    for key in one:
        assert one[key].tobytes() == two[key].tobytes(), f"{key}: 1 and 2 threads differ"
        assert two[key].tobytes() == again[key].tobytes(), f"{key}: two runs with 2 threads differ"
    # Training moved the weights, so equality above is not that of untouched parameters.
    moved = [k for k in one if k.endswith("weight") and not np.array_equal(one[k], untrained_seed[k])]
    assert len(moved) >= 3
