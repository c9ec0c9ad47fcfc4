"""The fastcnn command line end to end on small generated IDX datasets, with tiny models
standing in for the zoo (cli._build_model is monkeypatched)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastcnn
from fastcnn import cli, nn
from fastcnn.data import write_idx

_ORIGINAL_BUILD = cli._build_model  # captured before the fixture replaces it

PIL = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")


def _tiny(name, num_classes=10, width=4):
    fastcnn.manual_seed(0)
    if name == "tiny":  # 28x28 input
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13,
                                                                                                   num_classes))
    if name == "lenet5":  # needs the padded 32x32 input, as the zoo's LeNet-5
        return nn.Sequential(nn.Conv2d(1, width, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                             nn.Linear(width * 14 * 14, num_classes))
    raise cli.CliError(f"unknown model {name!r}; choose from lenet5, tiny")


@pytest.fixture(autouse=True)
def zoo(monkeypatch):
    monkeypatch.setattr(cli, "_build_model", _tiny)


def _images(n, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n).astype(np.uint8)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
    for i, c in enumerate(y):  # class c: a bright bar at rows 2c..2c+4
        x[i, 2 * c:2 * c + 5, 4:24] = 220
    return x, y


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    folder = root / "FashionMNIST"
    folder.mkdir()
    for prefix, n, seed in (("train", 300, 0), ("t10k", 120, 1)):
        x, y = _images(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
    return root


def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    mp = pytest.MonkeyPatch()
    mp.setattr(cli, "_build_model", _tiny)
    try:
        rc = cli.main(["train", "--model", "tiny", "--data-root", str(data_root), "--epochs", "1", "--limit", "256",
                       "--batch-size", "32", "--optimizer", "adam", "--out", str(out), "--quiet"])
    finally:
        mp.undo()
    assert rc == 0
    return out


def _png(path):
    data = open(path, "rb").read()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 3000


def test_train_writes_checkpoint_history_and_plots(run_dir):
    names = set(os.listdir(run_dir))
    assert {"last.ckpt", "history.json", "curves.png", "filters.png", "confusion.png", "misclassified.png"} <= names
    history = json.load(open(run_dir / "history.json"))
    assert history["epoch"] == [1] and 0 < history["val_accuracy"][0] <= 1
    for name in ("curves.png", "filters.png", "confusion.png", "misclassified.png"):
        assert _png(run_dir / name), name
    meta = fastcnn.train.load_checkpoint(run_dir)["metadata"]
    assert meta["model"] == "tiny" and meta["model_kwargs"] == {"num_classes": 10} and meta["input_size"] == 28


def test_train_resume_and_lenet_padding(capsys, tmp_path, data_root):
    out = tmp_path / "lenet"
    common = ["--model", "lenet5", "--data-root", data_root, "--limit", "128", "--batch-size", "64", "--out", out,
              "--quiet", "--augment", "--optimizer", "sgd", "--lr", "0.05"]
    rc, stdout, _ = _run(capsys, "train", "--epochs", "1", "--model-arg", "width=3", *common)
    assert rc == 0 and "test accuracy" in stdout
    rc, _, _ = _run(capsys, "train", "--epochs", "2", "--resume", *common)
    assert rc == 0
    assert json.load(open(out / "history.json"))["epoch"] == [1, 2]
    meta = fastcnn.train.load_checkpoint(out)["metadata"]
    assert meta["input_size"] == 32 and meta["augment"] is True and meta["lr"] == 0.05
    assert meta["model_kwargs"] == {"num_classes": 10, "width": 3}  # recorded, so eval/predict rebuild it
    assert fastcnn.train.load_checkpoint(out)["model"]["0.weight"].shape == (3, 1, 5, 5)


def test_train_cosine_schedule_and_weight_decay(capsys, tmp_path, data_root, monkeypatch):
    monkeypatch.setattr(cli, "_build_model", _tiny)
    out = tmp_path / "cosine"
    common = ["--model", "tiny", "--data-root", data_root, "--limit", "64", "--batch-size", "32", "--out", out,
              "--quiet", "--lr", "0.1", "--weight-decay", "5e-4", "--cosine", "--epochs", "4"]
    assert _run(capsys, "train", *common)[0] == 0
    lrs = json.load(open(out / "history.json"))["lr"]
    # The lr of each epoch, as CosineAnnealingLR(T_max=4) sets it before that epoch.
    expected = [0.05 * (1 + np.cos(np.pi * e / 4)) for e in range(4)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    meta = fastcnn.train.load_checkpoint(out)["metadata"]
    assert meta["weight_decay"] == 5e-4 and meta["cosine"] is True and meta["epochs"] == 4
    assert fastcnn.train.load_checkpoint(out)["optimizer"]["param_groups"][0]["weight_decay"] == 5e-4


def test_eval(capsys, run_dir, data_root):
    rc, out, _ = _run(capsys, "eval", "--checkpoint", run_dir / "last.ckpt", "--data-root", data_root, "--json")
    assert rc == 0
    report = json.loads(out)
    assert report["samples"] == 120 and len(report["per_class_accuracy"]) == 10
    cm = np.array(report["confusion_matrix"])
    assert cm.sum() == 120 and report["accuracy"] == pytest.approx(np.trace(cm) / 120)
    rc, out, _ = _run(capsys, "eval", "--checkpoint", run_dir, "--data-root", data_root, "--limit", "50")
    assert rc == 0 and "50 test images" in out and "Ankle boot" in out


def _save_png(path, array):
    PIL.fromarray(array).save(path)
    return path


def test_predict_top5(capsys, run_dir, tmp_path):
    x, _ = _images(1, 5)
    img = _save_png(tmp_path / "x.png", x[0])
    rc, out, _ = _run(capsys, "predict", "--checkpoint", run_dir / "last.ckpt", img)
    assert rc == 0
    lines = out.strip().splitlines()
    assert len(lines) == 5
    probs = [float(line.split()[-1]) for line in lines]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


def test_predict_wrong_image_size_is_one_line(capsys, run_dir, tmp_path):
    img = _save_png(tmp_path / "big.png", np.zeros((40, 30), np.uint8))
    rc, out, err = _run(capsys, "predict", "--checkpoint", run_dir / "last.ckpt", img)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "is 30x40, the model expects 28x28" in err and "Traceback" not in err


def test_filter(capsys, tmp_path):
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (20, 17), dtype=np.uint8)
    src = _save_png(tmp_path / "in.png", gray)
    rc, _, _ = _run(capsys, "filter", "--kernel", "sharpen", src, tmp_path / "out.png")
    assert rc == 0
    got = np.asarray(PIL.open(tmp_path / "out.png"))
    expected = np.clip(np.rint(fastcnn.filters.apply(gray, "sharpen")), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    rgb = _save_png(tmp_path / "rgb.png", rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    assert _run(capsys, "filter", "--kernel", "box_blur", rgb, tmp_path / "rgb_out.png")[0] == 0
    assert np.asarray(PIL.open(tmp_path / "rgb_out.png")).shape == (9, 11, 3)


def test_viz(capsys, run_dir, tmp_path):
    x, _ = _images(1, 3)
    img = _save_png(tmp_path / "x.png", x[0])
    out = tmp_path / "fm.png"
    rc, _, _ = _run(capsys, "viz", "--checkpoint", run_dir / "last.ckpt", "--image", img, "--layer", "0", "--out", out)
    assert rc == 0 and _png(out)
    rc, _, err = _run(capsys, "viz", "--checkpoint", run_dir / "last.ckpt", "--image", img, "--layer", "conv1")
    assert rc == 1 and "no layer 'conv1'" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv,message", [
    (["train", "--model", "resnet1000", "--epochs", "1", "--out", "{tmp}/r"], "unknown model 'resnet1000'"),
    (["filter", "--kernel", "nope", "{tmp}/a.png", "{tmp}/b.png"], "unknown kernel 'nope'"),
    (["filter", "--kernel", "sharpen", "{tmp}/missing.png", "{tmp}/b.png"], "missing.png not found"),
    (["eval", "--checkpoint", "{tmp}/none.ckpt"], "none.ckpt not found"),
    (["predict", "--checkpoint", "{tmp}/bad.ckpt", "{tmp}/a.png"], "not a fastcnn checkpoint"),
    (["train", "--out", "{tmp}/r", "--resume"], "no checkpoint at"),
    (["train", "--out", "{tmp}/r", "--model-arg", "width"], "--model-arg must be KEY=VALUE, got 'width'"),
])
def test_errors_are_one_line(capsys, tmp_path, data_root, argv, message):
    (tmp_path / "bad.ckpt").write_bytes(b"garbage")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "train":
        argv += ["--data-root", str(data_root), "--limit", "64", "--quiet"]
    rc, out, err = _run(capsys, *argv)
    assert rc == 1
    assert message in err and err.count("\n") == 1 and err.startswith(f"fastcnn {argv[0]}: error:")


def test_missing_data(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(fastcnn.data.FashionMNIST, "system_dir", str(tmp_path / "nowhere"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FASTCNN_DATA", raising=False)
    rc, _, err = _run(capsys, "train", "--model", "tiny", "--epochs", "1", "--out", tmp_path / "r",
                      "--data-root", tmp_path / "empty")
    assert rc == 1 and "not found" in err and "dataset-fashion-mnist" in err and err.count("\n") == 1


def test_debug_shows_the_exception(tmp_path):
    with pytest.raises(cli.CliError, match="unknown kernel"):
        cli.main(["--debug", "filter", "--kernel", "nope", str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(cli.CliError, match="unknown kernel"):
        cli.main(["filter", "--kernel", "nope", str(tmp_path / "a"), str(tmp_path / "b"), "--debug"])




def test_real_model_lookup_is_clear():
    with pytest.raises(cli.CliError, match="unknown model 'no-such-model'|not available"):
        _ORIGINAL_BUILD("no-such-model")


def test_python_m_fastcnn_error_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "fastcnn", "filter", "--kernel", "nope", str(tmp_path / "a.png"),
                           str(tmp_path / "b.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("fastcnn filter: error: unknown kernel 'nope'; choose from "
                                   + ", ".join(sorted(fastcnn.filters.KERNELS)))


# ---- summary ------------------------------------------------------------------------------------------

def test_summary_of_a_zoo_model_at_its_native_size(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_build_model", _ORIGINAL_BUILD)
    rc, out, err = _run(capsys, "summary", "resnet18", "--depth", "1")
    assert rc == 0, err
    assert "Total params: 11,689,512" in out  # torchvision's ResNet-18 count
    assert "[1, 64, 112, 112]" in out and "[1, 1000]" in out  # the stem's output at 224x224 input
    rc, out, err = _run(capsys, "summary", "resnet20", "--num-classes", "5", "--input-shape", "3", "28", "28")
    assert rc == 0, err
    want = sum(p.numel() for p in fastcnn.models.resnet20(num_classes=5).parameters())
    assert f"Total params: {want:,}" in out


def test_summary_of_an_unknown_model_exits_2_listing_the_models(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_build_model", _ORIGINAL_BUILD)
    rc, out, err = _run(capsys, "summary", "resnet9000")
    assert rc == 2 and out == ""
    assert "unknown model 'resnet9000'" in err and "resnet18" in err and "mobilenet_v2" in err
