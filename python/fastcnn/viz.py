"""Plots written as PNG (matplotlib, imported lazily with the Agg backend): training
curves, first-layer filters, a layer's feature maps for one image, a confusion matrix and
a grid of misclassified images."""

from __future__ import annotations

import math
import os

import numpy as np

from ._atomic import atomic_png

__all__ = ["plot_history", "plot_filters", "plot_feature_maps", "feature_maps", "plot_confusion_matrix",
           "plot_misclassified", "first_conv_weight"]


def _plt():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("fastcnn.viz needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    atomic_png(fig, path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def plot_history(history: dict, path) -> str:
    """Loss and accuracy per epoch, train and (where present) validation."""
    if not isinstance(history, dict) or not history.get("train_loss"):
        raise ValueError("plot_history: history must be fit()'s dict with at least one epoch")
    plt = _plt()
    epochs = history.get("epoch") or list(range(1, len(history["train_loss"]) + 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for split, style in (("train", "o-"), ("val", "s--")):
            values = history.get(f"{split}_{metric}") or []
            points = [(e, v) for e, v in zip(epochs, values) if v is not None]
            if points:
                ax.plot(*zip(*points), style, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend()
    return _save(fig, path)


def first_conv_weight(model) -> np.ndarray:
    """The weight (O, I, kh, kw) of the model's first 4-d parameter (its first conv layer)."""
    for name, p in model.named_parameters():
        if len(p.shape) == 4:
            return np.array(p.detach().numpy())
    raise ValueError(f"{type(model).__name__} has no convolution weight (no 4-d parameter)")


def plot_filters(model_or_weight, path) -> str:
    """A grid of first-layer filters, each scaled to its own range; multi-channel input
    filters are shown per input channel averaged (RGB when there are 3)."""
    w = model_or_weight if isinstance(model_or_weight, np.ndarray) else first_conv_weight(model_or_weight)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: weight must be (O, I, kh, kw), got shape {w.shape}")
    plt = _plt()
    rows, cols = _grid(w.shape[0])
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= w.shape[0]:
            continue
        f = w[i]
        f = (f - f.min()) / max(float(f.max() - f.min()), 1e-12)
        if f.shape[0] == 3:
            ax.imshow(np.moveaxis(f, 0, -1), interpolation="nearest")
        else:
            ax.imshow(f.mean(axis=0), cmap="gray", interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"first-layer filters {w.shape[2]}x{w.shape[3]}", y=1.02)
    return _save(fig, path)


class _Capture:
    """Stands in for a submodule during one forward pass and records its output."""

    def __init__(self, module):
        self.module = module
        self.output = None

    def __call__(self, *args, **kwargs):
        self.output = self.module(*args, **kwargs)
        return self.output


def feature_maps(model, image, layer: str) -> np.ndarray:
    """The output (C, H, W) or (F,) of submodule `layer` (a name from named_modules())
    for one image (C, H, W), in eval mode without gradients. The submodule is swapped
    for a recording wrapper for that one pass, so any model works (no hooks needed)."""
    from .autograd import no_grad
    from .tensor import from_numpy
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        names = ", ".join(n for n in modules if n)
        raise ValueError(f"feature_maps: model has no layer {layer!r}; layers: {names}")
    parent_name, _, child = layer.rpartition(".")
    parent = modules[parent_name]
    original = parent._modules[child]
    capture = _Capture(original)
    x = np.asarray(image, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"feature_maps: image must be (C, H, W), got shape {x.shape}")
    was_training = model.training
    model.eval()
    parent._modules[child] = capture
    try:
        with no_grad():
            model(from_numpy(np.ascontiguousarray(x[None])))
    finally:
        parent._modules[child] = original
        model.train(was_training)
    out = capture.output
    if isinstance(out, tuple):
        out = out[0]
    return np.array(out.detach().numpy()[0])


def plot_feature_maps(model, image, layer: str, path, max_maps: int = 64) -> str:
    """A grid of a layer's feature maps (channels) for one image, the image first."""
    maps = feature_maps(model, image, layer)
    plt = _plt()
    if maps.ndim == 1:  # a fully connected layer: one bar chart
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.bar(np.arange(len(maps)), maps)
        ax.set_title(f"{layer}: {len(maps)} activations")
        return _save(fig, path)
    maps = maps[:max_maps]
    n = len(maps) + 1
    rows, cols = _grid(n)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols, 1.5 * rows), squeeze=False)
    img = np.asarray(image, dtype=np.float32)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i == 0:
            ax.imshow(np.moveaxis(img, 0, -1) if img.shape[0] == 3 else img[0], cmap="gray")
            ax.set_title("input", fontsize=7)
        elif i < n:
            ax.imshow(maps[i - 1], cmap="viridis", interpolation="nearest")
            ax.set_title(str(i - 1), fontsize=7)
    fig.suptitle(f"feature maps of {layer} {tuple(maps.shape[1:])}", y=1.02)
    return _save(fig, path)


def plot_confusion_matrix(cm, path, class_names=None, normalize: bool = False) -> str:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: cm must be square, got shape {cm.shape}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    if len(names) != len(cm):
        raise ValueError(f"plot_confusion_matrix: {len(names)} class_names for a {len(cm)}x{len(cm)} matrix")
    plt = _plt()
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(5.0, 0.6 * len(cm))
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(len(cm)))
    ax.set_yticks(range(len(cm)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    if len(cm) <= 20:
        for i in range(len(cm)):
            for j in range(len(cm)):
                text = f"{shown[i, j]:.2f}" if normalize else str(int(cm[i, j]))
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > threshold else "black")
    ax.set_title("confusion matrix")
    return _save(fig, path)


def plot_misclassified(images, predictions, targets, path, class_names=None, max_images: int = 25) -> str:
    """A grid of the first misclassified images (N, C, H, W) with 'pred / true' labels."""
    images = np.asarray(images)
    pred, true = np.asarray(predictions), np.asarray(targets)
    if images.ndim != 4 or not len(images) == len(pred) == len(true):
        raise ValueError(f"plot_misclassified: images (N, C, H, W) and N predictions/targets needed, got "
                         f"{images.shape}, {pred.shape}, {true.shape}")
    wrong = np.flatnonzero(pred != true)[:max_images]
    plt = _plt()
    name = (lambda c: class_names[c]) if class_names is not None else str
    rows, cols = _grid(max(len(wrong), 1))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.1 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(wrong):
            continue
        i = wrong[k]
        img = images[i]
        ax.imshow(np.moveaxis(img, 0, -1) if img.shape[0] == 3 else img[0], cmap="gray")
        ax.set_title(f"pred {name(int(pred[i]))}\ntrue {name(int(true[i]))}", fontsize=7, color="red")
    fig.suptitle(f"misclassified: {int((pred != true).sum())} of {len(true)}" if len(wrong) else "no misclassified images")
    return _save(fig, path)
