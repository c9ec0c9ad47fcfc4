"""fastcnn.save / fastcnn.load: safetensors written by hand checked byte-for-byte against the safetensors
package both ways, .npz, corrupted and lying files, and PyTorch checkpoints read without torch (torchvision
models load strictly and give torch's outputs) by a reader that refuses to run code from the file."""

import json
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models
from fastcnn.serialization import SerializationError

try:
    import torch
except ImportError:
    torch = tvm = None
else:  # test_models skips itself (raises Skipped) without torch, so import it only with torch
    from test_models import _randomize_bn, tv_model, tvm  # torchvision import stub, seeded builders
try:
    import safetensors.numpy as st_numpy
except ImportError:
    st_numpy = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
needs_tv = pytest.mark.skipif(tvm is None, reason="torchvision not installed")
needs_st = pytest.mark.skipif(st_numpy is None, reason="safetensors not installed (pip install safetensors)")

DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _arrays(name="arrays"):
    rng = _rng(name)
    out = {}
    for i, dt in enumerate(DTYPES):
        shape = [(3, 4), (5,), (), (2, 0, 3), (2, 3, 4, 1)][i % 5]
        if np.dtype(dt).kind == "f":
            out[f"a{i}.{np.dtype(dt).name}"] = rng.standard_normal(shape).astype(dt)
        elif np.dtype(dt).kind == "b":
            out[f"a{i}.bool"] = rng.random(shape) < 0.5
        else:
            info = np.iinfo(dt)
            out[f"a{i}.{np.dtype(dt).name}"] = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    return out


def _assert_same(got, want):
    assert sorted(got) == sorted(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# ---- round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".safetensors", ".npz", ".bin"])
def test_round_trip_keeps_dtypes_shapes_and_values(tmp_path, ext):
    arrays = _arrays(ext)
    path = tmp_path / f"w{ext}"
    fastcnn.save(arrays, path)
    _assert_same(fastcnn.load(path, as_numpy=True), arrays)
    if ext == ".bin":  # any extension but .npz is safetensors
        assert struct.unpack("<Q", path.read_bytes()[:8])[0] < path.stat().st_size


def test_model_state_dict_round_trip_into_a_fresh_model(tmp_path):
    fastcnn.manual_seed(0)
    src = models.lenet5()
    fastcnn.manual_seed(1)
    dst = models.lenet5()
    fastcnn.save(src.state_dict(), tmp_path / "lenet.safetensors")
    loaded = fastcnn.load(tmp_path / "lenet.safetensors")
    assert all(isinstance(v, fastcnn.Tensor) for v in loaded.values())
    dst.load_state_dict(loaded, strict=True)
    for (k, a), (k2, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tensors_come_back_as_fastcnn_dtypes(tmp_path):
    fastcnn.save({"f64": np.arange(3.0), "i32": np.arange(3, dtype=np.int32), "b": np.array([True])},
                 tmp_path / "x.safetensors")
    got = fastcnn.load(tmp_path / "x.safetensors")
    assert (got["f64"].dtype, got["i32"].dtype, got["b"].dtype) == (fastcnn.float32, fastcnn.int64, fastcnn.bool)
    np.testing.assert_array_equal(got["i32"].numpy(), [0, 1, 2])


# ---- interop with the safetensors package ----------------------------------------------------------

@needs_st
def test_safetensors_package_reads_our_files(tmp_path):
    arrays = _arrays("ours")
    fastcnn.save(arrays, tmp_path / "ours.safetensors")
    _assert_same(st_numpy.load_file(str(tmp_path / "ours.safetensors")), arrays)
    with open(tmp_path / "ours.safetensors", "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    assert (8 + n) % 8 == 0 and len(header["__metadata__"]["fastcnn.sha256"]) == 64


@needs_st
def test_we_read_the_safetensors_package_files(tmp_path):
    arrays = _arrays("theirs")
    st_numpy.save_file(arrays, str(tmp_path / "theirs.safetensors"), metadata={"format": "np"})
    _assert_same(fastcnn.load(tmp_path / "theirs.safetensors", as_numpy=True), arrays)


@needs_st
@needs_torch
def test_bfloat16_loads_as_float32(tmp_path):
    st_torch = pytest.importorskip("safetensors.torch")
    t = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    st_torch.save_file({"w": t}, str(tmp_path / "bf.safetensors"))
    got = fastcnn.load(tmp_path / "bf.safetensors", as_numpy=True)["w"]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, t.float().numpy())


# ---- bad files --------------------------------------------------------------------------------------

def _raw_file(path, header, data: bytes):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def test_checksum_catches_a_flipped_data_byte(tmp_path):
    path = tmp_path / "w.safetensors"
    fastcnn.save({"w": np.arange(16, dtype=np.float32)}, path)
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(SerializationError, match="SHA-256"):
        fastcnn.load(path)


def test_truncated_files_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    fastcnn.save(_arrays("trunc"), path)
    blob = path.read_bytes()
    for cut in (0, 3, 8, 20, len(blob) // 2, len(blob) - 1):
        (tmp_path / "t.safetensors").write_bytes(blob[:cut])
        with pytest.raises(SerializationError, match="t.safetensors"):
            fastcnn.load(tmp_path / "t.safetensors")


F32 = np.arange(6, dtype="<f4").tobytes()  # 24 bytes


@pytest.mark.parametrize("header,match", [
    ({"a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]},
      "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}, "'b'.*overlaps"),
    ({"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}, "'a'.*out of range"),
    ({"a": {"dtype": "F32", "shape": [5], "data_offsets": [0, 24]}}, "'a'.*needs 20"),
    ({"a": {"dtype": "F33", "shape": [6], "data_offsets": [0, 24]}}, "'a'.*unsupported dtype 'F33'"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, "'a'.*gap"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, "trailing"),
    ({"a": {"dtype": "F32", "shape": [-6], "data_offsets": [0, 24]}}, "'a'.*shape"),
    ({"a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24], "x": 1}}, "'a'.*exactly"),
    ({"a": [1, 2]}, "'a'"),
    ({"__metadata__": {"fastcnn.sha256": "0" * 64}, "a": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]}},
     "SHA-256"),
])
def test_headers_that_lie_are_refused_naming_the_key(tmp_path, header, match):
    path = _raw_file(tmp_path / "lie.safetensors", header, F32)
    with pytest.raises(SerializationError, match=match) as info:
        fastcnn.load(path)
    assert "lie.safetensors" in str(info.value)


def test_header_not_json_or_not_an_object(tmp_path):
    (tmp_path / "a.safetensors").write_bytes(struct.pack("<Q", 4) + b"\xff{}x")
    with pytest.raises(SerializationError, match="JSON"):
        fastcnn.load(tmp_path / "a.safetensors")
    _raw_file(tmp_path / "b.safetensors", [1, 2], b"")
    with pytest.raises(SerializationError, match="JSON list"):
        fastcnn.load(tmp_path / "b.safetensors")


def test_corrupt_npz_is_refused(tmp_path):
    fastcnn.save({"w": np.arange(100.0)}, tmp_path / "w.npz")
    blob = (tmp_path / "w.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SerializationError, match="t.npz"):
        fastcnn.load(tmp_path / "t.npz")


# ---- bad input to save -------------------------------------------------------------------------------

@pytest.mark.parametrize("obj,match", [
    ({1: np.zeros(2)}, "keys must be str.*int"),
    ({"w": [1.0, 2.0]}, "'w' is a list"),
    ({"w": np.zeros(2, dtype=np.complex64)}, "'w'.*unsupported dtype complex64"),
    ({"w": np.array(["x"])}, "'w'.*unsupported dtype"),
    ({"__metadata__": np.zeros(1)}, "reserved"),
    ([np.zeros(2)], "expected a dict"),
])
def test_save_refuses_what_it_cannot_store_and_keeps_the_old_file(tmp_path, obj, match):
    path = tmp_path / "keep.safetensors"
    fastcnn.save({"old": np.ones(3, dtype=np.float32)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=match) as info:
        fastcnn.save(obj, path)
    assert "keep.safetensors" in str(info.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["keep.safetensors"]


def test_save_refuses_torch_formats(tmp_path):
    with pytest.raises(SerializationError, match="load-only"):
        fastcnn.save({"w": np.zeros(1)}, tmp_path / "w.pth")
    assert not (tmp_path / "w.pth").exists()


# ---- PyTorch checkpoints --------------------------------------------------------------------------------

@needs_torch
def test_torch_dtypes_views_and_nesting_without_torch(tmp_path):
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, generator=g)
    obj = {"epoch": 7, "nested": {"t": base.t(), "row": base[2], "slice": base[1:5:2, 1:]},
           "list": [torch.arange(4, dtype=torch.int32), (torch.tensor(True),)],
           "f64": torch.randn(3, generator=g, dtype=torch.float64), "f16": base.half(), "bf16": base.bfloat16(),
           "u8": torch.arange(250, 256, dtype=torch.uint8), "i8": torch.tensor([-128, 127], dtype=torch.int8),
           "scalar": torch.tensor(5), "empty": torch.zeros(0, 3), "param": torch.nn.Parameter(base.clone())}
    torch.save(obj, tmp_path / "ck.pt")
    got = fastcnn.load(tmp_path / "ck.pt", use_torch=False, as_numpy=True)
    assert got["epoch"] == 7 and isinstance(got["list"][1], tuple)
    pairs = [(got["nested"][k], obj["nested"][k]) for k in obj["nested"]] + [
        (got["list"][0], obj["list"][0]), (got["list"][1][0], obj["list"][1][0])] + [
        (got[k], obj[k]) for k in ("f64", "f16", "u8", "i8", "scalar", "empty")]
    for mine, ref in pairs:
        assert mine.shape == tuple(ref.shape) and mine.dtype == ref.numpy().dtype
        np.testing.assert_array_equal(mine, ref.numpy())
    assert got["bf16"].dtype == np.float32
    np.testing.assert_array_equal(got["bf16"], obj["bf16"].float().numpy())
    np.testing.assert_array_equal(got["param"], obj["param"].detach().numpy())
    # torch.load gives the same values through the other path.
    via_torch = fastcnn.load(tmp_path / "ck.pt", use_torch=True, as_numpy=True)
    np.testing.assert_array_equal(via_torch["nested"]["slice"], got["nested"]["slice"])


@needs_tv
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_checkpoint_loads_strictly_without_torch_and_matches(tmp_path, name):
    ref = tv_model(name, num_classes=10)
    with torch.no_grad():
        _randomize_bn(ref)
    torch.save(ref.state_dict(), tmp_path / f"{name}.pth")
    state = fastcnn.load(tmp_path / f"{name}.pth", use_torch=False)
    ours = models.get_model(name, num_classes=10)
    ours.load_state_dict(state, strict=True)
    ref.eval(), ours.eval()
    x = _rng(name).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    with fastcnn.no_grad():
        got = ours(fastcnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def _torch_like_zip(path, payload: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
    return path


def _global_os_system(cmd: str) -> bytes:
    # protocol 2: GLOBAL 'os system', the command, TUPLE1, REDUCE, STOP
    return b"\x80\x02cos\nsystem\n" + pickle.dumps(cmd, protocol=2)[2:-1] + b"\x85R."


def _reduce_builtins_eval(code: str) -> bytes:
    return b"\x80\x02cbuiltins\neval\n" + pickle.dumps(code, protocol=2)[2:-1] + b"\x85R."


@pytest.mark.parametrize("make,forbidden", [(_global_os_system, "os.system"), (_reduce_builtins_eval, "builtins.eval")])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, make, forbidden):
    marker = tmp_path / "pwned"
    code = f"touch {marker}" if forbidden == "os.system" else f"open({str(marker)!r}, 'w').close()"
    payload = make(code)
    # The payload works: plain pickle runs it (the control that makes the refusal below meaningful).
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    path = _torch_like_zip(tmp_path / "evil.pth", payload)
    with pytest.raises(pickle.UnpicklingError, match=forbidden.replace(".", r"\.")):
        fastcnn.load(path, use_torch=False)
    assert not marker.exists()
    if torch is not None:
        with pytest.raises(SerializationError, match="weights_only"):
            fastcnn.load(path, use_torch=True)  # torch's own restricted loader refuses it too
        assert not marker.exists()


@needs_torch
def test_truncated_legacy_and_foreign_torch_files(tmp_path):
    torch.save({"w": torch.ones(1000)}, tmp_path / "ok.pt")
    blob = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(SerializationError, match="cut.pt.*(truncated|corrupted)"):
        fastcnn.load(tmp_path / "cut.pt", use_torch=False)
    torch.save({"w": torch.ones(3)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(SerializationError, match="legacy.*re-save"):
        fastcnn.load(tmp_path / "old.pt", use_torch=False)
    (tmp_path / "x.pth").write_bytes(b"hello")
    with pytest.raises(SerializationError, match="not a PyTorch checkpoint"):
        fastcnn.load(tmp_path / "x.pth", use_torch=False)


def test_npz_is_numpys_format_whatever_the_keys(tmp_path):
    arrays = {"file": np.arange(3.0), "allow_pickle": np.ones((2, 2), dtype=np.int32), "a/b.c": np.array(True)}
    fastcnn.save(arrays, tmp_path / "w.npz")
    with np.load(tmp_path / "w.npz", allow_pickle=False) as z:
        _assert_same(dict(z), arrays)
    np.savez(tmp_path / "np.npz", **{"x.y": np.arange(4, dtype=np.uint8)})
    _assert_same(fastcnn.load(tmp_path / "np.npz", as_numpy=True), {"x.y": np.arange(4, dtype=np.uint8)})
