"""Issue 4's acceptance check: a LeNet-5 built from fastcnn.nn matches the same network in
torch 2.13 given the same weights (logits, cross-entropy loss, every parameter gradient),
and three training steps of each optimizer from the same state give the same parameters.

The reference is torch in float64 holding exactly our float32 weights; ours runs in
float32. Error analysis: each layer adds about eps32 * sqrt(K) relative rounding error
(eps32 = 6e-8; K = 25, 150, 400, 120, 84 terms), so logits and loss are good to ~1e-6
relative. Weight gradients also sum over the batch and the output positions (conv1:
64 * 28 * 28 = 50176 terms), a random walk of ~eps32 * sqrt(50176) ~ 1.3e-5 of the
largest term; we compare them to 5e-5 of the gradient's largest magnitude (elementwise
relative error is meaningless for entries that cancel to near zero). Parameters after the
optimizer steps are compared at 1e-5 relative plus a small atol (see END_TO_END_ATOL), and
with both sides fed our gradients at 1e-5 relative plus atol 1e-7.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import nn
from fastcnn.nn import functional as F

BATCH = 64


def lenet5(m, act="tanh", pool="avg"):
    Act = m.Tanh if act == "tanh" else m.ReLU
    Pool = m.AvgPool2d if pool == "avg" else m.MaxPool2d
    return m.Sequential(
        m.Conv2d(1, 6, 5, padding=2), Act(), Pool(2),
        m.Conv2d(6, 16, 5), Act(), Pool(2),
        m.Flatten(),
        m.Linear(400, 120), Act(),
        m.Linear(120, 84), Act(),
        m.Linear(84, 10),
    )


def _models(act, pool, seed=0):
    torch.manual_seed(seed)
    theirs = lenet5(torch.nn, act, pool)
    ours = lenet5(nn, act, pool)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs.double()


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    return x, y


def _close(ours, ref, tol, what):
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.parametrize("act,pool", [("tanh", "avg"), ("relu", "max")])
def test_lenet5_logits_loss_and_gradients_match_torch(act, pool, kernel_path, threads):
    ours, theirs = _models(act, pool)
    x, y = _data()
    logits_t = theirs(torch.tensor(x, dtype=torch.float64))
    loss_t = torch.nn.functional.cross_entropy(logits_t, torch.tensor(y))
    loss_t.backward()
    logits = ours(fastcnn.tensor(x))
    loss = F.cross_entropy(logits, fastcnn.tensor(y))
    loss.backward()
    _close(logits.detach().numpy(), logits_t.detach().numpy(), 2e-6, "logits")
    assert abs(loss.item() - loss_t.item()) <= 2e-6 * abs(loss_t.item())
    grads_t = dict(theirs.named_parameters())
    names = [n for n, _ in ours.named_parameters()]
    assert names == list(grads_t) and len(names) == 10
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        _close(p.grad.numpy(), grads_t[name].grad.numpy(), 5e-5, f"grad of {name}")


OPTIMIZERS = {
    "sgd_nesterov": lambda o, ps: o.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "adam": lambda o, ps: o.Adam(ps, lr=1e-3),
    "adamw": lambda o, ps: o.AdamW(ps, lr=1e-3, weight_decay=0.05),
    "rmsprop_centered": lambda o, ps: o.RMSprop(ps, lr=1e-3, momentum=0.9, centered=True),
}


# End to end, torch computes its own gradients (float64), so the adaptive optimizers see
# gradients that differ from ours by float32 rounding. Adam/RMSprop divide by sqrt(v): for an
# entry whose gradient is tiny (a cancelled sum, e.g. 1e-8) that rounding is a sizeable part
# of g / sqrt(v), so its update (at most ~lr = 1e-3 per step) can differ by a few percent of
# lr. Hence atol 2e-5 (2% of lr) for Adam/AdamW. Centered RMSprop's first steps are larger,
# up to lr / sqrt((1 - alpha) * alpha) ~ 10 lr: atol 2e-4 (2% of that). SGD's update is
# linear in g: atol 1e-6.
END_TO_END_ATOL = {"sgd_nesterov": 1e-6, "adam": 2e-5, "adamw": 2e-5, "rmsprop_centered": 2e-4}


def _steps(name, feed_our_grads):
    ours, theirs = _models("relu", "max", seed=1)
    start = {k: v.numpy().copy() for k, v in ours.state_dict().items()}
    opt = OPTIMIZERS[name](fastcnn.optim, ours.parameters())
    opt_t = OPTIMIZERS[name](torch.optim, theirs.parameters())
    pairs = list(zip(ours.parameters(), theirs.parameters()))
    for step in range(3):
        x, y = _data(seed=10 + step)
        opt.zero_grad()
        F.cross_entropy(ours(fastcnn.tensor(x)), fastcnn.tensor(y)).backward()
        opt_t.zero_grad()
        if feed_our_grads:  # the same gradients on both sides: only the update arithmetic differs
            for p, q in pairs:
                q.grad = torch.tensor(p.grad.numpy(), dtype=torch.float64)
        else:
            torch.nn.functional.cross_entropy(theirs(torch.tensor(x, dtype=torch.float64)),
                                              torch.tensor(y)).backward()
        opt.step()
        opt_t.step()
    moved = max(float(np.abs(p.detach().numpy() - start[n]).max()) for n, p in ours.named_parameters())
    assert moved > 1e-3  # the steps did change the parameters
    return ours, dict(theirs.named_parameters())


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_training_steps_match_torch(name):
    ours, ref = _steps(name, feed_our_grads=False)
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), ref[pname].detach().numpy(), rtol=1e-5,
                                   atol=END_TO_END_ATOL[name], err_msg=f"{name}: {pname}")


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_optimizer_updates_match_torch_given_the_same_gradients(name):
    """The update itself: float32 arithmetic on ~1e-3 steps of ~0.05 parameters, 1e-5 relative."""
    ours, ref = _steps(name, feed_our_grads=True)
    for pname, p in ours.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), ref[pname].detach().numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=f"{name}: {pname}")


def test_training_steps_reduce_the_loss():
    """End to end: Adam on one fixed batch lowers its loss (the autograd + optimizer loop works)."""
    ours, _ = _models("relu", "max", seed=2)
    x, y = _data(seed=3)
    xt, yt = fastcnn.tensor(x), fastcnn.tensor(y)
    opt = fastcnn.optim.Adam(ours.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = F.cross_entropy(ours(xt), yt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
