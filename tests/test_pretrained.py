"""get_model(name, weights=...): a file path, or a manifest name fetched over HTTP (a local server here) with
torchvision's SHA-256-prefix check, converted once to safetensors in $FASTCNN_HOME and read offline after."""

import functools
import hashlib
import http.server
import os
import threading
import urllib.request
import zlib

import numpy as np
import pytest

import fastcnn
from fastcnn import models
from fastcnn.models import weights as W

torch = pytest.importorskip("torch")
from test_models import _randomize_bn, tv_model, tvm  # noqa: E402  (torchvision import stub, seeded builders)

needs_tv = pytest.mark.skipif(tvm is None, reason="torchvision not installed")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTCNN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FASTCNN_OFFLINE", raising=False)
    return tmp_path / "home" / "weights"


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (dir, base URL, request log)."""
    www = tmp_path / "www"
    www.mkdir()
    requests = []

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}/", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def resnet18_pth(tmp_path_factory):
    """A torch-saved random torchvision resnet18 (1000 classes), named as torchvision names its files."""
    if tvm is None:
        pytest.skip("torchvision not installed")
    ref = tv_model("resnet18")
    with torch.no_grad():
        _randomize_bn(ref)
    folder = tmp_path_factory.mktemp("pth")
    torch.save(ref.state_dict(), folder / "tmp.pth")
    digest = hashlib.sha256((folder / "tmp.pth").read_bytes()).hexdigest()
    path = folder / f"resnet18-{digest[:8]}.pth"
    os.replace(folder / "tmp.pth", path)
    return path, ref.eval()


def _fake_entry(monkeypatch, file_name, base_url):
    monkeypatch.setitem(W.MANIFEST, "resnet18", {"TEST_V1": {"file": file_name, "url": base_url + file_name},
                                                 "DEFAULT": "TEST_V1"})


def _outputs_match(ours, ref):
    x = np.random.default_rng(zlib.crc32(b"pretrained")).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    with fastcnn.no_grad():
        got = ours.eval()(fastcnn.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_named_weights_download_once_convert_and_then_work_offline(home, http_root, resnet18_pth, monkeypatch):
    www, url, requests = http_root
    pth, ref = resnet18_pth
    (www / pth.name).write_bytes(pth.read_bytes())
    _fake_entry(monkeypatch, pth.name, url)

    model = models.get_model("resnet18", weights="DEFAULT")
    _outputs_match(model, ref)
    assert requests == ["/" + pth.name]
    cached = home / (pth.stem + ".safetensors")
    assert sorted(os.listdir(home)) == [cached.name]  # converted, the .pth removed, no temporaries

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used although the weights are cached")
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setenv("FASTCNN_OFFLINE", "1")
    again = models.get_model("resnet18", weights="test_v1")  # names are case-insensitive, as enum lookups
    _outputs_match(again, ref)
    assert requests == ["/" + pth.name]


def test_wrong_hash_is_refused_and_nothing_is_cached(home, http_root, resnet18_pth, monkeypatch):
    www, url, _ = http_root
    pth, _ = resnet18_pth
    wrong = "resnet18-00000000.pth"
    assert not hashlib.sha256(pth.read_bytes()).hexdigest().startswith("00000000")
    (www / wrong).write_bytes(pth.read_bytes())
    _fake_entry(monkeypatch, wrong, url)
    with pytest.raises(RuntimeError, match="SHA-256 mismatch") as info:
        models.get_model("resnet18", weights="DEFAULT")
    assert url + wrong in str(info.value)
    assert not home.exists() or os.listdir(home) == []


def test_missing_file_without_network_names_the_path_and_url(home, monkeypatch):
    _fake_entry(monkeypatch, "resnet18-12345678.pth", "http://127.0.0.1:9/")  # port 9: nothing listens
    with pytest.raises(RuntimeError) as info:
        models.get_model("resnet18", weights="DEFAULT")
    message = str(info.value)
    assert str(home / "resnet18-12345678.pth") in message and "http://127.0.0.1:9/resnet18-12345678.pth" in message
    monkeypatch.setenv("FASTCNN_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="FASTCNN_OFFLINE") as info:
        models.get_model("resnet18", weights="DEFAULT")
    assert "http://127.0.0.1:9/resnet18-12345678.pth" in str(info.value)


def test_weights_from_a_path_in_any_format(tmp_path, resnet18_pth):
    pth, ref = resnet18_pth
    _outputs_match(models.get_model("resnet18", weights=pth), ref)
    fastcnn.save(fastcnn.load(pth, as_numpy=True), tmp_path / "r18.safetensors")
    _outputs_match(models.get_model("resnet18", weights=str(tmp_path / "r18.safetensors")), ref)


def test_bad_weight_requests(home):
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET9K'.*IMAGENET1K_V1"):
        models.get_model("resnet18", weights="IMAGENET9K")
    with pytest.raises(ValueError, match="no pretrained weights known for 'lenet5'"):
        models.get_model("lenet5", weights="DEFAULT")
    with pytest.raises(ValueError, match="1000 classes.*num_classes=10"):
        models.get_model("resnet18", weights="DEFAULT", num_classes=10)
    with pytest.raises(FileNotFoundError):
        models.get_model("resnet18", weights="/no/such/file.pth")
    assert not home.exists()  # nothing was fetched or written


@needs_tv
def test_manifest_matches_torchvision():
    for model, table in W.MANIFEST.items():
        enum = tvm.get_model_weights(model)
        for name, entry in table.items():
            expected = enum[name] if name != "DEFAULT" else enum.DEFAULT
            if isinstance(entry, str):
                assert enum[entry] == expected, (model, name)
            else:
                assert entry["url"] == expected.url and entry["url"].endswith("/" + entry["file"]), (model, name)
                assert expected.meta["num_params"] > 0 and len(expected.meta["categories"]) == 1000


def test_old_densenet_keys_are_renamed():
    assert W._DENSENET_KEY.sub(r"\1\2", "features.denseblock1.denselayer1.norm.1.weight") == \
        "features.denseblock1.denselayer1.norm1.weight"
    assert W._DENSENET_KEY.sub(r"\1\2", "features.norm5.weight") == "features.norm5.weight"
