"""fastcnn.data: IDX files, dataset discovery and download, datasets, DataLoader."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

import fastcnn
from fastcnn.data import (MNIST, DataLoader, FashionMNIST, ImageFolder, TensorDataset, download_file, read_idx,
                          transforms as T, write_idx)
from fastcnn.data.idx import idx_bytes

SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


# ---- IDX ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    write_idx(tmp_path / name, a)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(tmp_path / name)
    assert b.dtype == a.dtype and b.dtype.isnative and b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == [name]  # no temporary file left


def test_idx_header_layout(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    raw = idx_bytes(labels)
    assert raw == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])  # the MNIST label file layout
    assert idx_bytes(np.zeros((2, 2), np.int32))[:12] == bytes([0, 0, 0x0C, 2, 0, 0, 0, 2, 0, 0, 0, 2])


def test_idx_bad_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    bad.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
    with pytest.raises(ValueError, match="has 10 bytes, expected 13"):
        read_idx(bad)
    bad.write_bytes(bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 1]))
    with pytest.raises(ValueError, match="unknown IDX type code 0x42"):
        read_idx(bad)
    bad.write_bytes(gzip.compress(idx_bytes(np.zeros(4, np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(bad)
    with pytest.raises(TypeError, match="dtype int64"):
        write_idx(tmp_path / "x.idx", np.zeros(2, np.int64))


# ---- IDX datasets ------------------------------------------------------------------

FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def make_idx_dir(directory, n_train=50, n_test=20, gz=True, seed=0):
    """Small fake MNIST-layout files; returns {train: (images, labels)}."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    out = {}
    for train, n in ((True, n_train), (False, n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(os.path.join(directory, FILES[train][0] + suffix), images)
        write_idx(os.path.join(directory, FILES[train][1] + suffix), labels)
        out[train] = (images, labels)
    return out


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    """No $FASTCNN_DATA, an empty home and no system folder (Debian's package may be
    installed), so only the sources a test sets up are found."""
    monkeypatch.delenv("FASTCNN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for cls in (MNIST, FashionMNIST):
        monkeypatch.setattr(cls, "system_dir", str(tmp_path / "system" / cls.name))
    return tmp_path


@pytest.mark.parametrize("gz", [True, False])
def test_dataset_from_root(no_env, gz):
    made = make_idx_dir(no_env / "d", gz=gz)
    for cls in (MNIST, FashionMNIST):
        for train in (True, False):
            ds = cls(root=no_env / "d", train=train)
            images, labels = made[train]
            assert len(ds) == len(images)
            assert ds.data.dtype == np.uint8 and ds.data.shape == images.shape
            assert ds.targets.dtype == np.int64
            np.testing.assert_array_equal(ds.data, images)
            np.testing.assert_array_equal(ds.targets, labels)
            img, label = ds[3]
            assert img.dtype == np.uint8 and img.shape == (28, 28) and type(label) is int
            assert label == labels[3]
    assert len(FashionMNIST.classes) == 10 and FashionMNIST(root=no_env / "d").class_to_idx["Bag"] == 8


def test_dataset_torchvision_layout_and_env(no_env, monkeypatch):
    make_idx_dir(no_env / "r" / "MNIST" / "raw", seed=1)
    assert len(MNIST(root=no_env / "r")) == 50
    made = make_idx_dir(no_env / "env", n_train=7, seed=2)
    monkeypatch.setenv("FASTCNN_DATA", str(no_env / "env"))
    ds = MNIST(train=True)
    assert len(ds) == 7 and np.array_equal(ds.data, made[True][0])
    # root comes before $FASTCNN_DATA.
    assert len(MNIST(root=no_env / "r")) == 50
    # ~/.cache/fastcnn/<name> is the last place.
    monkeypatch.delenv("FASTCNN_DATA")
    make_idx_dir(no_env / "home" / ".cache" / "fastcnn" / "MNIST", n_train=9, seed=3)
    assert len(MNIST()) == 9


def test_dataset_missing_says_where_and_how(no_env):
    with pytest.raises(FileNotFoundError) as info:
        MNIST(root=no_env / "nothing")
    message = str(info.value)
    assert str(no_env / "nothing") in message and "apt-get install dataset-fashion-mnist" in message
    assert "download=True" in message and os.path.join(".cache", "fastcnn") in message


def test_dataset_transform_and_batch(no_env):
    make_idx_dir(no_env / "d")
    t = T.Compose([T.ToTensor(), T.Normalize(0.5, 0.5)])
    ds = FashionMNIST(root=no_env / "d", transform=t)
    img, _ = ds[0]
    assert img.shape == (1, 28, 28) and img.dtype == np.float32
    images, labels = ds.get_batch(np.array([0, 5, 2]))
    assert images.shape == (3, 1, 28, 28) and labels.dtype == np.int64
    np.testing.assert_allclose(images[0], img, rtol=1e-6)
    np.testing.assert_allclose(images[1], ds[5][0], rtol=1e-6)


@pytest.mark.skipif(not os.path.isdir(SYSTEM_DIR), reason="dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(monkeypatch):
    monkeypatch.delenv("FASTCNN_DATA", raising=False)
    train, test = FashionMNIST(train=True), FashionMNIST(train=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert train.targets.shape == (60000,) and test.targets.shape == (10000,)
    for ds in (train, test):
        assert ds.targets.min() == 0 and ds.targets.max() == 9
        assert np.all(np.bincount(ds.targets) == len(ds) // 10)  # balanced classes
        assert ds.data.max() == 255 and ds.data.min() == 0


# ---- Download ----------------------------------------------------------------------

@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path/www; yields (dir, base URL)."""
    www = tmp_path / "www"
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_download_verified_and_atomic(http_root, tmp_path):
    www, url = http_root
    write_idx(www / "f.gz", np.arange(10, dtype=np.uint8))
    digest = sha256(www / "f.gz")
    dest = tmp_path / "dest"
    path = download_file("f.gz", dest, [url], digest)
    assert path == str(dest / "f.gz") and sha256(path) == digest
    np.testing.assert_array_equal(read_idx(path), np.arange(10))
    # A corrupted file is rejected and leaves nothing behind.
    (www / "g.gz").write_bytes(b"corrupted")
    with pytest.raises(RuntimeError, match="SHA-256 mismatch"):
        download_file("g.gz", dest, [url], digest)
    assert sorted(os.listdir(dest)) == ["f.gz"]
    # A dead mirror is skipped for the next one; every failure is reported.
    dead = "http://127.0.0.1:9/"
    assert download_file("f.gz", tmp_path / "d2", [dead, url], digest) == str(tmp_path / "d2" / "f.gz")
    with pytest.raises(RuntimeError, match=r"(?s)127\.0\.0\.1:9/missing.*127\.0\.0\.1:\d+/missing"):
        download_file("missing", tmp_path / "d3", [dead, url], digest)
    assert os.listdir(tmp_path / "d3") == []
    with pytest.raises(ValueError, match="sha256 must be a 64-digit hex string"):
        download_file("f.gz", dest, [url], "abc")


def test_dataset_download(http_root, no_env):
    www, url = http_root
    made = make_idx_dir(www, n_train=11, n_test=4)
    digests = {f: sha256(www / f) for f in os.listdir(www)}
    with pytest.raises(FileNotFoundError):
        FashionMNIST(root=no_env / "data", train=False)  # download not allowed
    ds = FashionMNIST(root=no_env / "data", train=False, download=True, mirrors=[url], sha256=digests)
    np.testing.assert_array_equal(ds.data, made[False][0])
    assert sorted(os.listdir(no_env / "data" / "FashionMNIST")) == sorted(f + ".gz" for f in FILES[False])
    # Without root, files go to ~/.cache/fastcnn/<name>.
    ds = MNIST(train=True, download=True, mirrors=[url], sha256=digests)
    assert len(ds) == 11 and os.path.isdir(no_env / "home" / ".cache" / "fastcnn" / "MNIST")
    # A corrupted mirror file: rejected, no partial file, clear error.
    (www / (FILES[True][0] + ".gz")).write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(RuntimeError, match="SHA-256 mismatch"):
        FashionMNIST(root=no_env / "other", train=True, download=True, mirrors=[url], sha256=digests)
    assert not any(f.startswith(FILES[True][0]) for f in os.listdir(no_env / "other" / "FashionMNIST"))


# ---- TensorDataset, ImageFolder ----------------------------------------------------

def test_tensor_dataset():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.arange(6, dtype=np.int64)
    ds = TensorDataset(x, fastcnn.from_numpy(y))
    assert len(ds) == 6
    a, b = ds[2]
    np.testing.assert_array_equal(a, x[2])
    assert b == 2
    xb, yb = ds.get_batch(np.array([5, 0]))
    np.testing.assert_array_equal(xb, x[[5, 0]])
    with pytest.raises(ValueError, match="same first dimension"):
        TensorDataset(x, y[:3])
    with pytest.raises(ValueError, match="needs at least one array"):
        TensorDataset()


def test_image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    saved = {}
    for cls, n in (("dog", 2), ("cat", 3), ("bird", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            a = rng.integers(0, 256, (5, 6, 3)).astype(np.uint8)
            Image.fromarray(a).save(tmp_path / cls / f"{i}.png")
            saved[(cls, i)] = a
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["bird", "cat", "dog"] and ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    assert len(ds) == 6 and ds.targets == [0, 1, 1, 1, 2, 2]
    img, label = ds[2]
    assert label == 1 and img.dtype == np.uint8
    np.testing.assert_array_equal(img, saved[("cat", 1)])  # PNG is lossless
    gray = ImageFolder(tmp_path, mode="L", transform=T.ToTensor())
    g, _ = gray[0]
    assert g.shape == (1, 5, 6) and g.dtype == np.float32
    loader = DataLoader(ImageFolder(tmp_path, transform=T.Compose([T.ToTensor(), T.Resize((4, 4))])),
                        batch_size=4, shuffle=True, seed=1)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(4, 3, 4, 4), (2, 3, 4, 4)]
    assert sorted(np.concatenate([b[1].numpy() for b in batches]).tolist()) == ds.targets
    with pytest.raises(FileNotFoundError, match="not a directory"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(ValueError, match="mode must be"):
        ImageFolder(tmp_path, mode="CMYK")


# ---- DataLoader --------------------------------------------------------------------

def labelled(n):
    x = np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 1, 2, 2), np.float32)
    return TensorDataset(x, np.arange(n, dtype=np.int64))


@pytest.mark.parametrize("n,batch,drop_last", [(10, 3, False), (10, 3, True), (12, 4, False), (1, 5, False),
                                               (5, 5, True), (7, 1, False)])
@pytest.mark.parametrize("workers", [0, 2])
def test_loader_covers_each_index_once(n, batch, drop_last, workers):
    loader = DataLoader(labelled(n), batch_size=batch, shuffle=True, drop_last=drop_last, seed=3,
                        num_workers=workers)
    expected_len = n // batch if drop_last else -(-n // batch)
    assert len(loader) == expected_len
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == expected_len
        labels = np.concatenate([b[1].numpy() for b in batches]) if batches else np.array([], np.int64)
        assert all(len(b[1]) == batch for b in batches[:-1])
        if batches:
            assert len(batches[-1][1]) == (batch if drop_last or n % batch == 0 else n % batch)
        if drop_last:
            assert len(labels) == expected_len * batch and len(set(labels.tolist())) == len(labels)
        else:
            assert sorted(labels.tolist()) == list(range(n))
        for images, lab in batches:
            assert isinstance(images, fastcnn.Tensor) and images.dtype == fastcnn.float32
            np.testing.assert_array_equal(images.numpy()[:, 0, 0, 0], lab.numpy().astype(np.float32))


def test_loader_determinism():
    ds = labelled(40)
    order = lambda loader: [np.concatenate([b[1].numpy() for b in loader]) for _ in range(3)]  # noqa: E731
    a, b = order(DataLoader(ds, 8, shuffle=True, seed=11)), order(DataLoader(ds, 8, shuffle=True, seed=11))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)  # same seed: same order, epoch by epoch
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])  # epochs differ
    c = order(DataLoader(ds, 8, shuffle=True, seed=12))
    assert not np.array_equal(a[0], c[0])
    np.testing.assert_array_equal(order(DataLoader(ds, 8))[0], np.arange(40))  # no shuffle: in order
    loader = DataLoader(ds, 8, shuffle=True, seed=11)
    loader.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in loader]), a[2])


def test_loader_random_transforms_do_not_depend_on_workers(no_env):
    make_idx_dir(no_env / "d", n_train=37)
    t = T.Compose([T.ToTensor(), T.RandomCrop(28, padding=2), T.RandomHorizontalFlip()])
    ds = FashionMNIST(root=no_env / "d", transform=t)
    runs = []
    for workers, prefetch in ((0, False), (0, True), (3, False)):
        loader = DataLoader(ds, batch_size=8, shuffle=True, seed=5, num_workers=workers, prefetch=prefetch)
        runs.append([(x.numpy().copy(), y.numpy().copy()) for x, y in loader])
    for run in runs[1:]:
        for (x0, y0), (x1, y1) in zip(runs[0], run):
            np.testing.assert_array_equal(x0, x1)
            np.testing.assert_array_equal(y0, y1)
    x, y = runs[0][0]
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64


def test_loader_fast_path_equals_per_sample(no_env):
    make_idx_dir(no_env / "d", n_train=20)
    t = T.Compose([T.ToTensor(), T.Normalize(0.2, 0.3)])
    ds = FashionMNIST(root=no_env / "d", transform=t)
    fast = list(DataLoader(ds, batch_size=6))
    slow = list(DataLoader(ds, batch_size=6, collate_fn=fastcnn.data.default_collate))
    for (a, la), (b, lb) in zip(fast, slow):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
    # A plain (non-batch) transform still works, sample by sample.
    ds2 = FashionMNIST(root=no_env / "d", transform=lambda img: img.astype(np.float32)[None] / 255)
    x, y = next(iter(DataLoader(ds2, batch_size=4)))
    np.testing.assert_allclose(x.numpy(), fast[0][0].numpy()[:4] * 0.3 + 0.2, rtol=1e-5)


def test_loader_bad_arguments():
    ds = labelled(4)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers must be an int >= 0"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="seed must be None or an int"):
        DataLoader(ds, seed=-3)
    with pytest.raises(TypeError, match="dataset must have __len__ and __getitem__"):
        DataLoader(object())
