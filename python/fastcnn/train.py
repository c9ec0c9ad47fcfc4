"""Training loop, evaluation and checkpoints.

fit() trains a model for some epochs (progress bar, per-epoch validation, history), writes
a checkpoint after every epoch and can resume from one exactly: the checkpoint holds the
model, optimizer and scheduler state, the epoch, the history and fastcnn's global random
generator, and the loaders are told their epoch (set_epoch), so 1 epoch + resume 1 epoch
gives the parameters of an uninterrupted 2-epoch run.

Checkpoint file: b"FASTCNN-CKPT\\n", an 8-byte little-endian header length, a JSON header
(format version, SHA-256 of the payload, the state as JSON with arrays replaced by
references) and an .npz payload holding the arrays. Nothing is unpickled on load. Writes
go to a temporary file in the same folder, fsync'd, then os.replace()d over the old one,
so a killed write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import numbers
import os
import struct
import sys
import time

import numpy as np

from ._atomic import atomic_write

__all__ = ["fit", "evaluate", "save_checkpoint", "load_checkpoint", "CheckpointError", "Pad", "CHECKPOINT_NAME"]

CHECKPOINT_NAME = "last.ckpt"
_MAGIC = b"FASTCNN-CKPT\n"
_VERSION = 1
AUX_WEIGHT = 0.3  # GoogLeNet's weight for its auxiliary classifiers' losses


class CheckpointError(ValueError):
    """A checkpoint file that is not one, is truncated or fails its checksum."""


# ---- JSON encoding of state dicts (arrays by reference) ------------------------------------------

def _encode(obj, arrays: dict):
    if hasattr(obj, "detach") and hasattr(obj, "numpy") and not isinstance(obj, np.ndarray):
        obj = obj.detach().numpy()
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(obj)
        return {"__array__": key}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj)
    if isinstance(obj, collections.Counter):
        return {"__counter__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, arrays) for k, v in obj.items()}
        return {"__items__": [[_encode(k, arrays), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
    raise TypeError(f"save_checkpoint: cannot store a {type(obj).__name__} (only arrays, numbers, strings, "
                    "lists, tuples and dicts)")


def _decode(obj, arrays):
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__tuple__" in obj:
        return tuple(_decode(v, arrays) for v in obj["__tuple__"])
    if "__counter__" in obj:
        return collections.Counter({_decode(k, arrays): _decode(v, arrays) for k, v in obj["__counter__"]})
    if "__items__" in obj:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in obj["__items__"]}
    return {k: _decode(v, arrays) for k, v in obj.items()}


def save_checkpoint(path, state: dict) -> None:
    """Writes `state` (nested dicts/lists of arrays and plain scalars) atomically to path."""
    arrays: dict = {}
    tree = _encode(state, arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    header = json.dumps({"format": "fastcnn-checkpoint", "version": _VERSION,
                         "sha256": hashlib.sha256(payload).hexdigest(), "state": tree}).encode()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write(path, _MAGIC, struct.pack("<Q", len(header)), header, payload)


def load_checkpoint(path) -> dict:
    """Reads a checkpoint written by save_checkpoint, verifying its SHA-256."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, CHECKPOINT_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} not found")
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
        raise CheckpointError(f"checkpoint {path} is not a fastcnn checkpoint")
    (size,) = struct.unpack_from("<Q", data, len(_MAGIC))
    start = len(_MAGIC) + 8
    if start + size > len(data):
        raise CheckpointError(f"checkpoint {path} is truncated")
    try:
        header = json.loads(data[start:start + size])
    except ValueError:
        raise CheckpointError(f"checkpoint {path} has a corrupt header") from None
    if not isinstance(header, dict) or header.get("format") != "fastcnn-checkpoint":
        raise CheckpointError(f"checkpoint {path} is not a fastcnn checkpoint")
    if header.get("version") != _VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {header.get('version')}, expected {_VERSION}")
    payload = data[start + size:]
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path} fails its SHA-256 check (truncated or corrupted)")
    with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return _decode(header["state"], arrays)


# ---- random state ----------------------------------------------------------------------------------

def _rng_state() -> dict:
    from . import random as _random
    g = _random.default_generator
    return {"seed": g._seed, "offset": g._offset, "bit_generator": g._rng.bit_generator.state}


def _set_rng_state(state: dict) -> None:
    from . import random as _random
    g = _random.default_generator
    g.manual_seed(int(state["seed"]))
    g._offset = int(state["offset"])
    g._rng.bit_generator.state = state["bit_generator"]


# ---- a transform the data module lacks -------------------------------------------------------------

class Pad:
    """Zero (or `fill`) padding of (C, H, W) images or (N, C, H, W) batches by `padding`
    pixels on every side (28x28 Fashion-MNIST -> LeNet-5's 32x32 with Pad(2))."""

    takes_generator = True

    def __init__(self, padding: int, fill: float = 0.0):
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise ValueError(f"Pad: padding must be an int >= 0, got {padding!r}")
        self.padding = int(padding)
        self.fill = float(fill)

    def _pad(self, x, op):
        if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
            x = x.numpy()
        if not isinstance(x, np.ndarray) or x.dtype != np.float32:
            raise TypeError(f"{op}: image must be a float32 numpy.ndarray (apply ToTensor first)")
        p = self.padding
        widths = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
        return np.pad(x, widths, constant_values=self.fill)

    def __call__(self, x, generator=None):
        return self._pad(x, "Pad")

    def batch(self, x, generator=None):
        return self._pad(x, "Pad.batch")

    def __repr__(self) -> str:
        return f"Pad(padding={self.padding}, fill={self.fill})"


# ---- training --------------------------------------------------------------------------------------

def _split(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise ValueError("fit: each batch must be a pair (inputs, targets)")
    x, y = batch
    from .tensor import Tensor, from_numpy
    if isinstance(x, np.ndarray):
        x = from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if isinstance(y, np.ndarray):
        y = from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(f"fit: batches must hold Tensors or arrays, got {type(x).__name__}, {type(y).__name__}")
    return x, y


def _correct(logits, y) -> int:
    pred = logits.detach().numpy().argmax(axis=1)
    return int((pred == y.numpy()).sum())


class _Progress:
    """A tqdm bar when tqdm is installed, else one plain line per epoch (on stderr)."""

    def __init__(self, enabled: bool, total: int, desc: str):
        self.bar = None
        self.enabled = enabled
        self.desc = desc
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, desc=desc, leave=True, file=sys.stderr, dynamic_ncols=True)

    def update(self, **postfix):
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)
            self.bar.update(1)

    def close(self, **summary):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            print(self.desc + ": " + ", ".join(f"{k} {v:.4g}" for k, v in summary.items()), file=sys.stderr)


def _check_fit_args(model, epochs, optimizer, loss_fn, callbacks):
    if not callable(model) or not hasattr(model, "train"):
        raise TypeError(f"fit: model must be a fastcnn.nn.Module, got {type(model).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
        raise TypeError(f"fit: optimizer must be a fastcnn.optim optimizer, got {type(optimizer).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"fit: loss_fn must be callable, got {type(loss_fn).__name__}")
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not callable(cb):
            raise TypeError(f"fit: callbacks must be callables, got {type(cb).__name__}")
    return callbacks


def _new_history() -> dict:
    return {k: [] for k in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr",
                            "seconds", "images_per_second")}


def fit(model, train_loader, epochs, optimizer, loss_fn, val_loader=None, scheduler=None, callbacks=None,
        checkpoint_dir=None, resume=None, progress=True, metadata=None) -> dict:
    """Trains `model` until `epochs` epochs are done in all (a resumed run counts the saved
    ones) and returns the history: per epoch, train/val loss and accuracy, lr, seconds,
    images/s. A model returning a tuple (main, aux...) in training mode is trained on
    loss(main) + 0.3 * sum(loss(aux)). `callbacks` are called as cb(epoch, logs) after each
    epoch; one returning True stops training. With checkpoint_dir, checkpoint_dir/last.ckpt
    is written after each epoch (with `metadata`, a JSON-able dict, e.g. the model's name);
    resume= a checkpoint file or folder (or True: checkpoint_dir's) restores everything."""
    callbacks = _check_fit_args(model, epochs, optimizer, loss_fn, callbacks)
    history = _new_history()
    start_epoch = 0
    if resume is not None and resume is not False:
        if resume is True:
            if checkpoint_dir is None:
                raise ValueError("fit: resume=True needs checkpoint_dir")
            resume = checkpoint_dir
        state = load_checkpoint(resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            if state.get("scheduler") is None:
                raise ValueError("fit: the checkpoint holds no scheduler state but a scheduler was given")
            scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        history = {k: list(v) for k, v in state["history"].items()}
        start_epoch = int(state["epoch"])

    for epoch in range(start_epoch, epochs):
        for loader in (train_loader, val_loader):
            if loader is not None and hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
        logs = _train_epoch(model, train_loader, optimizer, loss_fn, progress, f"epoch {epoch + 1}/{epochs}")
        logs["lr"] = float(optimizer.param_groups[0]["lr"])
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn)
            logs["val_loss"], logs["val_accuracy"] = val["loss"], val["accuracy"]
            if progress:
                print(f"epoch {epoch + 1}/{epochs}: val loss {val['loss']:.4f}, val accuracy {val['accuracy']:.4f}",
                      file=sys.stderr)
        if scheduler is not None:
            scheduler.step()
        history["epoch"].append(epoch + 1)
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "images_per_second"):
            history[key].append(logs.get(key))
        if checkpoint_dir is not None:
            save_checkpoint(os.path.join(os.fspath(checkpoint_dir), CHECKPOINT_NAME), {
                "epoch": epoch + 1, "model": dict(model.state_dict()), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "history": history, "rng": _rng_state(), "metadata": metadata or {},
            })
        if any(cb(epoch + 1, dict(logs)) is True for cb in callbacks):
            break
    return history


def _train_epoch(model, loader, optimizer, loss_fn, progress, desc) -> dict:
    model.train()
    total_loss = 0.0
    correct = seen = 0
    bar = _Progress(progress, len(loader) if hasattr(loader, "__len__") else None, desc)
    start = time.perf_counter()
    for batch in loader:
        x, y = _split(batch)
        out = model(x)
        if isinstance(out, tuple):
            main, aux = out[0], out[1:]
            loss = loss_fn(main, y)
            for a in aux:
                loss = loss + AUX_WEIGHT * loss_fn(a, y)
        else:
            main = out
            loss = loss_fn(main, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        n = int(y.shape[0])
        total_loss += float(loss.item()) * n
        correct += _correct(main, y)
        seen += n
        bar.update(loss=total_loss / seen, acc=correct / seen, img_s=seen / max(time.perf_counter() - start, 1e-9))
    seconds = time.perf_counter() - start
    if seen == 0:
        raise ValueError("fit: train_loader yielded no batches")
    logs = {"train_loss": total_loss / seen, "train_accuracy": correct / seen, "seconds": seconds,
            "images_per_second": seen / max(seconds, 1e-9)}
    bar.close(loss=logs["train_loss"], acc=logs["train_accuracy"], img_s=logs["images_per_second"])
    return logs


def evaluate(model, loader, loss_fn=None, num_classes=None) -> dict:
    """Runs `model` in eval mode without gradients over `loader`: returns
    {"loss" (mean per sample, None without loss_fn), "accuracy", "confusion_matrix"
    (int64 C x C, rows true class, columns predicted), "predictions", "targets"}."""
    from .autograd import no_grad
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                                    or num_classes < 1):
        raise ValueError(f"evaluate: num_classes must be a positive int, got {num_classes!r}")
    was_training = bool(getattr(model, "training", False))
    model.eval()
    total_loss = 0.0
    preds, targets = [], []
    try:
        with no_grad():
            for batch in loader:
                x, y = _split(batch)
                out = model(x)
                if isinstance(out, tuple):
                    out = out[0]
                if loss_fn is not None:
                    total_loss += float(loss_fn(out, y).item()) * int(y.shape[0])
                logits = out.detach().numpy()
                if num_classes is None:
                    num_classes = int(logits.shape[1])
                elif logits.shape[1] != num_classes:
                    raise ValueError(f"evaluate: model gives {logits.shape[1]} classes, num_classes is {num_classes}")
                preds.append(logits.argmax(axis=1))
                targets.append(np.asarray(y.numpy(), dtype=np.int64))
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("evaluate: loader yielded no batches")
    pred = np.concatenate(preds).astype(np.int64)
    true = np.concatenate(targets)
    if true.min() < 0 or true.max() >= num_classes:
        raise ValueError(f"evaluate: targets must be in [0, {num_classes}), got range [{true.min()}, {true.max()}]")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    return {"loss": total_loss / len(true) if loss_fn is not None else None,
            "accuracy": float((pred == true).mean()), "confusion_matrix": cm,
            "predictions": pred, "targets": true}
