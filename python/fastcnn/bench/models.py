"""Model-level benchmark cases: whole networks (fastcnn.nn) against the same network in PyTorch.

The reference network gets fastcnn's weights (state_dict keys are torchvision's), so the
outputs must agree before anything is timed. There is no NumPy reference for a whole
network: without PyTorch these cases are skipped, with the reason.
Inference runs in eval mode without the autograd tape; a training step is forward,
cross-entropy, backward and an SGD (momentum 0.9) step, as in a training loop.
"""

from __future__ import annotations

import numpy as np

from .. import nn as _nn  # noqa: F401 - fastcnn.nn must be importable
from ._deps import optional_torch, optional_torchvision_models
from .cases import Case, Prepared


def _lenet5(m):
    # The classic LeNet-5 of benchmarks/train.py, written once for both libraries.
    return m.Sequential(
        m.Conv2d(1, 6, 5), m.Tanh(), m.AvgPool2d(2),
        m.Conv2d(6, 16, 5), m.Tanh(), m.AvgPool2d(2),
        m.Flatten(),
        m.Linear(400, 120), m.Tanh(), m.Linear(120, 84), m.Tanh(), m.Linear(84, 10),
    )


def _pair(name):
    """(fastcnn model, torch model with the same weights) or (model, None) without torch."""
    import fastcnn

    torch = optional_torch()
    if name == "lenet5":
        ours = _lenet5(fastcnn.nn)
        theirs = _lenet5(torch.nn) if torch is not None else None
    else:
        fastcnn.manual_seed(0)
        ours = fastcnn.models.get_model(name)
        tvm = optional_torchvision_models()
        theirs = getattr(tvm, name)() if tvm is not None else None
    if theirs is not None:
        theirs.load_state_dict({k: torch.from_numpy(np.array(v.numpy() if hasattr(v, "numpy") else v))
                                for k, v in ours.state_dict().items()})
    return ours, theirs


def _flops(model, shape):
    from ..summary import summary

    try:
        return 2.0 * summary(model, shape, print_summary=False).total_mult_adds
    except Exception:  # noqa: BLE001 - the figure is optional; never fail a run over it
        return None


def inference_case(name, batch, size, latency_calls=0):
    kind = f"latency batch {batch}" if latency_calls else f"throughput batch {batch}"
    shape = (batch, 3, size, size)

    def setup():
        import fastcnn

        ours, theirs = _pair(name)
        ours.eval()
        x = np.random.default_rng(6).standard_normal(shape, dtype=np.float32)

        def run_ours():
            with fastcnn.no_grad():
                return (ours(fastcnn.from_numpy(x)).numpy(),)
        cands = {"fastcnn": run_ours}
        if theirs is not None:
            torch = optional_torch()
            theirs.eval()
            tx = torch.from_numpy(x)

            def run_torch():
                with torch.no_grad():
                    return (theirs(tx),)
            cands["torch"] = run_torch
        prepared = Prepared(cands, rtol=1e-3, latency_calls=latency_calls)
        prepared.flops = _flops(ours, shape)
        return prepared
    return Case(f"{name} inference {kind} {size}x{size}", "model", None, setup)


def train_case(name, batch, size, channels=3, classes=1000):
    shape = (batch, channels, size, size)

    def setup():
        import fastcnn

        ours, theirs = _pair(name)
        rng = np.random.default_rng(7)
        x = rng.standard_normal(shape, dtype=np.float32)
        y = rng.integers(0, classes, batch).astype(np.int64)
        ours.train()
        opt = fastcnn.optim.SGD(ours.parameters(), lr=1e-4, momentum=0.9)
        loss_fn = fastcnn.nn.CrossEntropyLoss()
        fx, fy = fastcnn.from_numpy(x), fastcnn.from_numpy(y)

        def step_ours():
            loss = loss_fn(ours(fx), fy)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return (np.asarray(loss.item(), dtype=np.float32),)
        cands = {"fastcnn": step_ours}
        if theirs is not None:
            torch = optional_torch()
            theirs.train()
            topt = torch.optim.SGD(theirs.parameters(), lr=1e-4, momentum=0.9)
            tloss = torch.nn.CrossEntropyLoss()
            tx, ty = torch.from_numpy(x), torch.from_numpy(y)

            def step_torch():
                loss = tloss(theirs(tx), ty)
                topt.zero_grad()
                loss.backward()
                topt.step()
                return (np.asarray(loss.item(), dtype=np.float32),)
            cands["torch"] = step_torch
        # The first call of each is the check: same weights, same batch -> same loss.
        prepared = Prepared(cands, rtol=1e-4)
        flops = _flops(ours, shape)
        prepared.flops = 3 * flops if flops else None  # forward + backward data + backward weight
        return prepared
    return Case(f"{name} training step batch {batch} {size}x{size}", "model", None, setup)


def model_cases(mode: str) -> list[Case]:
    if mode == "tiny":
        return [train_case("lenet5", 4, 32, channels=1, classes=10),
                inference_case("resnet18", 1, 32, latency_calls=3)]
    full = mode == "full"
    return [
        train_case("lenet5", 64, 32, channels=1, classes=10),
        inference_case("resnet18", 1, 224, latency_calls=30 if full else 12),
        inference_case("resnet18", 16, 224),
        train_case("resnet18", 16, 224) if full else train_case("resnet18", 8, 112),
        inference_case("mobilenet_v2", 1, 224, latency_calls=30 if full else 12),
    ]
