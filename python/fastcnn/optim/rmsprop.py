"""RMSprop (torch.optim.RMSprop): alpha, eps, weight decay, momentum, centered, maximize.

State per parameter: ``step`` (Python float), ``square_avg``, and ``momentum_buffer``
(momentum > 0) and ``grad_avg`` (centered) as float32 arrays.
"""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, _check_number, _zeros_like

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, *, maximize: bool = False):
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay, "momentum": momentum,
                    "centered": centered, "maximize": maximize}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        _check_number(group["lr"], f"Invalid learning rate: {group['lr']}")
        _check_number(group["eps"], f"Invalid epsilon value: {group['eps']}")
        _check_number(group["momentum"], f"Invalid momentum value: {group['momentum']}")
        _check_number(group["weight_decay"], f"Invalid weight_decay value: {group['weight_decay']}")
        _check_number(group["alpha"], f"Invalid alpha value: {group['alpha']}")

    def _update(self, group, param, grad, state):
        momentum, centered = group["momentum"], bool(group["centered"])
        if not state:
            state["step"] = 0.0
            state["square_avg"] = _zeros_like(param)
        # Buffers an option needs are created when first needed (torch creates them with the state).
        if momentum > 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = _zeros_like(param)
        if centered and state.get("grad_avg") is None:
            state["grad_avg"] = _zeros_like(param)
        backend._C.rmsprop_step(param, grad, state["square_avg"], state.get("grad_avg") if centered else None,
                                state.get("momentum_buffer") if momentum > 0 else None, lr=group["lr"],
                                alpha=group["alpha"], eps=group["eps"], weight_decay=group["weight_decay"],
                                momentum=momentum, centered=centered, maximize=bool(group["maximize"]))
        state["step"] += 1.0
