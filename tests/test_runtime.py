"""Run-time settings: threads (API, environment, fork), kernel path from the environment,
denormal handling and the caller's floating-point state, the GIL, `fastcnn info`, and the
FMA peak probe.

Settings read from the environment are read once per process, so those tests run a fresh
interpreter (`sys.executable -c ...`) with a controlled environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import fastcnn
from fastcnn import _C
from helpers import assert_gemm_close, gemm_tolerance, make_operands, reference_gemm, reference_scale

AVX2 = _C.kernel_path_supported("avx2")
DEFAULT_PATH = "avx2" if AVX2 else "ref"
ENV_VARS = ("FASTCNN_NUM_THREADS", "OMP_NUM_THREADS", "FASTCNN_DISABLE_AVX2", "FASTCNN_FLUSH_DENORMAL")


def clean_env(**overrides) -> dict:
    """os.environ without fastcnn's and OpenMP's thread/kernel variables, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS and not k.startswith("FASTCNN_")}
    env.update(overrides)
    return env


def run(args, env, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def run_python(code: str, **env_overrides) -> dict:
    """Runs `code` in a fresh interpreter; it must print one JSON object as its last line."""
    proc = run([sys.executable, "-c", textwrap.dedent(code)], clean_env(**env_overrides))
    assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


# A gemm in the child process, whose result the parent checks against the float64 reference.
CHILD_GEMM = """
import json, os, numpy as np, fastcnn
from fastcnn import _C
rng = np.random.default_rng(0)
a = rng.uniform(-1, 1, (145, 300)).astype(np.float32)
b = rng.uniform(-1, 1, (300, 67)).astype(np.float32)
c = _C.gemm(a, b, np.full((145, 67), np.nan, np.float32))
np.save(os.environ["RESULT_PATH"], c)
print(json.dumps({"threads": fastcnn.get_num_threads(), "source": _C.num_threads_source(),
                  "cores": _C.usable_physical_cores(), "path": _C.kernel_path(),
                  "avx2_supported": _C.kernel_path_supported("avx2"), "flush": _C.flush_denormal()}))
"""


def check_child_gemm(result_path):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (145, 300)).astype(np.float32)
    b = rng.uniform(-1, 1, (300, 67)).astype(np.float32)
    assert_gemm_close(np.load(result_path), reference_gemm(a, b), 300, scale=reference_scale(a, b))


# --------------------------------------------------------------------------------------
# threads: API


def test_set_and_get_num_threads():
    previous = fastcnn.get_num_threads()
    try:
        for n in (1, 3, 2, 1):
            fastcnn.set_num_threads(n)
            assert fastcnn.get_num_threads() == n
            assert _C.get_num_threads() == n
            assert _C.num_threads_source() == f"set_num_threads({n})"
        fastcnn.set_num_threads(np.int64(2))  # any integer type (operator.index) is accepted
        assert fastcnn.get_num_threads() == 2
    finally:
        fastcnn.set_num_threads(previous)


@pytest.mark.parametrize("value,exception,match", [
    (0, ValueError, r"set_num_threads: n must be >= 1, got 0"),
    (-3, ValueError, r"set_num_threads: n must be >= 1, got -3"),
    (1.5, TypeError, r"set_num_threads: n must be an int, got float"),
    ("2", TypeError, r"set_num_threads: n must be an int, got str"),
    (None, TypeError, r"set_num_threads: n must be an int, got NoneType"),
])
def test_set_num_threads_validation(value, exception, match):
    before = fastcnn.get_num_threads()
    with pytest.raises(exception, match=match):
        fastcnn.set_num_threads(value)
    assert fastcnn.get_num_threads() == before


def test_native_set_num_threads_validates_too():
    before = fastcnn.get_num_threads()
    with pytest.raises(ValueError, match=r"n must be >= 1, got 0"):
        _C.set_num_threads(0)
    assert fastcnn.get_num_threads() == before


def test_more_threads_than_cores_still_correct(kernel_path):
    previous = fastcnn.get_num_threads()
    rng = np.random.default_rng(0)
    a, b = make_operands(rng, 150, 140, 260)
    try:
        fastcnn.set_num_threads(5)
        c = _C.gemm(a, b, np.full((150, 140), np.nan, np.float32))
    finally:
        fastcnn.set_num_threads(previous)
    assert_gemm_close(c, reference_gemm(a, b), 260, scale=reference_scale(a, b))


# --------------------------------------------------------------------------------------
# threads: environment


def test_default_thread_count(tmp_path):
    """No variable set: the physical cores this process may use, at most os.cpu_count()."""
    info = run_python(CHILD_GEMM, RESULT_PATH=str(tmp_path / "c.npy"))
    assert info["threads"] == info["cores"]
    assert 1 <= info["threads"] <= os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        assert info["threads"] <= len(os.sched_getaffinity(0))
    assert info["source"] == "default: physical cores usable by this process"
    assert info["cores"] == _C.usable_physical_cores()
    check_child_gemm(tmp_path / "c.npy")


ENV_CASES = [
    # (environment, expected threads (None: the default), expected pieces of the source string)
    ({"FASTCNN_NUM_THREADS": "1"}, 1, ["FASTCNN_NUM_THREADS=1"]),
    ({"FASTCNN_NUM_THREADS": "3"}, 3, ["FASTCNN_NUM_THREADS=3"]),
    ({"OMP_NUM_THREADS": "1"}, 1, ["OMP_NUM_THREADS=1"]),
    ({"OMP_NUM_THREADS": "3,2"}, 3, ["OMP_NUM_THREADS=3"]),
    ({"FASTCNN_NUM_THREADS": "2", "OMP_NUM_THREADS": "1"}, 2, ["FASTCNN_NUM_THREADS=2"]),
    ({"FASTCNN_NUM_THREADS": "abc"}, None, ["ignored invalid FASTCNN_NUM_THREADS='abc'", "default"]),
    ({"FASTCNN_NUM_THREADS": "0"}, None, ["ignored invalid FASTCNN_NUM_THREADS='0'", "default"]),
    ({"FASTCNN_NUM_THREADS": "-2"}, None, ["ignored invalid FASTCNN_NUM_THREADS='-2'", "default"]),
    ({"FASTCNN_NUM_THREADS": "4x"}, None, ["ignored invalid FASTCNN_NUM_THREADS='4x'", "default"]),
    ({"OMP_NUM_THREADS": "many"}, None, ["ignored invalid OMP_NUM_THREADS='many'", "default"]),
    ({"FASTCNN_NUM_THREADS": "abc", "OMP_NUM_THREADS": "1"}, 1,
     ["ignored invalid FASTCNN_NUM_THREADS='abc'", "OMP_NUM_THREADS=1"]),
    ({"FASTCNN_NUM_THREADS": ""}, None, ["default"]),
]


@pytest.mark.parametrize("env,threads_expected,source_parts", ENV_CASES,
                         ids=[",".join(f"{k}={v}" for k, v in case[0].items()) for case in ENV_CASES])
def test_thread_count_from_environment(tmp_path, env, threads_expected, source_parts):
    info = run_python(CHILD_GEMM, RESULT_PATH=str(tmp_path / "c.npy"), **env)
    expected = info["cores"] if threads_expected is None else threads_expected
    assert info["threads"] == expected, info
    for part in source_parts:
        assert part in info["source"], info
    if threads_expected is not None:
        assert "default" not in info["source"], info
    if not any("ignored" in part for part in source_parts):
        assert "ignored" not in info["source"], info
    check_child_gemm(tmp_path / "c.npy")


@pytest.mark.parametrize("value,expected_path", [("1", "ref"), ("yes", "ref"), ("0", DEFAULT_PATH),
                                                 ("", DEFAULT_PATH)])
def test_disable_avx2_environment(tmp_path, value, expected_path):
    """FASTCNN_DISABLE_AVX2 (anything but empty or "0") starts on the ref path; gemm is still right."""
    info = run_python(CHILD_GEMM, RESULT_PATH=str(tmp_path / "c.npy"), FASTCNN_DISABLE_AVX2=value)
    assert info["path"] == expected_path
    assert info["avx2_supported"] == AVX2  # only the default changes, not what is supported
    check_child_gemm(tmp_path / "c.npy")


def test_default_kernel_path_without_environment(tmp_path):
    info = run_python(CHILD_GEMM, RESULT_PATH=str(tmp_path / "c.npy"))
    assert info["path"] == DEFAULT_PATH
    assert info["flush"] is True


# --------------------------------------------------------------------------------------
# fork


def _fork_and_check(child_body, description):
    """Runs child_body() -> int in an os.fork() child (0: pass) and asserts on its exit status."""
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 100
        try:
            signal.alarm(60)  # a hung child (OpenMP after fork) dies instead of hanging the suite
            code = child_body()
        except BaseException:  # noqa: BLE001
            code = 101
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert not os.WIFSIGNALED(status), f"{description}: child killed by signal {os.WTERMSIG(status)} (hung?)"
    return os.WEXITSTATUS(status)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_forked_child_runs_on_one_thread(kernel_path):
    previous = fastcnn.get_num_threads()
    rng = np.random.default_rng(11)
    m, n, k = 200, 190, 300  # large enough to use every thread allowed
    a, b = make_operands(rng, m, n, k)
    expected = reference_gemm(a, b)
    tol = gemm_tolerance(k, reference_scale(a, b))
    fastcnn.set_num_threads(2)
    try:
        _C.gemm(a, b, np.empty((m, n), np.float32))  # the parent's thread pool is now running

        def child():
            if fastcnn.get_num_threads() != 1:
                return 2
            c = _C.gemm(a, b, np.full((m, n), np.nan, np.float32))
            return 0 if (np.abs(c - expected) <= tol).all() else 3

        code = _fork_and_check(child, "fork")
        assert code != 2, "forked child did not drop to 1 thread"
        assert code != 3, "gemm result wrong in the forked child"
        assert code == 0, f"forked child failed with exit code {code}"
        assert fastcnn.get_num_threads() == 2  # the parent keeps its setting
        c = _C.gemm(a, b, np.empty((m, n), np.float32))  # and its pool still works
        assert (np.abs(c - expected) <= tol).all()
    finally:
        fastcnn.set_num_threads(previous)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_forked_child_of_fresh_process_runs_on_one_thread():
    code = """
        import json, os
        import fastcnn
        pid = os.fork()
        if pid == 0:
            os._exit(0 if fastcnn.get_num_threads() == 1 else 10 + fastcnn.get_num_threads())
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"status": os.WEXITSTATUS(status), "parent": fastcnn.get_num_threads()}))
    """
    result = run_python(code, FASTCNN_NUM_THREADS="2")
    assert result["parent"] == 2
    assert result["status"] == 0, f"child had {result['status'] - 10} threads"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_forked_child_cannot_raise_thread_count_after_parent_pool_started():
    """GNU OpenMP's pool does not survive fork: asking for threads again must be a clear
    error, never the hang that a multi-threaded kernel call would be."""
    previous = fastcnn.get_num_threads()
    rng = np.random.default_rng(12)
    a, b = make_operands(rng, 200, 190, 300)
    fastcnn.set_num_threads(2)
    try:
        _C.gemm(a, b, np.empty((200, 190), np.float32))

        def child():
            signal.alarm(5)  # a 1-thread 200x190x300 gemm takes milliseconds
            try:
                fastcnn.set_num_threads(2)
                return 4  # accepted: the next gemm would hang
            except RuntimeError as error:
                if "forked" not in str(error) or "spawn" not in str(error):
                    return 5
            if fastcnn.get_num_threads() != 1 or "forked child" not in _C.num_threads_source():
                return 6
            c = _C.gemm(a, b, np.empty((200, 190), np.float32))
            return 0 if np.isfinite(c).all() else 3

        assert _fork_and_check(child, "fork then set_num_threads(2)") == 0
    finally:
        fastcnn.set_num_threads(previous)


# --------------------------------------------------------------------------------------
# denormals


DENORMAL = np.float32(1e-39)  # below float32's smallest normal, 1.18e-38
assert 0 < DENORMAL < np.finfo(np.float32).tiny


@pytest.fixture
def restore_flush_denormal():
    before = _C.flush_denormal()
    yield
    fastcnn.set_flush_denormal(before)


def test_flush_denormal_default_and_toggle(restore_flush_denormal):
    assert _C.flush_denormal() is True  # on by default (FASTCNN_FLUSH_DENORMAL not set in tests)
    assert fastcnn.set_flush_denormal(False) is True
    assert _C.flush_denormal() is False
    assert fastcnn.set_flush_denormal(True) is True
    assert _C.flush_denormal() is True


def test_denormal_input_flushed(kernel_path, threads, restore_flush_denormal):
    a = np.array([[DENORMAL]], np.float32)
    b = np.array([[1.0]], np.float32)
    fastcnn.set_flush_denormal(True)
    c = _C.gemm(a, b, np.full((1, 1), np.nan, np.float32))
    assert c[0, 0] == 0.0
    fastcnn.set_flush_denormal(False)
    c = _C.gemm(a, b, np.full((1, 1), np.nan, np.float32))
    assert c[0, 0] == DENORMAL  # exact: 1 * d is d


def test_denormal_flush_on_tiles(kernel_path, threads, restore_flush_denormal):
    """Denormal inputs (DAZ) and denormal products of normal inputs (FTZ), over full and edge tiles."""
    m, n, k = 7, 17, 3
    a_denormal = np.full((m, k), DENORMAL, np.float32)
    a_small = np.full((m, k), 1e-20, np.float32)  # normal; 1e-20 * 1e-20 = 1e-40 is denormal
    b_one = np.ones((k, n), np.float32)
    b_small = np.full((k, n), 1e-20, np.float32)
    fastcnn.set_flush_denormal(True)
    np.testing.assert_array_equal(_C.gemm(a_denormal, b_one, np.empty((m, n), np.float32)), 0.0)
    np.testing.assert_array_equal(_C.gemm(a_small, b_small, np.empty((m, n), np.float32)), 0.0)
    fastcnn.set_flush_denormal(False)
    c = _C.gemm(a_denormal, b_one, np.empty((m, n), np.float32))
    np.testing.assert_array_equal(c, np.float32(3) * DENORMAL)  # denormal sums are exact
    c = _C.gemm(a_small, b_small, np.empty((m, n), np.float32))
    assert (c > 0).all() and (c < np.finfo(np.float32).tiny).all()
    np.testing.assert_allclose(c, 3e-40, rtol=1e-3)


def test_flush_denormal_off_from_environment():
    code = """
        import json, numpy as np
        from fastcnn import _C
        c = _C.gemm(np.array([[1e-39]], np.float32), np.array([[1.0]], np.float32), np.empty((1, 1), np.float32))
        print(json.dumps({"flush": _C.flush_denormal(), "value": float(c[0, 0])}))
    """
    off = run_python(code, FASTCNN_FLUSH_DENORMAL="0")
    assert off["flush"] is False
    assert off["value"] == float(DENORMAL)
    on = run_python(code)
    assert on["flush"] is True
    assert on["value"] == 0.0


def _numpy_makes_denormals() -> bool:
    # Both a denormal result from normal inputs (FTZ would zero it) and a denormal input
    # used in arithmetic (DAZ would zero it), computed by NumPy in this thread.
    product = np.float32(1e-38) * np.float32(0.01)
    doubled = DENORMAL * np.float32(2.0)
    return bool(product != 0 and doubled != 0)


def test_caller_floating_point_state_restored(kernel_path, threads, restore_flush_denormal):
    """FTZ/DAZ apply inside kernels only: NumPy in the calling thread still makes denormals after."""
    fastcnn.set_flush_denormal(True)
    assert _numpy_makes_denormals(), "precondition: this thread must start without FTZ/DAZ"
    rng = np.random.default_rng(3)
    small = make_operands(rng, 1, 1, 1)
    large = make_operands(rng, 150, 140, 260)  # uses 2 threads when allowed; the caller is one of them
    for a, b in (small, large):
        _C.gemm(a, b, np.empty((a.shape[0], b.shape[1]), np.float32))
        assert _numpy_makes_denormals(), f"caller's MXCSR changed by a {a.shape} @ {b.shape} gemm"
    _C.gemm(np.empty((3, 0), np.float32), np.empty((0, 4), np.float32), np.ones((3, 4), np.float32), beta=2.0)
    assert _numpy_makes_denormals(), "caller's MXCSR changed by a K=0 gemm"
    _C.gemm_batched(np.ones((5, 3, 2), np.float32), np.ones((2, 4), np.float32), np.empty((5, 3, 4), np.float32))
    assert _numpy_makes_denormals(), "caller's MXCSR changed by gemm_batched"
    product = np.float32(1e-38) * np.float32(0.01)
    assert 0 < product < np.finfo(np.float32).tiny


# --------------------------------------------------------------------------------------
# the GIL and concurrent callers


def test_gil_released_during_gemm():
    """While a big gemm runs in another thread, the main thread runs Python code.

    The switch interval is raised so the worker never gives the GIL up on its own: if gemm
    held the GIL, the main thread could not run until the worker had finished all its gemms.
    """
    n = 1024 if AVX2 else 384
    rng = np.random.default_rng(4)
    a, b = make_operands(rng, n, n, n)
    c = np.empty((n, n), np.float32)
    started = threading.Event()
    state = {"done": False, "error": None}

    def work():
        started.set()
        try:
            for _ in range(3):
                _C.gemm(a, b, c)
        except BaseException as error:  # noqa: BLE001
            state["error"] = error
        state["done"] = True

    previous_threads = fastcnn.get_num_threads()
    previous_interval = sys.getswitchinterval()
    fastcnn.set_num_threads(1)  # leave a core for the main thread
    sys.setswitchinterval(30.0)
    try:
        worker = threading.Thread(target=work)
        worker.start()
        started.wait()
        done_at_first_look = state["done"]
        progress_while_running = 0
        while worker.is_alive():
            if not state["done"]:
                progress_while_running += 1
            worker.join(0.001)  # blocks, so the GIL is free for the worker when its gemm returns
    finally:
        sys.setswitchinterval(previous_interval)
        fastcnn.set_num_threads(previous_threads)
    assert state["error"] is None, state["error"]
    assert not done_at_first_look, "main thread only ran after the gemms finished: GIL held?"
    assert progress_while_running > 0
    assert_gemm_close(c, reference_gemm(a, b), n, scale=reference_scale(a, b))


@pytest.mark.parametrize("num_threads", [1, 2])
def test_concurrent_gemms_match_serial(kernel_path, num_threads):
    """Four Python threads calling gemm (and gemm_batched) at once get the serial results."""
    rng = np.random.default_rng(5)
    shapes = [(150, 140, 260), (37, 101, 257), (6, 784, 25), (64, 300, 70)]
    problems = [make_operands(rng, *shape) for shape in shapes]
    previous = fastcnn.get_num_threads()
    fastcnn.set_num_threads(num_threads)
    try:
        serial = [_C.gemm(a, b, np.empty((a.shape[0], b.shape[1]), np.float32)) for a, b in problems]
        batch_a = rng.uniform(-1, 1, (7, 5, 9)).astype(np.float32)
        batch_b = rng.uniform(-1, 1, (9, 17)).astype(np.float32)
        serial_batched = _C.gemm_batched(batch_a, batch_b, np.empty((7, 5, 17), np.float32))

        results = [[None] * 5 for _ in problems]
        errors = []
        barrier = threading.Barrier(len(problems))

        def work(i):
            try:
                a, b = problems[i]
                barrier.wait()
                for rep in range(4):
                    results[i][rep] = _C.gemm(a, b, np.full((a.shape[0], b.shape[1]), np.nan, np.float32))
                results[i][4] = _C.gemm_batched(batch_a, batch_b, np.full((7, 5, 17), np.nan, np.float32))
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
        assert not any(w.is_alive() for w in workers), "a concurrent gemm hung"
    finally:
        fastcnn.set_num_threads(previous)
    assert not errors, errors
    for i, (a, b) in enumerate(problems):
        k = a.shape[1]
        assert_gemm_close(serial[i], reference_gemm(a, b), k, scale=reference_scale(a, b))
        for rep in range(4):
            np.testing.assert_array_equal(results[i][rep], serial[i], err_msg=f"problem {i}, repeat {rep}")
        np.testing.assert_array_equal(results[i][4], serial_batched, err_msg=f"batched, thread {i}")


# --------------------------------------------------------------------------------------
# fastcnn info


INFO_KEYS = {
    "fastcnn", "python", "numpy", "platform", "cpu", "cpu_features", "build", "kernel_path",
    "kernel_paths_supported", "threads", "threads_source", "physical_cores_usable", "flush_denormal",
    "cuda_built", "cuda_devices", "cuda_unavailable_reason",
}


def fastcnn_script() -> str:
    candidate = Path(sys.executable).parent / "fastcnn"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("fastcnn")
    if found is None:
        pytest.fail("the `fastcnn` console script is not installed next to the interpreter or on PATH")
    return found


def test_python_m_fastcnn_info():
    proc = run([sys.executable, "-m", "fastcnn", "info"], clean_env())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(f"fastcnn {fastcnn.__version__} (python ")
    for label in ("platform:", "compiler:", "OpenMP:", "CPU:", "CPU features:", "kernel path:", "threads:",
                  "flush denormal:", "CUDA:", "CUDA devices:"):
        assert f"\n{label}" in out, f"missing {label!r} in:\n{out}"
    assert f"kernel path:    {DEFAULT_PATH} " in out
    cores = _C.usable_physical_cores()
    assert f"threads:        {cores} (default: physical cores usable by this process)" in out
    assert "flush denormal: on" in out


def test_console_script_info_json():
    proc = run([fastcnn_script(), "info", "--json"], clean_env())
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert INFO_KEYS <= set(info), INFO_KEYS - set(info)
    assert info["fastcnn"] == fastcnn.__version__
    assert info["numpy"] == np.__version__
    assert info["python"] == sys.version.split()[0]
    assert info["kernel_path"] == DEFAULT_PATH
    assert info["kernel_paths_supported"] == [p for p in ("avx2", "ref") if _C.kernel_path_supported(p)]
    assert info["threads"] == _C.usable_physical_cores() == info["physical_cores_usable"]
    assert info["threads_source"] == "default: physical cores usable by this process"
    assert info["flush_denormal"] is True
    assert set(info["cpu_features"]) <= {"avx", "avx2", "fma"}
    assert ("avx2" in info["cpu_features"]) == _C.cpu_features()["avx2"]
    assert {"compiler", "flags", "openmp", "avx2_kernels_compiled"} <= set(info["build"])
    assert info["cuda_built"] is fastcnn.cuda.is_built()
    assert info["cuda_devices"] == fastcnn.cuda.device_count()
    assert info["cuda_unavailable_reason"] == fastcnn.cuda.unavailable_reason()
    assert ("cuda_status" in info) == fastcnn.cuda.is_built()


def test_console_script_info_reflects_environment():
    env = clean_env(FASTCNN_NUM_THREADS="1", FASTCNN_DISABLE_AVX2="1", FASTCNN_FLUSH_DENORMAL="0")
    proc = run([fastcnn_script(), "info", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["threads"] == 1
    assert info["threads_source"] == "FASTCNN_NUM_THREADS=1"
    assert info["kernel_path"] == "ref"
    assert info["flush_denormal"] is False
    proc = run([fastcnn_script(), "info"], env)
    assert proc.returncode == 0, proc.stderr
    assert "threads:        1 (FASTCNN_NUM_THREADS=1)" in proc.stdout
    assert "kernel path:    ref " in proc.stdout
    assert "flush denormal: off" in proc.stdout


@pytest.mark.parametrize("args", [[], ["bogus"], ["info", "--bogus"]], ids=["none", "unknown", "bad-flag"])
def test_console_script_usage_errors(args):
    proc = run([fastcnn_script(), *args], clean_env())
    assert proc.returncode == 2
    assert "usage: fastcnn" in proc.stderr


# --------------------------------------------------------------------------------------
# FMA peak probe


@pytest.mark.skipif(not AVX2, reason="the peak probe needs the AVX2/FMA path")
def test_measure_peak_gflops():
    gflops = _C.measure_peak_gflops(1, 0.05)
    assert isinstance(gflops, float)
    assert np.isfinite(gflops) and gflops > 0
    # One core's FMA peak: 2 FMA pipes x 8 lanes x 2 FLOPs x < 10 GHz; generous, but catches unit errors.
    assert gflops < 2 * 8 * 2 * 10


@pytest.mark.skipif(AVX2, reason="tests the machine without AVX2")
def test_measure_peak_gflops_without_avx2_is_nan():
    assert np.isnan(_C.measure_peak_gflops(1, 0.05))


@pytest.mark.parametrize("threads_arg", [0, -1])
def test_measure_peak_gflops_rejects_bad_threads(threads_arg):
    with pytest.raises(ValueError, match=rf"measure_peak_gflops: threads must be >= 1, got {threads_arg}"):
        _C.measure_peak_gflops(threads_arg, 0.05)


def test_idle_kernel_threads_sleep_instead_of_spinning():
    """After a multi-threaded call, the pool's threads must not burn CPU while idle."""
    code = """
        import json, os, time
        import numpy as np
        import fastcnn
        a = np.ones((512, 512), np.float32)
        fastcnn._C.gemm(a, a, np.empty_like(a))  # starts the 2-thread pool
        before = os.times()
        time.sleep(0.5)
        after = os.times()
        used = (after.user - before.user) + (after.system - before.system)
        print(json.dumps({"status": 0, "parent": fastcnn.get_num_threads(), "idle_cpu_seconds": used}))
    """
    result = run_python(code, FASTCNN_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    assert result["parent"] == 2
    # A spinning thread would use about 0.5 s here.
    assert result["idle_cpu_seconds"] < 0.1
