"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay,
step for step as ``torch.optim.SGD``.

For each parameter p with gradient g, at step t (lr = the group's current learning rate)::

    g   <- g + weight_decay * p                              (if weight_decay != 0)
    b_1 <- g;   b_t <- momentum * b_{t-1} + (1 - dampening) * g     (if momentum != 0)
    g   <- g + momentum * b_t  (nesterov)   or   g <- b_t    (plain momentum)
    p   <- p - lr * g

The first step copies g into the buffer (no dampening), as PyTorch does. Updates are in place on
``p.data`` through reused scratch arrays; hyperparameters are Python floats, so float32 stays float32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.tensor import Tensor
from .optimizer import Optimizer, ParamsT, check_hyper


class SGD(Optimizer):
    """``SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)``."""

    state_keys = frozenset({"momentum_buffer"})

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check_group(self, group: dict[str, Any]) -> None:
        for key in ("lr", "momentum", "dampening", "weight_decay"):
            group[key] = check_hyper("SGD", key, group[key])
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise ValueError(f"SGD: nesterov must be True or False, got {group['nesterov']!r}")
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0 and dampening = 0, got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}")

    def _update(self, p: Tensor, grad: np.ndarray, group: dict[str, Any], state: dict[str, Any]) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        d = grad
        if weight_decay != 0:
            d = np.multiply(p.data, weight_decay, out=self._buffer(p, 0))
            d += grad
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()
            else:
                buf *= momentum
                if dampening == 0:
                    buf += d
                else:
                    buf += np.multiply(d, 1.0 - dampening, out=self._buffer(p, 1))
            if nesterov:
                d = np.add(d, np.multiply(buf, momentum, out=self._buffer(p, 1)), out=self._buffer(p, 0))
            else:
                d = buf
        p.data -= np.multiply(d, lr, out=self._buffer(p, 1))
