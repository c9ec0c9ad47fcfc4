"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (torch.optim.SGD).

State per parameter: ``momentum_buffer`` (float32 array; only with momentum != 0).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from .optimizer import Optimizer, _check_number

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        _check_number(group["lr"], f"Invalid learning rate: {group['lr']}")
        _check_number(group["momentum"], f"Invalid momentum value: {group['momentum']}")
        _check_number(group["weight_decay"], f"Invalid weight_decay value: {group['weight_decay']}")
        _check_number(group["dampening"], f"Invalid dampening value: {group['dampening']}", minimum=-np.inf)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, group, param, grad, state):
        momentum = group["momentum"]
        buf, first = None, False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.empty_like(param)
                first = True
        backend._C.sgd_step(param, grad, buf, lr=group["lr"], momentum=momentum, dampening=group["dampening"],
                            weight_decay=group["weight_decay"], nesterov=bool(group["nesterov"]),
                            maximize=bool(group["maximize"]), first_step=first)
