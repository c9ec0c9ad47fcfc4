"""fastcnn.onnx: export (zoo models and the single ops) checked against onnxruntime, at the traced batch
size and another; load (round trips, a torch.onnx export, hand-built graphs against onnxruntime);
and the errors for what neither can express."""

import subprocess
import sys
import threading
import warnings
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models, nn
from fastcnn.nn import functional as F
from fastcnn.onnx import UnsupportedOperatorError
from fastcnn.tensor import _trace

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def randn(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def randomize(model, rng):
    """Non-trivial batch-norm statistics and affine terms, so eval-mode batch norm is exercised."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(randn(rng, c) * 0.1)
            m.running_var.copy_(rng.random(c).astype(np.float32) + 0.5)
            if m.weight is not None:
                m.weight.detach().copy_(rng.random(c).astype(np.float32) + 0.5)
                m.bias.detach().copy_(randn(rng, c) * 0.1)
    return model.eval()


def ours(model, x):
    with fastcnn.no_grad():
        return model(fastcnn.tensor(x)).numpy()


def run_ort(path, x, name="input"):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {name: x})[0]


def assert_close(got, want, tol=1e-4):
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, float(np.abs(want).max())))


# ---- the model zoo through onnxruntime ----------------------------------------------------------

class VGG11BnFeatures(nn.Module):
    """vgg11_bn's features and 7x7 adaptive pool (1x1 -> 7x7 at 32x32 input: an Expand) with a small
    classifier: the zoo's VGG-11 head alone is 120M parameters (and alexnet's 58M), too slow to serialize
    here; the original alexnet below keeps one big fully connected stack."""

    def __init__(self):
        super().__init__()
        self.features = models.vgg.make_layers(models.vgg.cfgs["A"], batch_norm=True)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 10), nn.ReLU(), nn.Dropout(0.5), nn.Linear(10, 10))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


# name, kwargs, input shape (C, H, W): the smallest (or near) each accepts, to keep the file fast.
ZOO = [
    ("lenet5", {}, (1, 32, 32)), ("lenet5", {"variant": "modern"}, (1, 32, 32)),
    ("alexnet", {"variant": "original", "num_classes": 10}, (3, 227, 227)),
    ("vgg11_bn-features", {}, (3, 32, 32)), ("vgg_small", {}, (1, 28, 28)),
    ("googlenet", {"num_classes": 10, "transform_input": True}, (3, 32, 32)),
    ("inception_v3", {"num_classes": 10, "aux_logits": False}, (3, 75, 75)),
    ("resnet18", {"num_classes": 10}, (3, 32, 32)), ("resnet50", {"num_classes": 10}, (3, 32, 32)),
    ("resnet20", {}, (3, 32, 32)), ("densenet121", {"num_classes": 10}, (3, 32, 32)),
    ("mobilenet_v1", {"num_classes": 10}, (3, 32, 32)), ("mobilenet_v2", {"num_classes": 10}, (3, 32, 32)),
]
ZOO_IDS = [f"{n}-{kw.get('variant', '')}{s[1]}" for n, kw, s in ZOO]


@pytest.mark.parametrize("name,kw,shape", ZOO, ids=ZOO_IDS)
def test_zoo_model_exports_and_onnxruntime_matches_at_two_batch_sizes(name, kw, shape, tmp_path):
    rng = rng_for(name + str(kw))
    model = randomize(VGG11BnFeatures() if name == "vgg11_bn-features" else models.get_model(name, **kw), rng)
    x1, x3 = randn(rng, 1, *shape), randn(rng, 3, *shape)
    path = tmp_path / f"{name}.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(x1), path)
    assert_close(run_ort(path, x1), ours(model, x1))
    assert_close(run_ort(path, x3), ours(model, x3))  # dynamic batch: traced at 1, run at 3


def test_every_zoo_family_is_covered():
    families = {"lenet", "alexnet", "vgg", "googlenet", "inception", "resnet", "densenet", "mobilenet"}
    covered = {f for f in families for n, _, _ in ZOO if n.startswith(f)}
    assert covered == families
    assert {n for n, _, _ in ZOO} - {"vgg11_bn-features"} <= set(models.list_models())


def test_static_batch_graph_has_fixed_shapes(tmp_path):
    model = models.lenet5().eval()
    x = randn(rng_for("static"), 2, 1, 32, 32)
    path = tmp_path / "m.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(x), path, dynamic_batch=False, input_names=["img"],
                        output_names=["logits"])
    proto = onnx.load(str(path))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 1, 32, 32] and proto.graph.output[0].name == "logits"
    assert_close(run_ort(path, x, "img"), ours(model, x))
    with pytest.raises(Exception, match="(?i)dimension|shape|index"):
        run_ort(path, np.concatenate([x, x]), "img")


def test_initializers_carry_state_dict_names_and_values(tmp_path):
    model = randomize(models.resnet20(), rng_for("names"))
    path = tmp_path / "r.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(randn(rng_for("x"), 1, 3, 32, 32)), path)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    sd = model.state_dict()
    float_keys = {k for k, v in sd.items() if v.dtype == np.float32}
    assert float_keys == set(inits)  # every parameter and running statistic, by its state_dict key, no more
    for k in float_keys:
        assert inits[k].dtype == np.float32
        np.testing.assert_array_equal(inits[k], sd[k].numpy())


# ---- single ops through onnxruntime (and back through load) -----------------------------------------

class OpsNet(nn.Module):
    """Layers and tensor ops the zoo does not use: Conv1d, padding='same', BatchNorm1d, LeakyReLU, Sigmoid,
    Softmax/LogSoftmax, Linear on 3-d input, sub/div/scalar ops, mean, view/reshape, Flatten, an even
    adaptive pool, avg_pool without counting the padding."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding="same", dilation=2)
        self.pool = nn.AdaptiveAvgPool2d((2, 3))
        self.conv1d = nn.Conv1d(4, 6, 3, stride=2, padding=1)
        self.bn1d = nn.BatchNorm1d(6)
        self.act = nn.LeakyReLU(0.2)
        self.lin = nn.Linear(4, 5)
        self.flat = nn.Flatten()
        self.head = nn.Linear(6 * 5 + 4, 7)
        self.softmax, self.logsoftmax, self.ident = nn.Softmax(dim=1), nn.LogSoftmax(dim=1), nn.Identity()

    def forward(self, x):
        y = F.avg_pool2d(self.conv(x), 3, 1, 1, count_include_pad=False)
        s = self.pool(y).mean((2, 3))                                  # (N, 4)
        seq = y.view(y.shape[0], 4, -1)                                # (N, 4, H*W)
        seq = self.act(self.bn1d(self.conv1d(seq)))                    # (N, 6, L)
        seq = self.lin(seq[:, :, :4].reshape(y.shape[0], 6, 4).sigmoid())  # Linear on 3-d: (N, 6, 5)
        z = self.head(fastcnn.cat([self.flat(seq), (s - 0.5) / 2.0], 1)).tanh()
        return self.ident(self.softmax(z) * 3.0 + self.logsoftmax(z))


def test_ops_net_matches_onnxruntime_and_round_trips(tmp_path):
    rng = rng_for("opsnet")
    model = randomize(OpsNet(), rng)
    x2, x4 = randn(rng, 2, 3, 8, 9), randn(rng, 4, 3, 8, 9)
    path = tmp_path / "ops.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(x2), path)
    types = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Conv", "AveragePool", "ReduceMean", "Reshape", "BatchNormalization", "LeakyRelu", "Slice", "Sigmoid",
            "MatMul", "Flatten", "Concat", "Sub", "Div", "Gemm", "Tanh", "Softmax", "LogSoftmax", "Mul"} <= types
    for x in (x2, x4):
        assert_close(run_ort(path, x), ours(model, x))
        assert_close(ours(fastcnn.onnx.load(path), x), ours(model, x))


@pytest.mark.parametrize("layer", [nn.MaxPool2d(2, 2, 1, ceil_mode=True), nn.MaxPool2d(3, 2, 1, dilation=2),
                                   nn.AvgPool2d(2, 2, 1, ceil_mode=True),
                                   nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)],
                         ids=["max-ceil", "max-dilated", "avg-ceil", "avg-ceil-exclude-pad"])
def test_pool_edge_cases_match_onnxruntime_and_round_trip(layer, tmp_path):
    # At 5x5 with ceil_mode the last window would start in the padding: torch (and fastcnn) drop it.
    x = randn(rng_for("pool"), 2, 3, 5, 5)
    path = tmp_path / "p.onnx"
    fastcnn.onnx.export(layer, fastcnn.tensor(x), path)
    assert_close(run_ort(path, x), ours(layer, x), tol=1e-6)
    assert_close(ours(fastcnn.onnx.load(path), x), ours(layer, x), tol=1e-6)


@pytest.mark.parametrize("opset", [13, 18])
def test_opsets_with_attribute_and_input_axes(opset, tmp_path):
    model = randomize(models.resnet8(), rng_for("opset")).eval()
    x = randn(rng_for("opset-x"), 2, 3, 16, 16)
    path = tmp_path / "m.onnx"

    class Wrapper(nn.Module):  # ReduceMean: axes attribute before opset 18, an input from 18
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, x):
            return self.net(x) + x.mean((1, 2, 3), keepdim=True).flatten(1)

    w = Wrapper().eval()
    fastcnn.onnx.export(w, fastcnn.tensor(x), path, opset_version=opset)
    assert onnx.load(str(path)).opset_import[0].version == opset
    assert_close(run_ort(path, x), ours(w, x))
    assert_close(ours(fastcnn.onnx.load(path), x), ours(w, x))


# ---- load: round trips and torch's exporter ---------------------------------------------------------

ROUND_TRIP = [("lenet5", {}, (1, 32, 32)), ("resnet20", {}, (3, 32, 32)),
              ("mobilenet_v2", {"num_classes": 10}, (3, 32, 32)),
              ("googlenet", {"num_classes": 10, "transform_input": True, "aux_logits": False}, (3, 32, 32))]


@pytest.mark.parametrize("name,kw,shape", ROUND_TRIP, ids=[r[0] for r in ROUND_TRIP])
def test_round_trip_gives_the_same_outputs_and_state(name, kw, shape, tmp_path):
    rng = rng_for("rt" + name)
    model = randomize(models.get_model(name, **kw), rng)
    x = randn(rng, 2, *shape)
    path = tmp_path / "m.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(x[:1]), path)
    loaded = fastcnn.onnx.load(path)
    assert isinstance(loaded, nn.Module) and not loaded.training
    assert_close(ours(loaded, x), ours(model, x), tol=1e-5)
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer
             if t.data_type == TensorProto.FLOAT}
    sd = loaded.state_dict()
    assert set(sd) == set(inits)
    for k, v in sd.items():
        np.testing.assert_array_equal(v.numpy(), inits[k])
    # Parameters are trainable, running statistics are buffers, as in the original.
    assert {k for k, _ in loaded.named_buffers()} == {k for k, v in model.named_buffers() if v.dtype == np.float32}
    assert {k for k, _ in loaded.named_parameters()} == {k for k, _ in model.named_parameters()}


def test_loaded_graph_is_differentiable(tmp_path):
    model = models.lenet5().eval()
    path = tmp_path / "m.onnx"
    fastcnn.onnx.export(model, fastcnn.tensor(randn(rng_for("g"), 1, 1, 32, 32)), path)
    loaded = fastcnn.onnx.load(path)
    x = fastcnn.tensor(randn(rng_for("g2"), 2, 1, 32, 32))
    loaded(x).sum().backward()
    model(x).sum().backward()
    for k, p in model.named_parameters():
        np.testing.assert_allclose(dict(loaded.named_parameters())[k].grad.numpy(), p.grad.numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_load_runs_a_torch_onnx_export(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 4, 3, stride=2), torch.nn.ReLU6(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(4, 5), torch.nn.LogSoftmax(1))
    with torch.no_grad():
        bn = net[1]
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 1.5), bn.weight.uniform_(0.5, 1.5)
    net.eval()
    x = torch.from_numpy(randn(rng_for("torch"), 2, 3, 12, 12))
    path = tmp_path / "torch.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter needs no extra packages
        torch.onnx.export(net, (x[:1],), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    loaded = fastcnn.onnx.load(path)
    with torch.no_grad():
        want = net(x).numpy()
    assert_close(ours(loaded, x.numpy()), want, tol=1e-5)


# ---- load: hand-built graphs against onnxruntime -------------------------------------------------------

def make_model(nodes, inputs, initializers=(), opset=17, output="y"):
    """A model whose output shape comes from ONNX's shape inference ((1,) where it has none: the checker
    wants one)."""
    def build(shape):
        graph = helper.make_graph(
            nodes, "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, shape)],
            [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        return model
    inferred = onnx.shape_inference.infer_shapes(build(None)).graph.output[0].type.tensor_type
    dims = [d.dim_value for d in inferred.shape.dim] if inferred.HasField("shape") else []
    return build(dims if dims and all(dims) else [1])


def i64(*v):
    return np.asarray(v, np.int64)


def check_against_ort(model, feeds, tol=1e-5):
    onnx.checker.check_model(model)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    loaded = fastcnn.onnx.load(model)
    with fastcnn.no_grad():
        got = loaded(*[fastcnn.tensor(v) for v in feeds.values()]).numpy()
    assert_close(got, want, tol)


def conv_w(rng, o, i, k1, k2):
    return randn(rng, o, i, k1, k2) * 0.3


GRAPHS = {
    "conv-same-upper-asymmetric": lambda r: make_model(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])],
        [("x", [2, 3, 7, 8])], [("w", conv_w(r, 4, 3, 2, 3)), ("b", randn(r, 4))]),
    "conv-explicit-asymmetric-pads": lambda r: make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 1, 2, 0], group=3)],
        [("x", [1, 3, 5, 5])], [("w", conv_w(r, 6, 1, 3, 3))]),
    "conv-valid-1d": lambda r: make_model(
        [helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="VALID", dilations=[2])],
        [("x", [2, 3, 9])], [("w", randn(r, 2, 3, 3))]),
    "gemm-alpha-beta-transA": lambda r: make_model(
        [helper.make_node("Gemm", ["x", "w", "c"], ["y"], alpha=0.5, beta=2.0, transA=1)],
        [("x", [4, 3])], [("w", randn(r, 4, 5)), ("c", randn(r, 3, 5))]),
    "pools-lrn-pad": lambda r: make_model(
        [helper.make_node("MaxPool", ["x"], ["a"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                          ceil_mode=1),
         helper.make_node("AveragePool", ["a"], ["b"], kernel_shape=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
         helper.make_node("LRN", ["b"], ["c"], size=3, alpha=0.01, beta=0.6, bias=1.5),
         helper.make_node("Pad", ["c", "pads", "v"], ["d"], mode="constant"),
         helper.make_node("GlobalAveragePool", ["d"], ["y"])],
        [("x", [2, 4, 9, 9])], [("pads", i64(0, 1, 0, 2, 0, 0, 1, 0)), ("v", np.float32(0.75))]),
    "elementwise-and-activations": lambda r: make_model(
        [helper.make_node("Sub", ["x", "k"], ["a"]), helper.make_node("Div", ["a", "d"], ["b"]),
         helper.make_node("Clip", ["b", "lo", "hi"], ["c"]), helper.make_node("LeakyRelu", ["c"], ["e"], alpha=0.3),
         helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
         helper.make_node("Mul", ["e", "t"], ["m"]), helper.make_node("Dropout", ["m"], ["dr"]),
         helper.make_node("Identity", ["dr"], ["i"]), helper.make_node("Relu", ["i"], ["y"])],
        [("x", [2, 3, 4])], [("k", randn(r, 4)), ("d", np.float32(1.5)), ("lo", np.float32(-0.5)),
                                    ("hi", np.float32(1.0))]),
    "shapes-and-reductions": lambda r: make_model(
        [helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(i64(0, 3, -1))),
         helper.make_node("Reshape", ["x", "shape"], ["a"]),
         helper.make_node("Transpose", ["a"], ["b"], perm=[0, 2, 1]),
         helper.make_node("Slice", ["b", "st", "en", "ax", "sp"], ["c"]),
         helper.make_node("Expand", ["c", "ex"], ["d"]),
         helper.make_node("Concat", ["d", "d"], ["e"], axis=1),
         helper.make_node("ReduceMean", ["e"], ["f"], axes=[2], keepdims=0),
         helper.make_node("Flatten", ["d"], ["g"], axis=2),
         helper.make_node("Softmax", ["f"], ["h"], axis=0),
         helper.make_node("LogSoftmax", ["g"], ["k"]),
         helper.make_node("ReduceMean", ["k"], ["l"], axes=[1], keepdims=1),
         helper.make_node("MatMul", ["h", "l"], ["y"])],
        [("x", [2, 3, 4, 2])], [("st", i64(1, 0)), ("en", i64(100, -1)), ("ax", i64(1, 2)), ("sp", i64(2, 1)),
                                       ("ex", i64(2, 1, 1))]),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_load_matches_onnxruntime_on_hand_built_graphs(name):
    rng = rng_for(name)
    model = GRAPHS[name](rng)
    feeds = {i.name: randn(rng, *[d.dim_value for d in i.type.tensor_type.shape.dim]) for i in model.graph.input
             if i.name not in {t.name for t in model.graph.initializer}}
    check_against_ort(model, feeds)


# ---- errors ------------------------------------------------------------------------------------------

class ExpNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 2, 3), Exp())

    def forward(self, x):
        return self.body(x).flatten(1)


class Exp(nn.Module):
    def forward(self, x):
        return x.exp()


class MakesTensor(nn.Module):
    def forward(self, x):
        return x + fastcnn.ones(*x.shape)


def test_unsupported_op_names_the_op_and_module_and_leaves_no_file_or_hook(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    model = ExpNet()
    with pytest.raises(UnsupportedOperatorError, match=r"'Exp'.*module 'body\.1' \(Exp\)"):
        fastcnn.onnx.export(model, fastcnn.zeros(1, 1, 5, 5), path)
    assert path.read_bytes() == b"old"  # nothing written on failure
    assert _trace.tracer is None and model.training  # tracing switched off, training mode restored
    assert all("forward" not in m.__dict__ for m in model.modules())
    with pytest.raises(UnsupportedOperatorError, match="created inside forward"):
        fastcnn.onnx.export(MakesTensor(), fastcnn.zeros(1, 3), path)


def test_other_threads_run_untraced_during_an_export(tmp_path):
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            def work():  # under this thread's tracer, adding a tensor made here would be refused
                a = fastcnn.ones(2)
                seen["tracer"], seen["sum"] = _trace.tracer, (a + a).numpy().tolist()
            t = threading.Thread(target=work)
            t.start()
            t.join()
            return F.relu(x)

    fastcnn.onnx.export(Probe(), fastcnn.zeros(1, 3), tmp_path / "m.onnx")
    assert seen == {"tracer": None, "sum": [2.0, 2.0]}
    assert [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node] == ["Relu"]


def test_uneven_adaptive_pool_is_refused(tmp_path):
    with pytest.raises(UnsupportedOperatorError, match=r"adaptive_avg_pool2d.*5x5 to output 2x2"):
        fastcnn.onnx.export(nn.AdaptiveAvgPool2d(2), fastcnn.zeros(1, 1, 5, 5), tmp_path / "m.onnx")


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"output_names": ("a", "b")}, ValueError, "returned 1 tensor"),
    ({"input_names": ("a", "b")}, ValueError, "input_names"),
    ({"opset_version": 9}, ValueError, "opset_version"),
    ({"input_names": "input"}, TypeError, "input_names"),
    ({"dynamic_batch": 1}, TypeError, "dynamic_batch"),
])
def test_bad_export_arguments(kwargs, exc, match, tmp_path):
    with pytest.raises(exc, match=match):
        fastcnn.onnx.export(nn.ReLU(), fastcnn.zeros(1, 3), tmp_path / "m.onnx", **kwargs)
    with pytest.raises(TypeError, match="example_input"):
        fastcnn.onnx.export(nn.ReLU(), np.zeros((1, 3), np.float32), tmp_path / "m.onnx")


def test_malformed_files_raise(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not protobuf \xff\xff")
    with pytest.raises(ValueError, match="not a (readable|valid) ONNX model"):
        fastcnn.onnx.load(bad)
    dangling = make_model([helper.make_node("Relu", ["nowhere"], ["y"])], [("x", [1])])
    with pytest.raises(ValueError, match="nowhere"):
        fastcnn.onnx.load(dangling)


@pytest.mark.parametrize("node,match", [
    (helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_LOWER"), "auto_pad='SAME_LOWER'"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], storage_order=1), "storage_order"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], pads=[0, 0, 1, 1]), "asymmetric pads"),
    (helper.make_node("Erf", ["x"], ["y"], name="my_erf"), "'my_erf' has op type 'Erf'"),
    (helper.make_node("Reshape", ["x", "x"], ["y"]), "must be a constant"),
])
def test_unsupported_nodes_and_attributes_raise_naming_the_node(node, match):
    model = make_model([node], [("x", [1, 2, 4, 4])], [("w", np.ones((2, 2, 1, 1), np.float32))])
    with pytest.raises(UnsupportedOperatorError, match=match):
        fastcnn.onnx.load(model)


def test_loaded_module_checks_its_inputs(tmp_path):
    path = tmp_path / "m.onnx"
    fastcnn.onnx.export(models.lenet5(), fastcnn.zeros(1, 1, 32, 32), path)
    loaded = fastcnn.onnx.load(path)
    with pytest.raises(ValueError, match=r"input 'input' has shape \(1, 1, 28, 28\).*\(batch, 1, 32, 32\)"):
        loaded(fastcnn.zeros(1, 1, 28, 28))
    with pytest.raises(TypeError, match="expected 1 input"):
        loaded()


def test_importing_fastcnn_does_not_import_onnx():
    code = "import sys, fastcnn; assert fastcnn.onnx.export and 'onnx' not in sys.modules, sorted(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_onnx_package_gives_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        fastcnn.onnx.export(nn.ReLU(), fastcnn.zeros(1, 3), tmp_path / "m.onnx")
    with pytest.raises(ImportError, match="pip install onnx"):
        fastcnn.onnx.load(tmp_path / "m.onnx")
