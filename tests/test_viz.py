"""fastcnn.viz: each plot writes a valid, non-trivial PNG; feature_maps returns the
named layer's output (checked against running the Sequential's prefix)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import fastcnn  # noqa: E402
from fastcnn import nn, viz  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path, min_bytes=3000):
    data = open(path, "rb").read()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > min_bytes, f"{path} is only {len(data)} bytes"
    return True


def _net():
    fastcnn.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 12 * 12, 10))


def _image():
    return np.random.default_rng(0).random((1, 28, 28), dtype=np.float32)


def test_plot_history(tmp_path):
    history = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4], "val_loss": [0.9, 0.7, 0.5],
               "train_accuracy": [0.6, 0.8, 0.85], "val_accuracy": [0.65, 0.75, 0.8]}
    assert _is_png(viz.plot_history(history, tmp_path / "curves.png"))
    no_val = {"train_loss": [1.0, 0.5], "train_accuracy": [0.5, 0.7], "val_loss": [None, None]}
    assert _is_png(viz.plot_history(no_val, tmp_path / "sub" / "c2.png"))
    with pytest.raises(ValueError, match="history"):
        viz.plot_history({}, tmp_path / "x.png")


def test_plot_filters(tmp_path):
    model = _net()
    np.testing.assert_array_equal(viz.first_conv_weight(model), model[0].weight.detach().numpy())
    assert _is_png(viz.plot_filters(model, tmp_path / "filters.png"))
    rgb = np.random.default_rng(0).normal(size=(16, 3, 3, 3)).astype(np.float32)
    assert _is_png(viz.plot_filters(rgb, tmp_path / "rgb.png"))
    with pytest.raises(ValueError, match="no convolution weight"):
        viz.first_conv_weight(nn.Linear(3, 2))


@pytest.mark.parametrize("layer,prefix", [("0", 1), ("2", 3), ("4", 5), ("6", 7)])
def test_feature_maps_are_the_layer_output(layer, prefix):
    model = _net()
    model.train()
    x = _image()
    maps = viz.feature_maps(model, x, layer)
    with fastcnn.no_grad():
        ref = model[:prefix](fastcnn.from_numpy(x[None])).numpy()[0]
    np.testing.assert_array_equal(maps, ref)
    assert model.training and isinstance(model[int(layer)], nn.Module)  # restored


def test_plot_feature_maps(tmp_path):
    model = _net()
    assert _is_png(viz.plot_feature_maps(model, _image(), "0", tmp_path / "fm.png"))
    assert _is_png(viz.plot_feature_maps(model, _image(), "6", tmp_path / "fc.png"))
    with pytest.raises(ValueError, match="no layer 'conv9'; layers: 0, 1"):
        viz.feature_maps(model, _image(), "conv9")
    with pytest.raises(ValueError, match=r"image must be \(C, H, W\)"):
        viz.feature_maps(model, _image()[0], "0")


def test_plot_confusion_matrix(tmp_path):
    cm = np.random.default_rng(0).integers(0, 50, (10, 10)) + np.diag(np.full(10, 400))
    names = [f"class {i}" for i in range(10)]
    assert _is_png(viz.plot_confusion_matrix(cm, tmp_path / "cm.png", names))
    assert _is_png(viz.plot_confusion_matrix(cm, tmp_path / "cmn.png", normalize=True))
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="class_names"):
        viz.plot_confusion_matrix(cm, tmp_path / "x.png", names[:3])


def test_plot_misclassified(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 28, 28), dtype=np.float32)
    true = rng.integers(0, 10, 40)
    pred = true.copy()
    pred[::3] = (pred[::3] + 1) % 10
    assert _is_png(viz.plot_misclassified(images, pred, true, tmp_path / "mis.png", [f"c{i}" for i in range(10)]))
    assert _is_png(viz.plot_misclassified(images, true, true, tmp_path / "none.png"), min_bytes=1000)
    with pytest.raises(ValueError, match="predictions/targets"):
        viz.plot_misclassified(images, pred[:3], true, tmp_path / "x.png")
