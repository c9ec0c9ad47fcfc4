"""Memory stays flat over many LeNet-5 training steps, plus quick numerics checks from the
reliability issue (stable softmax/cross-entropy at large logits, batch norm with one value
per channel in training, deterministic max-pool gradients with ties).

Run ``python tests/test_memory.py 2000`` for the long measurement."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import fastcnn
import fastcnn.nn.functional as F
from fastcnn import models, ops, optim

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def train_rss(steps: int, warmup: int = 50, batch: int = 16) -> tuple[int, int, float]:
    """(RSS after warm-up, RSS at the end, final loss) of `steps` SGD steps on LeNet-5."""
    rng = np.random.default_rng(0)
    fastcnn.manual_seed(0)
    model = models.lenet5(variant="modern")
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = rng.standard_normal((8, batch, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, (8, batch))
    start = 0
    loss = None
    for step in range(warmup + steps):
        if step == warmup:
            start = rss_bytes()
        opt.zero_grad()
        loss = F.cross_entropy(model(fastcnn.tensor(x[step % 8])), fastcnn.tensor(y[step % 8]))
        loss.backward()
        opt.step()
    return start, rss_bytes(), float(loss.item())


@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""), reason="ASan's quarantine keeps freed memory")
def test_rss_flat_over_training_steps():
    start, end, loss = train_rss(300)
    assert np.isfinite(loss)
    growth = end - start
    assert growth < 5 * 2**20, f"RSS grew {growth / 2**20:.2f} MiB over 300 steps ({start} -> {end} bytes)"


@pytest.mark.parametrize("scale", [1e4, -1e4, 1e30])
def test_softmax_and_cross_entropy_stable_at_large_logits(scale):
    logits = np.array([[0.0, 1.0, -1.0, 0.5], [2.0, 2.0, -3.0, 0.0]], np.float32) * np.float32(scale)
    target = np.array([1, 0])
    p = ops.softmax(logits, 1)
    lp = ops.log_softmax(logits, 1)
    assert np.isfinite(p).all() and np.isfinite(lp).all()
    np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
    # Reference in float64 by the max-shift formula.
    z = logits.astype(np.float64)
    ref = z - z.max(1, keepdims=True)
    ref = ref - np.log(np.exp(ref).sum(1, keepdims=True))
    np.testing.assert_allclose(lp, ref, rtol=1e-6)
    loss = F.cross_entropy(fastcnn.tensor(logits, requires_grad=True), fastcnn.tensor(target))
    np.testing.assert_allclose(loss.item(), -ref[np.arange(2), target].mean(), rtol=1e-6)


def test_batch_norm_training_with_one_value_per_channel_raises():
    x = fastcnn.tensor(np.ones((1, 3), np.float32))
    rm, rv = fastcnn.tensor(np.zeros(3, np.float32)), fastcnn.tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(x, rm, rv, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(fastcnn.tensor(np.ones((1, 3, 1, 1), np.float32)), rm, rv, training=True)


def test_max_pool_gradient_with_ties_is_deterministic(kernel_path):
    x = np.zeros((2, 3, 9, 9), np.float32)  # all ties
    x[:, :, ::3, ::3] = 1.0
    results = []
    for threads in (1, 2, 1, 2):
        fastcnn.set_num_threads(threads)
        y, idx = ops.max_pool2d(x, 3, stride=1, padding=1)
        results.append((idx.copy(), ops.max_pool2d_backward(np.ones_like(y), idx, x.shape)))
    for idx, gx in results[1:]:
        np.testing.assert_array_equal(idx, results[0][0])
        np.testing.assert_array_equal(gx, results[0][1])
    # Ties pick the first maximum in the window (row-major), like PyTorch's CPU kernel.
    import torch
    _, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, stride=1, padding=1, return_indices=True)
    np.testing.assert_array_equal(results[0][0], tidx.numpy())


if __name__ == "__main__":
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    start, end, loss = train_rss(steps)
    print(f"LeNet-5 batch 16, {steps} steps: RSS {start / 2**20:.1f} -> {end / 2**20:.1f} MiB "
          f"(growth {(end - start) / 2**20:+.2f} MiB), final loss {loss:.4f}")
