"""Convolution layers: fastcnn against PyTorch CPU, forward and forward+backward, in one run.

    python benchmarks/conv.py [--threads N] [--rounds R] [--quick] [--only TEXT] [--json PATH]

Real layer shapes (LeNet-5, AlexNet, VGG/ResNet, MobileNet). For each: GFLOP/s, the
fraction of this machine's measured FMA peak, and the speedup over torch (its median
time / ours; > 1 means fastcnn is faster), then the geometric means. Forward+backward
is one forward and the three gradients (input, weight, bias) for both libraries; torch
runs through autograd, as its users run it. Every case is checked against torch first.
"""

from __future__ import annotations

import sys

from harness import compare, configure_threads, parse_arguments, print_table, write_json

THREADS = configure_threads(sys.argv)

import math  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import fastcnn  # noqa: E402
from fastcnn import ops  # noqa: E402
from fastcnn.info import collect  # noqa: E402

torch.set_num_threads(THREADS)

# (name, input shape, weight shape, stride, padding, groups)
LAYERS = [
    ("lenet conv1 5x5", (64, 1, 32, 32), (6, 1, 5, 5), 1, 0, 1),
    ("lenet conv2 5x5", (64, 6, 14, 14), (16, 6, 5, 5), 1, 0, 1),
    ("alexnet conv1 11x11/4", (8, 3, 227, 227), (96, 3, 11, 11), 4, 0, 1),
    ("resnet stem 7x7/2", (8, 3, 224, 224), (64, 3, 7, 7), 2, 3, 1),
    ("vgg/resnet 3x3 @56", (8, 64, 56, 56), (64, 64, 3, 3), 1, 1, 1),
    ("vgg/resnet 3x3 @28", (8, 128, 28, 28), (128, 128, 3, 3), 1, 1, 1),
    ("vgg/resnet 3x3 @14", (8, 256, 14, 14), (256, 256, 3, 3), 1, 1, 1),
    ("vgg/resnet 3x3 @7", (8, 512, 7, 7), (512, 512, 3, 3), 1, 1, 1),
    ("resnet 1x1 256->64 @56", (8, 256, 56, 56), (64, 256, 1, 1), 1, 0, 1),
    ("resnet 1x1 64->256 @56", (8, 64, 56, 56), (256, 64, 1, 1), 1, 0, 1),
    ("resnet 1x1/2 256->512", (8, 256, 56, 56), (512, 256, 1, 1), 2, 0, 1),
    ("mobilenet dw 3x3 @28", (16, 256, 28, 28), (256, 1, 3, 3), 1, 1, 256),
    ("mobilenet dw 3x3/2 @56", (16, 128, 56, 56), (128, 1, 3, 3), 2, 1, 128),
    ("mobilenet dw 3x3 @14", (16, 512, 14, 14), (512, 1, 3, 3), 1, 1, 512),
]
QUICK = {"lenet conv2 5x5", "vgg/resnet 3x3 @28", "resnet 1x1 256->64 @56", "mobilenet dw 3x3 @28"}


def run_case(name, x_shape, w_shape, stride, padding, groups, rounds, peak) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32) / math.sqrt(np.prod(w_shape[1:]))
    b = rng.standard_normal(w_shape[0], dtype=np.float32)
    geometry = dict(stride=stride, padding=padding, groups=groups)
    y = ops.conv2d(x, w, b, **geometry)
    g = rng.standard_normal(y.shape, dtype=np.float32)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    gt = torch.from_numpy(g)
    yt = F.conv2d(xt, wt, bt, **geometry)
    yt.backward(gt)
    grads = ops.conv2d_backward(g, x, w, **geometry)
    for label, ours, theirs in [("forward", y, yt), ("grad input", grads[0], xt.grad), ("grad weight", grads[1], wt.grad),
                                ("grad bias", grads[2], bt.grad)]:
        theirs = theirs.detach().numpy()
        scale = np.abs(theirs).max() + 1e-6
        if not np.allclose(ours, theirs, rtol=1e-3, atol=1e-4 * scale):
            raise SystemExit(f"WRONG RESULT for {name} ({label}): max error {np.abs(ours - theirs).max():.3g}")

    def torch_forward():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, **geometry)

    def torch_training():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, **geometry).backward(gt)

    def ours_training():
        ops.conv2d(x, w, b, **geometry)
        ops.conv2d_backward(g, x, w, **geometry)

    forward = compare({"fastcnn": lambda: ops.conv2d(x, w, b, **geometry), "torch": torch_forward}, rounds=rounds)
    training = compare({"fastcnn": ours_training, "torch": torch_training}, rounds=rounds)
    flops = 2.0 * y.size * np.prod(w_shape[1:])  # one multiply-add per weight per output
    result = {"name": name, "input": x_shape, "weight": w_shape, "stride": stride, "padding": padding,
              "groups": groups, "algorithm": ops.conv2d_algorithm(x_shape, w_shape, **geometry), "flops": flops}
    for phase, timings, phase_flops in (("forward", forward, flops), ("training", training, 3 * flops)):
        entry = {key: {"median_s": t.median, "best_s": t.best, "samples_s": t.seconds} for key, t in timings.items()}
        entry["gflops"] = phase_flops / timings["fastcnn"].median / 1e9
        entry["fraction_of_peak"] = entry["gflops"] / peak
        entry["speedup_vs_torch"] = timings["torch"].median / timings["fastcnn"].median
        result[phase] = entry
    return result


def geometric_mean(values) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def main() -> None:
    args = parse_arguments(__doc__, THREADS, rounds=7, filter_help="only the layers whose name contains this text")

    peak = statistics.median(fastcnn._C.measure_peak_gflops(THREADS, 0.2) for _ in range(3))
    layers = LAYERS
    if args.quick:
        layers = [layer for layer in LAYERS if layer[0] in QUICK]
        args.rounds = min(args.rounds, 5)
    if args.only:
        layers = [layer for layer in layers if args.only in layer[0]]
    print(f"fastcnn conv2d benchmark: {THREADS} thread(s), kernel path {fastcnn._C.kernel_path()}, torch "
          f"{torch.__version__}, measured FMA peak {peak:.1f} GFLOP/s, {args.rounds} interleaved rounds (medians)")

    results, rows = [], []
    for layer in layers:
        r = run_case(*layer, args.rounds, peak)
        results.append(r)
        f, t = r["forward"], r["training"]
        rows.append([r["name"], r["algorithm"], f"{f['gflops']:.1f}", f"{100 * f['fraction_of_peak']:.0f}%",
                     f"{f['speedup_vs_torch']:.2f}x", f"{t['gflops']:.1f}", f"{t['speedup_vs_torch']:.2f}x"])
        print(f"  {r['name']}: forward {f['speedup_vs_torch']:.2f}x, fwd+bwd {t['speedup_vs_torch']:.2f}x",
              file=sys.stderr)
    print_table(["layer", "algorithm", "fwd GF/s", "of peak", "fwd vs torch", "fwd+bwd GF/s", "fwd+bwd vs torch"], rows)
    summary = {phase: {"geomean_speedup": geometric_mean(r[phase]["speedup_vs_torch"] for r in results),
                       "min_speedup": min(r[phase]["speedup_vs_torch"] for r in results)}
               for phase in ("forward", "training")}
    for phase, s in summary.items():
        print(f"{phase}: geometric mean {s['geomean_speedup']:.2f}x vs torch, lowest {s['min_speedup']:.2f}x")

    if args.json:
        payload = {"benchmark": "conv", "threads": THREADS, "peak_gflops": peak, "machine": collect(),
                   "torch": torch.__version__, "summary": summary, "results": results}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
