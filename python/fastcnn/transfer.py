"""Transfer learning helpers: replace a model's classifier head, freeze its early layers.

    model = fastcnn.transfer.replace_head(model, num_classes=5)
    fastcnn.transfer.freeze(model, until="layer3")       # or until=None: everything but the head
    opt = fastcnn.optim.SGD(model.parameters(), lr=0.01) # frozen parameters get no grad: skipped

Frozen parameters have requires_grad=False, so backward leaves their .grad None and the optimizers
skip them, as torch's. Batch norms in frozen layers still update their running statistics in training
mode (as torch); call .eval() on those children to keep them fixed.
"""

from __future__ import annotations

from . import nn

__all__ = ["find_head", "replace_head", "freeze", "unfreeze"]


def _check_model(model, fn: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be a fastcnn.nn.Module, got {type(model).__name__}")


def _last_linear(module):
    """(parent, child name) of the last nn.Linear registered under module, or None."""
    found = None
    for _, parent in module.named_modules():
        for name, child in parent._modules.items():
            if isinstance(child, nn.Linear):
                found = (parent, name)
    return found


def find_head(model):
    """(parent module, child name) of the final classifier: `fc` (ResNet, GoogLeNet, Inception),
    `classifier` itself or its last Linear (VGG, AlexNet, MobileNet, DenseNet, LeNet), else the last
    Linear the model registers. TypeError if the model has no Linear layer."""
    _check_model(model, "find_head")
    if isinstance(model._modules.get("fc"), nn.Linear):
        return model, "fc"
    classifier = model._modules.get("classifier")
    if isinstance(classifier, nn.Linear):
        return model, "classifier"
    found = _last_linear(classifier) if classifier is not None else None
    found = found or _last_linear(model)
    if found is None:
        raise TypeError(f"find_head: {type(model).__name__} has no nn.Linear layer to serve as the classifier head")
    return found


def _aux_heads(model):
    """The auxiliary classifiers' last Linears (GoogLeNet aux1/aux2, Inception v3 AuxLogits)."""
    heads = []
    for name in ("aux1", "aux2", "AuxLogits"):
        aux = model._modules.get(name)
        found = _last_linear(aux) if aux is not None else None
        if found is not None:
            heads.append(found)
    return heads


def replace_head(model, num_classes: int):
    """The model with its classifier head (see find_head) replaced by a freshly initialised
    nn.Linear(in_features, num_classes) (bias kept as it was); auxiliary classifiers (GoogLeNet,
    Inception v3) are replaced too, so their training-mode outputs match. Modifies and returns model."""
    _check_model(model, "replace_head")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"replace_head: num_classes must be a positive int, got {num_classes!r}")
    for parent, name in [find_head(model)] + _aux_heads(model):
        old = parent._modules[name]
        setattr(parent, name, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return model


def _head_params(model) -> set:
    ids = set()
    for parent, name in [find_head(model)] + _aux_heads(model):
        ids.update(id(p) for p in parent._modules[name].parameters())
    return ids


def freeze(model, until: str | None = None):
    """Set requires_grad=False on the parameters of every top-level child of `model` from the first
    up to and including the one named `until` (e.g. "layer3" of a ResNet, "features" of a VGG).
    until=None freezes every parameter but the classifier head's (and the auxiliary heads').
    ValueError naming the children if `until` is not one. Returns model."""
    _check_model(model, "freeze")
    if until is None:
        keep = _head_params(model)
        for p in model.parameters():
            if id(p) not in keep:
                p.requires_grad_(False)
        return model
    names = [name for name, _ in model.named_children()]
    if until not in names:
        raise ValueError(f"freeze: until={until!r} is not a child of {type(model).__name__}; "
                         f"children: {', '.join(names)}")
    for name, child in model.named_children():
        child.requires_grad_(False)
        if name == until:
            break
    return model


def unfreeze(model):
    """Make every parameter trainable again. Returns model."""
    _check_model(model, "unfreeze")
    return model.requires_grad_(True)
