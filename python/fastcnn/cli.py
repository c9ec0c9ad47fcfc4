"""The `fastcnn` command line: info, train, eval, predict, filter, viz, bench.

Errors are one line on stderr and exit code 1 (2 for bad usage, from argparse); --debug
shows the traceback instead. Models come from the zoo through _build_model(), which the
tests replace with a tiny model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from ._atomic import atomic_write

CHECKPOINT = "last.ckpt"
# Per-dataset raw image size and normalization (mean, std of the training images).
DATASETS = {
    "fashion-mnist": {"cls": "FashionMNIST", "size": 28, "mean": 0.2860, "std": 0.3530},
    "mnist": {"cls": "MNIST", "size": 28, "mean": 0.1307, "std": 0.3081},
}
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-3, "rmsprop": 1e-3}


class CliError(Exception):
    """A user error: printed as one line."""


def _build_model(name: str, **kwargs):
    """The zoo's model `name` (tests monkeypatch this)."""
    try:
        from . import models
    except ImportError:
        raise CliError("the model zoo (fastcnn.models) is not available in this build") from None
    known = models.list_models()
    if name not in known:
        raise CliError(f"unknown model {name!r}; choose from {', '.join(sorted(known))}")
    return models.get_model(name, **kwargs)


def _model_args(items) -> dict:
    """--model-arg KEY=VALUE pairs -> kwargs; VALUE is read as JSON (numbers, true/false) or kept a string."""
    kwargs = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise CliError(f"--model-arg must be KEY=VALUE, got {item!r}")
        try:
            kwargs[key] = json.loads(value)
        except ValueError:
            kwargs[key] = value
    return kwargs


def _input_size(model_name: str, raw: int) -> int:
    # LeNet-5 takes the classic 32x32 input: 28x28 digits/clothes are padded by 2.
    return 32 if model_name.lower().startswith("lenet") and raw == 28 else raw


def _transform(meta: dict, augment: bool = False):
    from .data import transforms as T
    from .train import Pad
    steps = [T.ToTensor()]
    if augment:
        steps += [T.RandomCrop(meta["raw_size"], padding=2), T.RandomHorizontalFlip()]
    steps.append(T.Normalize([meta["mean"]], [meta["std"]]))
    pad = (meta["input_size"] - meta["raw_size"]) // 2
    if pad:
        steps.append(Pad(pad, fill=-meta["mean"] / meta["std"]))  # pad with what black normalizes to
    return T.Compose(steps)


def _dataset(meta: dict, train: bool, augment: bool = False, limit=None, root=None):
    from . import data
    cls = getattr(data, DATASETS[meta["data"]]["cls"])
    ds = cls(root=root, train=train, transform=_transform(meta, augment))
    if limit is not None:
        if limit < 1:
            raise CliError(f"--limit must be >= 1, got {limit}")
        ds.data, ds.targets = ds.data[:limit], ds.targets[:limit]
    return ds


def _load(path):
    from .train import load_checkpoint
    state = load_checkpoint(path)
    meta = state.get("metadata") or {}
    if "model" not in meta:
        raise CliError(f"checkpoint {path} does not record its model (not written by `fastcnn train`)")
    model = _build_model(meta["model"], **meta.get("model_kwargs", {}))
    model.load_state_dict(state["model"])
    model.eval()
    return model, meta, state


def _read_image(path, meta: dict) -> np.ndarray:
    """A grayscale image file -> the model's normalized (1, H, W) input."""
    try:
        from PIL import Image
    except ImportError:
        raise CliError("reading images needs Pillow: pip install pillow") from None
    if not os.path.isfile(path):
        raise CliError(f"image {path} not found")
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), dtype=np.uint8)
    size = meta["raw_size"]
    if a.shape != (size, size):
        raise CliError(f"image {path} is {a.shape[1]}x{a.shape[0]}, the model expects {size}x{size} grayscale")
    return _transform(meta)(a)


def _write_json(path, payload) -> None:
    atomic_write(path, json.dumps(payload, indent=1).encode())


# ---- commands ---------------------------------------------------------------------------------------

def _info(args) -> int:
    from .info import collect, format_info
    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _train(args) -> int:
    from . import data, manual_seed, nn, optim, viz
    from .train import fit, evaluate, load_checkpoint
    if args.epochs < 1 or args.batch_size < 1:
        raise CliError("--epochs and --batch-size must be >= 1")
    out = args.out
    ckpt = os.path.join(out, CHECKPOINT)
    if args.resume and not os.path.isfile(ckpt):
        raise CliError(f"--resume: no checkpoint at {ckpt}")
    if args.resume:
        meta = load_checkpoint(ckpt)["metadata"]
    else:
        spec = DATASETS[args.data]
        meta = {"model": args.model, "model_kwargs": {"num_classes": 10, **_model_args(args.model_arg)},
                "data": args.data,
                "raw_size": spec["size"], "input_size": _input_size(args.model, spec["size"]),
                "mean": spec["mean"], "std": spec["std"], "optimizer": args.optimizer,
                "lr": args.lr if args.lr is not None else DEFAULT_LR[args.optimizer],
                "batch_size": args.batch_size, "augment": bool(args.augment), "seed": args.seed,
                "weight_decay": args.weight_decay, "cosine": bool(args.cosine), "epochs": args.epochs}
    manual_seed(meta["seed"])
    train_set = _dataset(meta, True, meta["augment"], args.limit, args.data_root)
    test_set = _dataset(meta, False, False, args.limit, args.data_root)
    meta["classes"] = list(train_set.classes)
    model = _build_model(meta["model"], **meta["model_kwargs"])
    params = model.parameters()
    lr, decay = meta["lr"], meta.get("weight_decay", 0.0)
    if meta["optimizer"] == "sgd":
        opt = optim.SGD(params, lr=lr, momentum=0.9, weight_decay=decay)
    elif meta["optimizer"] == "adam":
        opt = optim.Adam(params, lr=lr, weight_decay=decay)
    else:
        opt = optim.RMSprop(params, lr=lr, weight_decay=decay)
    # The cosine schedule spans the run's planned epochs (kept in the checkpoint for --resume).
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, meta["epochs"]) if meta.get("cosine") else None
    train_loader = data.DataLoader(train_set, batch_size=meta["batch_size"], shuffle=True, seed=meta["seed"],
                                   prefetch=True)
    test_loader = data.DataLoader(test_set, batch_size=256, shuffle=False, seed=meta["seed"])
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, train_loader, args.epochs, opt, loss_fn, val_loader=test_loader, scheduler=scheduler,
                  checkpoint_dir=out,
                  resume=ckpt if args.resume else None, progress=not args.quiet, metadata=meta)
    _write_json(os.path.join(out, "history.json"), history)
    result = evaluate(model, test_loader, loss_fn)
    viz.plot_history(history, os.path.join(out, "curves.png"))
    viz.plot_filters(model, os.path.join(out, "filters.png"))
    viz.plot_confusion_matrix(result["confusion_matrix"], os.path.join(out, "confusion.png"), meta["classes"])
    images = np.stack([test_set[i][0] for i in range(min(len(test_set), 2000))])
    n = len(images)
    viz.plot_misclassified(images, result["predictions"][:n], result["targets"][:n],
                           os.path.join(out, "misclassified.png"), meta["classes"])
    print(f"test loss {result['loss']:.4f}, test accuracy {result['accuracy']:.4f}; wrote {out}")
    return 0


def _eval(args) -> int:
    from . import data, nn
    from .train import evaluate
    model, meta, _ = _load(args.checkpoint)
    test_set = _dataset(meta, False, False, args.limit, args.data_root)
    loader = data.DataLoader(test_set, batch_size=256, shuffle=False, seed=0)
    result = evaluate(model, loader, nn.CrossEntropyLoss())
    cm = result["confusion_matrix"]
    report = {"loss": result["loss"], "accuracy": result["accuracy"], "samples": int(cm.sum()),
              "per_class_accuracy": (np.diag(cm) / np.maximum(cm.sum(axis=1), 1)).tolist(),
              "confusion_matrix": cm.tolist()}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['samples']} test images: loss {report['loss']:.4f}, accuracy {report['accuracy']:.4f}")
        for name, acc in zip(meta.get("classes") or range(len(cm)), report["per_class_accuracy"]):
            print(f"  {name!s:>12}: {acc:.4f}")
    return 0


def _predict(args) -> int:
    from . import from_numpy, no_grad
    model, meta, _ = _load(args.checkpoint)
    x = _read_image(args.image, meta)
    with no_grad():
        logits = model(from_numpy(np.ascontiguousarray(x[None]))).numpy()[0].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    classes = meta.get("classes") or [str(i) for i in range(len(p))]
    for k in np.argsort(-p, kind="stable")[:5]:
        print(f"{classes[k]:>12}  {p[k]:.4f}")
    return 0


def _filter(args) -> int:
    from . import filters
    try:
        from PIL import Image
    except ImportError:
        raise CliError("the filter command needs Pillow: pip install pillow") from None
    if args.kernel not in filters.KERNELS:
        raise CliError(f"unknown kernel {args.kernel!r}; choose from {', '.join(sorted(filters.KERNELS))}")
    if not os.path.isfile(args.input):
        raise CliError(f"image {args.input} not found")
    with Image.open(args.input) as im:
        a = np.asarray(im.convert("RGB" if im.mode in ("RGB", "RGBA", "P") else "L"))
    out = filters.apply(a, args.kernel)
    Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8)).save(args.output)
    print(f"wrote {args.output}")
    return 0


def _viz(args) -> int:
    from . import viz
    model, meta, _ = _load(args.checkpoint)
    x = _read_image(args.image, meta)
    out = args.out or f"feature_maps_{args.layer}.png"
    viz.plot_feature_maps(model, x, args.layer, out)
    print(f"wrote {out}")
    return 0


def _native_input_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) a zoo model is built for: LeNet-5 32x32 and vgg_small 28x28 gray, the CIFAR ResNets
    32x32, Inception v3 299x299, the ImageNet rest 224x224."""
    name = name.lower()
    if name.startswith("lenet"):
        return (1, 32, 32)
    if name == "vgg_small":
        return (1, 28, 28)
    if name in ("resnet8", "resnet20", "resnet32", "resnet44", "resnet56"):
        return (3, 32, 32)
    return (3, 299, 299) if name == "inception_v3" else (3, 224, 224)


def _summary(args) -> int:
    from . import models
    from .summary import summary
    if args.model.lower() not in models.list_models():
        print(f"fastcnn summary: error: unknown model {args.model!r}; choose from {', '.join(models.list_models())}",
              file=sys.stderr)
        return 2
    kwargs = {} if args.num_classes is None else {"num_classes": args.num_classes}
    model = _build_model(args.model.lower(), **kwargs)
    shape = tuple(args.input_shape) if args.input_shape else _native_input_shape(args.model)
    summary(model, shape, depth=args.depth)
    return 0


def _bench(args) -> int:
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be >= 1, got {args.threads}")
    if args.rounds is not None and args.rounds < 1:
        raise CliError(f"--rounds must be >= 1, got {args.rounds}")
    pinned = os.environ.get("OPENBLAS_NUM_THREADS") == str(args.threads)
    if args.threads is not None and not pinned and args.argv is not None and "FASTCNN_BENCH_REEXEC" not in os.environ:
        # NumPy's BLAS pool was sized when numpy loaded: start again with the thread count in the environment.
        env = dict(os.environ, FASTCNN_BENCH_REEXEC="1")
        for name in ("FASTCNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(args.threads)
        os.execve(sys.executable, [sys.executable, "-m", "fastcnn", *args.argv], env)
    if args.device == "cuda":
        from . import cuda
        if not cuda.is_available():
            raise CliError(f"--device cuda: no usable GPU ({cuda.unavailable_reason() or 'no CUDA device'})")
        raise CliError("--device cuda: the CUDA benchmark cases are not written yet; run --device cpu")
    from .bench import report, run_suite
    old = report.load_json(args.compare) if args.compare else None  # fail before the run, not after
    progress = _bench_progress(args.quiet)
    try:
        payload = run_suite("full" if args.full else args.mode, filter=args.filter, threads=args.threads,
                            rounds=args.rounds, progress=progress.update if progress else None)
    finally:
        if progress:
            progress.stop()
    report.print_report(payload)
    if args.json:
        from .bench.harness import write_json
        write_json(args.json, payload)
        print(f"wrote {args.json}")
    if args.png:
        print(f"wrote {args.png}" if report.write_png(payload, args.png)
              else "no chart: matplotlib is not installed (pip install matplotlib)")
    if old is not None:
        report.print_compare(old, payload, args.compare)
    failed = [c["name"] for c in payload["cases"] if c["status"] == "failed"]
    if failed:
        print(f"fastcnn bench: {len(failed)} case(s) failed (wrong result or error, see the table): "
              f"{'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


class _bench_progress:
    """A rich progress bar on stderr when rich is installed and stderr is a terminal."""

    def __new__(cls, quiet):
        if quiet or not sys.stderr.isatty():
            return None
        try:
            from rich.progress import Progress
        except ImportError:
            return None
        self = super().__new__(cls)
        self.bar = Progress(transient=True)
        self.bar.start()
        self.task = None
        return self

    def update(self, name, index, total):
        if self.task is None:
            self.task = self.bar.add_task("bench", total=total)
        self.bar.update(self.task, completed=index, description=name[:60])

    def stop(self):
        self.bar.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastcnn", description="fastcnn command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="build, CPU features, kernel paths, threads, CUDA devices")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(run=_info)

    t = commands.add_parser("train", help="train a model; writes checkpoints, history.json and plots to --out")
    t.add_argument("--model", default="lenet5")
    t.add_argument("--model-arg", action="append", metavar="KEY=VALUE",
                   help="a keyword argument for the model, e.g. variant=modern (repeatable)")
    t.add_argument("--data", default="fashion-mnist", choices=sorted(DATASETS))
    t.add_argument("--data-root", help="folder holding the dataset files (default: the usual places)")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--lr", type=float, help="learning rate (default: sgd 0.01, adam/rmsprop 0.001)")
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "rmsprop"])
    t.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty of the optimizer (default 0)")
    t.add_argument("--cosine", action="store_true", help="cosine-annealed learning rate over --epochs")
    t.add_argument("--augment", action="store_true", help="random crop (padding 2) and horizontal flip")
    t.add_argument("--out", required=True, help="run folder, e.g. runs/NAME")
    t.add_argument("--resume", action="store_true", help="continue from --out's checkpoint")
    t.add_argument("--limit", type=int, help="use only the first N train and test images")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    e = commands.add_parser("eval", help="test-set loss, accuracy and per-class accuracy of a checkpoint")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data-root")
    e.add_argument("--limit", type=int)
    e.add_argument("--json", action="store_true")
    e.set_defaults(run=_eval)

    p = commands.add_parser("predict", help="top-5 classes of one image")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("image")
    p.set_defaults(run=_predict)

    f = commands.add_parser("filter", help="apply an image filter (fastcnn.filters) to an image")
    f.add_argument("--kernel", required=True)
    f.add_argument("input")
    f.add_argument("output")
    f.set_defaults(run=_filter)

    v = commands.add_parser("viz", help="plot a layer's feature maps for one image")
    v.add_argument("--checkpoint", required=True)
    v.add_argument("--image", required=True)
    v.add_argument("--layer", required=True)
    v.add_argument("--out", help="PNG path (default feature_maps_LAYER.png)")
    v.set_defaults(run=_viz)

    s = commands.add_parser("summary", help="per-layer table of a zoo model: shapes, parameters, mult-adds")
    s.add_argument("model", help="a zoo model name, e.g. resnet18")
    s.add_argument("--input-shape", type=int, nargs=3, metavar=("C", "H", "W"),
                   help="input size (default: the model's native size)")
    s.add_argument("--num-classes", type=int, help="classifier outputs (default: the model's)")
    s.add_argument("--depth", type=int, help="show nested layers down to this depth (default: all)")
    s.set_defaults(run=_summary)

    b = commands.add_parser("bench", help="benchmark the kernels and models against NumPy and PyTorch")
    size = b.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small real shapes, few rounds: a few minutes on 2 cores (default)")
    size.add_argument("--full", action="store_true", help="larger batches, more rounds")
    size.add_argument("--tiny", dest="mode", action="store_const", const="tiny", help=argparse.SUPPRESS)
    b.set_defaults(mode="quick")
    b.add_argument("--filter", metavar="TEXT", help="only cases whose group or name contains TEXT, e.g. conv")
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    b.add_argument("--threads", type=int, help="threads for every library (default: all usable CPUs)")
    b.add_argument("--rounds", type=int, help="interleaved timing rounds per case (default: 3 quick, 7 full)")
    b.add_argument("--json", metavar="PATH", help="write all raw figures and machine information here")
    b.add_argument("--png", metavar="PATH", help="write a chart of the speedups here (needs matplotlib)")
    b.add_argument("--compare", metavar="OLD.json", help="show each case's change against an earlier --json run")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    args = _parser().parse_args(argv)
    args.debug = debug
    args.argv = argv if from_command_line else None  # bench re-executes itself to pin BLAS threads
    try:
        return args.run(args)
    except (CliError, ValueError, TypeError, FileNotFoundError, OSError, KeyError, ImportError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
        print(f"fastcnn {args.command}: error: {message}", file=sys.stderr)
        return 1


__all__ = ["main"]
