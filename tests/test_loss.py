"""softmax / log_softmax, nll_loss, cross_entropy, mse_loss and binary_cross_entropy_with_logits,
forward and backward, against a float64 NumPy reference and torch (autograd), on both
kernel paths and 1 and 2 threads; reductions bitwise equal across thread counts.

Tolerances (EPS = float32 eps). Each float32 result comes from a short chain of roundings
whose size is bounded by the magnitudes involved, so every check is
|result - reference| <= K * EPS * scale, with `scale` the sum of the magnitudes entering it
(given per check) and K = 8 (16 where a class sum of length C is involved, times log2 C).
torch has errors of the same size, so comparisons with torch use twice the tolerance.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import fastcnn
from fastcnn import _C
from fastcnn import ops as F

EPS = float(np.finfo(np.float32).eps)
TINY = float(np.finfo(np.float32).tiny)


def rng_for(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def assert_close(result, expected, tol, what=""):
    result = np.asarray(result)
    expected = np.asarray(expected, dtype=np.float64)
    assert result.dtype == np.float32, what
    assert result.shape == expected.shape, (result.shape, expected.shape, what)
    r = result.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(r), np.isnan(expected), err_msg=f"NaN positions differ {what}")
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(r[~finite & ~np.isnan(expected)], expected[~finite & ~np.isnan(expected)])
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), expected.shape)[finite] + 4 * TINY
    err = np.abs(r[finite] - expected[finite])
    if err.size and (err > tol).any():
        i = int(np.argmax(err / tol))
        raise AssertionError(f"{what}: {int((err > tol).sum())}/{err.size} out of tolerance; worst: got "
                             f"{r[finite][i]!r} expected {expected[finite][i]!r} (err {err[i]:.3g} > tol {tol[i]:.3g})")


def log2c(c):
    return 1.0 + np.log2(max(c, 1))


# ---- float64 references ----------------------------------------------------------------

def ref_log_softmax(x, dim):
    x = x.astype(np.float64)
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


def ref_class_loss(x, t, w, ignore_index, reduction, eps, log_probs_given=False):
    """cross_entropy (or nll_loss with log_probs_given) and its gradient, torch's semantics.

    Returns loss, grad (for grad_output = 1 / ones), and an error scale for each.
    """
    c = x.shape[1]
    lp = x.astype(np.float64) if log_probs_given else ref_log_softmax(x, 1)
    w64 = np.ones(c) if w is None else w.astype(np.float64)
    lp_m = np.moveaxis(lp, 1, -1)  # (N, d..., C)
    valid = t != ignore_index
    tt = np.where(valid, t, 0)
    wt = np.where(valid, w64[tt], 0.0)
    lpt = np.take_along_axis(lp_m, tt[..., None], axis=-1)[..., 0]
    nll = -wt * lpt
    smooth = np.where(valid, -(lp_m * w64).sum(-1), 0.0)
    per = (1 - eps) * nll + eps / c * smooth
    if log_probs_given:
        mag = np.abs(x).astype(np.float64)
    else:
        # log_probs = (x - max) - log(sum): each term rounded once, the sum's relative error ~log2 C
        mag = np.abs(x - x.max(axis=1, keepdims=True)).astype(np.float64) + np.abs(lp) + log2c(c)
    mag_m = np.moveaxis(mag, 1, -1)
    per_scale = wt * np.take_along_axis(mag_m, tt[..., None], -1)[..., 0]
    per_scale = per_scale + np.where(valid, eps / c * (mag_m * np.abs(w64)).sum(-1), 0.0)
    total = wt.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "none":
            loss, scale, s = per, per_scale, np.ones_like(per)
        elif reduction == "sum":
            loss, scale, s = per.sum(), per_scale.sum(), np.ones_like(per)
        else:
            loss, scale, s = per.sum() / total, per_scale.sum() / total, np.full(per.shape, 1.0 / total)
    s = np.where(valid, s, 0.0)  # ignored elements get no gradient, even when total == 0
    # gradient with grad_output = 1 everywhere
    onehot = np.zeros_like(lp_m)
    np.put_along_axis(onehot, tt[..., None], 1.0, axis=-1)
    if log_probs_given:
        g = -(wt * s)[..., None] * onehot
        gscale = np.abs(g)
    else:
        p = np.exp(lp_m)
        a = (1 - eps) * wt + np.where(valid, eps / c * w64.sum(), 0.0)
        b = np.where(valid, eps / c, 0.0)
        h = (1 - eps) * wt
        g = s[..., None] * (a[..., None] * p - b[..., None] * w64 - h[..., None] * onehot)
        gscale = np.abs(s[..., None]) * (np.abs(a[..., None]) * p * (1 + mag_m) + np.abs(b[..., None] * w64)
                                         + np.abs(h[..., None]) * onehot)
    g = np.moveaxis(g, -1, 1)
    gscale = np.moveaxis(gscale, -1, 1)
    return loss, scale, g, gscale


# ---- softmax / log_softmax --------------------------------------------------------------

SOFTMAX_CASES = [((1, 1), 1), ((3, 1000), 1), ((4, 7), 0), ((2, 5, 3, 4), 1), ((2, 5, 3, 4), -1),
                 ((2, 5, 3, 4), 0), ((2, 3, 300), 1), ((9,), 0), ((64, 4096), 1), ((4, 16, 64, 64), 1)]


@pytest.mark.parametrize("shape,dim", SOFTMAX_CASES, ids=str)
def test_softmax_forward_backward(kernel_path, threads, shape, dim):
    rng = rng_for("softmax", shape, dim)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    c = shape[dim]
    m = x.max(axis=dim, keepdims=True)

    lp_ref = ref_log_softmax(x, dim)
    y_ref = np.exp(lp_ref)
    y, lp = F.softmax(x, dim), F.log_softmax(x, dim)
    sm_tol = 8 * EPS * y_ref * (2 + np.abs(x - m) + log2c(c))
    lsm_tol = 8 * EPS * (np.abs(x) + np.abs(m) + np.abs(lp_ref) + log2c(c))
    assert_close(y, y_ref, sm_tol, "softmax")
    assert_close(lp, lp_ref, lsm_tol, "log_softmax")

    # backward, reference evaluated at our float32 outputs (what the kernel is given)
    y64, lp64, g64 = y.astype(np.float64), lp.astype(np.float64), g.astype(np.float64)
    dot = (g64 * y64).sum(axis=dim, keepdims=True)
    gs_ref = y64 * (g64 - dot)
    gs_tol = 16 * EPS * y64 * (np.abs(g64) + (np.abs(g64) * y64).sum(axis=dim, keepdims=True)) * log2c(c)
    assert_close(F.softmax_backward(g, y, dim), gs_ref, gs_tol, "softmax_backward")
    sg = g64.sum(axis=dim, keepdims=True)
    gl_ref = g64 - np.exp(lp64) * sg
    gl_tol = 16 * EPS * (np.abs(g64) + np.exp(lp64) * np.abs(g64).sum(axis=dim, keepdims=True) * log2c(c))
    assert_close(F.log_softmax_backward(g, lp, dim), gl_ref, gl_tol, "log_softmax_backward")

    if x.size <= 100_000:  # torch, forward and autograd backward
        for fn, ours_y, ours_b, tol, btol in [(TF.softmax, y, F.softmax_backward, sm_tol, gs_tol),
                                              (TF.log_softmax, lp, F.log_softmax_backward, lsm_tol, gl_tol)]:
            xt = torch.tensor(x, requires_grad=True)
            yt = fn(xt, dim)
            yt.backward(torch.tensor(g))
            assert_close(ours_y, yt.detach().numpy(), 2 * tol, f"{fn.__name__} vs torch")
            assert_close(ours_b(g, ours_y, dim), xt.grad.numpy(), 2 * btol + 2 * tol, f"{fn.__name__} bwd vs torch")


def test_softmax_extreme_logits(kernel_path):
    x = np.array([[1e4, -1e4, 0.0, 1e4 - 1], [-1e4, -1e4, -1e4, -1e4], [3e38, -3e38, 0, 1]], dtype=np.float32)
    for fn, tfn in [(F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)]:
        ours = fn(x, 1)
        assert np.isfinite(ours[:2]).all() or fn is F.log_softmax
        np.testing.assert_allclose(ours, tfn(torch.tensor(x), 1).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F.softmax(x, 1)[1], [0.25] * 4, rtol=1e-7)


# ---- cross_entropy and nll_loss ---------------------------------------------------------

CE_SHAPES = [(1, 1), (1, 5), (7, 1), (16, 10), (5, 1000), (3, 4, 5, 6), (2, 3, 300)]


def make_class_case(shape, weighted, ignore, key):
    rng = rng_for(key, shape, weighted, ignore)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    t_shape = (shape[0], *shape[2:])
    t = rng.integers(0, shape[1], size=t_shape).astype(np.int64)
    ignore_index = -100
    if ignore == "default" and t.size > 1:
        t.flat[::3] = -100
    elif ignore == "in_range":
        ignore_index = 0  # torch allows an ignore_index that is a valid class
    w = rng.uniform(0.2, 2.0, shape[1]).astype(np.float32) if weighted else None
    return x, t, w, ignore_index


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("ignore", ["none", "default", "in_range"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
def test_cross_entropy(kernel_path, threads, shape, weighted, ignore, label_smoothing):
    x, t, w, ignore_index = make_class_case(shape, weighted, ignore, "ce")
    for reduction in ("mean", "sum", "none"):
        what = f"cross_entropy {reduction}"
        loss, log_probs, total = F.cross_entropy(x, t, w, ignore_index, reduction, label_smoothing)
        ref, scale, gref, gscale = ref_class_loss(x, t, w, ignore_index, reduction, label_smoothing)
        assert_close(loss, ref, 16 * EPS * scale, what)
        assert_close(log_probs, ref_log_softmax(x, 1), 8 * EPS * (np.abs(x) * 2 + 3 + np.log(shape[1])),
                     what + " log_probs")
        g = np.ones(loss.shape, np.float32)
        grad = F.cross_entropy_backward(g, log_probs, t, w, ignore_index, reduction, label_smoothing, total)
        assert_close(grad, gref, 16 * EPS * gscale, what + " backward")

        xt = torch.tensor(x, requires_grad=True)
        lt = TF.cross_entropy(xt, torch.tensor(t), None if w is None else torch.tensor(w),
                              ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
        gt = torch.tensor(np.asarray(rng_for(what, shape).uniform(0.5, 2.0, loss.shape), np.float32))
        lt.backward(gt)
        assert_close(loss, lt.detach().numpy(), 32 * EPS * scale, what + " vs torch")
        grad = F.cross_entropy_backward(gt.numpy(), log_probs, t, w, ignore_index, reduction, label_smoothing,
                                        total)
        assert_close(grad, xt.grad.numpy(), 64 * EPS * gscale, what + " backward vs torch")


@pytest.mark.parametrize("ignore", ["none", "default"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(1, 1), (16, 10), (5, 1000), (3, 4, 5, 6)], ids=str)
def test_nll_loss(kernel_path, threads, shape, weighted, ignore):
    x, t, w, ignore_index = make_class_case(shape, weighted, ignore, "nll")
    lp = F.log_softmax(x, 1)
    for reduction in ("mean", "sum", "none"):
        what = f"nll_loss {reduction}"
        loss, total = F.nll_loss(lp, t, w, ignore_index, reduction)
        ref, scale, gref, _ = ref_class_loss(lp, t, w, ignore_index, reduction, 0.0, log_probs_given=True)
        assert_close(loss, ref, 8 * EPS * scale, what)
        grad = F.nll_loss_backward(np.ones(loss.shape, np.float32), lp, t, w, ignore_index, reduction, total)
        assert_close(grad, gref, 4 * EPS * np.abs(gref), what + " backward")

        lpt = torch.tensor(lp, requires_grad=True)
        lt = TF.nll_loss(lpt, torch.tensor(t), None if w is None else torch.tensor(w), ignore_index=ignore_index,
                         reduction=reduction)
        gt = np.asarray(rng_for(what).uniform(0.5, 2.0, loss.shape), np.float32)
        lt.backward(torch.tensor(gt))
        assert_close(loss, lt.detach().numpy(), 16 * EPS * scale, what + " vs torch")
        grad = F.nll_loss_backward(gt, lp, t, w, ignore_index, reduction, total)
        assert_close(grad, lpt.grad.numpy(), 4 * EPS * np.abs(lpt.grad.numpy()), what + " backward vs torch")


def test_cross_entropy_extreme_logits(kernel_path):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    t = np.array([1, 1, 2], dtype=np.int64)
    for eps in (0.0, 0.1):
        loss, lp, total = F.cross_entropy(x, t, label_smoothing=eps)
        xt = torch.tensor(x, requires_grad=True)
        lt = TF.cross_entropy(xt, torch.tensor(t), label_smoothing=eps)
        lt.backward()
        assert np.isfinite(loss) and np.isfinite(lp).all()
        np.testing.assert_allclose(loss, lt.item(), rtol=1e-6)
        np.testing.assert_allclose(F.cross_entropy_backward(np.ones((), np.float32), lp, t, label_smoothing=eps,
                                                            total_weight=total), xt.grad.numpy(), atol=1e-7)


def test_cross_entropy_all_ignored_matches_torch():
    x = np.random.default_rng(5).standard_normal((4, 3)).astype(np.float32)
    t = np.full(4, -100, dtype=np.int64)
    loss, lp, total = F.cross_entropy(x, t, label_smoothing=0.1)
    assert total == 0.0 and np.isnan(loss)  # 0 / 0, as torch
    xt = torch.tensor(x, requires_grad=True)
    lt = TF.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1)
    lt.backward()
    assert np.isnan(lt.item())
    grad = F.cross_entropy_backward(np.ones((), np.float32), lp, t, label_smoothing=0.1, total_weight=total)
    np.testing.assert_array_equal(grad, xt.grad.numpy())
    np.testing.assert_array_equal(grad, 0.0)


# ---- mse_loss and binary_cross_entropy_with_logits ---------------------------------------

ELEMENTWISE_SHAPES = [(), (1,), (7,), (4, 9), (2, 3, 5, 7), (3, 100_000)]


@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES, ids=str)
def test_mse_loss(kernel_path, threads, shape):
    rng = rng_for("mse", shape)
    x = np.asarray(rng.standard_normal(shape), np.float32)
    y = np.asarray(rng.standard_normal(shape), np.float32)
    d = x.astype(np.float64) - y
    for reduction in ("mean", "sum", "none"):
        per = d * d
        ref = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
        loss = F.mse_loss(x, y, reduction)
        assert_close(loss, ref, 4 * EPS * np.abs(ref), f"mse {reduction}")
        xt = torch.tensor(x, requires_grad=True)
        lt = TF.mse_loss(xt, torch.tensor(y), reduction=reduction)
        gt = np.asarray(rng.uniform(0.5, 2.0, lt.shape), np.float32)
        lt.backward(torch.tensor(gt))
        n = max(x.size, 1) if reduction == "mean" else 1
        gref = 2 * d * gt.astype(np.float64) / n
        grad = F.mse_loss_backward(gt, x, y, reduction)
        assert_close(grad, gref, 4 * EPS * np.abs(gref), f"mse {reduction} backward")
        assert_close(loss, lt.detach().numpy(), 8 * EPS * np.abs(ref) * np.log2(x.size + 2), f"mse {reduction} torch")
        assert_close(grad, xt.grad.numpy(), 8 * EPS * np.abs(gref), f"mse {reduction} backward torch")


@pytest.mark.parametrize("weights", ["none", "weight", "pos_weight", "both"])
@pytest.mark.parametrize("shape", [(1,), (7,), (4, 9), (2, 3, 5, 7), (300, 1000)], ids=str)
def test_bce_with_logits(kernel_path, threads, shape, weights):
    rng = rng_for("bce", shape, weights)
    x = (rng.standard_normal(shape) * 5).astype(np.float32)
    x.flat[:1] = 100.0
    y = rng.uniform(0, 1, shape).astype(np.float32)
    y.flat[: x.size // 2] = np.round(y.flat[: x.size // 2])
    w = rng.uniform(0.2, 2, shape[-1:]).astype(np.float32) if weights in ("weight", "both") else None
    pw = rng.uniform(0.2, 3, shape[-1:]).astype(np.float32) if weights in ("pos_weight", "both") else None
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    w64 = 1.0 if w is None else w.astype(np.float64)
    lw = 1.0 if pw is None else 1 + (pw.astype(np.float64) - 1) * y64
    softplus = np.log1p(np.exp(-np.abs(x64))) + np.maximum(-x64, 0)
    per = w64 * ((1 - y64) * x64 + lw * softplus)
    per_scale = np.abs(w64) * (np.abs((1 - y64) * x64) + np.abs(lw) * softplus) + TINY
    sig_neg = 0.5 * (1 - np.tanh(0.5 * x64))
    dper = w64 * ((1 - y64) - lw * sig_neg)
    dscale = np.abs(w64) * (np.abs(1 - y64) + np.abs(lw) * sig_neg)
    # torch's backward forms sigmoid(x) * lw - pos_weight * y, which cancels: its error scales so.
    dscale_torch = dscale + np.abs(w64) * (1 + np.abs(lw) + (0 if pw is None else np.abs(pw) * y64))
    for reduction in ("mean", "sum", "none"):
        what = f"bce {weights} {reduction}"
        k = x.size if reduction == "mean" else 1
        ref = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
        scale = {"none": per_scale, "sum": per_scale.sum(), "mean": per_scale.mean()}[reduction]
        loss = F.binary_cross_entropy_with_logits(x, y, w, pw, reduction)
        assert_close(loss, ref, 8 * EPS * scale, what)
        gt = np.asarray(rng.uniform(0.5, 2.0, np.shape(ref)), np.float32)
        grad = F.binary_cross_entropy_with_logits_backward(gt, x, y, w, pw, reduction)
        assert_close(grad, dper * gt / k, 8 * EPS * dscale * gt / k, what + " backward")

        xt = torch.tensor(x, requires_grad=True)
        lt = TF.binary_cross_entropy_with_logits(xt, torch.tensor(y), None if w is None else torch.tensor(w),
                                                 reduction=reduction,
                                                 pos_weight=None if pw is None else torch.tensor(pw))
        lt.backward(torch.tensor(gt))
        assert_close(loss, lt.detach().numpy(), 16 * EPS * scale * np.log2(x.size + 2), what + " torch")
        assert_close(grad, xt.grad.numpy(), 16 * EPS * dscale_torch * gt / k, what + " backward torch")


# ---- determinism across thread counts ----------------------------------------------------

def test_reductions_bitwise_equal_across_threads(kernel_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((512, 300)).astype(np.float32)
    t = rng.integers(0, 300, 512)
    xs = rng.standard_normal((8, 10, 64, 64)).astype(np.float32)
    ts = rng.integers(0, 10, (8, 64, 64))
    w = rng.uniform(0.5, 2, 10).astype(np.float32)
    a = rng.standard_normal(400_000).astype(np.float32)
    b = rng.standard_normal(400_000).astype(np.float32)
    previous = fastcnn.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            fastcnn.set_num_threads(n)
            ce, lp, total = F.cross_entropy(x, t, label_smoothing=0.1)
            ces, lps, totals = F.cross_entropy(xs, ts, w)
            runs.append([ce, lp, F.cross_entropy_backward(np.ones((), np.float32), lp, t, label_smoothing=0.1,
                                                          total_weight=total),
                         ces, F.cross_entropy_backward(np.ones((), np.float32), lps, ts, w, total_weight=totals),
                         F.softmax(xs, 1), F.mse_loss(a, b), F.mse_loss(a, b, "sum"),
                         F.binary_cross_entropy_with_logits(a, (b > 0).astype(np.float32))])
    finally:
        fastcnn.set_num_threads(previous)
    for r1, r2 in zip(*runs):
        np.testing.assert_array_equal(r1, r2)


# ---- bad inputs --------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    x = np.zeros((4, 5), np.float32)
    t = np.array([0, 1, 2, 3], np.int64)
    with pytest.raises(TypeError, match=r"cross_entropy: input has dtype float64, expected float32"):
        F.cross_entropy(x.astype(np.float64), t)
    with pytest.raises(TypeError, match=r"cross_entropy: target has dtype int32, expected int64"):
        F.cross_entropy(x, t.astype(np.int32))
    with pytest.raises(ValueError, match=r"cross_entropy: target has shape \(3,\) but input of shape \(4, 5\) "
                                         r"needs target of shape \(4,\)"):
        F.cross_entropy(x, t[:3])
    with pytest.raises(ValueError, match=r"cross_entropy: target value 7 at position \(2,\) is out of range \[0, 5\)"):
        F.cross_entropy(x, np.array([0, 1, 7, 3]))
    with pytest.raises(ValueError, match=r"nll_loss: target value -1 at position \(1, 0, 1\) is out of range"):
        F.nll_loss(np.zeros((2, 3, 2, 2), np.float32), np.array([[[0, 0], [0, 0]], [[0, -1], [0, 0]]]))
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match=r"cross_entropy: weight has shape \(4,\) but input has 5 classes"):
        F.cross_entropy(x, t, weight=np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0.0, 1.0\], got 1.5"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: input must have shape \(N, C\)"):
        F.cross_entropy(np.zeros(5, np.float32), t)
    with pytest.raises(ValueError, match=r"cross_entropy_backward: grad_output has shape \(3,\), expected \(4,\)"):
        F.cross_entropy_backward(np.ones(3, np.float32), x, t, reduction="none")
    with pytest.raises(ValueError, match=r"cross_entropy_backward: total_weight .* is required"):
        F.cross_entropy_backward(np.ones((), np.float32), x, t)
    with pytest.raises(ValueError, match=r"softmax: dim 2 is out of range for an input with 2 dimensions"):
        F.softmax(x, 2)
    with pytest.raises(TypeError, match=r"log_softmax: dim must be an int"):
        F.log_softmax(x, 1.0)
    with pytest.raises(ValueError, match=r"softmax_backward: grad_output has shape \(4, 5\) but output has shape"):
        F.softmax_backward(x, x[:2])
    with pytest.raises(ValueError, match=r"mse_loss: target has shape \(5, 4\) but input has shape \(4, 5\)"):
        F.mse_loss(x, x.T.copy())
    with pytest.raises(ValueError, match=r"mse_loss: reduction must be"):
        F.mse_loss(x, x, reduction="mean ")
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: pos_weight of shape \(3,\) cannot be "
                                         r"broadcast to the input's shape \(4, 5\)"):
        F.binary_cross_entropy_with_logits(x, x, pos_weight=np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"binary_cross_entropy_with_logits: target has dtype float64"):
        F.binary_cross_entropy_with_logits(x, x.astype(np.float64))


def test_bindings_check_arguments_themselves():
    x = np.zeros((4, 5), np.float32)
    t = np.array([0, 1, 9, 3], np.int64)
    out, lp = np.empty((), np.float32), np.empty_like(x)
    with pytest.raises(ValueError, match=r"cross_entropy: target value 9 at flat position 2 is out of range"):
        _C.cross_entropy_forward(x, t, None, -100, "mean", 0.0, out, lp)
    t[2] = 1
    with pytest.raises(ValueError, match=r"cross_entropy: output log_probs overlaps input input"):
        _C.cross_entropy_forward(x, t, None, -100, "mean", 0.0, out, x)
    with pytest.raises(ValueError, match=r"cross_entropy: out of shape \(4,\) must have 1 element"):
        _C.cross_entropy_forward(x, t, None, -100, "mean", 0.0, np.empty(4, np.float32), lp)
    with pytest.raises(ValueError, match=r"cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'x'"):
        _C.cross_entropy_forward(x, t, None, -100, "x", 0.0, out, lp)
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in"):
        _C.cross_entropy_forward(x, t, None, -100, "mean", float("nan"), out, lp)
    with pytest.raises(ValueError, match=r"softmax: dim -3 is out of range"):
        _C.softmax_forward(x, np.empty_like(x), -3)
    with pytest.raises(ValueError, match=r"softmax: output out overlaps input input"):
        _C.softmax_forward(x, x, 1)
    with pytest.raises(TypeError, match=r"nll_loss: target has dtype float32, expected int64"):
        _C.nll_loss_forward(x, x[:, 0].copy(), None, -100, "mean", out)
    with pytest.raises(ValueError, match=r"mse_loss_backward: grad_input has shape"):
        _C.mse_loss_backward(np.ones((), np.float32), x, x, "mean", np.empty(3, np.float32))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: weight has shape \(5,\), expected"):
        _C.binary_cross_entropy_with_logits_forward(x, x, np.ones(5, np.float32), None, "mean", out)


def test_empty_inputs_match_torch():
    e = np.zeros((0, 5), np.float32)
    t0 = np.zeros(0, np.int64)
    assert F.softmax(e, 1).shape == (0, 5) and F.log_softmax(np.zeros((3, 0), np.float32), 1).shape == (3, 0)
    loss, lp, total = F.cross_entropy(e, t0)
    assert np.isnan(loss) and np.isnan(TF.cross_entropy(torch.zeros(0, 5), torch.zeros(0, dtype=torch.long)).item())
    assert F.cross_entropy_backward(np.ones((), np.float32), lp, t0, total_weight=total).shape == (0, 5)
    assert F.cross_entropy(e, t0, reduction="sum")[0] == 0.0
    assert F.nll_loss(e, t0, reduction="none")[0].shape == (0,)
    assert np.isnan(F.mse_loss(np.zeros(0, np.float32), np.zeros(0, np.float32)))  # torch: nan too
    assert F.binary_cross_entropy_with_logits(np.zeros(0, np.float32), np.zeros(0, np.float32), reduction="sum") == 0


def test_non_contiguous_inputs_are_copied():
    x = np.random.default_rng(4).standard_normal((6, 4)).astype(np.float32).T  # (4, 6) view
    t = np.array([0, 5, 2, 3], np.int64)
    loss, lp, _ = F.cross_entropy(x, t, reduction="none")
    expected = TF.cross_entropy(torch.tensor(np.ascontiguousarray(x)), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(F.softmax(x, 0), TF.softmax(torch.tensor(np.ascontiguousarray(x)), 0).numpy(),
                               rtol=1e-6)
