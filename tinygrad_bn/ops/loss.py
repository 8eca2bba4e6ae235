"""Softmax, log-softmax and the fused softmax cross-entropy.

All three subtract the maximum along ``axis`` before exponentiating, so logits of magnitude 1e4
(or more) give finite results: softmax(x) = softmax(x - max x) exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function, Node
from ..registry import Sample, register_op

if TYPE_CHECKING:
    from ..tensor import Tensor

Grads = tuple[np.ndarray | None, ...]


def log_softmax_array(x: np.ndarray, axis: int) -> np.ndarray:
    """log softmax of a numpy array along ``axis``, computed stably: (x - m) - log sum exp(x - m)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - logsumexp(x) along ``axis``.

    dy_i/dx_j = [i == j] - softmax_j, so dL/dx = g - softmax(x) * sum_i g_i (sum along ``axis``),
    with softmax(x) = exp(y) taken from the saved output.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        out = log_softmax_array(x, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (out,) = ctx.saved_tensors
        return (g - np.exp(out) * g.sum(axis=ctx.attrs["axis"], keepdims=True),)


class Softmax(Function):
    """s = exp(x - max) / sum exp(x - max) along ``axis``.

    ds_i/dx_j = s_i ([i == j] - s_j), so dL/dx = s * (g - sum_i g_i s_i).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: int = -1) -> np.ndarray:
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (s,) = ctx.saved_tensors
        return (s * (g - (g * s).sum(axis=ctx.attrs["axis"], keepdims=True)),)


class CrossEntropy(Function):
    """Fused softmax cross-entropy of logits (N, C) against integer class targets (N,).

    loss_n = -log softmax(x_n)[t_n] = logsumexp(x_n) - x_n[t_n], reduced by ``reduction``
    ('mean' over N, 'sum', or 'none' giving shape (N,)).

    d loss_n / d x_nj = softmax(x_n)_j - [j == t_n]: probabilities minus the one-hot target,
    times grad_output (divided by N for 'mean'). One pass, no separate log-softmax node.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, targets: np.ndarray, *, reduction: str = "mean") -> np.ndarray:
        logp = log_softmax_array(x, axis=1)
        rows = np.arange(x.shape[0])
        losses = -logp[rows, targets]
        ctx.save_for_backward(logp, targets)
        if reduction == "none":
            return losses
        total = losses.sum(dtype=x.dtype)
        return np.asarray(total / x.dtype.type(max(x.shape[0], 1)) if reduction == "mean" else total)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        logp, targets = ctx.saved_tensors
        grad = np.exp(logp)
        grad[np.arange(logp.shape[0]), targets] -= 1
        reduction = ctx.attrs["reduction"]
        if reduction == "none":
            grad *= g[:, None]
        else:
            grad *= g / logp.dtype.type(max(logp.shape[0], 1)) if reduction == "mean" else g
        return grad, None


_REDUCTIONS = ("mean", "sum", "none")
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}  # by itemsize


def cross_entropy(logits: Tensor, targets: Tensor | np.ndarray, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of ``logits`` (N, C) float against class indices ``targets`` (N,) int.

    Returns a scalar for ``reduction='mean'`` (PyTorch's default) or ``'sum'``, shape (N,) for ``'none'``.
    Stable for logits of any magnitude. Raises ValueError/TypeError naming what was received.
    """
    from ..tensor import Tensor, as_tensor

    logits = as_tensor(logits)
    x = logits.data  # the array's own attributes: Tensor.shape and .dtype are properties (slower)
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
    from ..tensor import as_tensor

    input, target = as_tensor(input), as_tensor(target)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input and target must have the same shape, got {input.shape} and {target.shape}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


# ----------------------------------------------------------------------------------------------
def _softmax_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((rng.standard_normal(s) * 2,), {"axis": a}, note=f"{s} axis={a}")
            for s, a in [((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((4,), 0)]]


def _ce_samples(rng: np.random.Generator) -> list[Sample]:
    out = []
    for n, c, red in [(5, 4, "mean"), (3, 7, "sum"), (4, 3, "none"), (1, 2, "mean")]:
        out.append(Sample((rng.standard_normal((n, c)) * 2, rng.integers(0, c, n)), {"reduction": red},
                          note=f"({n}, {c}) {red}"))
    return out


register_op("log_softmax", lambda x, axis: x.log_softmax(axis), _softmax_samples)
register_op("softmax", lambda x, axis: x.softmax(axis), _softmax_samples)
register_op("cross_entropy", cross_entropy, _ce_samples)
register_op("mse_loss", mse_loss, lambda rng: [Sample((rng.standard_normal((4, 3)), rng.standard_normal((4, 3))),
                                                      {"reduction": r}) for r in _REDUCTIONS])
