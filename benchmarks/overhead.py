"""Per-op Python overhead of fastcnn's Tensor/autograd layer against torch eager, on tiny tensors.

    python benchmarks/overhead.py [--threads N] [--rounds R]

Tensors of 8 elements (a 2x4 matrix, a 1x1x4x4 image) make the kernel time negligible,
so each figure is the cost of dispatch, argument checks and graph recording: microseconds
per call for fastcnn and torch, and the ratio (ours / torch; > 1 means fastcnn is slower).
"forward" runs without a graph (no_grad), "recorded" with an input requiring grad, and
"fwd+bwd" adds a backward through the op's sum.

Then a whole LeNet-5 training step (forward, cross-entropy, backward, SGD momentum; the
model of benchmarks/train.py) at batch 1, where the ~40 ops' overhead dominates, and at
batch 64, where the kernels do.
"""

from __future__ import annotations

import sys

from harness import compare, configure_threads, print_table

THREADS = configure_threads(sys.argv)

import argparse  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import fastcnn  # noqa: E402
import fastcnn.nn.functional as F  # noqa: E402
from fastcnn.bench.models import train_case  # noqa: E402

CASES = {  # name: (function of (lib, functional, a, b, img, w), needs)
    "add": lambda lib, fn, a, b, img, w: a + b,
    "mul scalar": lambda lib, fn, a, b, img, w: a * 2.0,
    "matmul": lambda lib, fn, a, b, img, w: a @ b.t(),
    "sum": lambda lib, fn, a, b, img, w: a.sum(),
    "mean(dim)": lambda lib, fn, a, b, img, w: a.mean(1),
    "reshape": lambda lib, fn, a, b, img, w: a.reshape(4, 2),
    "getitem": lambda lib, fn, a, b, img, w: a[0, 1:3],
    "relu": lambda lib, fn, a, b, img, w: fn.relu(a),
    "softmax": lambda lib, fn, a, b, img, w: fn.softmax(a, 1),
    "conv2d": lambda lib, fn, a, b, img, w: fn.conv2d(img, w, padding=1),
    "max_pool2d": lambda lib, fn, a, b, img, w: fn.max_pool2d(img, 2),
}


def inputs(lib, requires_grad):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in [(2, 4), (2, 4), (1, 1, 4, 4), (1, 1, 3, 3)]]
    return [lib.tensor(x, requires_grad=requires_grad) for x in arrays]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    libs = {"fastcnn": (fastcnn, F), "torch": (torch, TF)}
    rows = []
    for name, case in CASES.items():
        for mode in ("forward", "recorded", "fwd+bwd"):
            fns = {}
            for lib_name, (lib, fn) in libs.items():
                xs = inputs(lib, mode != "forward")
                if mode == "forward":
                    def run(lib=lib, fn=fn, xs=xs):
                        with lib.no_grad():
                            return case(lib, fn, *xs)
                elif mode == "recorded":
                    def run(lib=lib, fn=fn, xs=xs):
                        return case(lib, fn, *xs)
                else:
                    def run(lib=lib, fn=fn, xs=xs):
                        case(lib, fn, *xs).sum().backward()
                fns[lib_name] = run
            t = compare(fns, rounds=args.rounds, sample_seconds=0.02, settle_seconds=0.01)
            ours, ref = t["fastcnn"].median * 1e6, t["torch"].median * 1e6
            rows.append([name, mode, f"{ours:.1f}", f"{ref:.1f}", f"{ours / ref:.2f}"])
    for batch in (1, 64):
        prepared = train_case("lenet5", batch, 32, channels=1, classes=10).setup()
        t = compare(prepared.candidates, rounds=args.rounds, sample_seconds=0.1, settle_seconds=0.05)
        ours, ref = t["fastcnn"].median * 1e6, t["torch"].median * 1e6
        rows.append([f"LeNet-5 step, batch {batch}", "train", f"{ours:.1f}", f"{ref:.1f}", f"{ours / ref:.2f}"])
    print(f"threads={args.threads}; microseconds per call (median of {args.rounds} rounds)")
    print_table(["op", "mode", "fastcnn us", "torch us", "ours/torch"], rows)


if __name__ == "__main__":
    main()
