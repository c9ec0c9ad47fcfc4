"""Batch norm, local response norm and dropout kernels (fastcnn.ops.norm).

Each kernel is compared with a float64 NumPy reference written here and with torch
(forward and autograd backward), on both kernel paths and 1 and 2 threads.
Tolerances: float32 results of O(1) values carry ~1e-7 relative rounding per operation;
reductions over M values (statistics, grad_weight/grad_bias) can grow that to ~1e-7 * M in
the worst case, far less in practice, so they use atol = 1e-6 * sqrt(M) on top of a 1e-5 floor.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import ops

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _rng(*key):
    # zlib.crc32, not hash(): str hashes change between processes (PYTHONHASHSEED).
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _rand(rng, shape, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


# ---- float64 references ------------------------------------------------------------------

def bn_ref(x, rm, rv, w, b, training, momentum, eps):
    x = x.astype(np.float64)
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    if training:
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape(bshape)) ** 2).mean(axis=axes)
        m = x.size // c
        new_rm = None if rm is None else (1 - momentum) * rm + momentum * mean
        new_rv = None if rv is None else (1 - momentum) * rv + momentum * var * m / (m - 1)
    else:
        mean, var = rm.astype(np.float64), rv.astype(np.float64)
        new_rm, new_rv = rm, rv
    invstd = 1.0 / np.sqrt(var + eps)
    out = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    if w is not None:
        out = out * w.reshape(bshape)
    if b is not None:
        out = out + b.reshape(bshape)
    return out, mean, invstd, new_rm, new_rv


def bn_backward_ref(g, x, w, mean, invstd, training):
    g, x = g.astype(np.float64), x.astype(np.float64)
    c = x.shape[1]
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, c) + (1,) * (x.ndim - 2)
    xhat = (x - mean.reshape(bshape)) * invstd.reshape(bshape)
    wv = np.ones(c) if w is None else w.astype(np.float64)
    gw, gb = (g * xhat).sum(axis=axes), g.sum(axis=axes)
    if training:
        m = x.size // c
        gi = (wv * invstd).reshape(bshape) * (g - (gb / m).reshape(bshape) - xhat * (gw / m).reshape(bshape))
    else:
        gi = g * (wv * invstd).reshape(bshape)
    return gi, gw, gb


def lrn_ref(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    c = x.shape[1]
    sq = x**2
    scale = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        scale[:, ch] = k + alpha / size * sq[:, lo:hi + 1].sum(axis=1)
    return x * scale**-beta, scale


def lrn_backward_ref(g, x, size, alpha, beta, k):
    """Direct chain rule: dx_j = g_j s_j^-b - 2ab/n x_j sum_{i: j in W(i)} g_i x_i s_i^(-b-1)."""
    g, x = g.astype(np.float64), x.astype(np.float64)
    _, s = lrn_ref(x, size, alpha, beta, k)
    c = x.shape[1]
    t = g * x * s ** (-beta - 1)
    gi = g * s**-beta
    for j in range(c):
        owners = [i for i in range(c) if i - size // 2 <= j <= i + (size - 1) // 2]
        gi[:, j] -= 2 * alpha * beta / size * x[:, j] * t[:, owners].sum(axis=1)
    return gi


def test_lrn_backward_ref_matches_finite_differences():
    rng = _rng("lrn-fd")
    x = rng.standard_normal((2, 5, 3))
    g = rng.standard_normal(x.shape)
    size, alpha, beta, k = 3, 0.5, 0.75, 1.5
    analytic = lrn_backward_ref(g, x, size, alpha, beta, k)
    numeric = np.empty_like(x)
    h = 1e-6
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        numeric[idx] = ((lrn_ref(xp, size, alpha, beta, k)[0] - lrn_ref(xm, size, alpha, beta, k)[0]) * g).sum() / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


# ---- batch norm --------------------------------------------------------------------------

BN_SHAPES = [(2, 1), (5, 4), (3, 2, 7), (1, 3, 5, 5), (2, 3, 5, 5), (4, 6, 9, 11), (2, 3, 40), (1, 1, 33, 1),
             (3, 5, 17, 13), (64, 3)]


def _torch_bn(x, rm, rv, w, b, training, momentum, eps, g):
    tx = torch.tensor(x, requires_grad=True)
    tw = None if w is None else torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    trm = None if rm is None else torch.tensor(rm)
    trv = None if rv is None else torch.tensor(rv)
    out = F.batch_norm(tx, trm, trv, tw, tb, training=training, momentum=momentum, eps=eps)
    out.backward(torch.tensor(g))
    grads = [None if t is None else t.grad.numpy() for t in (tx, tw, tb)]
    return out.detach().numpy(), trm, trv, grads


@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_matches_reference_and_torch(shape, training, affine, kernel_path, threads):
    rng = _rng("bn", shape, training, affine)
    c = shape[1]
    x = _rand(rng, shape, 2.0, 0.5)
    g = _rand(rng, shape)
    w = _rand(rng, (c,), 1.0, 1.0) if affine else None
    b = _rand(rng, (c,)) if affine else None
    rm = _rand(rng, (c,), 0.3)
    rv = (rng.random(c) + 0.5).astype(np.float32)
    momentum, eps = float(rng.choice([0.1, 0.3, 1.0])), float(rng.choice([1e-5, 1e-3]))
    ref_out, ref_mean, ref_invstd, ref_rm, ref_rv = bn_ref(x, rm, rv, w, b, training, momentum, eps)
    t_out, t_rm, t_rv, t_grads = _torch_bn(x, rm, rv, w, b, training, momentum, eps, g)

    rm_ours, rv_ours = rm.copy(), rv.copy()
    out, save_mean, save_invstd = ops.batch_norm(x, rm_ours, rv_ours, w, b, training, momentum, eps)
    m = x.size // c
    tol = dict(rtol=1e-5, atol=1e-5 + 1e-6 * np.sqrt(m))
    np.testing.assert_allclose(out, ref_out, **tol)
    np.testing.assert_allclose(out, t_out, **tol)
    np.testing.assert_allclose(save_mean, ref_mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(save_invstd, ref_invstd, rtol=1e-5)
    np.testing.assert_allclose(rm_ours, ref_rm, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(rv_ours, ref_rv, rtol=1e-5)
    np.testing.assert_allclose(rm_ours, t_rm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv_ours, t_rv.numpy(), rtol=1e-5)

    gi, gw, gb = ops.batch_norm_backward(g, x, w, save_mean, save_invstd, training)
    ref_gi, ref_gw, ref_gb = bn_backward_ref(g, x, w, ref_mean, ref_invstd, training)
    np.testing.assert_allclose(gi, ref_gi, **tol)
    np.testing.assert_allclose(gi, t_grads[0], **tol)
    if affine:
        gtol = dict(rtol=1e-5, atol=1e-5 * np.sqrt(m))
        np.testing.assert_allclose(gw, ref_gw, **gtol)
        np.testing.assert_allclose(gb, ref_gb, **gtol)
        np.testing.assert_allclose(gw, t_grads[1], **gtol)
        np.testing.assert_allclose(gb, t_grads[2], **gtol)
    else:
        assert gw is None and gb is None


@pytest.mark.parametrize("shape", [(4, 3), (3, 4, 6, 5), (2, 2, 50)], ids=str)
def test_batch_norm_training_without_running_stats(shape, kernel_path):
    rng = _rng("bn-nostats", shape)
    x = _rand(rng, shape)
    out, mean, invstd = ops.batch_norm(x, None, None, training=True)
    ref_out, ref_mean, ref_invstd, _, _ = bn_ref(x, None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, F.batch_norm(torch.tensor(x), None, None, training=True).numpy(),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(invstd, ref_invstd, rtol=1e-5)


@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
@pytest.mark.parametrize("shape", [(8, 3, 6, 7), (16, 5)], ids=str)
def test_batch_norm_running_stats_follow_torch_over_steps(momentum, shape, kernel_path):
    rng = _rng("bn-steps", momentum, shape)
    c = shape[1]
    rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
    trm, trv = torch.zeros(c), torch.ones(c)
    for step in range(5):
        x = _rand(rng, shape, 1.0 + step, step - 2.0)
        ops.batch_norm(x, rm, rv, training=True, momentum=momentum)
        F.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=momentum)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-5, atol=1e-6)
    x = _rand(rng, shape)
    out, _, _ = ops.batch_norm(x, rm, rv, training=False)
    np.testing.assert_allclose(out, F.batch_norm(torch.tensor(x), trm, trv, training=False).numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 4, 32, 32), (4000, 3), (16, 2, 7)], ids=str)
def test_batch_norm_large_mean_is_accurate(shape, kernel_path, threads):
    # mean 1e3, std 1e-2: a one-pass E[x^2] - E[x]^2 in float would lose every digit.
    rng = _rng("bn-large", shape)
    x = _rand(rng, shape, 1e-2, 1e3)
    g = _rand(rng, shape)
    out, mean, invstd = ops.batch_norm(x, None, None, training=True)
    ref_out, ref_mean, ref_invstd, _, _ = bn_ref(x, None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-7)
    np.testing.assert_allclose(invstd, ref_invstd, rtol=1e-4)  # eps = 1e-5 is 10% of var: invstd still exact
    np.testing.assert_allclose(out, ref_out, rtol=1e-4, atol=1e-4)
    # The backward gets the mean as float32 (as torch's save_mean): off by up to ulp(1e3)/2 = 3e-5,
    # i.e. 3e-3 standard deviations, which bounds the error of xhat and so of grad_input.
    gi, _, _ = ops.batch_norm_backward(g, x, None, mean, invstd, True)
    ref_gi, _, _ = bn_backward_ref(g, x, None, ref_mean, ref_invstd, True)
    np.testing.assert_allclose(gi, ref_gi, rtol=1e-2, atol=5e-3 * np.abs(ref_gi).max())


@pytest.mark.parametrize("shape", [(8, 3, 64, 64), (16, 1, 64, 64), (20000, 8), (4, 2, 9000)], ids=str)
def test_batch_norm_same_bits_for_any_thread_count(shape, kernel_path):
    rng = _rng("bn-threads", shape)
    x = _rand(rng, shape, 3.0, 1.0)
    g = _rand(rng, shape)
    w = _rand(rng, (shape[1],))
    results = []
    previous = fastcnn.get_num_threads()
    try:
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            out, mean, invstd = ops.batch_norm(x, None, None, w, None, training=True)
            results.append((out, mean, invstd, *ops.batch_norm_backward(g, x, w, mean, invstd, True)[:2]))
    finally:
        fastcnn.set_num_threads(previous)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---- local response norm -----------------------------------------------------------------

LRN_CASES = [((2, 5, 4, 4), 3, 1e-4, 0.75, 1.0), ((1, 1, 5, 3), 2, 0.5, 0.75, 1.0), ((3, 7, 9), 5, 0.3, 0.5, 2.0),
             ((2, 6, 3, 70), 4, 1.0, 1.0, 1.0), ((2, 9, 5, 5), 12, 0.7, 0.6, 0.5), ((1, 4, 2, 3, 3), 1, 2.0, 0.25, 1.0),
             ((2, 96, 7, 7), 5, 1e-4, 0.75, 2.0)]


@pytest.mark.parametrize("shape,size,alpha,beta,k", LRN_CASES, ids=str)
def test_local_response_norm_matches_reference_and_torch(shape, size, alpha, beta, k, kernel_path, threads):
    rng = _rng("lrn", shape, size)
    x = _rand(rng, shape)
    g = _rand(rng, shape)
    out, scale = ops.local_response_norm(x, size, alpha, beta, k)
    ref_out, ref_scale = lrn_ref(x, size, alpha, beta, k)
    tx = torch.tensor(x, requires_grad=True)
    t_out = F.local_response_norm(tx, size, alpha, beta, k)
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(scale, ref_scale, rtol=2e-6)
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-5, atol=2e-6)
    gi = ops.local_response_norm_backward(g, x, scale, size, alpha, beta, k)
    ref_gi = lrn_backward_ref(g, x, size, alpha, beta, k)
    np.testing.assert_allclose(gi, ref_gi, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gi, tx.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_local_response_norm_same_bits_for_any_thread_count(kernel_path):
    rng = _rng("lrn-threads")
    x = _rand(rng, (4, 16, 30, 30))
    g = _rand(rng, x.shape)
    results = []
    previous = fastcnn.get_num_threads()
    try:
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            out, scale = ops.local_response_norm(x, 5, 1e-3, 0.75, 2.0)
            results.append((out, scale, ops.local_response_norm_backward(g, x, scale, 5, 1e-3, 0.75, 2.0)))
    finally:
        fastcnn.set_num_threads(previous)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# ---- dropout -----------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_dropout_keep_fraction_is_binomial(p, threads):
    n = 400_000
    mask = ops.bernoulli_mask((n,), p, seed=1234)
    kept = int(mask.sum())
    assert set(np.unique(mask)) <= {0, 1}
    # 6 sigma of Binomial(n, 1 - p).
    assert abs(kept - n * (1 - p)) <= 6 * np.sqrt(n * p * (1 - p))
    # Neighbouring elements are independent: P(keep, keep) ~ (1 - p)^2.
    pairs = int((mask[1:] & mask[:-1]).sum())
    q = (1 - p) ** 2
    assert abs(pairs - (n - 1) * q) <= 6 * np.sqrt(n * q * (1 - q) * 3)


def test_dropout_mask_depends_only_on_seed_offset_and_index():
    shape = (3, 50_000)
    a = ops.bernoulli_mask(shape, 0.5, seed=7)
    np.testing.assert_array_equal(a, ops.bernoulli_mask(shape, 0.5, seed=7))
    assert (a != ops.bernoulli_mask(shape, 0.5, seed=8)).mean() > 0.4
    assert (a != ops.bernoulli_mask(shape, 0.5, seed=7, offset=1)).mean() > 0.4
    # offset continues the stream: element i at offset k is element k + i at offset 0.
    np.testing.assert_array_equal(ops.bernoulli_mask((1000,), 0.5, seed=7, offset=123), a.reshape(-1)[123:1123])
    np.testing.assert_array_equal(ops.bernoulli_mask((10,), 0.5, seed=2**64 - 1, offset=2**64 - 5),
                                  ops.bernoulli_mask((10,), 0.5, seed=2**64 - 1, offset=2**64 - 5))
    previous = fastcnn.get_num_threads()
    try:
        masks = []
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            masks.append(ops.bernoulli_mask((300_001,), 0.3, seed=99, offset=5))
    finally:
        fastcnn.set_num_threads(previous)
    np.testing.assert_array_equal(masks[0], masks[1])


@pytest.mark.parametrize("shape", [(7,), (2, 3, 5, 5), (1, 1), (0, 4), (70_000, 3)], ids=str)
@pytest.mark.parametrize("p", [0.0, 0.2, 0.75, 1.0])
def test_dropout_forward_and_backward(shape, p, threads):
    rng = _rng("dropout", shape, p)
    x = _rand(rng, shape)
    g = _rand(rng, shape)
    out, mask = ops.dropout(x, p, seed=42, offset=3)
    assert mask.dtype == np.uint8 and mask.shape == x.shape
    np.testing.assert_array_equal(mask, ops.bernoulli_mask(shape, p, seed=42, offset=3))
    if p == 0.0:
        np.testing.assert_array_equal(out, x)
        assert mask.all()
    elif p == 1.0:
        np.testing.assert_array_equal(out, np.zeros_like(x))
        assert not mask.any()
    scale = np.float32(0.0 if p == 1.0 else 1.0 / (1.0 - p))
    np.testing.assert_array_equal(out, np.where(mask == 1, x * scale, np.float32(0)))
    # torch's dropout is x * (mask / (1 - p)); same values from our mask.
    t_mask = torch.tensor(mask.astype(np.float32))
    tx = torch.tensor(x, requires_grad=True)
    t_out = tx * t_mask * float(scale)
    t_out.backward(torch.tensor(g))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-7)
    gi = ops.dropout_backward(g, mask, p)
    np.testing.assert_array_equal(gi, np.where(mask == 1, g * scale, np.float32(0)))
    np.testing.assert_allclose(gi, tx.grad.numpy(), rtol=1e-7)


# ---- bad inputs --------------------------------------------------------------------------

_x4 = np.zeros((2, 3, 4, 4), np.float32)
_c3 = np.zeros(3, np.float32)
_c4 = np.zeros(4, np.float32)
_m = np.ones((2, 3, 4, 4), np.uint8)

BAD_CALLS = [
    (lambda: ops.batch_norm(_x4, _c4, _c3.copy(), training=True), ValueError, r"running_mean has shape \(4,\).*3 channels"),
    (lambda: ops.batch_norm(_x4, _c3.copy(), _c3.copy(), weight=_c4), ValueError, r"weight has shape \(4,\)"),
    (lambda: ops.batch_norm(_x4, None, None, bias=_c4, training=True), ValueError, r"bias has shape \(4,\)"),
    (lambda: ops.batch_norm(_x4.astype(np.float64), None, None, training=True), TypeError, "input has dtype float64"),
    (lambda: ops.batch_norm(_x4, _c3.astype(np.float64), _c3.copy()), TypeError, "running_mean has dtype float64"),
    (lambda: ops.batch_norm(_x4, None, None, training=False), ValueError, "must be defined in evaluation mode"),
    (lambda: ops.batch_norm(_x4, _c3.copy(), None, training=True), ValueError, "both"),
    (lambda: ops.batch_norm(np.zeros((1, 3), np.float32), None, None, training=True), ValueError,
     r"Expected more than 1 value per channel when training, got input size \(1, 3\)"),
    (lambda: ops.batch_norm(np.zeros(3, np.float32), None, None, training=True), ValueError, r"input must have at least 2"),
    (lambda: ops.batch_norm(_x4, None, None, training=True, eps=-1.0), ValueError, "eps"),
    (lambda: ops.batch_norm(_x4, None, None, training="yes"), TypeError, "training"),
    (lambda: ops.batch_norm(_x4, [0, 0, 0], _c3.copy()), TypeError, "running_mean must be a numpy.ndarray"),
    (lambda: ops.batch_norm_backward(_x4[:, :2], _x4, None, _c3, _c3, True), ValueError,
     r"grad_output has shape \(2, 2, 4, 4\) but input has shape \(2, 3, 4, 4\)"),
    (lambda: ops.batch_norm_backward(_x4, _x4, None, _c4, _c3, True), ValueError, r"save_mean has shape \(4,\)"),
    (lambda: ops.batch_norm_backward(_x4, _x4, _c4, _c3, _c3, False), ValueError, r"weight has shape \(4,\)"),
    (lambda: ops.local_response_norm(np.zeros((2, 3), np.float32), 2), ValueError, r"input must have at least 3.*\(2, 3\)"),
    (lambda: ops.local_response_norm(_x4, 0), ValueError, "size must be >= 1"),
    (lambda: ops.local_response_norm(_x4, 2.5), TypeError, "size must be an int"),
    (lambda: ops.local_response_norm(_x4, 2, alpha="a"), TypeError, "alpha"),
    (lambda: ops.local_response_norm_backward(_x4, _x4, _x4[:1], 2), ValueError, r"scale has shape \(1, 3, 4, 4\)"),
    (lambda: ops.local_response_norm(_x4.astype(np.float16), 2), TypeError, "input has dtype float16"),
    (lambda: ops.dropout(_x4, 1.5, seed=0), ValueError, "p has to be between 0 and 1, but got 1.5"),
    (lambda: ops.dropout(_x4, -0.1, seed=0), ValueError, "p has to be between 0 and 1"),
    (lambda: ops.dropout(_x4, 0.5, seed=-1), ValueError, "seed must be >= 0"),
    (lambda: ops.dropout(_x4, 0.5, seed=2**64), ValueError, "seed must be"),
    (lambda: ops.dropout(_x4, 0.5, seed=0, offset=1.5), TypeError, "offset must be an int"),
    (lambda: ops.dropout(_x4.astype(np.float64), 0.5, seed=0), TypeError, "input has dtype float64"),
    (lambda: ops.dropout_backward(_x4, _m.astype(np.float32), 0.5), TypeError, "mask has dtype float32"),
    (lambda: ops.dropout_backward(_x4, _m[:1], 0.5), ValueError, r"mask has shape \(1, 3, 4, 4\)"),
    (lambda: ops.dropout_backward(_x4, _m, 2.0), ValueError, "p has to be between 0 and 1"),
    (lambda: ops.bernoulli_mask((2, -1), 0.5, 0), ValueError, "shape must be >= 0"),
    (lambda: ops.bernoulli_mask((2, 2), "x", 0), TypeError, "p must be a real number"),
]


@pytest.mark.parametrize("call,error,match", BAD_CALLS, ids=[str(i) for i in range(len(BAD_CALLS))])
def test_bad_arguments_raise(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bindings_check_arguments_themselves():
    _C = fastcnn.backend._C
    x = np.zeros((2, 3, 4), np.float32)
    out, c3 = np.empty_like(x), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"running_mean has shape \(4,\)"):
        _C.batch_norm_forward(x, out, np.zeros(4, np.float32), c3.copy(), None, None, c3.copy(), c3.copy(),
                              training=True, momentum=0.1, eps=1e-5)
    with pytest.raises(ValueError, match="output out overlaps input input"):
        _C.batch_norm_forward(x, x, None, None, None, None, c3.copy(), c3.copy(), training=True, momentum=0.1, eps=1e-5)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        _C.batch_norm_forward(x[:1, :, :1].copy(), out[:1, :, :1].copy(), None, None, None, None, c3.copy(),
                              c3.copy(), training=True, momentum=0.1, eps=1e-5)
    with pytest.raises(ValueError, match="required in eval mode"):
        _C.batch_norm_forward(x, out, None, None, None, None, c3.copy(), c3.copy(), training=False, momentum=0.1,
                              eps=1e-5)
    with pytest.raises(ValueError, match="not C-contiguous"):
        _C.local_response_norm_forward(x[:, :, ::2], out[:, :, ::2], out[:, :, ::2].copy(), size=2, alpha=1.0,
                                       beta=0.75, k=1.0)
    with pytest.raises(ValueError, match="size must be >= 1"):
        _C.local_response_norm_forward(x, out, np.empty_like(x), size=0, alpha=1.0, beta=0.75, k=1.0)
    with pytest.raises(TypeError, match="mask has dtype int8"):
        _C.bernoulli_mask(np.zeros(4, np.int8), p=0.5, seed=0, offset=0)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        _C.bernoulli_mask(np.zeros(4, np.uint8), p=1.5, seed=0, offset=0)
    with pytest.raises(ValueError, match="output mask is read-only"):
        ro = np.zeros(4, np.uint8)
        ro.flags.writeable = False
        _C.bernoulli_mask(ro, p=0.5, seed=0, offset=0)
    with pytest.raises(ValueError, match=r"mask has shape \(3,\)"):
        _C.dropout_forward(np.zeros(4, np.float32), np.zeros(3, np.uint8), np.zeros(4, np.float32), p=0.5)
