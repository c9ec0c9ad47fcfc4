"""Whole models: fastcnn against the same network in PyTorch CPU, in one run.

    python benchmarks/models.py [--threads N] [--rounds R] [--quick] [--only TEXT] [--json PATH]

ResNet-18, MobileNetV2 and VGG-11: inference at batch 1 and 16 (224x224, eval mode, no autograd) and a
training step at batch 16 (forward, cross-entropy, backward, SGD momentum 0.9). The training input is
224x224 for ResNet-18 and MobileNetV2 and 112x112 for VGG-11 (its 224x224 step takes tens of seconds
on a few cores; the adaptive pool keeps the classifier the same); --quick trains every model at
112x112 and times fewer rounds. Inference also times fastcnn.fuse(model): batch norms folded into
the convolutions, ReLUs fused into their kernels.

The torch twin is torchvision's model code with fastcnn's weights loaded (the state_dict keys are
torchvision's; batch norm running statistics are randomized first so folding is really exercised),
and every case's outputs are checked against torch before timing. Figures are medians of interleaved
rounds; "vs torch" is torch's median / ours: > 1 means fastcnn is faster.
"""

from __future__ import annotations

import sys

from harness import compare, configure_threads, parse_arguments, print_table, write_json

THREADS = configure_threads(sys.argv)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import fastcnn  # noqa: E402
from fastcnn.bench._deps import optional_torchvision_models  # noqa: E402
from fastcnn.info import collect  # noqa: E402

torch.set_num_threads(THREADS)

MODELS = ["resnet18", "mobilenet_v2", "vgg11"]
TRAIN_SIZE = {"resnet18": 224, "mobilenet_v2": 224, "vgg11": 112}
QUICK_TRAIN_SIZE = 112


def build_pair(name):
    """(fastcnn model, torchvision twin with the same weights and batch norm statistics)."""
    tvm = optional_torchvision_models()
    if tvm is None:
        raise SystemExit("benchmarks/models.py needs torchvision's model code: pip install torchvision")
    fastcnn.manual_seed(0)
    ours = fastcnn.models.get_model(name)
    rng = np.random.default_rng(0)
    for m in ours.modules():
        if isinstance(m, fastcnn.nn.BatchNorm2d):
            m.running_mean._data[...] = rng.standard_normal(m.num_features) * 0.1
            m.running_var._data[...] = rng.random(m.num_features) + 0.5
    theirs = getattr(tvm, name)(weights=None)
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


def check(name, label, ours, want, rtol=2e-3):
    scale = float(np.abs(want).max()) + 1e-6
    err = float(np.abs(ours - want).max())
    if err > rtol * scale:
        raise SystemExit(f"WRONG RESULT for {name} {label}: max error {err:.3g} (output scale {scale:.3g})")


def inference(name, ours, fused, theirs, batch, rounds):
    x = np.random.default_rng(batch).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    tx = torch.from_numpy(x)

    def run_ours(model):
        with fastcnn.no_grad():
            return model(fastcnn.from_numpy(x)).numpy()

    def run_torch():
        with torch.no_grad():
            return theirs(tx).numpy()
    want = run_torch()
    check(name, f"inference batch {batch}", run_ours(ours), want)
    check(name, f"fused inference batch {batch}", run_ours(fused), want)
    return compare({"fastcnn": lambda: run_ours(ours), "fused": lambda: run_ours(fused), "torch": run_torch},
                   rounds=rounds)


def training(name, ours, theirs, batch, size, rounds):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((batch, 3, size, size), dtype=np.float32)
    y = rng.integers(0, 1000, batch).astype(np.int64)
    ours.train(), theirs.train()
    opt = fastcnn.optim.SGD(ours.parameters(), lr=1e-4, momentum=0.9)
    topt = torch.optim.SGD(theirs.parameters(), lr=1e-4, momentum=0.9)
    loss_fn, tloss_fn = fastcnn.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    fx, fy, tx, ty = fastcnn.from_numpy(x), fastcnn.from_numpy(y), torch.from_numpy(x), torch.from_numpy(y)

    def step_ours():
        opt.zero_grad()
        loss = loss_fn(ours(fx), fy)
        loss.backward()
        opt.step()
        return loss.item()

    def step_torch():
        topt.zero_grad()
        loss = tloss_fn(theirs(tx), ty)
        loss.backward()
        topt.step()
        return loss.item()
    # Same weights, same batch: the first losses agree (dropout makes later ones differ).
    for m in (ours, theirs):
        for sub in m.modules():
            if type(sub).__name__ == "Dropout":
                sub.p = 0.0
    check(name, "training loss", np.float32(step_ours()), np.float32(step_torch()), rtol=1e-3)
    return compare({"fastcnn": step_ours, "torch": step_torch}, rounds=rounds)


def main() -> None:
    args = parse_arguments(__doc__, THREADS, rounds=5, filter_help="only the models whose name contains this text")
    if args.quick:
        args.rounds = min(args.rounds, 3)
    names = [n for n in MODELS if not args.only or args.only in n]
    print(f"fastcnn model benchmark: {THREADS} thread(s), kernel path {fastcnn._C.kernel_path()}, torch "
          f"{torch.__version__}, {args.rounds} interleaved rounds (medians){', quick' if args.quick else ''}")
    rows, results = [], []
    for name in names:
        ours, theirs = build_pair(name)
        ours.eval(), theirs.eval()
        fused = fastcnn.fuse(ours)
        cases = [(f"inference batch {b} 224x224", lambda b=b: inference(name, ours, fused, theirs, b, args.rounds))
                 for b in (1, 16)]
        size = QUICK_TRAIN_SIZE if args.quick else TRAIN_SIZE[name]
        cases.append((f"train step batch 16 {size}x{size}",
                      lambda size=size: training(name, ours, theirs, 16, size, args.rounds)))
        for label, run in cases:
            t = run()
            ms = {k: v.median * 1e3 for k, v in t.items()}
            entry = {"model": name, "case": label,
                     **{k: {"median_s": v.median, "best_s": v.best, "samples_s": v.seconds} for k, v in t.items()}}
            results.append(entry)
            fused_ms = ms.get("fused")
            rows.append([name, label, f"{ms['fastcnn']:.1f}", "-" if fused_ms is None else f"{fused_ms:.1f}",
                         f"{ms['torch']:.1f}", f"{ms['torch'] / ms['fastcnn']:.2f}x",
                         "-" if fused_ms is None else f"{ms['torch'] / fused_ms:.2f}x"])
            print(f"  {name} {label}: {rows[-1][5]} vs torch", file=sys.stderr)
        del ours, theirs, fused
    print_table(["model", "case", "fastcnn ms", "fused ms", "torch ms", "vs torch", "fused vs torch"], rows)
    if args.json:
        write_json(args.json, {"benchmark": "models", "threads": THREADS, "machine": collect(),
                               "torch": torch.__version__, "quick": bool(args.quick), "results": results})


if __name__ == "__main__":
    main()
