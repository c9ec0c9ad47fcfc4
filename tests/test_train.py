"""fastcnn.train: fit() on a tiny synthetic task, checkpoint/resume equivalence, crash
safety of checkpoint writes, auxiliary losses, evaluate() against a NumPy reference."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastcnn
from fastcnn import nn, optim
from fastcnn.data import DataLoader, TensorDataset
from fastcnn.train import CheckpointError, Pad, evaluate, fit, load_checkpoint, save_checkpoint

CLASSES = 3


def _blobs(n, seed=0):
    """8x8 images whose class is which of three quadrants is bright, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for c, (r, s) in enumerate([(0, 0), (0, 4), (4, 0)]):
        x[y == c, :, r:r + 4, s:s + 4] += 1.0
    return x, y.astype(np.int64)


def _net(dropout=False, seed=0):
    fastcnn.manual_seed(seed)
    layers = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(0.2))
    layers.append(nn.Linear(64, CLASSES))
    return nn.Sequential(*layers)


def _loader(n=96, batch=16, seed=0, shuffle=True):
    x, y = _blobs(n, seed)
    return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=shuffle, seed=7)


def _params(model):
    return {k: np.array(v.numpy()) for k, v in model.state_dict().items()}


def test_fit_reduces_loss_and_beats_chance():
    model = _net()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, _loader(), 4, opt, nn.CrossEntropyLoss(), val_loader=_loader(48, seed=1, shuffle=False),
                  progress=False)
    assert history["epoch"] == [1, 2, 3, 4]
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.9  # chance is 1/3
    assert all(s > 0 for s in history["seconds"]) and all(r > 0 for r in history["images_per_second"])
    assert history["lr"] == [0.1] * 4


def _run(tmp_path, epochs, resume=None):
    model = _net(dropout=True)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 2], gamma=0.5)
    fastcnn.manual_seed(123)  # dropout masks come from the global generator: the checkpoint must carry it
    history = fit(model, _loader(), epochs, opt, nn.CrossEntropyLoss(), val_loader=_loader(32, seed=1),
                  scheduler=sched, checkpoint_dir=tmp_path, resume=resume, progress=False)
    return model, opt, history


def test_resume_gives_the_uninterrupted_run(tmp_path):
    straight, opt_a, hist_a = _run(tmp_path / "a", 3)
    _run(tmp_path / "b", 1)
    resumed, opt_b, hist_b = _run(tmp_path / "b", 3, resume=True)
    for (k, a), b in zip(_params(straight).items(), _params(resumed).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert hist_a == hist_b or all(
        hist_a[k] == hist_b[k] for k in hist_a if k not in ("seconds", "images_per_second"))
    assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"] == 0.01 * 0.25
    state = load_checkpoint(tmp_path / "b")
    assert state["epoch"] == 3 and len(state["history"]["train_loss"]) == 3


def test_resume_from_a_later_run_with_more_epochs_continues(tmp_path):
    _run(tmp_path, 1)
    _, _, history = _run(tmp_path, 2, resume=tmp_path / "last.ckpt")
    assert history["epoch"] == [1, 2]


def test_killed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model, _, _ = _run(tmp_path, 1)
    before = load_checkpoint(tmp_path)
    before_bytes = (tmp_path / "last.ckpt").read_bytes()

    def crash(src, dst):  # the process dies after writing the temporary file, before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, 2, resume=True)
    monkeypatch.undo()
    assert (tmp_path / "last.ckpt").read_bytes() == before_bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temp file left behind
    after = load_checkpoint(tmp_path)
    assert after["epoch"] == before["epoch"] == 1
    # A temporary file truncated by a kill (never renamed) is simply ignored on resume.
    (tmp_path / "last.ckpt.x.tmp").write_bytes(before_bytes[: len(before_bytes) // 2])
    _, _, history = _run(tmp_path, 2, resume=True)
    assert history["epoch"] == [1, 2]


def test_truncated_or_corrupted_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "c.ckpt"
    save_checkpoint(path, {"w": np.arange(1000, dtype=np.float32), "epoch": 1})
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)
    flipped = bytearray(data)
    flipped[-100] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(path)
    path.write_bytes(data[:20])
    with pytest.raises(CheckpointError, match="truncated|not a fastcnn"):
        load_checkpoint(path)
    path.write_bytes(b"PK\x03\x04 a zip, not ours")
    with pytest.raises(CheckpointError, match="not a fastcnn checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_checkpoint_round_trips_nested_state(tmp_path):
    import collections
    state = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 3, "x": 0.5, "s": "lenet5", "none": None,
             "t": (0.9, 0.999), "ints": {0: {"step": 2.0, "m": np.ones(2, np.float32)}},
             "c": collections.Counter([1, 1, 2]), "l": [1, [2, np.int64(3)]], "flag": True}
    save_checkpoint(tmp_path / "s.ckpt", state)
    back = load_checkpoint(tmp_path / "s.ckpt")
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["a"].dtype == np.float32
    assert back["t"] == (0.9, 0.999) and back["c"] == state["c"] and back["l"] == [1, [2, 3]]
    assert back["ints"][0]["step"] == 2.0 and back["none"] is None and back["flag"] is True
    with pytest.raises(TypeError, match="cannot store a object"):
        save_checkpoint(tmp_path / "bad.ckpt", {"x": object()})
    assert not (tmp_path / "bad.ckpt").exists()


class _AuxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU())
        self.main = nn.Linear(8, CLASSES)
        self.aux = nn.Linear(8, CLASSES)

    def forward(self, x):
        h = self.body(x)
        return (self.main(h), self.aux(h)) if self.training else self.main(h)


def test_auxiliary_losses_weighted_0_3():
    fastcnn.manual_seed(0)
    model = _AuxNet()
    x, y = _blobs(32)
    loss_fn = nn.CrossEntropyLoss()
    with fastcnn.no_grad():
        main, aux = model(fastcnn.from_numpy(x))
        expected = loss_fn(main, fastcnn.from_numpy(y)).item() + 0.3 * loss_fn(aux, fastcnn.from_numpy(y)).item()
    opt = optim.SGD(model.parameters(), lr=0.0)
    history = fit(model, DataLoader(TensorDataset(x, y), batch_size=32), 1, opt, loss_fn, progress=False)
    assert history["train_loss"][0] == pytest.approx(expected, rel=1e-6)
    assert model.training  # fit leaves the model in training mode
    assert evaluate(model, _loader(32))["accuracy"] >= 0  # eval mode: a single output


def _reference_confusion(w, b, x, y, classes):
    logits = x.reshape(len(x), -1).astype(np.float64) @ w.T.astype(np.float64) + b
    pred = logits.argmax(1)
    cm = np.zeros((classes, classes), np.int64)
    for t, p in zip(y, pred):
        cm[t, p] += 1
    return cm, logits


@pytest.mark.parametrize("n,batch", [(1, 1), (37, 8), (100, 100)])
def test_evaluate_matches_numpy_reference(n, batch):
    fastcnn.manual_seed(n)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    x, _ = _blobs(n, seed=n)
    y = np.random.default_rng(n).integers(0, 4, n)
    model.train()
    result = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=batch), nn.CrossEntropyLoss())
    w, b = (model.state_dict()[k].numpy() for k in ("1.weight", "1.bias"))
    cm, logits = _reference_confusion(w, b, x, y, 4)
    np.testing.assert_array_equal(result["confusion_matrix"], cm)
    assert result["confusion_matrix"].dtype == np.int64
    assert result["accuracy"] == pytest.approx(np.trace(cm) / n)
    shifted = logits - logits.max(1, keepdims=True)
    ref_loss = np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(n), y])
    assert result["loss"] == pytest.approx(ref_loss, rel=1e-5)  # float32 softmax over 4 classes
    assert model.training  # mode restored
    assert fastcnn.evaluate is evaluate


def test_evaluate_without_loss_and_with_num_classes():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    result = evaluate(model, _loader(20), num_classes=3)
    assert result["loss"] is None and result["confusion_matrix"].shape == (3, 3)
    assert result["confusion_matrix"].sum() == 20
    with pytest.raises(ValueError, match="num_classes is 5"):
        evaluate(model, _loader(20), num_classes=5)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        evaluate(model, _loader(20), num_classes=0)


def test_callback_can_stop_training():
    seen = []

    def cb(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 2

    model = _net()
    history = fit(model, _loader(), 5, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
                  callbacks=[cb], progress=False)
    assert history["epoch"] == [1, 2] and [e for e, _ in seen] == [1, 2]
    assert "train_loss" in seen[0][1]


def test_progress_output(capsys):
    model = _net()
    fit(model, _loader(32), 1, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(), progress=True)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err


def test_fit_rejects_bad_arguments(tmp_path):
    model = _net()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        fit(model, _loader(), -1, opt, loss)
    with pytest.raises(TypeError, match="optimizer must be"):
        fit(model, _loader(), 1, "sgd", loss)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        fit(model, _loader(), 1, opt, 3)
    with pytest.raises(TypeError, match="callbacks must be callables"):
        fit(model, _loader(), 1, opt, loss, callbacks=[1])
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        fit(model, _loader(), 1, opt, loss, resume=True)
    with pytest.raises(FileNotFoundError, match="not found"):
        fit(model, _loader(), 1, opt, loss, resume=tmp_path / "nothing.ckpt")
    with pytest.raises(ValueError, match="pair"):
        fit(model, [np.zeros((2, 1, 8, 8), np.float32)], 1, opt, loss, progress=False)


def test_pad_transform():
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    out = Pad(2, fill=-1.0).batch(x)
    assert out.shape == (2, 1, 32, 32) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :, 2:30, 2:30], x)
    assert (out[:, :, :2] == -1).all() and (out[:, :, :, -2:] == -1).all()
    assert Pad(1)(x[0]).shape == (1, 30, 30)
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        Pad(-1)
    with pytest.raises(TypeError, match="float32"):
        Pad(1)(np.zeros((1, 4, 4), np.uint8))
