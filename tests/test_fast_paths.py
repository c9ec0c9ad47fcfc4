"""The per-op fast paths (issue 4) give what the general paths give.

Ops take a shortcut for their common case (float32 tensors of one shape, Python-number
operands, 2-D matmul, full reductions, C-contiguous reshapes, int pooling windows, cached
convolution and pooling geometry, positional kernel calls). Each test runs the cases next
to the shortcut (broadcasting, int/bool/float64 operands, non-contiguous and misaligned
arrays, argument values equal to cached ones but of the wrong type) against torch or
NumPy, values and gradients, and checks that every error the general path raised is still
raised.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fastcnn
import fastcnn.nn.functional as F
from fastcnn import _C, ops
from op_check import check_op

f32 = np.float32


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- binary ops ---------------------------------------------------------------------------

OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "div": lambda a, b: a / b, "pow": lambda a, b: a ** b}


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shapes", [((2, 4), (2, 4)), ((2, 4), (4,)), ((2, 1), (1, 4)), ((), ()), ((3,), ())],
                         ids=str)
def test_binary_same_shape_and_broadcast_match_torch(name, shapes):
    # Positive inputs: pow's gradient in the exponent takes a log.
    check_op(OPS[name], None, list(shapes), low=0.5, high=2.0)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("scalar", [2.5, -3, 0, 2 ** 24, 2 ** 24 + 1, 2 ** 40 + 1], ids=repr)
def test_binary_python_scalar_either_side(name, scalar):
    """Floats and small ints take the shortcut; ints past 2**24 the general path (int64 first)."""
    if name == "pow" and isinstance(scalar, int) and abs(scalar) > 8:
        scalar = 3  # keep the powers finite in float32
    x = _rng().uniform(0.5, 2.0, (2, 3)).astype(f32)
    for fn in (lambda a: OPS[name](a, scalar), lambda a: OPS[name](scalar, a)):
        with np.errstate(divide="ignore", invalid="ignore"):  # x / 0 and (-3) ** 0.5, as torch: inf, nan
            ours = fn(fastcnn.tensor(x))
        expected = fn(torch.tensor(x)).numpy()
        assert ours.dtype == fastcnn.float32 and ours.shape == expected.shape
        np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-6, equal_nan=True)


def test_binary_scalar_operand_values_are_the_general_paths():
    """An int below 2**24 converts to float32 exactly; above it goes through int64, as before."""
    x = fastcnn.tensor(np.ones((3,), f32))
    for v in (16777215, 16777216, 16777217, 2 ** 31 + 1):
        np.testing.assert_array_equal((x * v).numpy(), np.ones(3, f32) * np.array(v, np.int64).astype(f32))


def test_binary_non_float_operands_keep_their_dtypes():
    i = fastcnn.tensor(np.arange(6).reshape(2, 3))
    b = fastcnn.tensor(np.array([True, False, True]))
    x = fastcnn.tensor(np.ones((2, 3), f32))
    assert (i + i).dtype == fastcnn.int64
    assert (i * 2).dtype == fastcnn.int64
    assert (i / 2).dtype == fastcnn.float32
    assert (b * b).dtype == fastcnn.bool
    assert (x + True).dtype == fastcnn.float32  # a bool operand takes the general path
    np.testing.assert_array_equal((x + True).numpy(), np.full((2, 3), 2, f32))
    np.testing.assert_array_equal((x + i).numpy(), np.arange(6).reshape(2, 3) + 1)
    out = x + np.arange(3, dtype=np.float64)  # a float64 array: converted, broadcast
    assert out.dtype == fastcnn.float32
    np.testing.assert_array_equal(out.numpy(), np.arange(3) + np.ones((2, 3)))


def test_binary_non_contiguous_operands_and_their_gradients():
    rng = _rng(3)
    a_np = rng.standard_normal((4, 3)).astype(f32)
    b_np = rng.standard_normal((3, 4)).astype(f32)
    a, b = fastcnn.tensor(a_np, requires_grad=True), fastcnn.tensor(b_np, requires_grad=True)
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    ours = a.t() * b  # a.t() is a transposed view of a
    ref = ta.t() * tb
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-6)
    g = rng.standard_normal((3, 4)).astype(f32)
    ours.backward(fastcnn.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-6)


def test_binary_shape_mismatch_still_raises():
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast together"):
        fastcnn.ones(2, 3) + fastcnn.ones(4)
    with pytest.raises(TypeError, match="mul: unsupported operand type str"):
        fastcnn.ones(2) * "x"


def test_broadcast_gradient_of_large_and_small_shapes():
    """Gradients broadcast back by a filled copy (small) or a view (large) sum the same."""
    for shape in [(3, 1), (300, 1)]:
        wide = (shape[0], 400)
        check_op(lambda a, b: a * b, None, [shape, wide], atol=1e-4)


# ---- matmul ---------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided", "misaligned"])
def test_matmul_2d_layouts_match_torch(layout, kernel_path, threads):
    rng = _rng(5)
    a_np = rng.standard_normal((5, 7)).astype(f32)
    b_np = rng.standard_normal((7, 3)).astype(f32)
    if layout == "transposed":
        b_np = np.ascontiguousarray(b_np.T).T
    elif layout == "strided":
        b_np = np.repeat(b_np, 2, axis=1)[:, ::2]
    a, b = fastcnn.tensor(a_np, requires_grad=True), fastcnn.tensor(b_np, requires_grad=True)
    if layout == "misaligned":  # a float32 view starting one byte in: must be copied, not rejected
        raw = np.zeros(a_np.nbytes + 1, np.uint8)[1:].view(f32).reshape(a_np.shape)
        raw[...] = a_np
        assert not raw.flags.aligned
        a = fastcnn.from_numpy(raw).requires_grad_()
    ta, tb = torch.tensor(a_np, requires_grad=True), torch.tensor(b_np, requires_grad=True)
    ours, ref = a @ b, ta @ tb
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal((5, 3)).astype(f32)
    ours.backward(fastcnn.tensor(g).t().contiguous().t())  # an F-ordered upstream gradient
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)
    assert a.grad.is_contiguous() and b.grad.is_contiguous()


@pytest.mark.parametrize("shapes", [((4,), (4, 3)), ((2, 4), (4,)), ((2, 3, 4), (4, 5)), ((0, 4), (4, 3)),
                                    ((2, 0), (0, 3))], ids=str)
def test_matmul_other_ranks_and_empty_match_torch(shapes):
    check_op(lambda a, b: a @ b, None, list(shapes))


def test_matmul_errors_unchanged():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"):
        fastcnn.ones(2, 3) @ fastcnn.ones(4, 5)
    with pytest.raises(TypeError, match="matmul: other has dtype int64, expected float32"):
        fastcnn.ones(2, 3) @ fastcnn.tensor(np.ones((3, 2), np.int64))


def test_gemm_plain_checks_its_arrays():
    a, b = np.ones((2, 3), f32), np.ones((3, 4), f32)
    np.testing.assert_array_equal(_C.gemm_plain(a, b, np.empty((2, 4), f32), False, False), np.full((2, 4), 3))
    np.testing.assert_array_equal(_C.gemm_plain(a, b.T.copy(), np.empty((2, 4), f32), False, True),
                                  np.full((2, 4), 3))
    with pytest.raises(ValueError, match="gemm: c must be 2 x 4"):
        _C.gemm_plain(a, b, np.empty((4, 2), f32), False, False)
    with pytest.raises(ValueError, match="not C-contiguous"):
        _C.gemm_plain(a, b.T, np.empty((2, 3), f32), False, False)
    with pytest.raises(TypeError, match="gemm: b has dtype float64, expected float32"):
        _C.gemm_plain(a, np.ones((3, 4)), np.empty((2, 4), f32), False, False)


# ---- reductions and views -------------------------------------------------------------------

@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), ()], ids=repr)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_and_mean_are_numpys_bits(dim, keepdim):
    """np.add.reduce (and mean's division by an intp count) give ndarray.sum/mean's bits."""
    x = _rng(7).standard_normal((3, 50, 7)).astype(f32)
    axis = tuple(range(3)) if dim is None else dim
    t = fastcnn.tensor(x)
    np.testing.assert_array_equal(t.sum(dim, keepdim).numpy(), np.asarray(x.sum(axis=axis, keepdims=keepdim,
                                                                                dtype=f32)))
    np.testing.assert_array_equal(t.mean(dim, keepdim).numpy(), np.asarray(x.mean(axis=axis, keepdims=keepdim,
                                                                                  dtype=f32)))
    assert t.sum(dim, keepdim).numpy().flags.c_contiguous


@pytest.mark.parametrize("dim", [None, 1, (0, 2)], ids=repr)
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_and_mean_gradients_match_torch(dim, keepdim):
    for fn in (lambda a: a.sum(dim, keepdim) if dim is not None else a.sum(),
               lambda a: a.mean(dim, keepdim) if dim is not None else a.mean()):
        check_op(fn, None, [(2, 3, 4)])


def test_sum_of_ints_and_bools():
    i = fastcnn.tensor(np.arange(6).reshape(2, 3))
    assert i.sum().dtype == fastcnn.int64 and i.sum().item() == 15
    assert fastcnn.tensor(np.array([True, True, False])).sum().item() == 2


def test_reshape_and_transpose_views_share_the_version_counter():
    base = fastcnn.ones(2, 3)
    r, t = base.reshape(3, 2), base.t()
    assert r._vc is base._vc and t._vc is base._vc and r._base is base and t._base is base
    copied = t.reshape(6)  # a transposed array reshaped is a copy: its own counter
    assert copied._vc is not base._vc and copied._base is None
    empty = fastcnn.ones(0, 3)
    assert empty.reshape(3, 0)._vc is not empty._vc  # empty arrays share no memory, as before


def test_inplace_change_of_a_reshaped_input_is_caught():
    a = fastcnn.tensor(np.ones((2, 3), f32), requires_grad=True)
    h = a * 1.0
    v = h.reshape(6)
    out = (v.exp()).sum()
    h.mul_(2.0)  # bumps v's version too (a view); exp saved its own result, so backward is fine
    out.backward()
    w = h.reshape(3, 2)
    y = (w * w).sum()
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("args", [(4, 2), ((4, 2),), ([4, 2],), (np.int64(4), 2), (-1, 2)], ids=repr)
def test_reshape_shape_forms(args):
    np.testing.assert_array_equal(fastcnn.ones(2, 4).reshape(*args).shape, (4, 2))


def test_reshape_rejects_bools_and_floats():
    with pytest.raises(TypeError, match="reshape: shape must be ints"):
        fastcnn.ones(2, 4).reshape(4, 2.0)
    with pytest.raises(TypeError, match="reshape: shape must be ints"):
        fastcnn.ones(2, 4).reshape(True, 8)


def test_dims_reject_bools_after_the_int_shortcut():
    x = fastcnn.ones(2, 3)
    with pytest.raises(TypeError, match="dim must be an int"):
        x.sum(True)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.sum(2)
    with pytest.raises(TypeError, match="softmax: dim must be an int, got True"):
        F.softmax(x, True)
    with pytest.raises(ValueError, match="softmax: dim 2 is out of range"):
        F.softmax(x, 2)


# ---- activations and softmax ------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["contiguous", "transposed", "misaligned"])
def test_relu_and_softmax_on_any_layout(layout, kernel_path):
    x_np = _rng(9).standard_normal((4, 6)).astype(f32)
    if layout == "transposed":
        t = fastcnn.tensor(x_np.T.copy()).t()
    elif layout == "misaligned":
        raw = np.zeros(x_np.nbytes + 1, np.uint8)[1:].view(f32).reshape(x_np.shape)
        raw[...] = x_np
        t = fastcnn.from_numpy(raw)
    else:
        t = fastcnn.tensor(x_np)
    t.requires_grad_()
    for ours_fn, ref_fn in [(F.relu, torch.relu), (lambda a: F.softmax(a, 1), lambda a: torch.softmax(a, 1)),
                            (lambda a: F.log_softmax(a, 0), lambda a: torch.log_softmax(a, 0))]:
        t.grad = None
        ref_in = torch.tensor(x_np, requires_grad=True)
        ours, ref = ours_fn(t), ref_fn(ref_in)
        np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
        g = _rng(10).standard_normal((4, 6)).astype(f32)
        ours.backward(fastcnn.tensor(g))
        ref.backward(torch.tensor(g))
        np.testing.assert_allclose(t.grad.numpy(), ref_in.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_softmax_of_int_input_and_dtype_argument():
    i = fastcnn.tensor(np.arange(6).reshape(2, 3))
    np.testing.assert_allclose(F.softmax(i, 1).numpy(), torch.softmax(torch.arange(6.).reshape(2, 3), 1).numpy(),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="softmax: dim must be given"):
        F.softmax(fastcnn.ones(2, 3))
    with pytest.raises(TypeError, match="softmax: dtype must be None or fastcnn.float32"):
        F.softmax(fastcnn.ones(2, 3), 1, dtype=np.float64)


def test_relu_output_modified_in_place_is_caught():
    a = fastcnn.tensor(np.ones((2, 2), f32), requires_grad=True)
    y = F.relu(a * 1.0)
    s = y.sum()
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        s.backward()


def test_float64_rule_gradients_become_float32():
    from fastcnn.tensor import _record
    a = fastcnn.tensor(np.ones(3, f32), requires_grad=True)
    y = _record("Custom", a._data * 2, (a,), lambda g: (np.asarray(g, np.float64) * 2,))
    y.sum().backward()
    assert a.grad.dtype == fastcnn.float32
    np.testing.assert_array_equal(a.grad.numpy(), np.full(3, 2, f32))


# ---- pooling --------------------------------------------------------------------------------

POOL_ARGS = [(2, None, 0, 1, False), (3, 2, 1, 1, True), ((2, 3), (1, 2), (1, 0), (2, 1), False),
             (2, [], 0, 1, False), ([2, 2], [2, 1], [1, 1], [1, 1], False)]


@pytest.mark.parametrize("args", POOL_ARGS, ids=repr)
def test_max_pool2d_cached_windows_match_torch(args, kernel_path, threads):
    k, s, p, d, c = args
    for shape in [(1, 1, 6, 7), (2, 3, 9, 5), (1, 1, 6, 7)]:  # the first shape again: a cache hit
        x = _rng(11).standard_normal(shape).astype(f32)
        ours = F.max_pool2d(fastcnn.tensor(x, requires_grad=True), k, s, p, d, c, True)
        ref = torch.nn.functional.max_pool2d(torch.tensor(x), k, s if s != [] else None, p, d, c, True)
        np.testing.assert_array_equal(ours[0].detach().numpy(), ref[0].numpy())
        np.testing.assert_array_equal(ours[1].numpy(), ref[1].numpy())
    check_op(lambda a: torch.nn.functional.max_pool2d(a, 2), lambda a: F.max_pool2d(a, 2), [(1, 2, 4, 6)])
    check_op(lambda a: torch.nn.functional.avg_pool2d(a, 2, 1, 1), lambda a: F.avg_pool2d(a, 2, 1, 1),
             [(1, 2, 4, 6)])


@pytest.mark.parametrize("bad, error, message", [
    (dict(kernel_size=2.0), TypeError, "kernel_size must be an int or a sequence of 2 ints"),
    (dict(kernel_size=(2, True)), TypeError, "kernel_size must be an int or a sequence of 2 ints"),
    (dict(kernel_size=True), TypeError, "kernel_size must be an int or a sequence of 2 ints"),
    (dict(stride=(2, 2.0)), TypeError, "stride must be an int or a sequence of 2 ints"),
    (dict(padding=np.float32(0)), TypeError, "padding must be an int or a sequence of 2 ints"),
    (dict(ceil_mode=1), TypeError, "ceil_mode must be a bool"),
    (dict(dilation=0), ValueError, "dilation must be >= 1"),
    (dict(padding=2), ValueError, "padding .* must be at most half of kernel_size"),
], ids=lambda v: repr(v) if isinstance(v, dict) else "")
def test_max_pool2d_values_equal_to_a_cached_window_still_fail(bad, error, message):
    """True == 1 and 2.0 == 2 as dict keys: a cached valid window must not answer for them."""
    x = np.zeros((1, 1, 4, 4), f32)
    args = dict(kernel_size=2, stride=(2, 2), padding=0, dilation=1, ceil_mode=False)
    ops.max_pool2d(x, **args)  # cache the valid window
    ops.max_pool2d(x, **args)
    with pytest.raises(error, match=message):
        ops.max_pool2d(x, **{**args, **bad})
    if "dilation" not in bad:  # avg_pool2d has none
        avg = {k: v for k, v in {**args, **bad}.items() if k != "dilation"}
        ops.avg_pool2d(x, **{k: v for k, v in args.items() if k != "dilation"})
        with pytest.raises(error, match=message):
            ops.avg_pool2d(x, **avg)


def test_max_pool2d_window_binding_checks_its_arrays():
    w = _C.PoolWindow((2, 2), (2, 2), (0, 0), (1, 1), False)
    x = np.zeros((1, 1, 4, 4), f32)
    out, idx = np.empty((1, 1, 2, 2), f32), np.empty((1, 1, 2, 2), np.int64)
    _C.max_pool2d_forward_window(x, out, idx, w)
    with pytest.raises(ValueError, match=r"max_pool2d: out has shape \(1, 1, 3, 3\), expected \(1, 1, 2, 2\)"):
        _C.max_pool2d_forward_window(x, np.empty((1, 1, 3, 3), f32), np.empty((1, 1, 3, 3), np.int64), w)
    with pytest.raises(TypeError, match="max_pool2d: input has dtype float64"):
        _C.max_pool2d_forward_window(x.astype(np.float64), out, idx, w)
    with pytest.raises(ValueError, match="kernel_size, stride and dilation must be >= 1"):
        _C.max_pool2d_forward_window(x, out, idx, _C.PoolWindow((0, 2), (2, 2), (0, 0), (1, 1), False))
    with pytest.raises(TypeError):
        _C.max_pool2d_forward_window(x, out, idx, (2, 2))
    with pytest.raises(TypeError):
        _C.PoolWindow((2 ** 70, 2), (2, 2), (0, 0), (1, 1), False)


# ---- convolution ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=2, padding=(1, 0)), dict(padding="same"),
                                    dict(padding=[1, 1], stride=[1, 2]), dict(dilation=2, groups=2)], ids=repr)
def test_conv2d_cached_geometry_matches_torch(kwargs, kernel_path, threads):
    for shape in [(1, 2, 6, 6), (2, 2, 7, 5), (1, 2, 6, 6)]:  # the first shape again: a cache hit
        check_op(lambda x, w, b: torch.nn.functional.conv2d(x, w, b, **kwargs),
                 lambda x, w, b: F.conv2d(x, w, b, **kwargs), [shape, (4, 2 // kwargs.get("groups", 1), 3, 3), (4,)],
                 atol=1e-4)


@pytest.mark.parametrize("bad, error, message", [
    (dict(groups=True), ValueError, "groups must be an int >= 1"),
    (dict(groups=1.0), ValueError, "groups must be an int >= 1"),
    (dict(stride=(1, True)), TypeError, "stride must be an int or a sequence of 2 ints"),
    (dict(padding=(1, 1.0)), TypeError, "padding must be an int or a sequence of 2 ints"),
    (dict(dilation=True), TypeError, "dilation must be an int or a sequence of 2 ints"),
    (dict(padding="full"), ValueError, "padding must be an int, a pair, 'valid' or 'same'"),
], ids=lambda v: repr(v) if isinstance(v, dict) else "")
def test_conv2d_values_equal_to_cached_geometry_still_fail(bad, error, message):
    x, w = np.zeros((1, 2, 5, 5), f32), np.zeros((3, 2, 3, 3), f32)
    args = dict(stride=1, padding=(1, 1), dilation=1, groups=1)
    ops.conv2d(x, w, None, **args)
    ops.conv2d(x, w, None, **args)
    with pytest.raises(error, match=message):
        ops.conv2d(x, w, None, **{**args, **bad})


def test_conv2d_cache_still_checks_channels_per_shape():
    w = np.zeros((3, 2, 3, 3), f32)
    ops.conv2d(np.zeros((1, 2, 5, 5), f32), w)
    with pytest.raises(ValueError, match="has 4 channels but weight of shape"):
        ops.conv2d(np.zeros((1, 4, 5, 5), f32), w)
    gy = np.zeros((1, 3, 4, 4), f32)
    with pytest.raises(ValueError, match=r"conv2d_backward: grad_output has shape \(1, 3, 4, 4\), expected"):
        ops.conv2d_backward(gy, np.zeros((1, 2, 5, 5), f32), w)


# ---- float32_array ----------------------------------------------------------------------------

def test_float32_array_shortcut_and_general_path():
    from fastcnn.ops._args import float32_array
    x = np.ones((2, 3), f32)
    assert float32_array(x, "op", "x") is x
    assert float32_array(x, "op", "x", ndim=(1, 2)) is x
    ro = x.copy()
    ro.flags.writeable = False
    assert float32_array(ro, "op", "x") is ro  # read-only: no copy either
    t = float32_array(x.T, "op", "x")
    assert t.flags.c_contiguous and np.array_equal(t, x.T)
    with pytest.raises(ValueError, match=r"op: x must have 3 dimensions, got shape \(2, 3\)"):
        float32_array(x, "op", "x", ndim=3)
    with pytest.raises(ValueError, match=r"op: x must have 1 or 3 dimensions"):
        float32_array(x, "op", "x", ndim=(1, 3))
    with pytest.raises(TypeError, match="op: x has dtype float64, expected float32"):
        float32_array(x.astype(np.float64), "op", "x")
    with pytest.raises(TypeError, match="op: x must be a numpy.ndarray, got list"):
        float32_array([1.0], "op", "x")


# ---- graph memory -----------------------------------------------------------------------------

def test_recorded_ops_leave_no_cyclic_garbage():
    """A node that saves its own output (relu, softmax, exp) must not make a reference cycle:
    cycles wait for the garbage collector, whose passes then cost every op."""
    import gc
    a = fastcnn.tensor(np.ones((2, 4), f32), requires_grad=True)
    img = fastcnn.tensor(np.ones((1, 1, 4, 4), f32), requires_grad=True)
    w = fastcnn.tensor(np.ones((1, 1, 3, 3), f32), requires_grad=True)
    steps = [lambda: F.relu(a), lambda: F.softmax(a, 1), lambda: F.log_softmax(a, 1), lambda: a.exp(),
             lambda: a.sqrt(), lambda: F.tanh(a), lambda: F.sigmoid(a), lambda: a @ a.t(), lambda: a * 2.0 + a,
             lambda: a.sum(), lambda: a.mean(1), lambda: a.reshape(4, 2), lambda: F.max_pool2d(img, 2),
             lambda: F.conv2d(img, w, padding=1), lambda: F.relu(a * a).sum().backward()]
    gc.collect()
    gc.disable()
    try:
        for step in steps:
            for _ in range(3):
                step()
        assert gc.collect() == 0
    finally:
        gc.enable()
