"""fastcnn.onnx.load: an ONNX file as a runnable fastcnn Module (GraphModule).

Float initializers become Parameters (BatchNormalization's mean and variance: buffers) under their
ONNX names, nested by their dots, so state_dict() keys equal the initializer names. Inputs that
only configure a node (Reshape's shape, Pad's pads, Slice's bounds, ...) must be constants and are
read once here. Every node is checked at load time: an op or attribute outside the supported set
raises, naming the node."""

from __future__ import annotations

import os

import numpy as np

from ..nn.module import Module
from ..nn.parameter import Parameter
from ..ops._args import shape_str
from ..tensor import Tensor
from ._deps import require_onnx
from ._ops import OPS, STATIC_INPUTS, BUFFER_INPUTS, ImportContext
from .export import UnsupportedOperatorError

__all__ = ["load", "GraphModule"]


class GraphModule(Module):
    """Runs an imported ONNX graph: forward(*inputs) -> the output Tensor (or a tuple of them)."""

    def __init__(self, graph_name, inputs, outputs, steps, constants, onnx_names):
        super().__init__()
        object.__setattr__(self, "_graph", (graph_name, inputs, outputs, steps, constants))
        object.__setattr__(self, "initializer_names", onnx_names)  # state_dict key -> ONNX initializer name

    def forward(self, *args):
        name, inputs, outputs, steps, constants = self._graph
        if len(args) != len(inputs):
            raise TypeError(f"{name}: expected {len(inputs)} input(s) {[n for n, _ in inputs]}, got {len(args)}")
        env = dict(constants)
        for (key, onnx_name) in self.initializer_names.items():
            env[onnx_name] = self._lookup(key)
        for (input_name, dims), x in zip(inputs, args):
            x = x if isinstance(x, Tensor) else Tensor(x)
            if dims is not None and (x.ndim != len(dims) or any(
                    isinstance(d, int) and d != s for d, s in zip(dims, x.shape))):
                raise ValueError(f"{name}: input '{input_name}' has shape {shape_str(x.shape)}, the graph expects "
                                 f"({', '.join(str(d) for d in dims)})")
            env[input_name] = x
        for node_name, fn, ins, outs in steps:
            try:
                results = fn(*[env[i] if i else None for i in ins])
            except (ValueError, TypeError, RuntimeError) as e:
                raise type(e)(f"{name}: node '{node_name}' failed: {e}") from e
            for out, value in zip(outs, results):
                env[out] = value
        values = tuple(env[o] for o in outputs)
        return values[0] if len(values) == 1 else values

    def _lookup(self, key):
        module = self
        *parents, leaf = key.split(".")
        for part in parents:
            module = module._modules[part]
        return module._parameters[leaf] if leaf in module._parameters else module._buffers[leaf]

    def extra_repr(self) -> str:
        name, inputs, outputs, steps, _ = self._graph
        return f"graph={name!r}, inputs={[n for n, _ in inputs]}, outputs={list(outputs)}, nodes={len(steps)}"


def _register(root, name, tensor, buffer, taken) -> str:
    """Registers tensor under its ONNX name, nested by dots; a flat safe name where that clashes."""
    parts = name.split(".")
    module = root
    try:
        if not all(parts) or name in taken:
            raise KeyError(name)
        for part in parts[:-1]:
            child = module._modules.get(part)
            if child is None:
                if part in module._parameters or part in module._buffers or hasattr(module, part):
                    raise KeyError(part)
                child = Module()
                module.add_module(part, child)
            module = child
        if parts[-1] in module._modules:
            raise KeyError(parts[-1])
        (module.register_buffer if buffer else module.register_parameter)(parts[-1], tensor)
        return name
    except (KeyError, AttributeError, TypeError):
        i = 0
        while f"initializer_{i}" in taken or hasattr(root, f"initializer_{i}"):
            i += 1
        key = f"initializer_{i}"
        (root.register_buffer if buffer else root.register_parameter)(key, tensor)
        return key


def load(path) -> GraphModule:
    """Reads an ONNX model file (or an onnx.ModelProto) into a GraphModule (eval mode)."""
    onnx = require_onnx()
    if isinstance(path, onnx.ModelProto):
        proto, where = path, "the ModelProto"
    else:
        path = os.fspath(path)
        where = repr(path)
        try:
            with open(path, "rb") as f:
                proto = onnx.load_model_from_string(f.read())
        except FileNotFoundError:
            raise
        except Exception as e:  # noqa: BLE001 - protobuf raises its own DecodeError
            raise ValueError(f"load: {where} is not a readable ONNX model: {e}") from e
    try:
        onnx.checker.check_model(proto)
    except Exception as e:  # noqa: BLE001 - onnx.checker.ValidationError and friends
        raise ValueError(f"load: {where} is not a valid ONNX model: {e}") from e
    return _build(onnx, proto, where)


def _opset(proto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 1


def _build(onnx, proto, where) -> GraphModule:
    graph = proto.graph
    ctx = ImportContext(onnx, _opset(proto), where)
    initializers = {t.name: onnx.numpy_helper.to_array(t) for t in graph.initializer}
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in graph.initializer):
        raise UnsupportedOperatorError(f"load: {where} keeps initializers in external files, which are not read")
    # Constant nodes and initializers that configure nodes are static: read once, here.
    static = dict(initializers)
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            static[node.output[0]] = ctx.constant_value(node)
    used_static, used_dynamic, buffers = set(), set(), set()
    for node in graph.node:
        positions = STATIC_INPUTS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if not name:
                continue
            if i in positions:
                used_static.add(name)
            else:
                used_dynamic.add(name)
                if i in BUFFER_INPUTS.get(node.op_type, ()):
                    buffers.add(name)

    module_inputs = []
    for vi in graph.input:
        if vi.name in initializers:
            continue
        ttype = vi.type.tensor_type
        if ttype.elem_type != onnx.TensorProto.FLOAT:
            raise UnsupportedOperatorError(f"load: graph input '{vi.name}' of {where} has element type "
                                           f"{onnx.TensorProto.DataType.Name(ttype.elem_type)}; only float inputs "
                                           "are supported")
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in ttype.shape.dim] \
            if ttype.HasField("shape") else None
        module_inputs.append((vi.name, dims))

    steps, available = [], set(initializers) | {n for n, _ in module_inputs}
    for index, node in enumerate(graph.node):
        label = node.name or f"#{index}"
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOperatorError(f"load: node '{label}' has op type '{node.op_type}' from domain "
                                           f"'{node.domain}', which fastcnn cannot import")
        if node.op_type == "Constant":
            available.update(node.output)
            continue
        builder = OPS.get(node.op_type)
        if builder is None:
            raise UnsupportedOperatorError(f"load: node '{label}' has op type '{node.op_type}', which fastcnn "
                                           f"cannot import; supported: {', '.join(sorted(OPS))}, Constant")
        positions = STATIC_INPUTS.get(node.op_type, ())
        for i, name in enumerate(node.input):
            if not name:
                continue
            if name not in available:
                raise ValueError(f"load: node '{label}' ({node.op_type}) reads '{name}', which no earlier node, "
                                 "input or initializer provides (nodes must be in topological order)")
            if i in positions and name not in static:
                raise UnsupportedOperatorError(
                    f"load: node '{label}' ({node.op_type}): input {i} ('{name}') must be a constant (an "
                    "initializer or a Constant node); computed values there are not supported")
        fn, n_out = builder(ctx.for_node(node, label), [static.get(n) if i in positions else None
                                                         for i, n in enumerate(node.input)])
        outs = list(node.output)
        if any(outs[n_out:]):
            raise UnsupportedOperatorError(f"load: node '{label}' ({node.op_type}) uses output(s) "
                                           f"{[o for o in outs[n_out:] if o]}, which are not supported")
        dynamic_ins = [n if i not in positions else "" for i, n in enumerate(node.input)]
        steps.append((label, fn, dynamic_ins, outs[:n_out]))
        available.update(o for o in outs[:n_out] if o)

    outputs = [o.name for o in graph.output]
    for o in outputs:
        if o not in available:
            raise ValueError(f"load: graph output '{o}' of {where} is produced by no node, input or initializer")

    constants, names = {}, {}
    module = GraphModule(graph.name or "graph", module_inputs, outputs, steps, constants, names)
    taken = set()
    for name, array in initializers.items():
        if name not in used_dynamic and name not in outputs:
            continue  # only configures nodes (read above), or unused
        if array.dtype != np.float32:
            constants[name] = Tensor(array)
            continue
        buffer = name in buffers
        tensor = Tensor._wrap(np.array(array, dtype=np.float32)) if buffer else Parameter(array)
        key = _register(module, name, tensor, buffer, taken)
        taken.add(key)
        names[key] = name
    for name, array in static.items():
        if name not in initializers and (name in used_dynamic or name in outputs):
            constants[name] = Tensor(array)  # a Constant node's value read as data
    return module.eval()
