"""Pretrained weights: torchvision's ImageNet checkpoints, fetched once and cached as safetensors.

MANIFEST maps model name -> weight name -> torchvision's file name and URL ("DEFAULT" names
another entry). torchvision's file names end in the first hex digits of the file's SHA-256
(resnet18-f37072fd.pth); a download is accepted only if its digest starts with them, as
torchvision's own check_hash does. Files live in $FASTCNN_HOME/weights (default
~/.cache/fastcnn/weights): the .pth is converted once to <stem>.safetensors and removed, and
later calls read the cache without touching the network. FASTCNN_OFFLINE=1 forbids downloads.
"""

from __future__ import annotations

import os
import re

__all__ = ["MANIFEST", "weights_dir", "weights_file", "load_pretrained", "build_with_weights"]

_BASE = "https://download.pytorch.org/models/"


def _entry(file_name: str) -> dict:
    return {"file": file_name, "url": _BASE + file_name}


# From torchvision 0.28's *_Weights enums (only the models fastcnn builds with the same layout).
MANIFEST = {
    "resnet18": {"IMAGENET1K_V1": _entry("resnet18-f37072fd.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "resnet34": {"IMAGENET1K_V1": _entry("resnet34-b627a593.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "resnet50": {"IMAGENET1K_V1": _entry("resnet50-0676ba61.pth"), "IMAGENET1K_V2": _entry("resnet50-11ad3fa6.pth"),
                 "DEFAULT": "IMAGENET1K_V2"},
    "resnet101": {"IMAGENET1K_V1": _entry("resnet101-63fe2227.pth"),
                  "IMAGENET1K_V2": _entry("resnet101-cd907fc2.pth"), "DEFAULT": "IMAGENET1K_V2"},
    "resnet152": {"IMAGENET1K_V1": _entry("resnet152-394f9c45.pth"),
                  "IMAGENET1K_V2": _entry("resnet152-f82ba261.pth"), "DEFAULT": "IMAGENET1K_V2"},
    "alexnet": {"IMAGENET1K_V1": _entry("alexnet-owt-7be5be79.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg11": {"IMAGENET1K_V1": _entry("vgg11-8a719046.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg11_bn": {"IMAGENET1K_V1": _entry("vgg11_bn-6002323d.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg13": {"IMAGENET1K_V1": _entry("vgg13-19584684.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg13_bn": {"IMAGENET1K_V1": _entry("vgg13_bn-abd245e5.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg16": {"IMAGENET1K_V1": _entry("vgg16-397923af.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg16_bn": {"IMAGENET1K_V1": _entry("vgg16_bn-6c64b313.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg19": {"IMAGENET1K_V1": _entry("vgg19-dcbb9e9d.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "vgg19_bn": {"IMAGENET1K_V1": _entry("vgg19_bn-c79401a0.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "googlenet": {"IMAGENET1K_V1": _entry("googlenet-1378be20.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "inception_v3": {"IMAGENET1K_V1": _entry("inception_v3_google-0cc3c7bd.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "densenet121": {"IMAGENET1K_V1": _entry("densenet121-a639ec97.pth"), "DEFAULT": "IMAGENET1K_V1"},
    "mobilenet_v2": {"IMAGENET1K_V1": _entry("mobilenet_v2-b0353104.pth"),
                     "IMAGENET1K_V2": _entry("mobilenet_v2-7ebf99e0.pth"), "DEFAULT": "IMAGENET1K_V2"},
}

# Builder arguments the checkpoints were trained with, as torchvision sets them (the user's win,
# except num_classes, which must match the checkpoint). Aux heads are kept only if asked for.
_BUILD_KWARGS = {"googlenet": {"transform_input": True, "aux_logits": False},
                 "inception_v3": {"transform_input": True, "aux_logits": True}}
_AUX_PREFIXES = ("aux1.", "aux2.", "AuxLogits.")
_HASH_RE = re.compile(r"-([a-f0-9]*)\.")  # torchvision's HASH_REGEX
# Old torchvision DenseNet checkpoints name "norm.1" what the modules call "norm1" (as torchvision fixes).
_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")
_PATH_SUFFIXES = (".pth", ".pt", ".safetensors", ".npz")


def weights_dir() -> str:
    return os.path.join(os.environ.get("FASTCNN_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "fastcnn"),
                        "weights")


def _lookup(model: str, weights: str) -> dict:
    table = MANIFEST.get(model)
    if table is None:
        raise ValueError(f"get_model: no pretrained weights known for {model!r} (models with weights: "
                         f"{', '.join(sorted(MANIFEST))}); pass a file path as weights= instead")
    entry = table.get(weights.upper()) if isinstance(weights, str) else None
    if isinstance(entry, str):
        entry = table[entry]
    if entry is None:
        raise ValueError(f"get_model: unknown weights {weights!r} for {model!r}; known: {', '.join(table)}, "
                         "or a file path")
    return entry


def weights_file(model: str, weights: str = "DEFAULT") -> str:
    """The cached safetensors file of `model`'s named weights, downloaded and converted if needed."""
    from .. import serialization
    from ..data.download import download_file, sha256_of
    entry = _lookup(model, weights)
    file_name, url = entry["file"], entry["url"]
    folder = weights_dir()
    stem = os.path.splitext(file_name)[0]
    cached = os.path.join(folder, stem + ".safetensors")
    if os.path.isfile(cached):
        return cached
    match = _HASH_RE.search(file_name)
    prefix = match.group(1) if match else ""
    pth = os.path.join(folder, file_name)
    if os.path.isfile(pth):  # placed there by hand (an offline machine): check it as a download would be
        digest = sha256_of(pth)
        if not digest.startswith(prefix):
            raise RuntimeError(f"{pth}: SHA-256 {digest} does not start with {prefix} (from the file name); "
                               f"refusing it. Delete it and download {url} again.")
    else:
        how = f"download {url} and place it at {pth} (or unset FASTCNN_OFFLINE)"
        if os.environ.get("FASTCNN_OFFLINE", "0") not in ("", "0"):
            raise RuntimeError(f"weights {model}/{weights} are not cached at {cached} and FASTCNN_OFFLINE is set: {how}")
        if len(prefix) < 8:
            raise RuntimeError(f"{file_name}: no SHA-256 prefix in the file name to verify a download against")
        try:
            download_file(file_name, folder, [url[:-len(file_name)]], prefix, sha256_prefix=True)
        except RuntimeError as e:
            raise RuntimeError(f"could not get weights {model}/{weights} (expected at {pth}, from {url}): {e}\n"
                               f"On a machine without network: {how}") from e
    state = serialization.load(pth, as_numpy=True)
    serialization.save(state, cached)
    os.unlink(pth)  # the safetensors copy (with its own checksum) replaces it
    return cached


def _looks_like_path(weights) -> bool:
    if isinstance(weights, os.PathLike):
        return True
    return isinstance(weights, str) and (os.sep in weights or weights.lower().endswith(_PATH_SUFFIXES)
                                          or os.path.exists(weights))


def load_pretrained(model, name: str, weights) -> None:
    """Loads `weights` (a file path or a MANIFEST weight name) into `model` (built by get_model(name))."""
    from .. import serialization
    path = os.fspath(weights) if _looks_like_path(weights) else weights_file(name, weights)
    state = serialization.load(path, as_numpy=True)
    if not isinstance(state, dict):
        raise ValueError(f"get_model: {path} holds a {type(state).__name__}, not a state dict")
    if name.startswith("densenet"):
        state = {_DENSENET_KEY.sub(r"\1\2", k): v for k, v in state.items()}
    own = model.state_dict()
    if not any(k.startswith(_AUX_PREFIXES) for k in own):  # aux heads left out of the model: drop theirs
        state = {k: v for k, v in state.items() if not k.startswith(_AUX_PREFIXES)}
    model.load_state_dict(state, strict=True)


def build_with_weights(name: str, builder, weights, kwargs: dict):
    """builder(**kwargs) with `weights` loaded; named weights fix num_classes (1000) and the input transform."""
    if not _looks_like_path(weights):
        _lookup(name, weights)  # fail on a bad name before building anything
        if kwargs.get("num_classes", 1000) != 1000:
            raise ValueError(f"get_model: weights {weights!r} for {name} have 1000 classes, got "
                             f"num_classes={kwargs['num_classes']}")
        kwargs = {**_BUILD_KWARGS.get(name, {}), **kwargs}
    model = builder(**kwargs)
    load_pretrained(model, name, weights)
    return model
