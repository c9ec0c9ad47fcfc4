"""fastcnn bench: the suite in its tiny mode (every kind of case, small shapes, one round),
the JSON schema, verification before timing (a broken kernel is a failure, never a time),
the run without PyTorch, --compare, the chart, the CLI's errors and the README table script."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import bench
from fastcnn.bench import _deps, harness, report
from fastcnn.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
CASE_KEYS = {"name", "group", "flops", "status", "verified", "error", "references", "timings", "gflops", "speedup",
             "peak_fraction"}
TOP_KEYS = {"schema", "mode", "device", "filter", "threads", "rounds", "peak_gflops", "references", "torch_version",
            "torch_missing_hint", "started_unix", "wall_seconds", "machine", "cases"}


@pytest.fixture(scope="module")
def tiny_run():
    return bench.run_suite("tiny", threads=2, peak_seconds=0.05)


def _check_ok_case(case, refs, peak=True):
    assert CASE_KEYS <= set(case)
    assert case["status"] == "ok" and case["verified"] and case["error"] is None, case
    assert set(case["references"]) == set(refs)
    assert set(case["timings"]) == {"fastcnn", *refs}
    for t in case["timings"].values():
        assert t["median_s"] > 0 and len(t["rounds_s"]) >= 1 and t["best_s"] <= t["median_s"]
    for lib in refs:  # speedup = reference median / fastcnn median
        assert case["speedup"][lib] == pytest.approx(case["timings"][lib]["median_s"]
                                                     / case["timings"]["fastcnn"]["median_s"])
    if case["flops"]:
        assert case["gflops"]["fastcnn"] == pytest.approx(case["flops"] / case["timings"]["fastcnn"]["median_s"] / 1e9)
        assert (0 < case["peak_fraction"]) if peak else case["peak_fraction"] is None


def test_tiny_suite_verifies_and_times_every_case(tiny_run):
    pytest.importorskip("torch")
    assert TOP_KEYS <= set(tiny_run)
    assert tiny_run["schema"] == bench.SCHEMA and tiny_run["mode"] == "tiny" and tiny_run["threads"] == 2
    assert tiny_run["references"] == ["numpy", "torch"] and tiny_run["torch_missing_hint"] is None
    assert tiny_run["peak_gflops"] > 0 and tiny_run["machine"]["cpu"]
    groups = {c["group"] for c in tiny_run["cases"]}
    assert {"gemm", "conv", "conv-train", "depthwise", "pool", "norm", "loss", "model"} <= groups
    for case in tiny_run["cases"]:
        # Model cases have no NumPy reference (a whole network); every op case has both.
        _check_ok_case(case, ["torch"] if case["group"] == "model" else ["numpy", "torch"])
    latency = [c for c in tiny_run["cases"] if "latency" in c]
    assert latency, "the batch-1 inference case reports p50/p99"
    for case in latency:
        for lib in ("fastcnn", "torch"):
            lat = case["latency"][lib]
            assert 0 < lat["p50_s"] <= lat["p99_s"] <= max(lat["calls_s"])
    json.loads(json.dumps(tiny_run))  # all of it is JSON


def test_report_table_and_chart(tiny_run, tmp_path, capsys):
    report.print_report(tiny_run)
    out = capsys.readouterr().out
    assert "> 1 means fastcnn is faster" in out and "2 thread(s)" in out
    assert all(c["name"][:20] in out for c in tiny_run["cases"])
    png = tmp_path / "chart.png"
    pytest.importorskip("matplotlib")
    assert report.write_png(tiny_run, str(png))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wrong_kernel_is_reported_as_failure_never_as_time(monkeypatch):
    def garbage(x, w, b=None, **kw):
        good = fastcnn.ops.conv.conv2d(x, w, b, **kw)
        return np.full_like(good, 7.0)

    monkeypatch.setattr(fastcnn.ops, "conv2d", garbage)
    run = bench.run_suite("tiny", filter="conv2d fwd", peak_seconds=0)
    assert run["cases"]
    for case in run["cases"]:
        assert case["status"] == "failed" and not case["verified"]
        assert "wrong result" in case["error"] and case["timings"] == {} and case["speedup"] == {}


def test_crashing_kernel_is_a_failed_case(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(fastcnn.ops, "max_pool2d", boom)
    run = bench.run_suite("tiny", filter="max_pool", peak_seconds=0)
    assert [c["status"] for c in run["cases"]] == ["failed"]
    assert "kernel exploded" in run["cases"][0]["error"] and run["cases"][0]["timings"] == {}


@pytest.mark.parametrize("bad, message", [
    ("nan", "non-finite"),
    ("shape", "shape"),
    ("off", "differs from numpy"),
])
def test_verify(bad, message):
    ref = np.arange(6, dtype=np.float32).reshape(2, 3)
    ours = {"nan": np.where(ref > 3, np.nan, ref), "shape": ref.T, "off": ref + 0.5}[bad]
    assert message in bench.verify({"fastcnn": (ours,), "numpy": (ref,)}, rtol=1e-3)
    assert bench.verify({"fastcnn": (ref * (1 + 1e-5),), "numpy": (ref,)}, rtol=1e-3) is None


def test_without_torch_compares_with_numpy_alone_and_says_how_to_add_it(monkeypatch, capsys):
    monkeypatch.setitem(_deps._cache, "torch", None)
    monkeypatch.setitem(_deps._cache, "tvm", None)
    run = bench.run_suite("tiny", filter="", peak_seconds=0)
    assert run["references"] == ["numpy"] and "pip install" in run["torch_missing_hint"]
    for case in run["cases"]:
        if case["group"] == "model":  # nothing to check a whole network against: skipped, with the reason
            assert case["status"] == "skipped" and "pip install" in case["error"] and case["timings"] == {}
        else:
            _check_ok_case(case, ["numpy"], peak=False)  # peak_seconds=0: no FMA probe
    report.print_report(run)
    assert "PyTorch is not installed" in capsys.readouterr().out


def test_cli_without_torch_installed(tmp_path):
    """A real process where `import torch` fails (a sitecustomize blocks it)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _NoTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith(('torch.', 'torchvision')):\n"
        "            raise ImportError('torch is blocked for this test')\n"
        "sys.meta_path.insert(0, _NoTorch())\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out_json = tmp_path / "run.json"
    proc = subprocess.run([sys.executable, "-m", "fastcnn", "bench", "--tiny", "--quiet", "--filter", "pool",
                           "--json", str(out_json)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "PyTorch is not installed" in proc.stdout and "pip install" in proc.stdout
    run = json.loads(out_json.read_text())
    assert run["references"] == ["numpy"] and run["torch_version"] is None
    assert run["cases"] and all(c["verified"] and set(c["timings"]) == {"fastcnn", "numpy"} for c in run["cases"])


def test_cli_json_png_and_compare(tmp_path, capsys):
    old, new, png = tmp_path / "old.json", tmp_path / "new.json", tmp_path / "r.png"
    assert main(["bench", "--tiny", "--quiet", "--filter", "sgemm", "--threads", "1", "--json", str(old)]) == 0
    payload = json.loads(old.read_text())
    assert payload["threads"] == 1 and [c["group"] for c in payload["cases"]] == ["gemm"]
    capsys.readouterr()
    assert main(["bench", "--tiny", "--quiet", "--filter", "sgemm", "--rounds", "2", "--json", str(new),
                 "--png", str(png), "--compare", str(old)]) == 0
    out = capsys.readouterr().out
    assert json.loads(new.read_text())["rounds"] == 2 and png.stat().st_size > 0
    assert f"fastcnn time against {old}" in out and "sgemm square 32x32x32" in out


def test_compare_rows_verdicts():
    def run(**medians):
        return {"cases": [{"name": n, "status": "ok", "timings": {"fastcnn": {"median_s": t}}}
                          for n, t in medians.items()]}
    rows = {r[0]: r for r in report.compare_rows(run(a=1.0, b=1.0, c=1.0), run(a=0.5, b=1.5, c=1.01, d=2.0))}
    assert rows["a"][3:] == ["-50.0%", "faster"]
    assert rows["b"][3:] == ["+50.0%", "SLOWER"]
    assert rows["c"][4] == "same (within 5%)"
    assert rows["d"][4] == "new case"


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads must be >= 1"),
    (["--rounds", "0"], "--rounds must be >= 1"),
    (["--filter", "no-such-case"], "matches no case"),
    (["--compare", "/nonexistent/old.json"], "No such file"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(["bench", "--tiny", "--quiet", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fastcnn bench: error:") and message in err and err.count("\n") == 1


def test_compare_rejects_a_file_that_is_not_a_bench_run(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text('{"a": 1}')
    assert main(["bench", "--tiny", "--quiet", "--compare", str(bad)]) == 1
    assert "not a fastcnn bench JSON file" in capsys.readouterr().err


def test_cuda_without_gpu_says_why(capsys):
    if fastcnn.cuda.is_available():
        pytest.skip("a GPU is usable here")
    assert main(["bench", "--device", "cuda"]) == 1
    err = capsys.readouterr().err
    assert "--device cuda: no usable GPU" in err and err.count("\n") == 1


def test_readme_table_script(tiny_run, tmp_path):
    path = tmp_path / "run.json"
    harness.write_json(str(path), tiny_run)
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "readme_table.py"), str(path)],
                          capture_output=True, text=True, check=True)
    lines = proc.stdout.strip().splitlines()
    assert "reference time / fastcnn time" in lines[0]
    assert lines[2].startswith("| case | fastcnn | GFLOP/s |") and lines[3].startswith("|---|")
    assert len(lines) == 4 + len(tiny_run["cases"])
    first = tiny_run["cases"][0]
    assert f"{first['speedup']['numpy']:.2f}×" in lines[4]


def test_percentile_matches_numpy():
    values = list(np.random.default_rng(0).random(37))
    for q in (0, 50, 90, 99, 100):
        assert harness.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_benchmarks_harness_reexports_the_package_harness():
    spec = importlib.util.spec_from_file_location("bench_scripts_harness", ROOT / "benchmarks" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    timings = module.compare({"a": lambda: None, "b": lambda: None}, rounds=2, sample_seconds=0.001,
                             settle_seconds=0)
    assert set(timings) == {"a", "b"} and all(len(t.seconds) == 2 and math.isfinite(t.median)
                                              for t in timings.values())
