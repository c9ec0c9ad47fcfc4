"""fastcnn.summary(model, input_shape): a per-layer table of output shape, parameters, multiply-adds,
receptive field and jump, with totals, from one forward pass in eval mode.

Receptive field r and jump j (the input-pixel distance between adjacent outputs) follow the standard
recurrences per spatial axis through Conv2d / MaxPool2d / AvgPool2d / AdaptiveAvgPool2d modules:
    j_out = j_in * stride,    r_out = r_in + (dilation * (kernel - 1)) * j_in,
starting from r = j = 1 at the input; other layers pass them through. Where branches meet (addition,
concatenation) the largest r and j of the inputs are taken, found by walking the autograd graph back to
the nearest recorded layers. Pooling called functionally inside a forward (not as a module) is not seen.
Multiply-adds count Conv2d (outputs x in_channels/groups x kernel area) and Linear (outputs x
in_features) for the given batch; other layers count zero."""

from __future__ import annotations

import numpy as np

from . import nn
from .autograd import enable_grad
from .tensor import Tensor

__all__ = ["summary", "ModelSummary", "LayerSummary"]


class LayerSummary:
    """One row: name (qualified), type, depth, output shape, params, mult_adds, receptive field, jump."""

    __slots__ = ("name", "type", "depth", "is_leaf", "output_shape", "params", "mult_adds", "rf", "jump")

    def __repr__(self):
        return (f"LayerSummary({self.name!r}, {self.type}, output_shape={self.output_shape}, params={self.params}, "
                f"mult_adds={self.mult_adds}, rf={self.rf}, jump={self.jump})")


class ModelSummary(str):
    """The printed table (a str), with the numbers as attributes: layers (list of LayerSummary),
    total_params, trainable_params, total_mult_adds, input_shape, output_shape."""

    layers: list
    total_params: int
    trainable_params: int
    total_mult_adds: int
    input_shape: tuple
    output_shape: tuple

    def layer(self, name: str) -> LayerSummary:
        for row in self.layers:
            if row.name == name:
                return row
        raise KeyError(f"summary: no layer named {name!r}")


def _pair(v):
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _rf_step(module, in_shape, out_shape):
    """(kernel, stride, dilation) per spatial axis for modules that change the receptive field, else None."""
    if isinstance(module, nn.Conv2d):
        return module.kernel_size, module.stride, module.dilation
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        dil = _pair(getattr(module, "dilation", 1))
        return _pair(module.kernel_size), _pair(module.stride), dil
    if isinstance(module, nn.AdaptiveAvgPool2d) and len(in_shape) == 4 and len(out_shape) == 4:
        # Bin i covers [floor(i*in/out), ceil((i+1)*in/out)): stride in//out, widest bin as kernel.
        k, s = [], []
        for i_, o in zip(in_shape[2:], out_shape[2:]):
            k.append(max(-(-(b + 1) * i_ // o) - (b * i_) // o for b in range(o)))
            s.append(max(i_ // o, 1))
        return tuple(k), tuple(s), (1, 1)
    return None


def _mult_adds(module, out) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return int(np.prod(out.shape)) * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return int(np.prod(out.shape)) * module.in_features
    return 0


def _fmt_shape(shape):
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _fmt_axes(v):
    return str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"


def summary(model, input_shape, *, depth=None, print_summary: bool = True) -> ModelSummary:
    """Run `model` once on a random input of `input_shape` ((C, H, W) for batch 1, or (N, C, H, W)) and
    tabulate every submodule (nested ones indented; `depth` limits how deep rows are shown: 1 = the
    model's direct children). Returns the table as a ModelSummary (a str with totals) and prints it
    unless print_summary=False."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"summary: model must be a fastcnn.nn.Module, got {type(model).__name__}")
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = all(int(s) == s for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(f"summary: input_shape must be a sequence of ints, got {input_shape!r}") from None
    if not ok or len(shape) not in (3, 4) or min(shape) < 1:
        raise ValueError(f"summary: input_shape must be (C, H, W) or (N, C, H, W) of positive ints, "
                         f"got {tuple(input_shape)}")
    if len(shape) == 3:
        shape = (1,) + shape
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"summary: depth must be None or a positive int, got {depth!r}")

    info = {}    # id(graph node or leaf tensor) -> (rf, jump), per spatial axis
    keep = []    # keeps the keyed objects alive so ids stay unique
    rows = []

    def key_of(t):
        return t._ctx if t._ctx is not None else t

    def lookup(t):
        start = key_of(t)
        if id(start) in info:
            return info[id(start)]
        found, seen, stack = [], {id(start)}, [start]
        while stack:  # walk back to the nearest recorded tensors on every path
            obj = stack.pop()
            for nxt in getattr(obj, "next", ()) or ():
                if nxt is None or id(nxt) in seen:
                    continue
                seen.add(id(nxt))
                if id(nxt) in info:
                    found.append(info[id(nxt)])
                else:
                    stack.append(nxt)
        if not found:
            return (1, 1), (1, 1)
        return (tuple(max(f[0][a] for f in found) for a in range(2)),
                tuple(max(f[1][a] for f in found) for a in range(2)))

    def record(t, value):
        k = key_of(t)
        info[id(k)] = value
        keep.append(k)

    def wrap(name, module, level, leaf):
        original = module.forward

        def forward(*args, **kwargs):
            row = LayerSummary()
            row.name, row.type, row.depth, row.is_leaf = name, type(module).__name__, level, leaf
            rows.append(row)
            out = original(*args, **kwargs)
            x = args[0] if args and isinstance(args[0], Tensor) else None
            if isinstance(args[0] if args else None, (list, tuple)):  # e.g. DenseNet's layers take a list
                x = next((a for a in args[0] if isinstance(a, Tensor)), None)
            y = out[0] if isinstance(out, tuple) and out and isinstance(out[0], Tensor) else out
            rf, jump = lookup(x) if x is not None else ((1, 1), (1, 1))
            if isinstance(y, Tensor):
                if leaf:
                    step = _rf_step(module, x.shape if x is not None else (), y.shape)
                    if step is not None:
                        (k, s, d) = step
                        rf = tuple(rf[a] + d[a] * (k[a] - 1) * jump[a] for a in range(2))
                        jump = tuple(jump[a] * s[a] for a in range(2))
                    record(y, (rf, jump))
                else:
                    rf, jump = lookup(y)
                row.output_shape = tuple(y.shape)
                row.mult_adds = _mult_adds(module, y) if leaf else 0
            else:
                row.output_shape, row.mult_adds = None, 0
            row.rf, row.jump = rf, jump
            return out
        return forward

    named = [(n, m) for n, m in model.named_modules() if n]
    modes = [(m, m.training) for m in model.modules()]
    for name, m in named:
        leaf = not any(True for _ in m.children())
        object.__setattr__(m, "forward", wrap(name, m, name.count("."), leaf))
    rng = np.random.default_rng(0)
    x = Tensor._wrap(rng.standard_normal(shape).astype(np.float32))
    x.requires_grad_(True)
    record(x, ((1, 1), (1, 1)))
    try:
        model.eval()
        with enable_grad():
            out = model(x)
    finally:
        for _, m in named:
            m.__dict__.pop("forward", None)
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    # Containers: parameters and mult-adds of everything inside them.
    for row in rows:
        if not row.is_leaf:
            prefix = row.name + "."
            row.mult_adds = sum(r.mult_adds for r in rows if r.is_leaf and r.name.startswith(prefix))
    params = {n: m for n, m in named}
    for row in rows:
        m = params[row.name]
        row.params = int(sum(np.prod(p.shape, dtype=np.int64) for p in m.parameters(recurse=not row.is_leaf)))

    total = int(sum(np.prod(p.shape, dtype=np.int64) for p in model.parameters()))
    trainable = int(sum(np.prod(p.shape, dtype=np.int64) for p in model.parameters() if p.requires_grad))
    mult_adds = sum(r.mult_adds for r in rows if r.is_leaf)
    y = out[0] if isinstance(out, tuple) else out

    shown = [r for r in rows if depth is None or r.depth < depth]
    header = ("Layer (type)", "Output shape", "Param #", "Mult-adds", "RF", "Jump")
    body = [("  " * r.depth + f"{r.name} ({r.type})", _fmt_shape(r.output_shape) if r.output_shape else "-",
             f"{r.params:,}" if r.is_leaf else f"({r.params:,})", f"{r.mult_adds:,}", _fmt_axes(r.rf),
             _fmt_axes(r.jump)) for r in shown]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "=" * len(line(header))
    lines = [rule, line(header), rule] + [line(b) for b in body] + [rule]
    lines += [f"Input shape: {_fmt_shape(shape)}",
              f"Output shape: {_fmt_shape(y.shape) if isinstance(y, Tensor) else '-'}",
              f"Total params: {total:,}", f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}", f"Total mult-adds: {mult_adds:,}",
              "(Param # in parentheses: the container's modules together, not added again to the total)", rule]
    result = ModelSummary("\n".join(lines))
    result.layers, result.total_params, result.trainable_params = rows, total, trainable
    result.total_mult_adds, result.input_shape = mult_adds, shape
    result.output_shape = tuple(y.shape) if isinstance(y, Tensor) else None
    if print_summary:
        print(result)
    return result
