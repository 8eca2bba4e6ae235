"""Softmax, log-softmax and the fused softmax cross-entropy.

All three subtract the maximum along ``axis`` before exponentiating, so logits of magnitude 1e4
(or more) give finite results: softmax(x) = softmax(x - max x) exactly.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node
from .elementwise import Exp

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
        return (g - Exp.apply(out) * g.sum(axis=ctx.attrs["axis"], keepdims=True),)


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
    ('mean' over N, 'sum', or 'none' giving shape (N,)). For an empty batch (N = 0) the mean is NaN,
    as in PyTorch, the sum 0.

    d loss_n / d x_nj = softmax(x_n)_j - [j == t_n]: probabilities minus the one-hot target,
    times grad_output (divided by N for 'mean'). One node, no separate log-softmax node; backward
    applies ``Softmax`` to the saved logits, so the gradient can be differentiated again.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, targets: np.ndarray, *, reduction: str = "mean") -> np.ndarray:
        logp = log_softmax_array(x, axis=1)
        rows = np.arange(x.shape[0])
        losses = -logp[rows, targets]
        ctx.save_for_backward(x)
        ctx.targets = targets
        if reduction == "none":
            return losses
        total = losses.sum(dtype=x.dtype)
        if reduction == "sum":
            return np.asarray(total)
        # the mean of no losses is undefined: NaN, as PyTorch (a 0 would look like a perfect batch)
        return np.asarray(total / x.dtype.type(x.shape[0]) if x.shape[0] else x.dtype.type(np.nan))

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        onehot = np.zeros(x.shape, dtype=x.dtype)
        onehot[np.arange(x.shape[0]), ctx.targets] = 1
        reduction = ctx.attrs["reduction"]
        scale = g.reshape(-1, 1) if reduction == "none" else g * (1.0 / max(x.shape[0], 1)) \
            if reduction == "mean" else g
        return (Softmax.apply(x, axis=1) - onehot) * scale, None
