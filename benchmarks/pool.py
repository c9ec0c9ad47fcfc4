"""Pooling: fastcnn against PyTorch (CPU), forward and forward+backward, side by side.

    python benchmarks/pool.py [--threads N] [--rounds R] [--quick] [--only TEXT] [--json PATH]

For each shape prints the median time of the forward pass and of forward+backward, the
memory traffic rate (bytes read + written by the pass / time, GB/s) and the speedup over
torch (torch's median / ours; > 1 means fastcnn is faster). torch's forward is the plain
call a network makes (max pooling without return_indices); its forward+backward is autograd
(forward with indices, then grad_input). Every case is checked against torch before timing.
"""

from __future__ import annotations

import sys

from harness import compare, configure_threads, parse_arguments, print_table, write_json

THREADS = configure_threads(sys.argv)


import numpy as np  # noqa: E402

import fastcnn  # noqa: E402
from fastcnn import ops  # noqa: E402
from fastcnn.info import collect  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(THREADS)
F = torch.nn.functional

# (name, kind, input shape, parameters)
CASES = [
    ("max 2x2/2 64x64x56x56", "max", (64, 64, 56, 56), dict(kernel_size=2, stride=2)),
    ("max 3x3/2 p1 16x64x112x112 (resnet stem)", "max", (16, 64, 112, 112), dict(kernel_size=3, stride=2, padding=1)),
    ("avg 2x2/2 64x64x56x56", "avg", (64, 64, 56, 56), dict(kernel_size=2, stride=2)),
    ("avg 3x3/1 p1 32x192x28x28 (inception)", "avg", (32, 192, 28, 28), dict(kernel_size=3, stride=1, padding=1)),
    ("global avg 64x512x7x7", "global", (64, 512, 7, 7), {}),
    ("global avg 64x2048x7x7", "global", (64, 2048, 7, 7), {}),
    ("max 2x2/2 64x6x28x28 (lenet)", "max", (64, 6, 28, 28), dict(kernel_size=2, stride=2)),
]


def candidates(kind: str, x: np.ndarray, params: dict):
    """(ours_fwd, ours_fwd_bwd, torch_fwd, torch_fwd_bwd, check) for one case."""
    xt = torch.from_numpy(x)
    xg = xt.clone().requires_grad_()
    if kind == "max":
        out, index = ops.max_pool2d(x, **params)
        grad = np.ones_like(out)
        gt = torch.from_numpy(grad)

        def ours_fwd_bwd():
            y, i = ops.max_pool2d(x, **params)
            return ops.max_pool2d_backward(grad, i, x.shape)

        def check():
            t_out, t_index = F.max_pool2d(xt, return_indices=True, **params)
            assert np.array_equal(out, t_out.numpy()) and np.array_equal(index, t_index.numpy())
            t_grad = torch.autograd.grad(F.max_pool2d(xg, **params), xg, gt)[0]
            assert np.array_equal(ops.max_pool2d_backward(grad, index, x.shape), t_grad.numpy())

        return (lambda: ops.max_pool2d(x, **params), ours_fwd_bwd, lambda: F.max_pool2d(xt, **params),
                lambda: torch.autograd.grad(F.max_pool2d(xg, **params), xg, gt), check)
    if kind == "avg":
        out = ops.avg_pool2d(x, **params)
        grad = np.ones_like(out)
        gt = torch.from_numpy(grad)

        def ours_fwd_bwd():
            ops.avg_pool2d(x, **params)
            return ops.avg_pool2d_backward(grad, x.shape, **params)

        def check():
            np.testing.assert_allclose(out, F.avg_pool2d(xt, **params).numpy(), rtol=1e-5, atol=1e-6)
            t_grad = torch.autograd.grad(F.avg_pool2d(xg, **params), xg, gt)[0]
            np.testing.assert_allclose(ops.avg_pool2d_backward(grad, x.shape, **params), t_grad.numpy(),
                                       rtol=1e-5, atol=1e-6)

        return (lambda: ops.avg_pool2d(x, **params), ours_fwd_bwd, lambda: F.avg_pool2d(xt, **params),
                lambda: torch.autograd.grad(F.avg_pool2d(xg, **params), xg, gt), check)
    out = ops.adaptive_avg_pool2d(x, 1)
    grad = np.ones_like(out)
    gt = torch.from_numpy(grad)

    def ours_fwd_bwd():
        ops.adaptive_avg_pool2d(x, 1)
        return ops.adaptive_avg_pool2d_backward(grad, x.shape)

    def check():
        np.testing.assert_allclose(out, F.adaptive_avg_pool2d(xt, 1).numpy(), rtol=1e-5, atol=1e-6)
        t_grad = torch.autograd.grad(F.adaptive_avg_pool2d(xg, 1), xg, gt)[0]
        np.testing.assert_allclose(ops.adaptive_avg_pool2d_backward(grad, x.shape), t_grad.numpy(), rtol=1e-6)

    return (lambda: ops.adaptive_avg_pool2d(x, 1), ours_fwd_bwd, lambda: F.adaptive_avg_pool2d(xt, 1),
            lambda: torch.autograd.grad(F.adaptive_avg_pool2d(xg, 1), xg, gt), check)


def traffic(kind: str, x: np.ndarray, params: dict) -> tuple[int, int]:
    """Bytes a forward and a forward+backward must move (inputs read, outputs written)."""
    if kind == "global":
        out_numel = x.shape[0] * x.shape[1]
    else:
        out_numel = ops.avg_pool2d(x[:1, :1], **params).size * x.shape[0] * x.shape[1]
    index_bytes = 8 * out_numel if kind == "max" else 0
    forward = 4 * x.size + 4 * out_numel + index_bytes
    backward = 4 * out_numel + index_bytes + 4 * x.size
    return forward, forward + backward


def run_case(name, kind, shape, params, rounds):
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    ours_fwd, ours_both, torch_fwd, torch_both, check = candidates(kind, x, params)
    check()
    # torch first in each dict: compare() warms candidates in order.
    fwd = compare({"torch": torch_fwd, "fastcnn": ours_fwd}, rounds=rounds)
    both = compare({"torch": torch_both, "fastcnn": ours_both}, rounds=rounds)
    fwd_bytes, both_bytes = traffic(kind, x, params)
    result = {"name": name, "kind": kind, "shape": shape, "params": params,
              "bytes_forward": fwd_bytes, "bytes_forward_backward": both_bytes}
    for label, timings, nbytes in (("forward", fwd, fwd_bytes), ("forward_backward", both, both_bytes)):
        result[label] = {key: {"median_s": t.median, "best_s": t.best, "samples_s": t.seconds,
                               "gbps": nbytes / t.median / 1e9} for key, t in timings.items()}
        result[label]["speedup_vs_torch"] = timings["torch"].median / timings["fastcnn"].median
    return result


def main() -> None:
    args = parse_arguments(__doc__, THREADS, rounds=7, filter_help="only the cases whose name contains this text")
    cases = CASES
    if args.quick:
        cases = [CASES[0], CASES[3], CASES[5]]
        args.rounds = min(args.rounds, 3)
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    print(f"fastcnn pooling benchmark: {THREADS} thread(s), kernel path {fastcnn._C.kernel_path()}, "
          f"torch {torch.__version__}, {args.rounds} interleaved rounds (medians)")

    results, rows = [], []
    for name, kind, shape, params in cases:
        r = run_case(name, kind, shape, params, args.rounds)
        results.append(r)
        f, b = r["forward"], r["forward_backward"]
        rows.append([name,
                     f"{1e3 * f['fastcnn']['median_s']:.3f}", f"{f['fastcnn']['gbps']:.1f}",
                     f"{1e3 * f['torch']['median_s']:.3f}", f"{f['speedup_vs_torch']:.2f}x",
                     f"{1e3 * b['fastcnn']['median_s']:.3f}", f"{b['fastcnn']['gbps']:.1f}",
                     f"{1e3 * b['torch']['median_s']:.3f}", f"{b['speedup_vs_torch']:.2f}x"])
        print(f"  {name}: forward {f['speedup_vs_torch']:.2f}x, forward+backward {b['speedup_vs_torch']:.2f}x",
              file=sys.stderr)
    print_table(["case", "fwd ms", "fwd GB/s", "torch fwd ms", "fwd vs torch",
                 "fwd+bwd ms", "GB/s", "torch ms", "fwd+bwd vs torch"], rows)

    if args.json:
        payload = {"benchmark": "pool", "threads": THREADS, "machine": collect(), "torch": torch.__version__,
                   "results": results}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
