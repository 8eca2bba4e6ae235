"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: ``StepLR`` and ``CosineAnnealingLR``.

A scheduler writes ``group["lr"]`` of its optimizer's parameter groups. Creating it records each
group's ``initial_lr`` (the base learning rate) and sets epoch 0; call ``scheduler.step()`` once per
epoch, *after* ``optimizer.step()``. With base learning rate lr_0 and epoch e (``last_epoch``)::

    StepLR:            lr_e = lr_0 * gamma ** floor(e / step_size)
    CosineAnnealingLR: lr_e = eta_min + (lr_0 - eta_min) * (1 + cos(pi * e / T_max)) / 2

(the closed forms of PyTorch's schedules; past T_max the cosine continues, rising again, as PyTorch's).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..checks import check_int
from .optimizer import Optimizer, check_hyper


class LRScheduler:
    """Base class: subclasses define ``lr_at(base_lr, epoch)``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if not isinstance(last_epoch, (int, np.integer)) or isinstance(last_epoch, bool) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: param group {i} has no 'initial_lr'; resuming (last_epoch="
                               f"{last_epoch}) needs a group that a scheduler has seen before")
        self.base_lrs = [float(g["initial_lr"]) for g in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def step(self) -> None:
        """Advance one epoch and write the new learning rate into every parameter group."""
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = float(self.lr_at(base, self.last_epoch))
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates (one per group) set by the last ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer: ``last_epoch``, ``base_lrs``, the schedule's settings."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore from ``state_dict()`` (also accepts the arrays that ``tg.save``/``tg.load`` turn numbers
        into), all or nothing: the keys must be this scheduler's, ``last_epoch`` an integer >= -1,
        ``base_lrs`` one non-negative number per parameter group and the schedule's settings valid;
        otherwise ValueError naming the key, and nothing changes."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{name}: expected a mapping, got {type(state_dict).__name__}")
        own = {k for k in self.__dict__ if k != "optimizer"}
        unexpected, missing = sorted(set(state_dict) - own), sorted(own - set(state_dict))
        if unexpected or missing:
            raise ValueError(f"{name}: unexpected key(s) {unexpected}, missing key(s) {missing} "
                             f"(saved by another scheduler?)")
        new = {}
        for k, v in state_dict.items():
            v = v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v
            current = self.__dict__[k]
            if isinstance(current, list):
                values = v if isinstance(v, (list, tuple)) else [v]
                if len(values) != len(self.optimizer.param_groups):
                    raise ValueError(f"{name}: {k!r} has {len(values)} value(s), the optimizer has "
                                     f"{len(self.optimizer.param_groups)} parameter group(s)")
                new[k] = [check_hyper(name, k, x) for x in values]
            elif k == "last_epoch":
                if isinstance(v, bool) or not isinstance(v, int) or v < -1:
                    raise ValueError(f"{name}: 'last_epoch' must be an integer >= -1, got {v!r}")
                new[k] = v
            elif isinstance(current, int):
                try:
                    new[k] = check_int(v, name, repr(k))
                except TypeError as e:  # a float where the integer was: a wrong value of the file
                    raise ValueError(str(e)) from None
            else:
                new[k] = check_hyper(name, k, v)
        for k, v in new.items():
            setattr(self, k, v)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = check_int(step_size, "StepLR", "step_size")
        self.gamma = check_hyper("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Anneal from the base learning rate to ``eta_min`` along half a cosine over ``T_max`` epochs."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check_int(T_max, "CosineAnnealingLR", "T_max")
        self.eta_min = check_hyper("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
