"""The autograd tape: grad mode, graph nodes and the backward pass.

Every differentiable op whose inputs require grad records a `Node`: edges to the nodes
(or leaf tensors) that produced its inputs, a backward closure mapping the output's
gradient to one gradient per input, and the tensors it saved, with their versions, so
that an in-place change between forward and backward is caught. Edges point at nodes,
not tensors, so an in-place op may give a tensor a new node without rewiring the past.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "Node", "run_backward"]

class _GradState(threading.local):
    enabled = True  # a class default: one attribute read per op, no getattr fallback


_state = _GradState()
_F32 = np.dtype(np.float32)
_Tensor = None  # fastcnn.tensor.Tensor, bound on first use (that module imports this one)


def is_grad_enabled() -> bool:
    """Whether ops record the tape in this thread (True unless inside no_grad)."""
    return _state.enabled


class _GradMode:
    """Context manager and decorator setting grad mode, restoring the previous one."""

    _mode = True

    def __new__(cls, orig_func=None):
        if orig_func is not None:  # bare @no_grad, without parentheses
            return cls()(orig_func)
        return object.__new__(cls)

    def __enter__(self):
        self._previous = _state.enabled
        _state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record nothing (results have requires_grad=False)."""

    _mode = False


class enable_grad(_GradMode):
    """Re-enables the tape inside a no_grad block."""

    _mode = True


class set_grad_enabled(_GradMode):
    """Grad mode on or off, immediately (as a function) or for a with-block."""

    def __new__(cls, mode):
        return object.__new__(cls)

    def __init__(self, mode: bool):
        self._mode = bool(mode)
        self._previous_at_call = is_grad_enabled()
        _state.enabled = self._mode  # usable as a plain function too, as torch

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous_at_call
        return False

    def __call__(self, fn):
        mode = self._mode
        _state.enabled = self._previous_at_call  # decorating only: undo the immediate switch

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        return wrapper


class Node:
    """One recorded op. `next` holds, per input, a Node, a leaf Tensor or None (no grad)."""

    __slots__ = ("name", "next", "backward_fn", "saved", "retained", "__weakref__")

    def __init__(self, name, next_edges, backward_fn, saved):
        self.name = name
        self.next = next_edges
        self.backward_fn = backward_fn  # None once freed
        # ((version counter, version, shape), ...) of the tensors the rule reads: the counter
        # list, not the tensor, so a node saving its own output makes no reference cycle
        # (cycles wait for the garbage collector, which then costs every op).
        self.saved = saved
        self.retained = None  # weakref to the tensor that asked retain_grad()

    @property
    def freed(self) -> bool:
        return self.backward_fn is None

    def __repr__(self):
        return f"<{self.name}>"

    def apply(self, grad):
        if self.backward_fn is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({self.name} already freed its saved "
                "tensors). Specify retain_graph=True on the first backward() if you need to backward twice.")
        for counter, version, shape in self.saved:
            if counter[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: tensor of shape {tuple(shape)} saved by {self.name} is at version "
                    f"{counter[0]}; expected version {version} instead.")
        grads = self.backward_fn(grad)
        # Rules may return float64 or NumPy scalars; the checks cost less than converting all.
        for g in grads:
            if g is not None and (type(g) is not np.ndarray or g.dtype is not _F32):
                return tuple(_float32(g) for g in grads)
        return grads

    def free(self):
        # Nodes holding no data (add, reshape, ...) stay usable, as in torch.
        if self.saved is not None and self.saved != ():
            self.backward_fn = None
            self.saved = ()


class Owned:
    """A gradient a rule made fresh and keeps no reference to: a leaf may take it as its .grad
    instead of a copy (copying VGG-11's 400 MB classifier gradient faulted in fresh pages
    on every training step). Only rules that know their array is theirs alone wrap it."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


def _float32(g):
    if g is None:
        return None
    if type(g) is Owned:
        return g if g.array.dtype is _F32 else np.asarray(g.array, dtype=np.float32)
    return np.asarray(g, dtype=np.float32)


def _topological(root: Node) -> list[Node]:
    """Nodes reachable from root, each after every node that feeds gradient into it."""
    order, seen = [], {id(root)}
    stack = [(root, iter(root.next))]
    while stack:
        node, it = stack[-1]
        for child in it:
            if isinstance(child, Node) and id(child) not in seen:
                seen.add(id(child))
                stack.append((child, iter(child.next)))
                break
        else:
            stack.pop()
            order.append(node)
    order.reverse()  # root first
    return order


def _tensor_class():
    global _Tensor
    if _Tensor is None:
        from .tensor import Tensor
        _Tensor = Tensor
    return _Tensor


def _accumulate_leaf(leaf, grad) -> None:
    owned = type(grad) is Owned
    if owned:
        grad = grad.array
    if leaf.grad is None:
        if owned and grad.flags.c_contiguous and grad.flags.writeable:
            leaf.grad = _tensor_class()._wrap(grad)
            return
        # C order, as the leaf's own data: a transposed rule's gradient (linear's w.t()) would
        # otherwise keep Fortran order, which the optimizers' native kernels reject.
        leaf.grad = _tensor_class()._wrap(np.array(grad, dtype=np.float32, copy=True, order="C"))
    else:
        leaf.grad._data += grad
        leaf.grad._bump()


def run_backward(root_tensor, gradient: np.ndarray, retain_graph: bool) -> None:
    """Propagate `gradient` (root's shape) to every leaf requiring grad."""
    Tensor = _tensor_class()
    root = root_tensor._ctx
    if root is None:  # a leaf: its gradient is the seed itself
        _accumulate_leaf(root_tensor, gradient)
        return
    grads = {id(root): gradient}
    with no_grad():
        for node in _topological(root):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node.retained is not None:
                t = node.retained()
                if t is not None and t._ctx is node:
                    t.grad = Tensor._wrap(np.array(g, dtype=np.float32, copy=True)) if t.grad is None \
                        else Tensor._wrap(t.grad._data + g)
            in_grads = node.apply(g)
            if not retain_graph:
                node.free()
            for edge, gi in zip(node.next, in_grads):
                if edge is None or gi is None:
                    continue
                if isinstance(edge, Node):
                    if type(gi) is Owned:
                        gi = gi.array
                    prev = grads.get(id(edge))
                    grads[id(edge)] = gi if prev is None else prev + gi
                else:
                    _accumulate_leaf(edge, gi)
