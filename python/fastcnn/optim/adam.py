"""Adam and AdamW (torch.optim.Adam / AdamW): betas, eps, weight decay (L2 in Adam,
decoupled in AdamW), AMSGrad, maximize.

State per parameter: ``step`` (Python float), ``exp_avg``, ``exp_avg_sq`` and, with
amsgrad, ``max_exp_avg_sq`` (float32 arrays).
"""

from __future__ import annotations

from .. import backend
from .optimizer import Optimizer, _check_number, _zeros_like

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay}
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        _check_number(group["lr"], f"Invalid learning rate: {group['lr']}")
        _check_number(group["eps"], f"Invalid epsilon value: {group['eps']}")
        betas = group["betas"]
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair of floats, got {betas!r}") from None
        _check_number(beta1, f"Invalid beta parameter at index 0: {beta1}", below=1.0)
        _check_number(beta2, f"Invalid beta parameter at index 1: {beta2}", below=1.0)
        group["betas"] = (float(beta1), float(beta2))
        _check_number(group["weight_decay"], f"Invalid weight_decay value: {group['weight_decay']}")

    def _update(self, group, param, grad, state):
        amsgrad = bool(group["amsgrad"])
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = _zeros_like(param)
            state["exp_avg_sq"] = _zeros_like(param)
            if amsgrad:
                state["max_exp_avg_sq"] = _zeros_like(param)
        elif amsgrad and state.get("max_exp_avg_sq") is None:
            state["max_exp_avg_sq"] = _zeros_like(param)
        step = state["step"] + 1.0
        beta1, beta2 = group["betas"]
        backend._C.adam_step(param, grad, state["exp_avg"], state["exp_avg_sq"],
                             state.get("max_exp_avg_sq") if amsgrad else None, step=int(step),
                             lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                             weight_decay=group["weight_decay"], amsgrad=amsgrad, maximize=bool(group["maximize"]),
                             decoupled_weight_decay=bool(group["decoupled_weight_decay"]))
        state["step"] = step


class AdamW(Adam):
    """Adam with decoupled weight decay: param *= 1 - lr * weight_decay before the update."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _check_group(self, group: dict) -> None:
        group["decoupled_weight_decay"] = True
        super()._check_group(group)
