"""fastcnn.Tensor: a NumPy array with a gradient, and the differentiable tensor ops.

Data lives in `_data` (float32, int64 for labels, bool for comparisons) and is touched
only through a few methods (`_wrap`, `numpy`, `_bump`), so a CUDA buffer can come later.
Each op computes its result on arrays, then `_record` adds a node whose backward rule is
written right under the forward, micrograd style. Gradients of broadcast operands are
summed back to the operand's shape (`_unbroadcast`).
"""

from __future__ import annotations

import collections
import math
import numbers
import threading
import weakref

import numpy as np

from . import autograd
from .autograd import Node, _state as _grad_state, is_grad_enabled
from .backend import _C
from .gemm import matmul as _gemm
from .ops._args import shape_str
from .ops.clamp import clamp as _clamp_kernel, clamp_backward as _clamp_kernel_backward

__all__ = [
    "Tensor", "tensor", "from_numpy", "from_dlpack", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "full_like", "randn", "rand", "arange", "cat", "stack", "float32", "int64", "bool",
    "matmul", "where",
]

float32 = np.dtype(np.float32)
int64 = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001  (fastcnn.bool, as torch.bool)
_py_bool = type(True)
_new_object = object.__new__
_ALLOWED = (float32, int64, bool)


class _TraceState(threading.local):
    # fastcnn.onnx.export sets `tracer` on its own thread; the few traceable ops check it (one
    # attribute read when not exporting) and hand themselves over to it.
    tracer = None


_trace = _TraceState()


def _normalize_dtype(dtype, op="tensor"):
    if dtype is None:
        return None
    d = np.dtype(dtype)
    if d not in _ALLOWED:
        raise TypeError(f"{op}: dtype must be fastcnn.float32, fastcnn.int64 or fastcnn.bool, got {d}")
    return d


def _as_array(data, dtype=None, copy=True) -> np.ndarray:
    """data as an array of an allowed dtype: floats -> float32, ints -> int64, bools kept."""
    if isinstance(data, Tensor):
        a = data._data
    elif isinstance(data, (list, tuple)) and any(isinstance(v, Tensor) for v in data):
        a = np.array([v._data if isinstance(v, Tensor) else v for v in data])
    else:
        a = np.asarray(data)
    if dtype is None:
        if a.dtype.kind == "f":
            dtype = float32
        elif a.dtype.kind in "iu":
            dtype = int64
        elif a.dtype.kind == "b":
            dtype = bool
        else:
            raise TypeError(f"tensor: cannot convert data of dtype {a.dtype} (supported: floats, ints, bools)")
    return np.array(a, dtype=dtype, copy=True) if copy else np.asarray(a, dtype=dtype)


def _broadcast(grad, shape) -> np.ndarray:
    """grad broadcast to `shape`: itself when it has that shape, a filled copy when small
    (np.broadcast_to costs microseconds), else a read-only view."""
    if type(grad) is np.ndarray:
        if grad.shape == shape:
            return grad
        if math.prod(shape) <= _SMALL:
            full = np.empty(shape, dtype=grad.dtype)
            full[...] = grad
            return full
    return np.broadcast_to(grad, shape)


_SMALL = 1 << 16  # elements


def _unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sum grad over the dimensions broadcasting added or stretched, down to `shape`."""
    if grad.shape == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra:  # np.add.reduce: ndarray.sum without its Python layer
        grad = np.add.reduce(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, d in enumerate(shape) if d == 1 and grad.shape[i] != 1)
    if stretched:
        grad = np.add.reduce(grad, axis=stretched, keepdims=True)
    return grad.reshape(shape)


# torch.return_types-like results of max/min along a dim: (values, indices), by name too.
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def _dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """dim (int, tuple or None) as sorted non-negative axes; None means all."""
    if dim is None:
        return tuple(range(ndim))
    if type(dim) is int and ndim and -ndim <= dim < ndim:  # the common case, without the ABC checks
        return (dim % ndim,)
    items = (dim,) if isinstance(dim, numbers.Integral) else tuple(dim)
    out = []
    for d in items:
        if isinstance(d, _py_bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {dim!r}")
        n = max(ndim, 1)
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor of {ndim} dimensions")
        out.append(int(d) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim!r} repeats a dimension")
    return tuple(sorted(out)) if ndim else ()


def _transposed_grad(g):
    return (g.T,)


def _keep_dims(g, shape, axes, keepdim):
    """A reduction's gradient g with the reduced axes back as size 1 (np.expand_dims, cheaper)."""
    if keepdim:
        return g
    return np.reshape(g, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _dim1(dim, ndim, op):
    if type(dim) is int and -ndim <= dim < ndim:
        return dim % ndim
    return _dims(dim, ndim, op)[0] if ndim else 0


def _scalar_bound(value) -> bool:
    return value is None or (isinstance(value, numbers.Real) and not isinstance(value, _py_bool))


class Tensor:
    """A multi-dimensional array with autograd, as torch.Tensor (CPU, float32/int64/bool)."""

    __array_ufunc__ = None  # ndarray (or NumPy scalar) op Tensor -> Tensor's reflected op

    __slots__ = ("_data", "requires_grad", "grad", "_ctx", "_vc", "_base", "__weakref__")

    def __init__(self, data, requires_grad=False, dtype=None):
        self._setup(_as_array(data, _normalize_dtype(dtype)))
        self.requires_grad_(requires_grad)

    def _setup(self, data, vc=None, base=None):
        self._data = data
        self.requires_grad = False
        self.grad = None
        self._ctx = None
        self._vc = vc if vc is not None else [0]  # shared by views, as torch's version counter
        self._base = base

    @classmethod
    def _wrap(cls, data: np.ndarray, vc=None, base=None) -> "Tensor":
        t = _new_object(cls)  # _setup inlined: this runs for every op's result
        t._data = data
        t.requires_grad = False
        t.grad = None
        t._ctx = None
        t._vc = vc if vc is not None else [0]
        t._base = base
        return t

    # ---- metadata ------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_dim1(dim, self.ndim, "size")]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def cpu(self) -> "Tensor":
        return self

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self) -> _py_bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def _version(self) -> int:
        return self._vc[0]

    def _bump(self) -> None:
        self._vc[0] += 1

    def is_floating_point(self) -> _py_bool:
        return self.dtype == float32

    def is_contiguous(self) -> _py_bool:
        return _py_bool(self._data.flags.c_contiguous)

    # ---- conversion ------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The underlying array, shared (no copy); refused while requires_grad, as torch."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                               "instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        a = self._data
        if dtype is not None and np.dtype(dtype) != a.dtype:
            return a.astype(dtype)
        return a.copy() if copy else a

    def item(self):
        if self._data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to Python scalars, got shape "
                             f"{shape_str(self.shape)}")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with shape {shape_str(self.shape)} is ambiguous")
        return _py_bool(self._data.reshape(()).item())

    def __index__(self):
        if self.dtype != int64 or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __dlpack__(self, *args, **kwargs):
        if self.requires_grad:
            raise RuntimeError("Can't export a tensor that requires grad to DLPack; use tensor.detach()")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    def detach(self) -> "Tensor":
        """Same data (shared, same version counter), out of the graph."""
        return Tensor._wrap(self._data, self._vc, self._base)

    def requires_grad_(self, requires_grad=True) -> "Tensor":
        if requires_grad and self.dtype != float32:
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {self.dtype}")
        if not requires_grad and not self.is_leaf:
            raise RuntimeError("you can only change requires_grad flags of leaf variables")
        self.requires_grad = _py_bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep .grad on this non-leaf tensor after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._ctx is not None:
            self._ctx.retained = weakref.ref(self)

    @property
    def retains_grad(self) -> _py_bool:
        return self._ctx is not None and self._ctx.retained is not None and self._ctx.retained() is self

    def to(self, dtype) -> "Tensor":
        if isinstance(dtype, str):
            if dtype != "cpu":
                raise ValueError(f"to: only the 'cpu' device is supported, got {dtype!r}")
            return self
        dtype = _normalize_dtype(dtype, "to")
        if dtype == self.dtype:
            return self
        return self._cast(dtype)

    def float(self) -> "Tensor":
        return self.to(float32)

    def long(self) -> "Tensor":
        return self.to(int64)

    def _cast(self, dtype):
        out = self._data.astype(dtype)
        if dtype != float32:
            return Tensor._wrap(out)
        return _record("ToCopyBackward0", out, (self,), lambda g: (g,))

    def clone(self) -> "Tensor":
        return _record("CloneBackward0", self._data.copy(), (self,), lambda g: (g,))

    def contiguous(self) -> "Tensor":
        return self if self.is_contiguous() else self.clone()

    def __repr__(self):
        x = self._data
        fmt = None
        if self.dtype == float32:  # torch prints "1." when every value is whole, else 4 decimals
            finite = x[np.isfinite(x)]
            whole = finite.size == 0 or np.all(finite == np.round(finite)) and np.abs(finite).max() < 1e8
            digits = (lambda v: f"{v:.0f}.") if whole else (lambda v: f"{v:.4f}")

            def one(v):
                return digits(v) if np.isfinite(v) else str(float(v))
            extremes = [finite.min(), finite.max()] if finite.size else []
            # Columns align, as torch: the widest entry is an extreme or a nan/inf.
            width = max([len(one(v)) for v in extremes] + [4 if np.isinf(x).any() else 3 if x.size > finite.size
                                                           else 0])
            fmt = {"float_kind": lambda v: one(v).rjust(width)}
        body = np.array2string(x, separator=", ", prefix="tensor(", formatter=fmt)
        extras = []
        if self.numel() == 0 and self.ndim != 1:
            extras.append(f"size={self.shape}")
        if self._ctx is not None:
            extras.append(f"grad_fn=<{self._ctx.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ---- autograd --------------------------------------------------------------------

    def backward(self, gradient=None, retain_graph=None) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's .grad (see autograd.run_backward)."""
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs (got shape "
                                   f"{shape_str(self.shape)}); pass gradient=")
            g = np.ones(self.shape, dtype=np.float32)
        else:
            g = _as_array(gradient, float32) if not isinstance(gradient, Tensor) else gradient._data
            if g.shape != self.shape:
                raise RuntimeError(f"backward: gradient has shape {shape_str(g.shape)} but the tensor has shape "
                                   f"{shape_str(self.shape)}")
            g = g.astype(np.float32, copy=False)
        autograd.run_backward(self, g, _py_bool(retain_graph))

    # ---- elementwise arithmetic -----------------------------------------------------

    # __add__, __sub__, __mul__, __truediv__, __pow__ and __matmul__ are the module's functions
    # themselves (set after them below): one Python call less per operator.

    def __radd__(self, other):
        return add(other, self)

    def __rsub__(self, other):
        return sub(other, self)

    def __rmul__(self, other):
        return mul(other, self)

    def __rtruediv__(self, other):
        return div(other, self)

    def __rpow__(self, other):
        return pow(other, self)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return _record("NegBackward0", -self._data, (self,), lambda g: (-g,))

    def __pos__(self):
        return self

    def add(self, other):
        return add(self, other)

    def sub(self, other):
        return sub(self, other)

    def mul(self, other):
        return mul(self, other)

    def div(self, other):
        return div(self, other)

    def pow(self, other):
        return pow(self, other)

    def matmul(self, other):
        return matmul(self, other)

    def neg(self):
        return -self

    def exp(self):
        out = np.exp(self._float("exp"))
        res = _record("ExpBackward0", out, (self,), lambda g: (g * out,), saved=())
        _save_output(res)
        return res

    def log(self):
        x = self._float("log")
        return _record("LogBackward0", np.log(x), (self,), lambda g: (g / x,), saved=(self,))

    def sqrt(self):
        out = np.sqrt(self._float("sqrt"))
        res = _record("SqrtBackward0", out, (self,), lambda g: (g / (2 * out),))
        _save_output(res)
        return res

    def abs(self):
        x = self._data
        if self.dtype != float32:
            return Tensor._wrap(np.abs(x))
        return _record("AbsBackward0", np.abs(x), (self,), lambda g: (g * np.sign(x),), saved=(self,))

    def clamp(self, min=None, max=None):
        if _trace.tracer is not None:
            return _trace.tracer.op("clamp", Tensor.clamp, self, min, max)
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must not be None")
        x = self._data
        if x.dtype == np.float32 and _scalar_bound(min) and _scalar_bound(max):  # one native pass each way
            out = _clamp_kernel(x, min, max)
            return _record("ClampBackward1", out, (self,), lambda g: (_clamp_kernel_backward(g, x, min, max),),
                           saved=(self,))
        out = np.clip(x, min, max).astype(x.dtype, copy=False)

        def backward(g):
            keep = np.ones(x.shape, dtype=np.bool_)
            if min is not None:
                keep &= x >= min
            if max is not None:
                keep &= x <= max
            return (np.where(keep, g, np.float32(0)),)
        return _record("ClampBackward1", out, (self,), backward, saved=(self,))

    clip = clamp

    def relu(self):
        from .nn import functional as F
        return F.relu(self)

    def sigmoid(self):
        from .nn import functional as F
        return F.sigmoid(self)

    def tanh(self):
        from .nn import functional as F
        return F.tanh(self)

    def softmax(self, dim):
        from .nn import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        from .nn import functional as F
        return F.log_softmax(self, dim)

    def _float(self, op) -> np.ndarray:
        # Integer and bool inputs give float32 results, as torch's exp/log/sqrt.
        return self._data if self.dtype == float32 else self._data.astype(np.float32)

    # ---- comparisons (no gradient) ----------------------------------------------------

    def _compare(self, other, fn):
        b = other._data if isinstance(other, Tensor) else other
        try:
            return Tensor._wrap(np.asarray(fn(self._data, b)))
        except ValueError:
            raise ValueError(f"comparison: shapes {shape_str(self.shape)} and {shape_str(np.shape(b))} "
                             "cannot be broadcast") from None

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    __hash__ = object.__hash__

    def eq(self, other):
        return self == other

    # ---- reductions -------------------------------------------------------------------

    def sum(self, dim=None, keepdim=False):
        x = self._data
        dtype = float32 if x.dtype is float32 or x.dtype == float32 else int64
        # np.add.reduce is what ndarray.sum calls, minus a Python layer.
        if dim is None and not keepdim:  # into a 0-d array: a full reduction would give a NumPy scalar
            axes = None  # all, as the rule below needs
            out = np.add.reduce(x, None, dtype, np.empty((), dtype))
        else:
            axes = None if dim is None else _dims(dim, x.ndim, "sum")
            out = np.add.reduce(x, axes, dtype, None, keepdim)
            if type(out) is not np.ndarray:  # a 0-d input reduced over dim 0
                out = np.asarray(out)
        shape = x.shape

        def backward(g):
            return (_broadcast(g if axes is None else _keep_dims(g, shape, axes, keepdim), shape),)
        return _unary("SumBackward1", out, self, backward)

    def mean(self, dim=None, keepdim=False):
        if _trace.tracer is not None:
            return _trace.tracer.op("mean", Tensor.mean, self, dim, keepdim)
        if self.dtype != float32:
            raise TypeError(f"mean: could not infer the output dtype; input has dtype {self.dtype}, use .float()")
        x = self._data
        axes = _dims(dim, x.ndim, "mean")
        count = math.prod([x.shape[a] for a in axes])
        # ndarray.mean's arithmetic without its Python layer: a float32 sum, divided by an intp
        # count (so in float64) and rounded to float32; the same bits.
        total = np.add.reduce(x, axis=axes, dtype=float32, keepdims=keepdim)
        if type(total) is np.ndarray:
            if count <= _EXACT_INT:  # float32 division rounds as float64's rounded: same bits, cheaper
                total /= count
                out = total
            else:
                out = np.true_divide(total, np.intp(count), out=total, casting="unsafe")
        else:
            out = np.asarray(total / np.intp(count), dtype=float32)
        shape = x.shape

        def backward(g):
            return (_broadcast(_keep_dims(g, shape, axes, keepdim) / np.float32(count), shape),)
        return _unary("MeanBackward1", out, self, backward)

    def max(self, dim=None, keepdim=False):
        """The largest value (no dim), or (values, indices) along dim, as torch.max."""
        return self._extreme(dim, keepdim, np.max, np.argmax, "max")

    def min(self, dim=None, keepdim=False):
        return self._extreme(dim, keepdim, np.min, np.argmin, "min")

    def _extreme(self, dim, keepdim, reduce, arg, op):
        x = self._data
        if x.size == 0:
            raise RuntimeError(f"{op}: expected a non-empty tensor, got shape {shape_str(x.shape)}")
        if dim is None:
            out = np.asarray(reduce(x))

            def backward(g):  # ties share the gradient evenly, as torch
                hit = x == out
                return (np.where(hit, g / np.float32(hit.sum()), np.float32(0)).astype(np.float32),)
            return _record(f"{op.capitalize()}Backward1", out, (self,), backward, saved=(self,))
        axis = _dim1(dim, self.ndim, op)
        if self.ndim == 0:
            return ValuesIndices(self.clone(), Tensor._wrap(np.zeros((), dtype=np.int64)))
        idx = np.expand_dims(arg(x, axis=axis), axis)
        values = np.take_along_axis(x, idx, axis)
        indices = idx if keepdim else np.squeeze(idx, axis)
        shape = x.shape

        def backward(g):
            gi = np.zeros(shape, dtype=np.float32)
            np.put_along_axis(gi, idx, g if keepdim else np.expand_dims(g, axis), axis)
            return (gi,)
        vals = values if keepdim else np.squeeze(values, axis)
        res = _record(f"{op.capitalize()}Backward0", np.ascontiguousarray(vals), (self,), backward)
        return ValuesIndices(res, Tensor._wrap(np.ascontiguousarray(indices)))

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmax(self._data), dtype=np.int64))
        axis = _dim1(dim, self.ndim, "argmax")
        return Tensor._wrap(np.asarray(np.argmax(self._data, axis=axis, keepdims=keepdim), dtype=np.int64))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return Tensor._wrap(np.asarray(np.argmin(self._data), dtype=np.int64))
        axis = _dim1(dim, self.ndim, "argmin")
        return Tensor._wrap(np.asarray(np.argmin(self._data, axis=axis, keepdims=keepdim), dtype=np.int64))

    # ---- shape ops (views where NumPy gives views) ---------------------------------------

    def _view_of(self, out: np.ndarray, name, backward, view=False) -> "Tensor":
        """Record out; it shares self's version counter and base when it is a view (`view`:
        the caller knows it is, sparing the memory check)."""
        return _unary(name, out, self, backward, view=view or np.may_share_memory(out, self._data))

    def reshape(self, *shape):
        if _trace.tracer is not None:
            return _trace.tracer.op("reshape", Tensor.reshape, self, *shape)
        for s in shape:  # _shape_args' common case, inlined: ints given one by one
            if type(s) is not int:
                shape = _shape_args(shape, "reshape")
                break
        try:
            out = self._data.reshape(shape)
        except ValueError:
            raise RuntimeError(f"reshape: shape {shape_str(shape)} is invalid for input of size {self.numel()} "
                               f"(shape {shape_str(self.shape)})") from None
        x = self._data
        old = x.shape
        # NumPy reshapes a C-contiguous array without copying; other layouts may copy. (Empty
        # arrays share no memory: np.may_share_memory says so, and so does `view` here.)
        return _unary("ViewBackward0", out, self, lambda g: (g.reshape(old),), 0,
                      x.flags.c_contiguous and x.size > 0 or np.may_share_memory(out, x))

    def view(self, *shape):
        if not self.is_contiguous():
            raise RuntimeError("view: the tensor is not contiguous; use .reshape(...) instead")
        return self.reshape(*shape)

    def view_as(self, other):
        return self.view(*other.shape)

    def reshape_as(self, other):
        return self.reshape(*other.shape)

    def expand_as(self, other):
        return self.expand(*other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if _trace.tracer is not None:
            return _trace.tracer.op("flatten", Tensor.flatten, self, start_dim, end_dim)
        if self.ndim == 0:
            return self.reshape(1)
        s = _dim1(start_dim, self.ndim, "flatten")
        e = _dim1(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        shape = self.shape
        return self.reshape(*shape[:s], int(np.prod(shape[s:e + 1])), *shape[e + 1:])

    def permute(self, *dims):
        dims = _shape_args(dims, "permute")
        if sorted(_dims(d, self.ndim, "permute")[0] for d in dims) != list(range(self.ndim)) \
                or len(dims) != self.ndim:
            raise ValueError(f"permute: dims {dims} are not a permutation of the {self.ndim} dimensions")
        dims = tuple(d % self.ndim for d in dims)
        inverse = tuple(np.argsort(dims))
        return self._view_of(self._data.transpose(dims), "PermuteBackward0", lambda g: (g.transpose(inverse),))

    def transpose(self, dim0, dim1):
        if self.ndim == 0:
            return self
        a, b = _dim1(dim0, self.ndim, "transpose"), _dim1(dim1, self.ndim, "transpose")
        perm = list(range(self.ndim))  # ndarray.transpose(perm): np.swapaxes, without its Python layer
        perm[a], perm[b] = b, a
        return self._view_of(self._data.transpose(perm), "TransposeBackward0", lambda g: (g.transpose(perm),),
                             view=self._data.size > 0)

    def t(self):
        x = self._data
        if x.ndim == 2:  # transpose(0, 1), inlined
            return _unary("TransposeBackward0", x.T, self, _transposed_grad, 0, x.size > 0)
        if x.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {shape_str(self.shape)}")
        return self

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        if dim is None:
            axes = tuple(i for i, d in enumerate(self.shape) if d == 1)
        else:
            axes = tuple(a for a in _dims(dim, self.ndim, "squeeze") if self.ndim and self.shape[a] == 1)
        shape = self.shape
        return self._view_of(np.squeeze(self._data, axes), "SqueezeBackward0", lambda g: (g.reshape(shape),))

    def unsqueeze(self, dim):
        n = self.ndim + 1
        if isinstance(dim, _py_bool) or not isinstance(dim, numbers.Integral) or not -n <= dim < n:
            raise IndexError(f"unsqueeze: dim {dim!r} is out of range for a result of {n} dimensions")
        axis = int(dim) % n
        return self._view_of(np.expand_dims(self._data, axis), "UnsqueezeBackward0",
                             lambda g: (np.squeeze(g, axis),))

    def expand(self, *shape):
        shape = _shape_args(shape, "expand")
        full = tuple(s if t == -1 else t for s, t in zip((1,) * (len(shape) - self.ndim) + self.shape, shape))
        try:
            out = np.broadcast_to(self._data, full)
        except ValueError:
            raise ValueError(f"expand: shape {shape_str(self.shape)} cannot be expanded to {shape}") from None
        old = self.shape
        return self._view_of(out, "ExpandBackward0", lambda g: (_unbroadcast(g, old),))

    def __getitem__(self, index):
        if _trace.tracer is not None:
            return _trace.tracer.op("getitem", Tensor.__getitem__, self, index)
        idx = _index(index)
        try:
            out = self._data[idx]
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {shape_str(self.shape)}: {e}") \
                from None
        shape = self.shape

        def backward(g):
            gi = np.zeros(shape, dtype=np.float32)
            np.add.at(gi, idx, g)  # repeated advanced indices accumulate
            return (gi,)
        return self._view_of(np.asarray(out), "IndexBackward0", backward)

    # ---- in-place ops --------------------------------------------------------------------

    def _check_inplace(self, op):
        if is_grad_enabled() and self.is_leaf and self.requires_grad:
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place "
                               "operation.")

    def _inplace(self, op, result_fn, other=None):
        """self <- result_fn(self, other), recorded when grad flows; bumps the version."""
        self._check_inplace(op)
        tracking = is_grad_enabled() and (self.requires_grad
                                          or isinstance(other, Tensor) and other.requires_grad)
        if not tracking:
            with autograd.no_grad():
                res = result_fn(self.detach(), other)
            value = res._data
            if value.dtype != self.dtype and not np.can_cast(value.dtype, self.dtype, "same_kind"):
                raise RuntimeError(f"{op}: result type {value.dtype} can't be cast to the desired output type "
                                   f"{self.dtype}")
            try:
                np.copyto(self._data, np.broadcast_to(value, self.shape), casting="unsafe")
            except ValueError:
                raise ValueError(f"{op}: result of shape {shape_str(value.shape)} does not broadcast to "
                                 f"the tensor's shape {shape_str(self.shape)}") from None
            self._bump()
            return self
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError(f"{op}: in-place ops on a view of a tensor that requires grad are not supported; "
                               "use an out-of-place op")
        # Record on a snapshot of the old value so the new node does not see its own write.
        shadow = Tensor._wrap(self._data.copy())
        shadow.requires_grad, shadow._ctx = self.requires_grad, self._ctx
        res = result_fn(shadow, other)
        if res.shape != self.shape:
            raise ValueError(f"{op}: result of shape {shape_str(res.shape)} does not match the tensor's shape "
                             f"{shape_str(self.shape)}")
        self._data[...] = res._data
        self._bump()
        self.requires_grad, self._ctx = res.requires_grad, res._ctx
        return self

    def add_(self, other, alpha=1):
        return self._inplace("add_", lambda a, b: a + b * alpha if alpha != 1 else a + b, other)

    def sub_(self, other, alpha=1):
        return self._inplace("sub_", lambda a, b: a - b * alpha if alpha != 1 else a - b, other)

    def mul_(self, other):
        return self._inplace("mul_", lambda a, b: a * b, other)

    def div_(self, other):
        return self._inplace("div_", lambda a, b: a / b, other)

    def clamp_(self, min=None, max=None):
        return self._inplace("clamp_", lambda a, _: a.clamp(min, max))

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return self._inplace("fill_", lambda a, _: _record("FillBackward0", np.full(a.shape, value, a.dtype), (a,),
                                                           lambda g: (np.zeros_like(g),)))

    def __setitem__(self, index, value):
        """self[index] = value, differentiable in both (as torch's index_put_)."""
        return self._inplace("__setitem__", lambda a, v: _index_put(a, _index(index), v), _operand(value, "setitem"))

    def copy_(self, src):
        src_t = src if isinstance(src, Tensor) else Tensor(src)
        return self._inplace("copy_", lambda a, b: b.expand(*a.shape).to(a.dtype), src_t)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_


# ---- recording ---------------------------------------------------------------------------

def _record(name, out: np.ndarray, inputs, backward, saved=()) -> Tensor:
    """Wrap `out`; when grad mode is on and an input requires grad, add a Node.

    backward(grad) returns one gradient per input (None for no gradient). `saved` lists
    the input tensors whose values the rule reads; their versions are checked at backward.
    """
    if _trace.tracer is not None:
        _trace.tracer.unsupported(name, inputs)
    res = _new_object(Tensor)  # Tensor._wrap(out), inlined
    res._data = out
    res.requires_grad = False
    res.grad = None
    res._ctx = None
    res._vc = [0]
    res._base = None
    if not _grad_state.enabled:
        return res
    edges = []
    any_grad = False
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad:
            edges.append(t._ctx if t._ctx is not None else t)
            any_grad = True
        else:
            edges.append(None)
    if not any_grad:
        return res
    # Node.apply makes the rule's gradients float32.
    res._ctx = Node(name, tuple(edges), backward,
                    tuple([(t._vc, t._vc[0], t._data.shape) for t in saved]) if saved else ())
    res.requires_grad = True
    return res


SAVE_INPUT, SAVE_OUTPUT = 1, 2  # _unary's `save`: the rule reads its input or its result


def _unary(name, out: np.ndarray, x: Tensor, backward, save=0, view=False) -> Tensor:
    """_record for an op of one Tensor input, the common case, without the loops.

    save: SAVE_INPUT or SAVE_OUTPUT when the rule reads x or the result (versions checked
    at backward, as `saved`); view: out is a view of x's data (shares its version counter).
    """
    if _trace.tracer is not None:
        _trace.tracer.unsupported(name, (x,))
    res = _new_object(Tensor)
    res._data = out
    res.requires_grad = False
    res.grad = None
    res._ctx = None
    if view:
        res._vc = x._vc
        res._base = x if x._base is None else x._base
    else:
        res._vc = [0]
        res._base = None
    if x.requires_grad and _grad_state.enabled:
        ctx = x._ctx
        if save:
            t = x if save == SAVE_INPUT else res
            saved = ((t._vc, t._vc[0], t._data.shape),)
        else:
            saved = ()
        res._ctx = Node(name, (x if ctx is None else ctx,), backward, saved)
        res.requires_grad = True
    return res


def _binary_record(name, out: np.ndarray, a: Tensor, b: Tensor, backward, save_inputs: bool) -> Tensor:
    """_record for an op of two Tensor inputs (binary ops, matmul), without the loops."""
    if _trace.tracer is not None:
        _trace.tracer.unsupported(name, (a, b))
    res = _new_object(Tensor)
    res._data = out
    res.requires_grad = False
    res.grad = None
    res._ctx = None
    res._vc = [0]
    res._base = None
    if (a.requires_grad or b.requires_grad) and _grad_state.enabled:
        edges = ((a if a._ctx is None else a._ctx) if a.requires_grad else None,
                 (b if b._ctx is None else b._ctx) if b.requires_grad else None)
        saved = ((a._vc, a._vc[0], a._data.shape), (b._vc, b._vc[0], b._data.shape)) if save_inputs else ()
        res._ctx = Node(name, edges, backward, saved)
        res.requires_grad = True
    return res


def _save_output(res: Tensor) -> None:
    """The backward rule reads the result itself: check it was not modified in place."""
    if res._ctx is not None:
        res._ctx.saved = ((res._vc, res._vc[0], res._data.shape),)


def _shape_args(shape, op):
    if type(shape) is tuple:  # ints given one by one: the common case, without the ABC checks
        for s in shape:
            if type(s) is not int:
                break
        else:
            return shape
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = tuple(shape[0])
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, _py_bool) for s in shape):
        raise TypeError(f"{op}: shape must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def _index(index):
    """Tensors in an index become arrays; bool/int64 tensors index as NumPy does."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return np.asarray([i._data if isinstance(i, Tensor) else i for i in index])
    return index


def _index_put(a: Tensor, idx, v: Tensor) -> Tensor:
    out = a._data.copy()
    try:
        out[idx] = v._data
    except (ValueError, IndexError) as e:
        raise type(e)(f"setitem: value of shape {shape_str(v.shape)} cannot be written at {idx!r} of a tensor "
                      f"of shape {shape_str(a.shape)}: {e}") from None
    vshape = v.shape

    def backward(g):
        ga = np.array(g, dtype=np.float32, copy=True)
        ga[idx] = 0
        gv = _unbroadcast(np.asarray(g[idx]), vshape) if v.requires_grad else None
        return ga, gv
    return _record("IndexPutBackward0", out, (a, v), backward)


# ---- binary ops with broadcasting -----------------------------------------------------------

def _operand(x, op) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (_py_bool, np.bool_)):
        return Tensor._wrap(np.asarray(x, dtype=np.bool_))
    if isinstance(x, numbers.Integral):
        return Tensor._wrap(np.asarray(x, dtype=np.int64))
    if isinstance(x, numbers.Real):
        return Tensor._wrap(np.asarray(x, dtype=np.float32))
    if isinstance(x, np.ndarray):
        return Tensor._wrap(_as_array(x, copy=False))
    raise TypeError(f"{op}: unsupported operand type {type(x).__name__}")


def _result_dtype(a: Tensor, b: Tensor, op):
    # Python scalars are 0-d tensors here; like torch, a float operand makes the result float32.
    if a.dtype == float32 or b.dtype == float32 or op == "div":
        return float32
    if a.dtype == bool and b.dtype == bool and op in ("mul",):
        return bool
    return int64


def _scalar_operand(v):
    """A Python float (or small int) as a 0-d float32 Tensor, the value _operand + astype give."""
    t = type(v)
    if t is float or t is int and -_EXACT_INT <= v <= _EXACT_INT:
        return Tensor._wrap(np.asarray(v, dtype=np.float32))
    return None


_EXACT_INT = 2 ** 24  # ints up to here are exact in float32, so converting them directly is safe


def _check_broadcast(op, sa, sb):
    try:
        np.broadcast_shapes(sa, sb)
    except ValueError:
        raise ValueError(f"{op}: shapes {shape_str(sa)} and {shape_str(sb)} cannot be broadcast together") from None


def _binary(op, name, a, b, forward, backward, saved_inputs=False) -> Tensor:
    # Fast path: float32 tensors of one shape, or a float32 tensor and a Python number (no
    # broadcast_shapes, no casts); anything else takes the general path below.
    x = y = None
    if isinstance(a, Tensor) and a._data.dtype is float32:
        if isinstance(b, Tensor):
            if b._data.dtype is float32:
                x, y = a._data, b._data
        else:
            b_t = _scalar_operand(b)
            if b_t is not None:
                b, x, y = b_t, a._data, b_t._data
    elif isinstance(b, Tensor) and b._data.dtype is float32 and not isinstance(a, Tensor):
        a_t = _scalar_operand(a)
        if a_t is not None:
            a, x, y = a_t, a_t._data, b._data
    if x is not None:
        try:
            out = forward(x, y)  # the ufunc broadcasts
        except ValueError:
            _check_broadcast(op, a.shape, b.shape)
            raise
        if type(out) is not np.ndarray or out.dtype is not float32:  # 0-d operands give a NumPy scalar
            out = np.asarray(out).astype(float32, copy=False)
    else:
        a, b = _operand(a, op), _operand(b, op)
        _check_broadcast(op, a.shape, b.shape)
        dtype = _result_dtype(a, b, op)
        x, y = a._data.astype(dtype, copy=False), b._data.astype(dtype, copy=False)
        out = np.asarray(forward(x, y)).astype(dtype, copy=False)
    sa, sb = a._data.shape, b._data.shape

    def rule(g):
        ga, gb = backward(g, x, y, out)
        # out.shape, not the operands' broadcast shape: where()'s condition may broadcast further.
        full = out.shape
        return (None if ga is None or not a.requires_grad else _unbroadcast(_broadcast(ga, full), sa),
                None if gb is None or not b.requires_grad else _unbroadcast(_broadcast(gb, full), sb))
    return _binary_record(name, out, a, b, rule, saved_inputs)


def _add_rule(g, x, y, o):
    return g, g


def _sub_rule(g, x, y, o):
    return g, -g


def _mul_rule(g, x, y, o):
    return g * y, g * x


def _div_rule(g, x, y, o):
    return g / y, -g * x / (y * y)


def add(a, b) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("add", add, a, b)
    return _binary("add", "AddBackward0", a, b, np.add, _add_rule)


def sub(a, b) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("sub", sub, a, b)
    return _binary("sub", "SubBackward0", a, b, np.subtract, _sub_rule)


def mul(a, b) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("mul", mul, a, b)
    return _binary("mul", "MulBackward0", a, b, np.multiply, _mul_rule, True)


def div(a, b) -> Tensor:
    if _trace.tracer is not None:
        return _trace.tracer.op("div", div, a, b)
    return _binary("div", "DivBackward0", a, b, np.divide, _div_rule, True)


def pow(a, b) -> Tensor:  # noqa: A001
    def forward(x, y):
        if x.dtype == np.int64 and np.any(y < 0):
            raise RuntimeError("pow: integers to negative integer powers are not allowed")
        return np.power(x, y)

    def backward(g, x, y, o):
        with np.errstate(divide="ignore", invalid="ignore"):
            # y * x^(y-1) is 0 where y == 0 (torch masks it: 0 * inf would give NaN at x == 0).
            gx = np.where(y == 0, 0, g * y * np.power(x, y - 1))
            gy = g * o * np.where(x > 0, np.log(np.where(x > 0, x, 1)), np.where(x == 0, 0, np.nan))
        return gx, gy
    return _binary("pow", "PowBackward0", a, b, forward, backward, True)


def where(condition, x, y) -> Tensor:
    c = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if c.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {c.dtype}")
    return _binary("where", "WhereBackward0", x, y, lambda p, q: np.where(c, p, q),
                   lambda g, p, q, o: (np.where(c, g, 0), np.where(c, 0, g)))


def matmul(a, b) -> Tensor:
    """Matrix product with torch.matmul's semantics (1-D promotion, batch broadcasting), by GEMM."""
    if _trace.tracer is not None:
        return _trace.tracer.op("matmul", matmul, a, b)
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"matmul: both operands must be Tensors, got {type(a).__name__} and {type(b).__name__}")
    x, y = a._data, b._data
    if x.ndim == 2 and y.ndim == 2 and x.dtype is float32 and y.dtype is float32 and x.shape[1] == y.shape[0]:
        def backward(g):  # matrices: straight to the kernel, both ways
            g = np.asarray(g, dtype=float32)
            return (_mm2(g, y.T) if a.requires_grad else None, _mm2(x.T, g) if b.requires_grad else None)
        return _binary_record("MmBackward0", _mm2(x, y), a, b, backward, True)
    if x.dtype is not float32 or y.dtype is not float32 or not x.ndim or not y.ndim:
        for name, t in (("input", a), ("other", b)):
            if t.dtype != float32:
                raise TypeError(f"matmul: {name} has dtype {t.dtype}, expected float32")
            if t.ndim == 0:
                raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                                 f"{shape_str(a.shape)} and {shape_str(b.shape)}")
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    if x2.shape[-1] != y2.shape[-2]:
        raise ValueError(f"matmul: shapes {shape_str(a.shape)} and {shape_str(b.shape)} cannot be multiplied "
                         f"({x2.shape[-1]} != {y2.shape[-2]})")
    try:  # (matrices, the common case, skip the broadcast: a few microseconds per call)
        batch = () if x2.ndim == y2.ndim == 2 else np.broadcast_shapes(x2.shape[:-2], y2.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {shape_str(a.shape)} and {shape_str(b.shape)} "
                         "cannot be broadcast") from None
    out = _gemm(x, y) if x.size and y.size else np.matmul(x, y)
    full = (*batch, x2.shape[-2], y2.shape[-1])

    def mm(p, q):
        return _gemm(np.ascontiguousarray(p), np.ascontiguousarray(q)) if p.size and q.size else np.matmul(p, q)

    def backward(g):
        g2 = np.asarray(g, dtype=np.float32).reshape(full)
        ga = gb = None
        if a.requires_grad:
            ga = _unbroadcast(mm(g2, np.swapaxes(y2, -1, -2)), x2.shape).reshape(x.shape)
        if b.requires_grad:
            gb = _unbroadcast(mm(np.swapaxes(x2, -1, -2), g2), y2.shape).reshape(y.shape)
        return ga, gb
    return _record("MmBackward0", np.asarray(out, dtype=np.float32), (a, b), backward, saved=(a, b))


def _gemm_operand(x: np.ndarray):
    """x for the kernel and whether that is x transposed (a transposed view is read in place)."""
    flags = x.flags
    if flags.aligned:
        if flags.c_contiguous:
            return x, False
        if flags.f_contiguous:
            return x.T, True
    return np.require(x, requirements="CA"), False


def _mm2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """p @ q for float32 matrices whose inner sizes match: gemm.matmul's checks are done by then."""
    if not (p.size and q.size):
        return np.matmul(p, q)
    c = np.empty((p.shape[0], q.shape[1]), dtype=float32)
    fp, fq = p.flags, q.flags  # _gemm_operand, inlined for C-contiguous and transposed operands
    if fp.aligned and fq.aligned and (fp.c_contiguous or fp.f_contiguous) and (fq.c_contiguous or fq.f_contiguous):
        ta, tb = not fp.c_contiguous, not fq.c_contiguous
        return _C.gemm_plain(p.T if ta else p, q.T if tb else q, c, ta, tb)
    pa, ta = _gemm_operand(p)
    qa, tb = _gemm_operand(q)
    return _C.gemm_plain(pa, qa, c, ta, tb)


Tensor.__add__, Tensor.__sub__, Tensor.__mul__, Tensor.__truediv__ = add, sub, mul, div
Tensor.__pow__, Tensor.__matmul__ = pow, matmul


def cat(tensors, dim=0) -> Tensor:
    """Concatenate along an existing dimension, as torch.cat."""
    if _trace.tracer is not None:
        return _trace.tracer.op("cat", cat, tensors, dim)
    tensors = [_operand(t, "cat") for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated")
    axis = _dim1(dim, ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != tensors[0].shape[:axis] + \
                tensors[0].shape[axis + 1:]:
            raise ValueError(f"cat: tensor {i} has shape {shape_str(t.shape)}, which does not match "
                             f"{shape_str(tensors[0].shape)} outside dim {axis}")
    # float32 over int64 over bool, as torch's type promotion.
    dtype = next((d for d in (float32, int64) if any(t.dtype == d for t in tensors)), tensors[0].dtype)
    out = np.concatenate([t._data.astype(dtype, copy=False) for t in tensors], axis=axis)
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]
    return _record("CatBackward0", out, tensors, lambda g: tuple(np.split(g, bounds, axis=axis)))


def stack(tensors, dim=0) -> Tensor:
    """Join along a new dimension, as torch.stack."""
    tensors = [_operand(t, "stack") for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {shape_str(t.shape)} but tensor 0 has shape "
                             f"{shape_str(tensors[0].shape)}")
    n = tensors[0].ndim + 1
    if isinstance(dim, _py_bool) or not isinstance(dim, numbers.Integral) or not -n <= dim < n:
        raise IndexError(f"stack: dim {dim!r} is out of range for a result of {n} dimensions")
    return cat([t.unsqueeze(dim) for t in tensors], dim)


# ---- factories -------------------------------------------------------------------------------

def _check_device(device, op):
    if device not in (None, "cpu"):
        raise ValueError(f"{op}: only device='cpu' is supported, got {device!r}")


def tensor(data, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of data (float64 -> float32, ints -> int64)."""
    _check_device(device, "tensor")
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing array's memory (float32, int64 or bool arrays only)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in _ALLOWED:
        raise TypeError(f"from_numpy: array has dtype {array.dtype}; fastcnn shares only float32, int64 or bool "
                        "arrays (convert with fastcnn.tensor(), which copies)")
    return Tensor._wrap(array)


def from_dlpack(ext) -> Tensor:
    """A tensor sharing the memory of any DLPack producer (torch tensor, NumPy array, ...)."""
    if isinstance(ext, Tensor):
        return ext.detach()
    return from_numpy(np.from_dlpack(ext))


def _size(shape, op):
    return _shape_args(shape, op)


def _factory(data, requires_grad):
    t = Tensor._wrap(data)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "zeros")
    return _factory(np.zeros(_size(shape, "zeros"), _normalize_dtype(dtype) or float32), requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "ones")
    return _factory(np.ones(_size(shape, "ones"), _normalize_dtype(dtype) or float32), requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "empty")
    return _factory(np.empty(_size(shape, "empty"), _normalize_dtype(dtype) or float32), requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "full")
    if dtype is None:
        dtype = float32 if isinstance(fill_value, float) else bool if isinstance(fill_value, _py_bool) else int64
    return _factory(np.full(_size((size,), "full"), fill_value, _normalize_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return zeros(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return ones(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad=False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn(*shape, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the global generator (see fastcnn.manual_seed)."""
    from .random import default_generator
    _check_device(device, "randn")
    _float_only(dtype, "randn")
    rng = (generator or default_generator).numpy
    return _factory(rng.standard_normal(_size(shape, "randn"), dtype=np.float32), requires_grad)


def rand(*shape, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) from the global generator."""
    from .random import default_generator
    _check_device(device, "rand")
    _float_only(dtype, "rand")
    rng = (generator or default_generator).numpy
    return _factory(rng.random(_size(shape, "rand"), dtype=np.float32), requires_grad)


def _float_only(dtype, op):
    if dtype is not None and np.dtype(dtype) != float32:
        raise TypeError(f"{op}: dtype must be fastcnn.float32, got {dtype!r}")


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    values = np.arange(start, end, step)
    if dtype is None:
        dtype = int64 if values.dtype.kind in "iu" else float32
    return _factory(values.astype(_normalize_dtype(dtype)), requires_grad)
