"""fastcnn.optim vs torch.optim (2.13) and vs float64 NumPy references: SGD, Adam, AdamW,
RMSprop over option combinations, several steps of identical gradients, both kernel paths,
1 and 2 threads; parameter groups, zero_grad, closures, state_dict round trips, argument
errors; LR schedulers vs torch over 50 epochs.

Tolerances: each element goes through a handful of float32 operations per step (no
reductions), so after a few steps the relative error vs torch / float64 is a few ulps,
far below rtol 1e-5 (atol 1e-6 for values near 0, where Adam's division by sqrt(v) + eps
can amplify absolute rounding).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import fastcnn
from fastcnn import _C, optim

SHAPES = [(3, 4), (7,), (1,), (2, 3, 5), ()]
STEPS = 5


class Grad:
    def __init__(self, a):
        self.a = a

    def numpy(self):
        return self.a


class Param:
    """The minimal parameter interface the optimizers rely on."""

    def __init__(self, a):
        self.a = a
        self.grad = None

    def numpy(self):
        return self.a


def make_data(seed, shapes=SHAPES, steps=STEPS):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    return init, grads


def run_ours(cls, kwargs, init, grads, groups=None):
    params = [Param(a.copy()) for a in init]
    opt = cls(params if groups is None else groups(params), **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = Grad(g.copy())
        opt.step()
    return params, opt


def run_torch(cls, kwargs, init, grads, groups=None):
    params = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = cls(params if groups is None else groups(params), **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g.copy())
        opt.step()
    return params, opt


# ---- float64 references, straight from torch's documented algorithms ------------------
def ref_sgd(init, grads, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    out = []
    for i, x in enumerate(init):
        x = x.astype(np.float64)
        buf = None
        for step_grads in grads:
            g = step_grads[i].astype(np.float64) * (-1 if maximize else 1)
            g = g + weight_decay * x
            if momentum != 0:
                buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
                g = g + momentum * buf if nesterov else buf
            x = x - lr * g
        out.append(x)
    return out


def ref_adam(init, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    out = []
    for i, x in enumerate(init):
        x = x.astype(np.float64)

        m, v, vmax = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
        for t, step_grads in enumerate(grads, start=1):
            g = step_grads[i].astype(np.float64) * (-1 if maximize else 1)
            if decoupled:
                x = x * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * x
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            vmax = np.maximum(vmax, v)
            vhat = (vmax if amsgrad else v) / (1 - b2**t)
            x = x - lr / (1 - b1**t) * m / (np.sqrt(vhat) + eps)
        out.append(x)
    return out


def ref_rmsprop(init, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    out = []
    for i, x in enumerate(init):
        x = x.astype(np.float64)
        sa, ga, buf = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
        for step_grads in grads:
            g = step_grads[i].astype(np.float64) * (-1 if maximize else 1)
            g = g + weight_decay * x
            sa = alpha * sa + (1 - alpha) * g * g
            if centered:
                ga = alpha * ga + (1 - alpha) * g
                avg = np.sqrt(sa - ga * ga) + eps
            else:
                avg = np.sqrt(sa) + eps
            if momentum > 0:
                buf = momentum * buf + g / avg
                x = x - lr * buf
            else:
                x = x - lr * g / avg
        out.append(x)
    return out


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.02, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.4), weight_decay=0.1, amsgrad=True)),  # lerp's w >= 0.5 branch
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.05, momentum=0.7)),
    ("RMSprop", dict(lr=0.005, centered=True, maximize=True)),
    ("RMSprop", dict(lr=0.005, alpha=0.3, centered=True, momentum=0.5, eps=1e-4)),
]
STATE_KEYS = {"SGD": ["momentum_buffer"], "Adam": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
              "AdamW": ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"],
              "RMSprop": ["square_avg", "grad_avg", "momentum_buffer"]}


def reference(name, kwargs, init, grads):
    if name == "SGD":
        return ref_sgd(init, grads, **kwargs)
    if name == "RMSprop":
        return ref_rmsprop(init, grads, **kwargs)
    kw = dict(kwargs)
    if name == "AdamW":
        kw.setdefault("weight_decay", 1e-2)
    return ref_adam(init, grads, decoupled=name == "AdamW", **kw)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch_and_reference(name, kwargs, kernel_path, threads):
    init, grads = make_data(len(name) * 100 + len(kwargs))
    ours, opt = run_ours(getattr(optim, name), kwargs, init, grads)
    theirs, topt = run_torch(getattr(torch.optim, name), kwargs, init, grads)
    expected = reference(name, kwargs, init, grads)
    for p, t, e in zip(ours, theirs, expected):
        assert p.a.dtype == np.float32 and p.a.shape == e.shape
        np.testing.assert_allclose(p.a, t.detach().numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(p.a, e, rtol=1e-5, atol=1e-6)
    for p, t in zip(ours, theirs):
        ours_state, torch_state = opt.state.get(p, {}), topt.state.get(t, {})
        assert set(ours_state) == set(torch_state)
        for key in STATE_KEYS[name]:
            if key in torch_state:
                np.testing.assert_allclose(ours_state[key], torch_state[key].numpy(), rtol=1e-5, atol=1e-6)
        if "step" in torch_state:
            assert ours_state["step"] == float(torch_state["step"])


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
                                         ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_large_tensor_threaded(name, kwargs, kernel_path, threads):
    # 300K + 5 elements: above the 256K threading threshold, with a ragged tail.
    init, grads = make_data(7, shapes=[(300_005,)], steps=2)
    ours, _ = run_ours(getattr(optim, name), kwargs, init, grads)
    theirs, _ = run_torch(getattr(torch.optim, name), kwargs, init, grads)
    np.testing.assert_allclose(ours[0].a, theirs[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_param_groups_and_add_param_group():
    init, grads = make_data(3, shapes=[(4,), (2, 2), (3,)])

    def groups(ps):
        return [{"params": [ps[0]], "lr": 0.5}, {"params": ps[1:2], "momentum": 0.0}]

    def run(cls_mod, wrap):
        params = [wrap(a.copy()) for a in init]
        opt = cls_mod.SGD(groups(params), lr=0.1, momentum=0.9)
        opt.add_param_group({"params": params[2], "lr": 0.01, "nesterov": True})
        for step_grads in grads:
            for p, g in zip(params, step_grads):
                p.grad = Grad(g.copy()) if cls_mod is optim else torch.tensor(g.copy())
            opt.step()
        return params, opt

    ours, opt = run(optim, Param)
    theirs, topt = run(torch.optim, lambda a: torch.tensor(a, requires_grad=True))
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.0, 0.9]
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.a, t.detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [ours[0]]})


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01)),
                                         ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5))])
def test_state_dict_round_trip(name, kwargs):
    init, grads = make_data(11, steps=6)
    cls = getattr(optim, name)
    # Uninterrupted run.
    full, _ = run_ours(cls, kwargs, init, grads)
    # Three steps, save, a fresh optimizer on copied parameters loads, three more steps.
    first, opt = run_ours(cls, kwargs, init, grads[:3])
    saved = opt.state_dict()
    assert sorted(saved["state"]) == list(range(len(init)))
    assert saved["param_groups"][0]["params"] == list(range(len(init)))
    params = [Param(p.a.copy()) for p in first]
    resumed = cls(params, lr=123.0)  # options come from the state dict
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    for step_grads in grads[3:]:
        for p, g in zip(params, step_grads):
            p.grad = Grad(g.copy())
        resumed.step()
    for p, f in zip(params, full):
        np.testing.assert_array_equal(p.a, f.a)
    # state_dict arrays are snapshots: later steps do not change them.
    before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in saved["state"][0].items()}
    opt.step()
    for k, v in before.items():
        np.testing.assert_array_equal(saved["state"][0][k], v)


def test_load_torch_state_dict_continues_like_torch():
    init, grads = make_data(5, steps=6)
    theirs, topt = run_torch(torch.optim.Adam, dict(lr=0.01, weight_decay=0.1), init, grads[:3])
    params = [Param(t.detach().numpy().copy()) for t in theirs]
    opt = optim.Adam(params)
    opt.load_state_dict(topt.state_dict())
    for step_grads in grads[3:]:
        for p, t, g in zip(params, theirs, step_grads):
            p.grad = Grad(g.copy())
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
    for p, t in zip(params, theirs):
        np.testing.assert_allclose(p.a, t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors():
    p = Param(np.zeros(3, np.float32))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = Grad(np.ones(3, np.float32))
    opt.step()
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        optim.SGD([{"params": [Param(np.zeros(3, np.float32))]}, {"params": [Param(np.zeros(3, np.float32))]}],
                  lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([Param(np.zeros(3, np.float32)), Param(np.zeros(3, np.float32))], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match=r"momentum_buffer.*\(3,\).*\(2,\)"):
        optim.SGD([Param(np.zeros(2, np.float32))], lr=0.1).load_state_dict(saved)


def test_zero_grad_closure_and_params_without_grad():
    a, b = Param(np.ones(3, np.float32)), Param(np.ones(2, np.float32))
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = Grad(np.full(3, 2.0, np.float32))
    calls = []
    assert opt.step(lambda: calls.append(1) or 7.0) == 7.0 and calls == [1]
    np.testing.assert_array_equal(a.a, np.zeros(3, np.float32))
    np.testing.assert_array_equal(b.a, np.ones(2, np.float32))  # no grad: untouched, no state
    assert len(opt.state) == 0  # SGD without momentum keeps no state
    grad_array = a.grad.numpy()
    opt.zero_grad(set_to_none=False)
    assert a.grad.numpy() is grad_array
    np.testing.assert_array_equal(grad_array, np.zeros(3, np.float32))
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("make,match", [
    (lambda ps: optim.SGD(ps, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: optim.Adam(ps, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda ps: optim.RMSprop(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -2.0}], lr=0.1), "Invalid learning rate: -2.0"),
    (lambda ps: optim.SGD(ps + ps, lr=0.1), "duplicate parameters"),
])
def test_invalid_options(make, match):
    with pytest.raises(ValueError, match=match):
        make([Param(np.zeros(2, np.float32))])


def test_invalid_params_and_grads():
    with pytest.raises(TypeError, match="params argument"):
        optim.SGD(Param(np.zeros(2, np.float32)), lr=0.1)
    with pytest.raises(TypeError, match="one of the params is ndarray"):
        optim.SGD([np.zeros(2, np.float32)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD({Param(np.zeros(2, np.float32))}, lr=0.1)
    p = Param(np.zeros((2, 2), np.float32))
    opt = optim.Adam([p])
    p.grad = Grad(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"Adam: grad of shape \(3,\) does not match parameter of shape \(2, 2\)"):
        opt.step()
    p.grad = Grad(np.zeros((2, 2), np.float64))
    with pytest.raises(TypeError, match="grad has dtype float64, expected float32"):
        opt.step()
    p.grad = Grad(np.zeros((2, 2), np.float32).T)
    p.grad.a = np.zeros((4, 4), np.float32)[::2, ::2]
    with pytest.raises(ValueError, match="grad of shape \\(2, 2\\) is not C-contiguous"):
        opt.step()
    q = Param(np.zeros(3, np.float32))
    q.grad = q  # the gradient is the parameter's own memory
    with pytest.raises(ValueError, match="param overlaps input grad"):
        optim.SGD([q], lr=0.1).step()
    assert len(opt.state) == 0  # failed steps leave no half-made state


def test_binding_checks():
    x, g = np.zeros(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"sgd_step: grad has shape \(3,\) but param has shape \(4,\)"):
        _C.sgd_step(x, np.ones(3, np.float32), lr=0.1)
    with pytest.raises(ValueError, match="sgd_step: momentum_buffer is required"):
        _C.sgd_step(x, g, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="output momentum_buffer overlaps input param"):
        _C.sgd_step(x, g, x, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="output exp_avg_sq overlaps input exp_avg"):
        m = np.zeros(4, np.float32)
        _C.adam_step(x, g, m, m, step=1, lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8)
    with pytest.raises(ValueError, match="max_exp_avg_sq is required"):
        _C.adam_step(x, g, np.zeros(4, np.float32), np.zeros(4, np.float32), step=1, lr=0.1, beta1=0.9,
                     beta2=0.99, eps=1e-8, amsgrad=True)
    with pytest.raises(ValueError, match="step must be >= 1"):
        _C.adam_step(x, g, np.zeros(4, np.float32), np.zeros(4, np.float32), step=0, lr=0.1, beta1=0.9,
                     beta2=0.99, eps=1e-8)
    with pytest.raises(ValueError, match="grad_avg is required"):
        _C.rmsprop_step(x, g, np.zeros(4, np.float32), lr=0.1, alpha=0.9, eps=1e-8, centered=True)
    with pytest.raises(TypeError, match="grad has dtype float64"):
        _C.sgd_step(x, g.astype(np.float64), lr=0.1)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="output param is read-only"):
        _C.sgd_step(ro, g, lr=0.1)
    np.testing.assert_array_equal(x, np.zeros(4, np.float32))  # nothing ran
    _C.sgd_step(np.zeros(0, np.float32), np.zeros(0, np.float32), lr=0.1)  # empty is fine


# ---- LR schedulers -------------------------------------------------------------------
SCHEDULERS = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 30], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=12, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=1)),
]


def scheduler_pair(name, kwargs):
    ours_opt = optim.SGD([{"params": [Param(np.zeros(1, np.float32))], "lr": 0.1},
                          {"params": [Param(np.zeros(1, np.float32))], "lr": 0.02}], lr=0.1, momentum=0.9)
    torch_opt = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1},
                                 {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.02}], lr=0.1, momentum=0.9)
    ours = getattr(optim.lr_scheduler, name)(ours_opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(torch_opt, **kwargs)
    return ours, theirs, ours_opt, torch_opt


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch(name, kwargs):
    ours, theirs, ours_opt, torch_opt = scheduler_pair(name, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about scheduler.step() before optimizer.step()
        for epoch in range(50):
            assert ours.last_epoch == theirs.last_epoch == epoch
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12, atol=1e-15)
            assert [g["lr"] for g in ours_opt.param_groups] == ours.get_last_lr()
            ours.step()
            theirs.step()


@pytest.mark.parametrize("name,kwargs", SCHEDULERS[:4])
def test_scheduler_state_dict_and_closed_form(name, kwargs):
    ours, theirs, ours_opt, _ = scheduler_pair(name, kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(17):
            ours.step()
            theirs.step()
        saved = ours.state_dict()
        assert "optimizer" not in saved and saved["last_epoch"] == 17
        # A new scheduler on a new optimizer resumes from the saved state.
        _, _, opt2, _ = scheduler_pair(name, kwargs)
        resumed = getattr(optim.lr_scheduler, name)(opt2, **kwargs)
        resumed.load_state_dict(saved)
        for group, lr in zip(opt2.param_groups, ours.get_last_lr()):
            group["lr"] = lr
        for _ in range(10):
            ours.step()
            resumed.step()
            theirs.step()
            assert resumed.get_last_lr() == ours.get_last_lr()
            np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)
        # The deprecated step(epoch) uses torch's closed form.
        ours.step(5)
        theirs.step(5)
        np.testing.assert_allclose(ours.get_last_lr(), theirs.get_last_lr(), rtol=1e-12)


def test_scheduler_errors():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        optim.lr_scheduler.StepLR(object(), step_size=3)
    opt = optim.SGD([Param(np.zeros(1, np.float32))], lr=0.1)
    with pytest.raises(ValueError, match="step_size must be >= 1"):
        optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be >= 1"):
        optim.lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.ExponentialLR(opt, gamma=0.9, last_epoch=3)
