"""Softmax, log-softmax and the losses: ``F.log_softmax``, ``F.softmax``, ``F.cross_entropy`` (fused),
``F.mse_loss`` (composed from primitives)."""

from __future__ import annotations

import numpy as np

from ..checks import check_dim
from ..engine.tensor import Tensor, as_tensor
from ..ops.loss import CrossEntropy, LogSoftmax, Softmax


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log softmax along ``axis`` (PyTorch's ``dim`` accepted too), computed stably."""
    x = as_tensor(x)
    return LogSoftmax.apply(x, axis=check_dim(axis if dim is None else dim, x.ndim, "log_softmax", what="axis"))


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """softmax along ``axis`` (PyTorch's ``dim`` accepted too), computed stably."""
    x = as_tensor(x)
    return Softmax.apply(x, axis=check_dim(axis if dim is None else dim, x.ndim, "softmax", what="axis"))


_REDUCTIONS = ("mean", "sum", "none")
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # by itemsize


def cross_entropy(logits: Tensor, targets: Tensor | np.ndarray, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of ``logits`` (N, C) float against class indices ``targets`` (N,) int.

    Returns a scalar for ``reduction='mean'`` (PyTorch's default) or ``'sum'``, shape (N,) for ``'none'``.
    Stable for logits of any magnitude. Raises ValueError/TypeError naming what was received.
    """
    logits = as_tensor(logits)
    x = logits.data
    t = targets.data if isinstance(targets, Tensor) else np.asarray(targets)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if x.ndim != 2:
        raise ValueError(f"cross_entropy: expected logits of shape (N, C), got shape {x.shape}")
    if x.dtype.kind != "f":
        raise TypeError(f"cross_entropy: expected floating-point logits, got dtype {x.dtype}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: expected integer class targets, got dtype {t.dtype}")
    if t.shape != x.shape[:1]:
        raise ValueError(f"cross_entropy: expected targets of shape ({x.shape[0]},) for logits of shape "
                         f"{x.shape}, got shape {t.shape}")
    # One pass for the range check: seen as unsigned integers of the same size (a view, no copy), negative
    # targets become huge (two's complement), so max() < C holds exactly when every target is in [0, C).
    if t.size and t.view(_UNSIGNED[t.dtype.itemsize]).max() >= x.shape[1]:
        raise ValueError(f"cross_entropy: targets must be class indices in [0, {x.shape[1]}), "
                         f"got values from {t.min()} to {t.max()}")
    return CrossEntropy.apply(logits, Tensor._make(t, False, None), reduction=reduction)


def mse_loss(input: Tensor, target: Tensor | np.ndarray, reduction: str = "mean") -> Tensor:
    """Mean squared error, ``((input - target) ** 2)`` reduced by 'mean', 'sum' or 'none'.

    Composed from primitives (sub, square, mean), so its gradient 2 (input - target) / n comes from
    theirs. Shapes must match exactly: unlike PyTorch (which warns), a mismatch raises ValueError,
    because broadcasting a (N, 1) prediction against (N,) targets silently computes the wrong loss.
    """
    input, target = as_tensor(input), as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input and target must have the same shape, got {input.shape} and {target.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq
