"""Timing shared by the benchmarks: warm-up, interleaved rounds, medians, ratios.

This machine is shared and noisy, so candidates are never timed one after the other:
each round times every candidate once, in rotating order, and the figures quoted are
medians over rounds. One sample repeats a call enough times to last `sample_seconds`,
so microsecond-sized calls are not lost in timer noise.

Thread pools keep spinning after a call returns (OpenBLAS for about 2^28 cycles, an
active OpenMP pool for its spin count), which would steal cores from the next candidate.
So before each sample the harness sleeps `settle_seconds`, then makes one untimed call:
after the sleep the pool's threads (and, on a VM, their virtual CPUs) are asleep, and
waking them cost a 2-thread 512x512 GEMM more than its own run (185 -> 70 GFLOP/s after
0.2 s idle). Every library is so timed in its steady state, as in a loop that calls only it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable


def configure_threads(argv: list[str]) -> int:
    """Read --threads N from argv and pin every library's thread pool to N.

    Must run before NumPy (OpenBLAS) or torch are imported: their pools size themselves
    from the environment at load time.
    """
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if "--threads" in argv:
        threads = int(argv[argv.index("--threads") + 1])
    for name in ("FASTCNN_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    return threads


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)  # one entry per round, per call

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)


def _calls_per_sample(fn: Callable[[], object], sample_seconds: float) -> int:
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(sample_seconds / once))


def compare(
    candidates: dict[str, Callable[[], object]],
    rounds: int = 7,
    sample_seconds: float = 0.03,
    warmup: int = 2,
    settle_seconds: float = 0.15,
) -> dict[str, Timing]:
    """Median-of-rounds timing of each candidate, interleaved in one run."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    calls = {name: _calls_per_sample(fn, sample_seconds) for name, fn in candidates.items()}
    timings = {name: Timing(name) for name in candidates}
    names = list(candidates)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            fn, n = candidates[name], calls[name]
            time.sleep(settle_seconds)
            fn()  # wakes the threads the settle put to sleep (see the module docstring)
            start = time.perf_counter()
            for _ in range(n):
                fn()
            timings[name].seconds.append((time.perf_counter() - start) / n)
    return timings


def latency(
    candidates: dict[str, Callable[[], object]],
    calls: int = 30,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Per-call times (for p50/p99 latency), candidates alternating call by call."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    timings = {name: Timing(name) for name in candidates}
    names = list(candidates)
    for i in range(calls):
        for name in (names if i % 2 == 0 else names[::-1]):
            start = time.perf_counter()
            candidates[name]()
            timings[name].seconds.append(time.perf_counter() - start)
    return timings


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation, as numpy.percentile."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def print_table(headers: list[str], rows: list[list[str]], file=sys.stdout) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)), file=file)


def parse_arguments(doc: str, threads: int, rounds: int, filter_help: str) -> argparse.Namespace:
    """The options every benchmark takes: --threads, --rounds, --quick, --only TEXT, --json PATH."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=threads,
                        help="threads for every library (default: all usable CPUs)")
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved timing rounds per case")
    parser.add_argument("--quick", action="store_true", help="fewer shapes and rounds")
    parser.add_argument("--only", help=filter_help)
    parser.add_argument("--json", help="write all raw figures and machine information here")
    return parser.parse_args()


def write_json(path: str, payload: dict) -> None:
    """Writes payload to path atomically: a killed run never leaves half a file."""
    # Imported here: the benchmark scripts load this module standalone, before NumPy.
    from fastcnn._atomic import atomic_write
    atomic_write(path, json.dumps(payload, indent=1).encode())
