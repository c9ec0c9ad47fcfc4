"""SGEMM: fastcnn against NumPy (OpenBLAS) and PyTorch, side by side in one run.

    python benchmarks/gemm.py [--threads N] [--rounds R] [--quick] [--only TEXT] [--json PATH]

Prints GFLOP/s, the fraction of this machine's measured FMA peak, and the speedup of
fastcnn over each reference (their median time / ours; > 1 means fastcnn is faster).
Every case is checked against a float64 result before it is timed.
"""

from __future__ import annotations

import sys

from harness import compare, configure_threads, parse_arguments, print_table, write_json

THREADS = configure_threads(sys.argv)

import statistics  # noqa: E402

import numpy as np  # noqa: E402

import fastcnn  # noqa: E402
from fastcnn.info import collect  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(THREADS)
except ImportError:
    torch = None

SQUARE = [256, 512, 1024, 2048]
# (name, M, N, K): the GEMMs convolutions turn into (weights K x CRS times im2col columns).
CONV_SHAPED = [
    ("lenet conv1 6x784x25", 6, 784, 25),
    ("lenet conv2 16x100x150", 16, 100, 150),
    ("resnet 3x3 64x3136x576", 64, 3136, 576),
    ("resnet 3x3 128x784x1152", 128, 784, 1152),
    ("resnet 3x3 256x196x2304", 256, 196, 2304),
    ("vgg 3x3 64x50176x27 (conv1)", 64, 50176, 27),
    ("1x1 256x3136x64", 256, 3136, 64),
    ("fc 4096x64x9216 (batch 64)", 4096, 64, 9216),
]


def check(name: str, ours: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    expected = a.astype(np.float64) @ b.astype(np.float64)
    bound = (np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)) * a.shape[1] * 2e-7 + 1e-6
    if not np.all(np.abs(ours - expected) <= bound):
        raise SystemExit(f"WRONG RESULT for {name}: max error {np.abs(ours - expected).max():.3g}")


def run_case(name: str, m: int, n: int, k: int, rounds: int, peak: float) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    fastcnn._C.gemm(a, b, c)
    check(name, c, a, b)
    candidates = {
        "fastcnn": lambda: fastcnn._C.gemm(a, b, c),
        "numpy": lambda: np.matmul(a, b, out=c),
    }
    if torch is not None:
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        candidates["torch"] = lambda: torch.matmul(ta, tb, out=tc)
    timings = compare(candidates, rounds=rounds)
    flops = 2.0 * m * n * k
    result = {"name": name, "m": m, "n": n, "k": k, "flops": flops}
    for key, timing in timings.items():
        result[key] = {"median_s": timing.median, "best_s": timing.best, "samples_s": timing.seconds,
                       "gflops": flops / timing.median / 1e9}
    result["fraction_of_peak"] = result["fastcnn"]["gflops"] / peak if peak == peak else None
    for ref in ("numpy", "torch"):
        if ref in result:
            result[f"speedup_vs_{ref}"] = timings[ref].median / timings["fastcnn"].median
    return result


def main() -> None:
    args = parse_arguments(__doc__, THREADS, rounds=9, filter_help="only the cases whose name contains this text")

    peak = statistics.median(fastcnn._C.measure_peak_gflops(THREADS, 0.2) for _ in range(3))
    cases = [(f"square {s}", s, s, s) for s in SQUARE] + CONV_SHAPED
    if args.quick:
        cases = cases[1:3] + CONV_SHAPED[:3]
        args.rounds = min(args.rounds, 5)
    if args.only:
        cases = [case for case in cases if args.only in case[0]]
    print(f"fastcnn SGEMM benchmark: {THREADS} thread(s), kernel path {fastcnn._C.kernel_path()}, "
          f"measured FMA peak {peak:.1f} GFLOP/s, {args.rounds} interleaved rounds (medians)")

    results, rows = [], []
    for name, m, n, k in cases:
        r = run_case(name, m, n, k, args.rounds, peak)
        results.append(r)
        row = [name, f"{r['fastcnn']['gflops']:.1f}", f"{100 * r['fraction_of_peak']:.0f}%",
               f"{r['numpy']['gflops']:.1f}", f"{r['speedup_vs_numpy']:.2f}x"]
        if torch is not None:
            row += [f"{r['torch']['gflops']:.1f}", f"{r['speedup_vs_torch']:.2f}x"]
        rows.append(row)
        print(f"  {name}: fastcnn {r['fastcnn']['gflops']:.1f} GFLOP/s", file=sys.stderr)
    headers = ["case", "fastcnn GF/s", "of peak", "numpy GF/s", "vs numpy"]
    if torch is not None:
        headers += ["torch GF/s", "vs torch"]
    print_table(headers, rows)

    if args.json:
        payload = {"benchmark": "gemm", "threads": THREADS, "peak_gflops": peak, "machine": collect(),
                   "torch": torch.__version__ if torch is not None else None, "results": results}
        write_json(args.json, payload)


if __name__ == "__main__":
    main()
