"""``Adam`` (Kingma & Ba, 2015) and ``AdamW`` (Loshchilov & Hutter, 2019), step for step as
``torch.optim.Adam`` / ``torch.optim.AdamW`` (defaults lr=1e-3, betas=(0.9, 0.999), eps=1e-8;
weight_decay 0 for Adam, 0.01 for AdamW).

For each parameter p with gradient g, at step t = 1, 2, ... (m_0 = v_0 = 0)::

    Adam:  g <- g + weight_decay * p              (L2 penalty folded into the gradient)
    AdamW: p <- p * (1 - lr * weight_decay)       (decoupled decay, the gradient is untouched)
    m_t = beta1 * m_{t-1} + (1 - beta1) * g       (computed as PyTorch's lerp: m + (1 - beta1)(g - m))
    v_t = beta2 * v_{t-1} + (1 - beta2) * g^2
    v^  = max(v^_{t-1}, v_t) if amsgrad else v_t
    p  <- p - lr / (1 - beta1^t) * m_t / (sqrt(v^) / sqrt(1 - beta2^t) + eps)

Note eps is added *after* the bias correction of v, as in PyTorch. State per parameter: ``step``,
``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``; all in the parameter's
dtype. Updates are in place on ``p.data`` through reused scratch arrays.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine.tensor import Tensor
from .optimizer import Optimizer, ParamsT, check_hyper


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)``."""

    decoupled = False
    state_keys = frozenset({"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"})

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad})

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        for key in ("lr", "eps", "weight_decay"):
            group[key] = check_hyper(name, key, group[key])
        betas = group["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (check_hyper(name, "beta1 (betas[0])", betas[0], 0.0, 1.0, high_open=True),
                          check_hyper(name, "beta2 (betas[1])", betas[1], 0.0, 1.0, high_open=True))
        if not isinstance(group["amsgrad"], (bool, np.bool_)):
            raise ValueError(f"{name}: amsgrad must be True or False, got {group['amsgrad']!r}")
        group["amsgrad"] = bool(group["amsgrad"])

    def _update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        tmp = self._buffer(p, 0)
        if weight_decay != 0:
            if self.decoupled:
                p.data *= 1.0 - lr * weight_decay
            else:
                grad = np.add(grad, np.multiply(p.data, weight_decay, out=tmp), out=self._buffer(p, 1))
        # m <- m + (1 - beta1) (g - m)
        np.subtract(grad, m, out=tmp)
        tmp *= 1.0 - beta1
        m += tmp
        # v <- beta2 v + (1 - beta2) g^2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - beta2
        v *= beta2
        v += tmp
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:  # amsgrad switched on after the first step
                state["max_exp_avg_sq"] = v.copy()
            v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        step_size = lr / (1.0 - beta1**step)
        # denominator sqrt(v) / sqrt(1 - beta2^t) + eps, then p <- p - step_size * m / denominator
        np.sqrt(v, out=tmp)
        tmp /= math.sqrt(1.0 - beta2**step)
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p.data -= tmp


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, amsgrad=False)``:
    Adam with the decay applied to the weights directly, not through the gradient."""

    decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
