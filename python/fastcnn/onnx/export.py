"""fastcnn.onnx.export: run a model once in eval mode and record its ops as an ONNX graph.

Recording: while exporting, fastcnn.tensor._trace.tracer is a Tracer. The traceable ops (the
functional layers in fastcnn.nn.functional and a few Tensor ops: add/sub/mul/div, matmul, cat,
reshape/flatten, mean, slicing, clamp) hand themselves to Tracer.op, which runs the op with the
tracer switched off (so the ops it is built from are not recorded again) and then emits one
ONNX node for it (see _emit.py). Values are told apart by tensor identity; parameters and
buffers become float32 initializers named by their state_dict keys. Any other op that reads a
recorded value reaches Tracer.unsupported (from tensor._record) and stops the export.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from ..tensor import _trace
from .._atomic import atomic_write
from ..autograd import no_grad
from ..ops._args import shape_str
from ..tensor import Tensor
from ._deps import require_onnx
from ._emit import EMITTERS

__all__ = ["export", "UnsupportedOperatorError"]

MIN_OPSET = 13  # Softmax's single-axis semantics and Clip/Pad/Slice's tensor inputs


class UnsupportedOperatorError(NotImplementedError):
    """An op the ONNX exporter (or importer) cannot express."""


class Tracer:
    def __init__(self, onnx, model, opset: int, dynamic_batch: bool):
        self.onnx, self.opset, self.dynamic_batch = onnx, opset, dynamic_batch
        self.nodes, self.initializers = [], []
        self.names = {}   # id(tensor) -> value name
        self.keep = []    # every named tensor stays alive, so no id is reused during the trace
        self.params = {id(t): name for name, t in model.state_dict(keep_vars=True).items() if t is not None}
        self.emitted_params = set()
        self.path = [""]  # module path stack (state_dict prefixes)
        self.module_types = [type(model).__name__]
        self.counter = 0

    # ---- the hooks the ops call ------------------------------------------------------------

    def op(self, name, fn, *args):
        _trace.tracer = None
        try:
            out = fn(*args)
        finally:
            _trace.tracer = self
        EMITTERS[name](self, out, *args)
        return out

    def unsupported(self, autograd_name, inputs) -> None:
        if any(isinstance(t, Tensor) and id(t) in self.names for t in inputs):
            op = autograd_name
            for suffix in ("Backward0", "Backward1", "Backward"):
                op = op[:-len(suffix)] if op.endswith(suffix) else op
            raise UnsupportedOperatorError(
                f"onnx.export: op '{op}' (autograd node {autograd_name}) in {self.where()} has no ONNX "
                f"translation; exportable ops: {', '.join(sorted(EMITTERS))} and the nn layers built on them")

    # ---- helpers for the emitters -------------------------------------------------------------

    def where(self) -> str:
        path = self.path[-1]
        return f"module '{path}' ({self.module_types[-1]})" if path else f"the model's forward ({self.module_types[0]})"

    def fail(self, op, message):
        raise UnsupportedOperatorError(f"onnx.export: {op} in {self.where()}: {message}")

    def value(self, t, op: str) -> str:
        """The value name of tensor t (an input, a recorded result, a parameter or a buffer)."""
        key = id(t)
        if key in self.names:
            return self.names[key]
        if key in self.params:
            name = self.params[key]
            if name not in self.emitted_params:
                if t.dtype != np.float32:
                    self.fail(op, f"buffer '{name}' has dtype {t.dtype}; only float32 tensors can be read")
                self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(t._data), name))
                self.emitted_params.add(name)
            return name
        self.fail(op, f"it reads a tensor of shape {shape_str(t.shape)} that no recorded op produced and that is "
                      "not a parameter or buffer of the model (made by an unsupported op, or created inside "
                      "forward)")

    def const(self, array, hint="const") -> str:
        """A Constant node (not an initializer: those are exactly the model's state_dict tensors)."""
        self.counter += 1
        name = f"{hint}_{self.counter}"
        value = self.onnx.numpy_helper.from_array(np.asarray(array), name)
        self.nodes.append(self.onnx.helper.make_node("Constant", [], [name], name=f"/Constant_{self.counter}",
                                                     value=value))
        return name

    def node(self, op_type, inputs, out, **attrs) -> str:
        """Adds a node whose single output is tensor `out` (bound to its name); returns the name."""
        self.counter += 1
        prefix = "/" + self.path[-1].replace(".", "/") if self.path[-1] else ""
        name = f"{prefix}/{op_type}_{self.counter}"
        output = f"{name}:0"
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [output], name=name, **attrs))
        if out is not None:
            self.bind(out, output)
        return output

    def bind(self, t, name) -> None:
        self.names[id(t)] = name
        self.keep.append(t)


def _check_names(names, what):
    if isinstance(names, str) or not all(isinstance(n, str) and n for n in names):
        raise TypeError(f"export: {what} must be a sequence of non-empty strings, got {names!r}")
    names = tuple(names)
    if len(set(names)) != len(names):
        raise ValueError(f"export: {what} {names!r} repeat a name")
    return names


def _flat_outputs(result):
    if isinstance(result, Tensor):
        return [result]
    if isinstance(result, (tuple, list)) and result and all(isinstance(t, Tensor) for t in result):
        return list(result)
    raise TypeError(f"export: the model returned {type(result).__name__}; expected a Tensor or a tuple of Tensors")


def _value_info(onnx, name, shape, dynamic):
    dims = [("batch" if dynamic and i == 0 else int(d)) for i, d in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def _wrap_forwards(model, tracer):
    """Each module's forward pushes its state_dict path while it runs (for error messages and node
    names); returns the undo list. Instance attributes, removed afterwards: the classes are untouched."""
    undo = []
    for path, module in model.named_modules():
        bound = module.forward

        def forward(*args, _bound=bound, _path=path, _type=type(module).__name__, **kwargs):
            tracer.path.append(_path)
            tracer.module_types.append(_type)
            try:
                return _bound(*args, **kwargs)
            finally:
                tracer.path.pop()
                tracer.module_types.pop()
        undo.append((module, module.__dict__.get("forward")))
        module.__dict__["forward"] = forward
    return undo


def export(model, example_input, path, opset_version=17, input_names=("input",), output_names=("output",),
           dynamic_batch=True) -> None:
    """Writes `model` as an ONNX file at `path`, traced on `example_input` in eval mode (as torch.onnx.export).

    example_input: a Tensor, or a tuple of Tensors for a model with several inputs (one input name each).
    dynamic_batch: dimension 0 of the inputs and outputs is named "batch", so any batch size runs.
    The file is written atomically and checked with onnx.checker."""
    from ..nn.module import Module
    onnx = require_onnx()
    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a fastcnn.nn.Module, got {type(model).__name__}")
    inputs = (example_input,) if isinstance(example_input, Tensor) else example_input
    if not isinstance(inputs, (tuple, list)) or not inputs or not all(isinstance(t, Tensor) for t in inputs):
        raise TypeError(f"export: example_input must be a Tensor or a tuple of Tensors, got "
                        f"{type(example_input).__name__}")
    for i, t in enumerate(inputs):
        if t.dtype != np.float32:
            raise TypeError(f"export: example input {i} has dtype {t.dtype}; only float32 inputs are exported")
        if dynamic_batch and t.ndim == 0:
            raise ValueError(f"export: dynamic_batch=True needs a batch dimension, but example input {i} is 0-d")
    input_names, output_names = _check_names(input_names, "input_names"), _check_names(output_names, "output_names")
    if len(input_names) != len(inputs):
        raise ValueError(f"export: {len(inputs)} example input(s) but input_names has {len(input_names)}: "
                         f"{input_names!r}")
    max_opset = onnx.defs.onnx_opset_version()
    if isinstance(opset_version, bool) or not isinstance(opset_version, numbers.Integral) \
            or not MIN_OPSET <= opset_version <= max_opset:
        raise ValueError(f"export: opset_version must be an int in [{MIN_OPSET}, {max_opset}], got {opset_version!r}")
    if not isinstance(dynamic_batch, bool):
        raise TypeError(f"export: dynamic_batch must be a bool, got {dynamic_batch!r}")
    path = os.fspath(path)

    tracer = Tracer(onnx, model, int(opset_version), dynamic_batch)
    for t, name in zip(inputs, input_names):
        tracer.bind(t, name)
    modes = [(m, m.training) for m in model.modules()]
    undo = _wrap_forwards(model, tracer)
    model.eval()
    try:
        with no_grad():
            _trace.tracer = tracer
            try:
                result = model(*inputs)
            finally:
                _trace.tracer = None
    finally:
        for module, previous in undo:
            if previous is None:
                del module.__dict__["forward"]
            else:
                module.__dict__["forward"] = previous
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    outputs = _flat_outputs(result)
    if len(outputs) != len(output_names):
        raise ValueError(f"export: the model returned {len(outputs)} tensor(s) but output_names has "
                         f"{len(output_names)}: {output_names!r}")
    _name_outputs(onnx, tracer, outputs, output_names)
    graph = onnx.helper.make_graph(
        tracer.nodes, type(model).__name__,
        [_value_info(onnx, n, t.shape, dynamic_batch) for t, n in zip(inputs, input_names)],
        [_value_info(onnx, n, t.shape, dynamic_batch) for t, n in zip(outputs, output_names)],
        tracer.initializers)
    opset = onnx.helper.make_opsetid("", int(opset_version))
    proto = onnx.helper.make_model(graph, opset_imports=[opset], producer_name="fastcnn")
    proto.ir_version = onnx.helper.find_min_ir_version_for([opset])
    data = proto.SerializeToString()  # once: checking the bytes saves a second copy of big models
    onnx.checker.check_model(data)
    atomic_write(path, data)


def _name_outputs(onnx, tracer, outputs, output_names) -> None:
    """Renames each output's producing node output to the requested name (Identity where it has none
    of its own: an input, a parameter, or a tensor returned twice)."""
    produced = {out: node for node in tracer.nodes for out in node.output}
    renamed = {}
    for t, name in zip(outputs, output_names):
        value = tracer.value(t, "output")
        if value in produced and value not in renamed:
            renamed[value] = name
        else:
            tracer.nodes.append(onnx.helper.make_node("Identity", [value], [name], name=f"/Identity_{name}"))
    for node in tracer.nodes:
        for field in (node.input, node.output):
            for i, v in enumerate(field):
                if v in renamed:
                    field[i] = renamed[v]
