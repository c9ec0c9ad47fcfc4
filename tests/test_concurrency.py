"""Kernels called from several Python threads at once (the GIL is released inside them)
give bitwise the results of serial calls: no shared scratch space, no races on caches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastcnn import _C, ops

THREADS = 4
CALLS = 16


def _inputs(seed):
    rng = np.random.default_rng(seed)
    return rng


def _cases():
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((2, 16, 12, 12)).astype(np.float32) for _ in range(CALLS)]
    w3 = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    w1 = rng.standard_normal((24, 16, 1, 1)).astype(np.float32)
    wd = rng.standard_normal((16, 1, 3, 3)).astype(np.float32)
    a = [rng.standard_normal((37, 53)).astype(np.float32) for _ in range(CALLS)]
    b = rng.standard_normal((53, 29)).astype(np.float32)
    mean, var = np.zeros(16, np.float32), np.ones(16, np.float32)
    gamma, beta = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)

    def gemm(i):
        c = np.empty((37, 29), np.float32)
        return _C.gemm(a[i], b, c)

    def conv(algorithm, w, groups=1):
        def f(i):
            y = ops.conv2d(x[i], w, stride=1, padding=1 if w.shape[2] == 3 else 0, groups=groups,
                           algorithm=algorithm)
            gx, gw, gb = ops.conv2d_backward(y, x[i], w, padding=1 if w.shape[2] == 3 else 0, groups=groups,
                                             algorithm=algorithm)
            return np.concatenate([y.ravel(), gx.ravel(), gw.ravel(), gb.ravel()])
        return f

    def pools(i):
        y, idx = ops.max_pool2d(x[i], 3, stride=2, padding=1)
        gx = ops.max_pool2d_backward(y, idx, x[i].shape)
        ya = ops.avg_pool2d(x[i], 2)
        yad = ops.adaptive_avg_pool2d(x[i], (5, 3))
        return np.concatenate([y.ravel(), gx.ravel(), ya.ravel(), yad.ravel()])

    def batch_norm(i):
        rm, rv = mean.copy(), var.copy()
        y, sm, si = ops.batch_norm(x[i], rm, rv, gamma, beta, training=True)
        grads = ops.batch_norm_backward(y, x[i], gamma, sm, si, True)
        return np.concatenate([y.ravel(), rm, rv] + [g.ravel() for g in grads if g is not None])

    def softmax(i):
        return np.concatenate([ops.softmax(x[i], 1).ravel(), ops.log_softmax(x[i] * 100, 3).ravel()])

    return {
        "gemm": gemm, "conv_im2col": conv("im2col", w3), "conv_winograd": conv("winograd", w3),
        "conv_direct": conv("direct", w3), "conv_gemm1x1": conv("gemm1x1", w1),
        "conv_depthwise": conv("depthwise", wd, groups=16), "pool": pools, "batch_norm": batch_norm,
        "softmax": softmax,
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_concurrent_calls_match_serial(name, kernel_path, threads):
    f = CASES[name]
    serial = [f(i) for i in range(CALLS)]
    with ThreadPoolExecutor(THREADS) as pool:
        # Twice the work per thread, interleaved, so calls really overlap.
        concurrent = list(pool.map(f, list(range(CALLS)) * 2))
    for i, got in enumerate(concurrent):
        np.testing.assert_array_equal(got, serial[i % CALLS], err_msg=f"{name} call {i}")
