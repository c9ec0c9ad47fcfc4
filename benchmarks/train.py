"""Training throughput: seconds per epoch of LeNet-5 on Fashion-MNIST, fastcnn against
PyTorch (CPU), the same model, optimizer and batches in one run.

    python benchmarks/train.py [--epochs 1] [--limit N] [--threads 2] [--json PATH]

LeNet-5 (classic: tanh, average pooling, 32x32 input: the 28x28 images padded by 2),
batch 64, SGD momentum 0.9, lr 0.01, cross-entropy. Both libraries get the same NumPy
batches (normalized and padded once up front, a seeded shuffle per epoch), so the figure
is the training step alone. Epochs alternate between the libraries so machine noise hits
both; the median epoch time is quoted, with the ratio fastcnn / PyTorch (< 1: fastcnn
is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from harness import configure_threads, write_json

if "--threads" not in sys.argv:
    sys.argv += ["--threads", "2"]
THREADS = configure_threads(sys.argv)

import numpy as np  # noqa: E402

import fastcnn  # noqa: E402
from fastcnn.info import collect  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(THREADS)
BATCH, LR, MOMENTUM = 64, 0.01, 0.9


def lenet5(m):
    return m.Sequential(
        m.Conv2d(1, 6, 5), m.Tanh(), m.AvgPool2d(2),
        m.Conv2d(6, 16, 5), m.Tanh(), m.AvgPool2d(2),
        m.Flatten(),
        m.Linear(400, 120), m.Tanh(),
        m.Linear(120, 84), m.Tanh(),
        m.Linear(84, 10),
    )


def load(limit):
    ds = fastcnn.data.FashionMNIST(train=True)
    x = ds.data[:limit].astype(np.float32) / 255.0
    x = (x - 0.2860) / 0.3530
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)), constant_values=-0.2860 / 0.3530)[:, None]
    return np.ascontiguousarray(x, dtype=np.float32), ds.targets[:limit].astype(np.int64)


def batches(x, y, epoch):
    order = np.random.default_rng([0, epoch]).permutation(len(x))
    for s in range(0, len(x), BATCH):
        idx = order[s:s + BATCH]
        yield np.ascontiguousarray(x[idx]), y[idx]


def epoch_fastcnn(model, opt, loss_fn, x, y, epoch):
    total = 0.0
    for xb, yb in batches(x, y, epoch):
        loss = loss_fn(model(fastcnn.from_numpy(xb)), fastcnn.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total


def epoch_torch(model, opt, loss_fn, x, y, epoch):
    total = 0.0
    for xb, yb in batches(x, y, epoch):
        loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1, help="epochs per library (default 1)")
    parser.add_argument("--limit", type=int, default=None, help="use the first N training images")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads for both libraries (default 2)")
    parser.add_argument("--json", help="write the figures and machine information here (atomically)")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")
    x, y = load(args.limit)
    torch.manual_seed(0)
    theirs = lenet5(torch.nn)
    ours = lenet5(fastcnn.nn)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    runs = {
        "fastcnn": (epoch_fastcnn, ours, fastcnn.optim.SGD(ours.parameters(), lr=LR, momentum=MOMENTUM),
                    fastcnn.nn.CrossEntropyLoss()),
        "torch": (epoch_torch, theirs, torch.optim.SGD(theirs.parameters(), lr=LR, momentum=MOMENTUM),
                  torch.nn.CrossEntropyLoss()),
    }
    seconds = {name: [] for name in runs}
    losses = {name: [] for name in runs}
    for epoch in range(args.epochs):
        for name in (list(runs) if epoch % 2 == 0 else list(runs)[::-1]):
            fn, model, opt, loss_fn = runs[name]
            start = time.perf_counter()
            total = fn(model, opt, loss_fn, x, y, epoch)
            seconds[name].append(time.perf_counter() - start)
            losses[name].append(total / -(-len(x) // BATCH))
    med = {name: statistics.median(s) for name, s in seconds.items()}
    print(f"LeNet-5, Fashion-MNIST {len(x)} images, batch {BATCH}, SGD momentum {MOMENTUM} lr {LR}, "
          f"{THREADS} threads, {args.epochs} epoch(s) each")
    for name in runs:
        print(f"  {name:8s} {med[name]:7.2f} s/epoch  ({len(x) / med[name]:7.0f} images/s)  "
              f"mean loss last epoch {losses[name][-1]:.4f}")
    ratio = med["fastcnn"] / med["torch"]
    print(f"  ratio fastcnn/PyTorch: {ratio:.2f}")
    if args.json:
        write_json(args.json, {"benchmark": "train", "images": len(x), "batch": BATCH, "threads": THREADS,
                               "epochs": args.epochs, "seconds_per_epoch": seconds, "median": med,
                               "ratio_fastcnn_over_torch": ratio, "mean_loss": losses, "machine": collect()})


if __name__ == "__main__":
    main()
