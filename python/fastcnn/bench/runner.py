"""Runs the benchmark cases: verify each against every reference, then time them interleaved.

A case whose fastcnn result disagrees with a reference is recorded as "failed" with the
discrepancy and is not timed. The payload (a JSON-able dict) holds every raw figure.
"""

from __future__ import annotations

import time

import numpy as np

from . import harness
from ._deps import INSTALL_HINT, optional_torch
from .cases import op_cases
from .models import model_cases

SCHEMA = "fastcnn-bench/1"
LIBRARIES = ("fastcnn", "numpy", "torch")
# Per mode: interleaved rounds, seconds per sample, settle time between samples, warm-up calls
# (2 outside tiny: torch's oneDNN builds its primitives on the first calls of each shape).
MODES = {"tiny": (1, 0.002, 0.0, 1), "quick": (3, 0.02, 0.05, 2), "full": (7, 0.05, 0.15, 3)}


def all_cases(mode: str):
    return op_cases(mode) + model_cases(mode)


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().numpy()
    return np.asarray(value, dtype=np.float64)


def verify(results: dict, rtol: float) -> str | None:
    """None when fastcnn's results agree with every reference's, else what went wrong."""
    ours = [_as_numpy(v) for v in results["fastcnn"]]
    for i, a in enumerate(ours):
        if not np.all(np.isfinite(a)):
            return f"fastcnn result {i} has non-finite values"
    for lib, values in results.items():
        if lib == "fastcnn":
            continue
        theirs = [_as_numpy(v) for v in values]
        if len(theirs) != len(ours):
            return f"{lib} returned {len(theirs)} results, fastcnn {len(ours)}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if a.shape != b.shape:
                return f"result {i}: fastcnn shape {a.shape} != {lib} shape {b.shape}"
            scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
            err = float(np.max(np.abs(a - b))) if a.size else 0.0
            if not err <= rtol * scale:
                return f"result {i} differs from {lib}: max |diff| {err:.3g} > {rtol * scale:.3g}"
    return None


def run_case(case, rounds: int, sample_seconds: float, settle: float, warmup: int = 1) -> dict:
    record = {"name": case.name, "group": case.group, "flops": case.flops, "status": "ok", "verified": False,
              "error": None, "references": [], "timings": {}, "gflops": {}, "speedup": {}, "peak_fraction": None}
    try:
        prepared = case.setup()
        record["flops"] = getattr(prepared, "flops", case.flops)
        cands = prepared.candidates
        record["references"] = [lib for lib in cands if lib != "fastcnn"]
        if not record["references"]:
            record.update(status="skipped", error=f"no reference installed for this case; {INSTALL_HINT}")
            return record
        results = {lib: fn() for lib, fn in cands.items()}
        problem = verify(results, prepared.rtol)
    except Exception as exc:  # noqa: BLE001 - a crashing kernel is a failed case, not a crashed run
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        return record
    if problem is not None:
        record.update(status="failed", error=f"wrong result: {problem}")
        return record
    record["verified"] = True
    timings = harness.compare(cands, rounds=rounds, sample_seconds=sample_seconds, warmup=warmup, settle_seconds=settle)
    for lib, t in timings.items():
        record["timings"][lib] = {"median_s": t.median, "best_s": t.best, "rounds_s": t.seconds}
        if record["flops"]:
            record["gflops"][lib] = record["flops"] / t.median / 1e9
    ours = timings["fastcnn"].median
    record["speedup"] = {lib: timings[lib].median / ours for lib in record["references"]}
    if prepared.latency_calls:
        lat = harness.latency(cands, calls=prepared.latency_calls, warmup=warmup)
        record["latency"] = {lib: {"p50_s": harness.percentile(t.seconds, 50), "p99_s": harness.percentile(t.seconds, 99),
                                   "calls_s": t.seconds} for lib, t in lat.items()}
    return record


def run_suite(mode: str = "quick", filter: str | None = None, threads: int | None = None, rounds: int | None = None,
              peak_seconds: float = 0.3, progress=None) -> dict:
    """Runs the selected cases; progress(case_name, index, total) is called before each one."""
    import fastcnn
    from ..info import collect

    if mode not in MODES:
        raise ValueError(f"bench: mode must be one of {', '.join(MODES)}, got {mode!r}")
    default_rounds, sample_seconds, settle, warmup = MODES[mode]
    rounds = default_rounds if rounds is None else rounds
    if rounds < 1:
        raise ValueError(f"bench: rounds must be >= 1, got {rounds}")
    if threads is not None:
        if threads < 1:
            raise ValueError(f"bench: threads must be >= 1, got {threads}")
        fastcnn.set_num_threads(threads)
    threads = fastcnn.get_num_threads()
    torch = optional_torch()
    if torch is not None:
        torch.set_num_threads(threads)
    cases = [c for c in all_cases(mode) if not filter or filter.lower() in f"{c.group} {c.name}".lower()]
    if not cases:
        raise ValueError(f"bench: --filter {filter!r} matches no case")
    start = time.time()
    peak = float(fastcnn.backend._C.measure_peak_gflops(threads, peak_seconds)) if peak_seconds > 0 else None
    records = []
    for i, case in enumerate(cases):
        if progress is not None:
            progress(case.name, i, len(cases))
        record = run_case(case, rounds, sample_seconds, settle, warmup)
        if peak and record["gflops"].get("fastcnn"):
            record["peak_fraction"] = record["gflops"]["fastcnn"] / peak
        records.append(record)
    return {
        "schema": SCHEMA,
        "mode": mode,
        "device": "cpu",
        "filter": filter,
        "threads": threads,
        "rounds": rounds,
        "peak_gflops": peak,
        "references": ["numpy"] + (["torch"] if torch is not None else []),
        "torch_version": getattr(torch, "__version__", None),
        "torch_missing_hint": None if torch is not None else INSTALL_HINT,
        "started_unix": start,
        "wall_seconds": time.time() - start,
        "machine": collect(),
        "cases": records,
    }
