"""Optimizer: the base class of fastcnn's optimizers, as torch.optim.Optimizer.

A parameter is any object ``p`` with ``p.numpy()``, its float32 C-contiguous array
(updated in place, never copied; read through ``p.detach().numpy()`` where ``p`` has
``detach``, since a fastcnn Tensor that requires grad refuses ``numpy()`` as torch's does),
and ``p.grad``: None or an object whose ``.numpy()``
is the gradient array of the same shape. Per-parameter state lives in ``self.state[p]``
as NumPy float32 arrays plus ``"step"`` (a Python float, the value of torch's step
tensor). Subclasses update each parameter with one fused native kernel.

``state_dict()`` has torch's format: ``{"state": {index: {...}}, "param_groups": [{...,
"params": [index, ...]}]}`` with indices counted over all groups in order; its arrays are
copies. ``load_state_dict()`` accepts that format (array values may be NumPy arrays or
anything with ``.numpy()``, e.g. a torch state dict).
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import MutableMapping

import numpy as np

from ..ops._args import shape_str

__all__ = ["Optimizer"]


class _ParamState(MutableMapping):
    """A dict keyed by parameter identity (parameters need not be hashable)."""

    def __init__(self):
        self._items: dict[int, tuple[object, dict]] = {}

    def __getitem__(self, param):
        return self._items[id(param)][1]

    def __setitem__(self, param, value):
        self._items[id(param)] = (param, value)

    def __delitem__(self, param):
        del self._items[id(param)]

    def __iter__(self):
        return (param for param, _ in self._items.values())

    def __len__(self):
        return len(self._items)

    def get(self, param, default=None):
        entry = self._items.get(id(param))
        return default if entry is None else entry[1]

    def __contains__(self, param):
        return id(param) in self._items


def _is_param(obj) -> bool:
    return callable(getattr(obj, "numpy", None)) and hasattr(obj, "grad")


def _check_number(value, message: str, minimum: float = 0.0, below: float | None = None) -> None:
    """ValueError(message) unless minimum <= value (< below); NaN fails too."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{message} (expected a real number, got {type(value).__name__})")
    if not (minimum <= value and (below is None or value < below)):
        raise ValueError(message)


class Optimizer:
    """Base class: parameter groups, state, zero_grad, state_dict / load_state_dict."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = _ParamState()
        self.param_groups: list[dict] = []
        if _is_param(params):
            raise TypeError("params argument given to the optimizer should be an iterable of parameters or "
                            f"dicts, but got {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of parameters in sets will change between runs. Please use a list instead.")
        try:
            param_groups = list(params)
        except TypeError:
            raise TypeError("params argument given to the optimizer should be an iterable of parameters or "
                            f"dicts, but got {type(params).__name__}") from None
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(dict(group))

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {key}: {group[key]}" for key in sorted(group) if key != "params")
        lines.append(")")
        return "\n".join(lines)

    # ---- parameter groups -------------------------------------------------------------
    def _check_group(self, group: dict) -> None:
        """Subclasses validate a group's options (ValueError naming the value)."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a dict with "params" and optional per-group options (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        params = param_group["params"]
        if _is_param(params):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of parameters in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not _is_param(p):
                raise TypeError("optimizer can only optimize parameters (objects with .numpy() and .grad), "
                                f"but one of the params is {type(p).__name__}")
        group = dict(param_group)
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        ids = [id(p) for p in params]
        if len(ids) != len(set(ids)):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing.intersection(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self._check_group(group)
        self.param_groups.append(group)

    # ---- gradients ----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every gradient to None, or (set_to_none=False) fill it with zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.numpy()[...] = 0.0

    def step(self, closure=None):
        """One update of every parameter that has a gradient; returns closure() if given."""
        loss = None
        if closure is not None:
            loss = closure()
        name = type(self).__name__
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                param, grad = _arrays(p, name)
                # New state is kept only once the update has run, and only if there is some.
                state = self.state.get(p)
                if state is None:
                    state = {}
                    self._update(group, param, grad, state)
                    if state:
                        self.state[p] = state
                else:
                    self._update(group, param, grad, state)
                bump = getattr(p, "_bump", None)  # an in-place change: bump the version, as torch
                if callable(bump):
                    bump()
        return loss

    def _update(self, group: dict, param: np.ndarray, grad: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    # ---- state dict ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index and s:
                state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        name = type(self).__name__
        new_state = _ParamState()
        saved_state = state_dict["state"]
        for group, saved in zip(self.param_groups, saved_groups):
            for p, index in zip(group["params"], saved["params"]):
                if index not in saved_state:
                    continue
                shape = _param_array(p).shape
                entry = {}
                for key, value in saved_state[index].items():
                    if key == "step":
                        entry[key] = float(value.item() if hasattr(value, "item") else value)
                        continue
                    if value is None:
                        entry[key] = None
                        continue
                    array = np.array(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float32,
                                     order="C", copy=True)
                    if array.shape != tuple(shape):
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {index} has shape "
                                         f"{shape_str(array.shape)} but the parameter has shape {shape_str(shape)}")
                    entry[key] = array
                new_state[p] = entry
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            for key, default in self.defaults.items():
                new_group.setdefault(key, default)
            new_group["params"] = group["params"]
            self._check_group(new_group)
            new_groups.append(new_group)
        self.state = new_state
        self.param_groups = new_groups


def _param_array(p) -> np.ndarray:
    """p's array, shared (detach() shares memory and lifts numpy()'s requires_grad refusal)."""
    detach = getattr(p, "detach", None)
    return (detach() if callable(detach) else p).numpy()


def _arrays(p, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The parameter's array and its gradient array, checked for the native kernel."""
    param = _param_array(p)
    grad = p.grad.numpy()
    for what, a in (("parameter", param), ("grad", grad)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name}: {what}.numpy() must return a numpy.ndarray, got {type(a).__name__}")
        if a.dtype != np.float32:
            raise TypeError(f"{name}: {what} has dtype {a.dtype}, expected float32")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}: {what} of shape {shape_str(a.shape)} is not C-contiguous")
    if not param.flags.writeable:
        raise ValueError(f"{name}: parameter of shape {shape_str(param.shape)} is read-only")
    if grad.shape != param.shape:
        raise ValueError(f"{name}: grad of shape {shape_str(grad.shape)} does not match parameter of shape "
                         f"{shape_str(param.shape)}")
    return param, grad


def _zeros_like(param: np.ndarray) -> np.ndarray:
    return np.zeros(param.shape, dtype=np.float32)
