"""Fuzzing of fastcnn._C and fastcnn.nn.functional with hypothesis.

Every call must either return (and, for conv2d/max_pool2d/gemm/softmax with valid
arguments, match torch) or raise ValueError/TypeError/RuntimeError/IndexError — never
crash, hang or return garbage. Campaigns run in a subprocess (``python test_fuzz.py
CAMPAIGN N``) so a segfault or an abort fails the test instead of killing pytest; each
prints ``FUZZ <campaign>: <n> cases``.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys

import numpy as np
import pytest

ALLOWED = (ValueError, TypeError, RuntimeError, IndexError)
# Functions left out of the generic _C fuzz: they change process-wide state a campaign
# relies on (thread count, kernel path) or only measure the machine.
SKIP_C = {"set_num_threads", "set_kernel_path", "measure_peak_gflops", "set_flush_denormal"}
BIG = [2**31 - 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, -(2**63), -1, -(2**31)]


# ---------------------------------------------------------------------------------------
# Campaigns (run in the child process)


def _c_signatures():
    """{name: [(arg, annotation, kw_only)]} parsed from the pybind11 docstrings."""
    from fastcnn import _C

    sigs = {}
    for name in sorted(dir(_C)):
        f = getattr(_C, name)
        if name.startswith("_") or not callable(f) or name in SKIP_C or not f.__doc__:
            continue
        m = re.match(rf"{name}\((.*)\) ->", f.__doc__.splitlines()[0])
        if not m:
            continue
        args, kw = [], False
        # Split on top-level commas (annotations hold brackets and commas).
        depth, cur, parts = 0, "", []
        for ch in m.group(1):
            depth += ch in "[(" and 1 or (ch in "])" and -1 or 0)
            if ch == "," and depth == 0:
                parts.append(cur.strip())
                cur = ""
            else:
                cur += ch
        if cur.strip():
            parts.append(cur.strip())
        for part in parts:
            if part == "*":
                kw = True
                continue
            pname, _, ann = part.partition(":")
            ann = ann.split("=")[0].strip()
            args.append((pname.strip(), ann, kw))
        sigs[name] = args
    return sigs


def _arrays(st, shapes=None):
    """Arrays of any dtype/rank/layout, NaN/Inf included, non-contiguous or read-only.
    `shapes`, a strategy of shapes, lets the arguments of one call share shapes (so
    calls get past the shape checks into the kernels)."""
    from hypothesis.extra import numpy as hnp

    dtypes = st.sampled_from([np.float32] * 8 + [np.int64] * 3 + [np.float64, np.int32, np.bool_, np.float16])
    shapes = shapes if shapes is not None else hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=5)
    special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e-40])

    @st.composite
    def arr(draw):
        dtype = np.dtype(draw(dtypes))
        shape = draw(shapes)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        if dtype.kind == "f":
            a = rng.standard_normal(shape).astype(dtype)
            if a.size and draw(st.booleans()):
                a.flat[rng.integers(a.size)] = draw(special)
        elif dtype.kind == "b":
            a = rng.integers(0, 2, shape).astype(dtype)
        else:
            a = rng.integers(draw(st.sampled_from([-2, 0])), draw(st.sampled_from([2, 5, 12])), shape).astype(dtype)
        mode = draw(st.sampled_from(["plain"] * 8 + ["reversed", "readonly", "fortran", "big", "obj"]))
        if mode == "reversed" and a.ndim:
            a = a[::-1]
        elif mode == "readonly":
            a.flags.writeable = False
        elif mode == "fortran":
            a = np.asfortranarray(a)
        elif mode == "big":
            # 0-stride views claiming huge shapes (C-contiguous only when empty).
            shape = draw(st.sampled_from([(0, 2**29, 2**30), (0, 2**15, 2**15, 2**29), (2**31, 1, 1, 2**28),
                                          (2**20, 2**20), (1, 2**31, 1, 0)]))
            a = np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=shape, strides=(0,) * len(shape))
        elif mode == "obj":
            a = a.astype(object)
        return a

    return arr()


def _value(st, ann, shapes):
    """A strategy for one binding argument: mostly plausible, sometimes junk."""
    junk = st.sampled_from([None, "x", [1, 2], 1.5, (1,), object()])
    ints = st.integers(-3, 9) | st.sampled_from(BIG)
    if "Sequence[" in ann:
        n = int(re.search(r"FixedSize\((\d+)\)", ann).group(1)) if "FixedSize" in ann else None
        seq = st.lists(ints, min_size=n or 0, max_size=n or 5)
        return st.one_of(seq, seq.map(tuple), st.lists(ints, max_size=5), junk)
    if "SupportsInt" in ann:
        return st.one_of(ints, ints, junk)
    if "SupportsFloat" in ann:
        return st.one_of(st.floats(allow_nan=True), st.floats(-2, 2), st.integers(-3, 3), junk)
    if ann == "bool":
        return st.one_of(st.booleans(), st.booleans(), junk)
    if ann == "str":
        return st.one_of(st.sampled_from(["auto", "im2col", "winograd", "direct", "depthwise", "gemm1x1", "row",
                                          "column", "mean", "sum", "none", "avx2", "ref", ""]), junk)
    return st.one_of(_arrays(st, shapes), _arrays(st, shapes), _arrays(st, shapes), _arrays(st), junk)


@__import__("functools").lru_cache(None)
def _shape_pool(st):
    """Shapes one call's arrays draw from: a base shape, its prefixes, its channel count."""
    from hypothesis.extra import numpy as hnp

    @st.composite
    def pool(draw):
        base = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
        other = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))
        return [base, base, base, base[:1], base[1:2], base[:2], other]

    return pool()


def campaign_c(n):
    """Every public _C function with arguments drawn from its signature."""
    from hypothesis import strategies as st
    from fastcnn import _C

    sigs = _c_signatures()
    assert len(sigs) >= 40, sorted(sigs)
    count = [0, 0]
    per = max(1, n // len(sigs))
    for name, args in sigs.items():
        f = getattr(_C, name)
        strat = _shape_pool(st).flatmap(lambda pool, args=args: st.fixed_dictionaries(
            {a: _value(st, ann, st.sampled_from(pool)) for a, ann, _ in args}))

        _fuzz_one(f, args, strat, per, count)
    print(f"FUZZ c: {count[0]} cases over {len(sigs)} functions ({count[1]} returned, the rest raised)")


def _fuzz_one(f, args, strat, per, count):
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=per, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strat)
    def run(values):
        count[0] += 1
        pos = [values[a] for a, _, kw in args if not kw]
        kws = {a: values[a] for a, _, kw in args if kw}
        try:
            f(*pos, **kws)
            count[1] += 1
        except ALLOWED as e:
            assert str(e), f"{f.__name__}: empty message for {type(e).__name__}"

    run()


def campaign_functional(n):
    """Every fastcnn.nn.functional function on random tensors and parameters."""
    from hypothesis import HealthCheck, given, settings, strategies as st
    import fastcnn
    import fastcnn.nn.functional as F

    count = [0, 0]
    names = list(F.__all__)
    per = max(1, n // len(names))
    small = st.integers(-2, 4) | st.sampled_from([2**31, 2**63 - 1, -(2**40)])
    param = st.one_of(small, st.tuples(small, small), st.floats(-2, 2), st.sampled_from([float("nan"), float("inf")]), st.booleans(),
                      st.none(), st.sampled_from(["mean", "sum", "none", "reflect", "constant", "x"]))

    def tensor(a):
        if isinstance(a, np.ndarray) and a.dtype != object:
            try:
                return fastcnn.tensor(a, requires_grad=a.dtype == np.float32 and a.size > 0 and a.ndim > 0)
            except (*ALLOWED, MemoryError):  # the tensor copies: a 0-stride view of 2 EiB cannot be one
                return a
        return a

    def fuzz(f):
        @settings(max_examples=per, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(_shape_pool(st).flatmap(lambda pool: st.lists(st.one_of(
            _arrays(st, st.sampled_from(pool)), _arrays(st, st.sampled_from(pool)), param), min_size=1, max_size=5)),
            st.booleans())
        def run(args, backward):
            count[0] += 1
            args = [tensor(a) for a in args]
            try:
                out = f(*args)
            except ALLOWED as e:
                assert str(e)
                return
            count[1] += 1
            outs = out if isinstance(out, tuple) else (out,)
            for o in outs:
                if backward and getattr(o, "requires_grad", False) and o.dtype == fastcnn.float32:
                    try:
                        o.sum().backward()
                    except ALLOWED as e:
                        assert str(e)

        run()

    for name in names:
        fuzz(getattr(F, name))
    print(f"FUZZ functional: {count[0]} cases over {len(names)} functions ({count[1]} returned)")


def campaign_reference(n):
    """conv2d / max_pool2d / gemm / softmax over random parameters: right answer or a clean error."""
    from hypothesis import HealthCheck, given, settings, strategies as st
    import torch
    import torch.nn.functional as TF
    from fastcnn import _C, ops

    torch.set_num_threads(1)
    count = {"valid": 0, "rejected": 0}
    rng = np.random.default_rng(0)
    per = max(1, n // 4)
    cfg = settings(max_examples=per, deadline=None, database=None, suppress_health_check=list(HealthCheck))

    def outcome(call, reference, rtol, atol, algorithm_error=False):
        try:
            expected = reference()
        except (RuntimeError, ValueError, IndexError):
            expected = None  # torch rejects: fastcnn must reject too
        try:
            got = call()
        except ALLOWED as e:
            assert str(e)
            if algorithm_error and "algorithm" in str(e):
                count["rejected"] += 1  # a forced algorithm that does not apply to this shape
                return
            assert expected is None, f"fastcnn rejected valid arguments torch accepted: {e}"
            count["rejected"] += 1
            return
        assert expected is not None, "fastcnn accepted arguments torch rejects"
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)
        count["valid"] += 1

    @cfg
    @given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9), st.integers(1, 4),
           st.integers(1, 4), st.integers(1, 4), st.integers(-1, 3), st.integers(0, 3), st.integers(0, 2),
           st.integers(1, 3), st.sampled_from([1, 2]), st.booleans(), st.sampled_from(["auto", "im2col", "direct", "winograd", "depthwise", "gemm1x1"]))
    def conv(nb, c, h, w, k, r, s, stride, pad, dil_m1, dil, groups, bias, algo):
        cin, cout = c * groups, k * groups
        x = rng.standard_normal((nb, cin, h, w)).astype(np.float32)
        wt = rng.standard_normal((cout, c, r, s)).astype(np.float32)
        b = rng.standard_normal(cout).astype(np.float32) if bias else None
        dl = dil if dil_m1 else 1
        tol = 1e-5 * c * r * s + 1e-6

        def call():
            return ops.conv2d(x, wt, b, stride=stride, padding=pad, dilation=dl, groups=groups, algorithm=algo)

        def ref():
            if stride < 1:
                raise RuntimeError("stride")
            return TF.conv2d(torch.from_numpy(x), torch.from_numpy(wt), None if b is None else torch.from_numpy(b),
                             stride=stride, padding=pad, dilation=dl, groups=groups).numpy()

        outcome(call, ref, 1e-4, tol, algorithm_error=True)
        count_total[0] += 1

    @cfg
    @given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 8), st.integers(1, 8), st.integers(0, 4),
           st.integers(0, 3), st.integers(-1, 2), st.integers(1, 2), st.booleans(),
           st.sampled_from(["normal", "ties", "nan", "inf"]))
    def pool(nb, c, h, w, k, stride, pad, dil, ceil, fill):
        x = rng.standard_normal((nb, c, h, w)).astype(np.float32)
        if fill == "ties":
            x = np.round(x).astype(np.float32)
        elif fill == "nan":
            x.flat[rng.integers(x.size)] = np.nan
        elif fill == "inf":
            x.flat[rng.integers(x.size)] = -np.inf

        def call():
            return ops.max_pool2d(x, k, stride=stride or None, padding=pad, dilation=dil, ceil_mode=ceil)[0]

        def ref():
            if k < 1 or pad < 0:
                raise RuntimeError("bad")
            return TF.max_pool2d(torch.from_numpy(x), k, stride=stride or None, padding=pad, dilation=dil,
                                 ceil_mode=ceil).numpy()

        outcome(call, ref, 0, 0)
        count_total[0] += 1

    @cfg
    @given(st.integers(0, 20), st.integers(0, 20), st.integers(0, 40), st.booleans(), st.booleans(),
           st.floats(-2, 2), st.floats(-2, 2))
    def gemm(m, n_, k, ta, tb, alpha, beta):
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n_, k) if tb else (k, n_)).astype(np.float32)
        c = rng.standard_normal((m, n_)).astype(np.float32)
        expected = alpha * ((a.T if ta else a).astype(np.float64) @ (b.T if tb else b)) + beta * c
        out = _C.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5 * (k + 1) * 4)
        count["valid"] += 1
        count_total[0] += 1

    @cfg
    @given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 70), st.integers(-4, 3),
           st.sampled_from([1.0, 1e4, 1e-3]), st.booleans())
    def softmax(a, b, c, dim, scale, log):
        x = (rng.standard_normal((a, b, c)) * scale).astype(np.float32)

        def call():
            return (ops.log_softmax if log else ops.softmax)(x, dim)

        def ref():
            return (torch.log_softmax if log else torch.softmax)(torch.from_numpy(x).double(), dim).numpy()

        outcome(call, ref, 1e-5, 1e-6 if not log else 1e-5 * scale)
        count_total[0] += 1

    count_total = [0]
    for test in (conv, pool, gemm, softmax):
        test()
    print(f"FUZZ reference: {count_total[0]} cases ({count['valid']} checked against torch/NumPy, "
          f"{count['rejected']} rejected by both)")


CAMPAIGNS = {"c": campaign_c, "functional": campaign_functional, "reference": campaign_reference}


# ---------------------------------------------------------------------------------------
# Tests (run in pytest; each campaign in its own process)


def _limit_address_space(limit: int = 16 << 30) -> None:
    """Caps the campaign's address space, so a fuzzed size the machine could nearly hold raises
    MemoryError the same everywhere, instead of the kernel's OOM killer ending the process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def run_campaign(name: str, cases: int, timeout: float = 120.0) -> str:
    """Run a campaign in a child process; a crash, hang or failure fails the calling test."""
    env = dict(os.environ, FASTCNN_NUM_THREADS=os.environ.get("FASTCNN_NUM_THREADS", "2"))
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), name, str(cases)], capture_output=True,
                              text=True, timeout=timeout, env=env, preexec_fn=_limit_address_space)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"fuzz campaign {name} hung (> {timeout} s); output:\n{e.stdout}\n{e.stderr}")
    tail = (proc.stdout + proc.stderr)[-6000:]
    if proc.returncode < 0 or "Sanitizer" in tail:
        pytest.fail(f"fuzz campaign {name} crashed (exit status {proc.returncode}):\n{tail}")
    assert proc.returncode == 0, f"fuzz campaign {name} failed:\n{tail}"
    summary = [line for line in proc.stdout.splitlines() if line.startswith("FUZZ ")]
    assert summary, tail
    return summary[-1]


FUZZ_CASES = int(os.environ.get("FASTCNN_FUZZ_CASES", "0")) or None


@pytest.mark.parametrize("name,cases", [("c", 1200), ("functional", 1000), ("reference", 800)])
def test_fuzz_campaign(name, cases, capsys):
    summary = run_campaign(name, FUZZ_CASES or cases)
    with capsys.disabled():
        print(f"\n{summary}")
    count = int(re.search(r": (\d+) cases", summary).group(1))
    assert count >= min(cases, FUZZ_CASES or cases) // 2


def test_runner_reports_a_crash():
    # The harness itself: a child killed by SIGSEGV is reported, not swallowed.
    proc = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                          capture_output=True)
    # A signal, or ASan's exit status when it intercepts the fault (under .ci/sanitize).
    assert proc.returncode != 0


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore", RuntimeWarning)  # overflow/NaN in the generated data is intended
    with np.errstate(all="ignore"):
        CAMPAIGNS[sys.argv[1]](int(sys.argv[2]))
