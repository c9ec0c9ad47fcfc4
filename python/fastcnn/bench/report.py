"""Presents a bench payload: terminal table (rich when installed, else plain text), the
--compare view against an older JSON run, and a PNG chart of the speedups (matplotlib).

Speedup = reference median time / fastcnn median time: > 1 means fastcnn is faster.
"""

from __future__ import annotations

import json
import math
import sys

from .._atomic import atomic_png
from ._deps import INSTALL_HINT

HEADERS = ["case", "fastcnn", "GFLOP/s", "% peak", "numpy", "x numpy", "torch", "x torch", "status"]


def fmt_time(seconds, micro: str = "us") -> str:
    """Seconds as s, ms or microseconds (`micro` names the last: "us" in a terminal, "µs" in markdown)."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} {micro}"


def _median(case, lib):
    t = case["timings"].get(lib)
    return t["median_s"] if t else None


def rows(payload: dict) -> list[list[str]]:
    out = []
    for c in payload["cases"]:
        gf = c["gflops"].get("fastcnn")
        peak = c.get("peak_fraction")
        status = c["status"] if c["status"] == "ok" else f"{c['status'].upper()}: {c['error']}"
        out.append([
            c["name"], fmt_time(_median(c, "fastcnn")), f"{gf:.1f}" if gf else "-",
            f"{100 * peak:.0f}%" if peak else "-",
            fmt_time(_median(c, "numpy")), f"{c['speedup']['numpy']:.2f}" if "numpy" in c["speedup"] else "-",
            fmt_time(_median(c, "torch")), f"{c['speedup']['torch']:.2f}" if "torch" in c["speedup"] else "-",
            status,
        ])
        lat = c.get("latency")
        if lat:  # single-call latency: p50 / p99 under each library's column
            cell = {lib: f"{fmt_time(v['p50_s'])} / {fmt_time(v['p99_s'])}" for lib, v in lat.items()}
            out.append(["  latency p50 / p99", cell.get("fastcnn", "-"), "", "", cell.get("numpy", "-"), "",
                        cell.get("torch", "-"), "", ""])
    return out


def header(payload: dict) -> str:
    m = payload["machine"]
    peak = payload.get("peak_gflops")
    lines = [
        f"fastcnn bench ({payload['mode']}): {m.get('cpu', '?')}, kernel path {m.get('kernel_path', '?')}, "
        f"{payload['threads']} thread(s) for every library, median of {payload['rounds']} interleaved round(s)",
        f"peak {peak:.1f} GFLOP/s (FMA probe, {payload['threads']} thread(s))" if peak else "peak: not measured",
        "x numpy / x torch = reference time / fastcnn time: > 1 means fastcnn is faster",
    ]
    if payload.get("torch_missing_hint"):
        lines.append(f"PyTorch is not installed: compared against the NumPy reference alone; {INSTALL_HINT}")
    return "\n".join(lines)


def summary_line(payload: dict) -> str:
    counts = {}
    for c in payload["cases"]:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"{len(payload['cases'])} cases: {parts}; {payload['wall_seconds']:.0f} s"


def print_report(payload: dict, file=None) -> None:
    file = file or sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    print(header(payload), file=file)
    if Console is not None:
        table = Table(show_lines=False)
        for i, h in enumerate(HEADERS):
            table.add_column(h, justify="left" if i in (0, len(HEADERS) - 1) else "right", overflow="fold")
        for r in rows(payload):
            style = "red" if ("FAILED" in r[-1]) else ("yellow" if "SKIPPED" in r[-1] else None)
            table.add_row(*r, style=style)
        Console(file=file, width=200).print(table)
    else:
        from .harness import print_table
        print_table(HEADERS, rows(payload), file=file)
    print(summary_line(payload), file=file)


def compare_rows(old: dict, new: dict) -> list[list[str]]:
    """Per case in both runs: fastcnn's old and new median and the change (negative: faster now)."""
    before = {c["name"]: c for c in old.get("cases", [])}
    out = []
    for c in new["cases"]:
        o = before.get(c["name"])
        t_new, t_old = _median(c, "fastcnn"), (_median(o, "fastcnn") if o else None)
        if t_new is None or t_old is None:
            verdict = "new case" if o is None else f"not comparable ({(o or c)['status']} / {c['status']})"
            out.append([c["name"], fmt_time(t_old), fmt_time(t_new), "-", verdict])
            continue
        change = t_new / t_old - 1
        verdict = "faster" if change < -0.05 else "SLOWER" if change > 0.05 else "same (within 5%)"
        out.append([c["name"], fmt_time(t_old), fmt_time(t_new), f"{100 * change:+.1f}%", verdict])
    return out


def print_compare(old: dict, new: dict, old_path: str = "old", file=None) -> None:
    from .harness import print_table

    file = file or sys.stdout
    print(f"\nfastcnn time against {old_path} (change < 0: faster now; 'same' within 5%):", file=file)
    print_table(["case", "old", "new", "change", "verdict"], compare_rows(old, new), file=file)


def load_json(path: str) -> dict:
    with open(path) as f:
        payload = json.load(f)
    if not isinstance(payload, dict) or "cases" not in payload:
        raise ValueError(f"bench: {path} is not a fastcnn bench JSON file (no 'cases')")
    return payload


def write_png(payload: dict, path: str) -> bool:
    """Horizontal bars of the speedup per case and reference, log scale; False without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cases = [c for c in payload["cases"] if c["speedup"]]
    refs = [r for r in ("numpy", "torch") if any(r in c["speedup"] for c in cases)]
    height = 0.8 / max(1, len(refs))
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.32 * max(1, len(cases)) * max(1, len(refs)) ** 0.5))
    colors = {"numpy": "#4c72b0", "torch": "#dd8452"}
    for j, r in enumerate(refs):
        ys = [i + (j - (len(refs) - 1) / 2) * height for i in range(len(cases))]
        vals = [c["speedup"].get(r, math.nan) for c in cases]
        ax.barh(ys, vals, height=height, color=colors[r], label=f"vs {r}")
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_yticks(range(len(cases)))
    ax.set_yticklabels([c["name"] for c in cases], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("speedup = reference time / fastcnn time (> 1: fastcnn faster), log scale")
    ax.set_title(f"fastcnn bench ({payload['mode']}), {payload['threads']} thread(s), "
                 f"{payload['machine'].get('cpu', '')}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    atomic_png(fig, path, dpi=110)
    plt.close(fig)
    return True
