"""Prints the README's performance table (markdown) from a `fastcnn bench --json` run.

    python scripts/readme_table.py bench.json > table.md

The table is generated, never typed: every figure comes from the JSON file.
"""

from __future__ import annotations

import json
import sys

from fastcnn.bench.report import fmt_time as _fmt_time


def fmt_time(seconds):
    return _fmt_time(seconds, micro="µs")


def table(payload: dict) -> str:
    m = payload["machine"]
    refs = payload.get("references", ["numpy"])
    lines = [
        f"{m.get('cpu', 'unknown CPU')}, {payload['threads']} thread(s), kernel path {m.get('kernel_path', '?')}, "
        f"fastcnn {m.get('fastcnn', '?')}"
        + (f", PyTorch {payload['torch_version']}" if payload.get("torch_version") else "")
        + f"; `fastcnn bench --{payload['mode']}`, median of {payload['rounds']} interleaved rounds"
        + (f"; measured FMA peak {payload['peak_gflops']:.0f} GFLOP/s" if payload.get("peak_gflops") else "")
        + ". Speedup = reference time / fastcnn time (> 1: fastcnn faster).",
        "",
        "| case | fastcnn | GFLOP/s | % of peak | " + " | ".join(f"vs {r}" for r in refs) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(refs),
    ]
    for c in payload["cases"]:
        if c["status"] != "ok":
            lines.append(f"| {c['name']} | {c['status']} | | | " + " | ".join("" for _ in refs) + " |")
            continue
        gf = c["gflops"].get("fastcnn")
        peak = c.get("peak_fraction")
        t = fmt_time(c["timings"]["fastcnn"]["median_s"])
        lat = (c.get("latency") or {}).get("fastcnn")
        if lat:
            t += f" (p50 {fmt_time(lat['p50_s'])}, p99 {fmt_time(lat['p99_s'])})"
        cells = [f"{c['speedup'][r]:.2f}×" if r in c["speedup"] else "-" for r in refs]
        lines.append(f"| {c['name']} | {t} | {f'{gf:.1f}' if gf else '-'} | "
                     f"{f'{100 * peak:.0f}%' if peak else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python scripts/readme_table.py BENCH.json", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        print(table(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
