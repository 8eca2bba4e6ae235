"""Reductions over an axis, a tuple of axes, or everything (``axis=None``), with ``keepdims``.

Shapes: x (any shape) -> the reduced shape; each backward first restores the reduced axes as
length-1 axes (``keepdims`` shape) so the gradient broadcasts back over x's shape.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node
from .shape import Expand

Grads = tuple[np.ndarray | None, ...]
Axis = int | tuple[int, ...] | None


def keepdims_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with the reduced ``axes`` kept as length 1."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _expand_back(g: np.ndarray, ctx: Node) -> np.ndarray:
    """Reshape a reduced gradient to the keepdims shape, so it broadcasts against the input. (Backward
    rules here are written with operators and ``Op.apply``: they run on arrays and on Tensors.)"""
    return g.reshape(ctx.kd_shape)


def _count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


class Sum(Function):
    """z = sum of x over ``axis``.   dz/dx_i = 1 for every summed element: grad_output is broadcast back."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        ctx.kd_shape = keepdims_shape(x.shape, axis)
        ctx.in_shape = x.shape
        return np.asarray(x.sum(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (Expand.apply(_expand_back(g, ctx), shape=ctx.in_shape),)


class Mean(Function):
    """z = (1/n) sum of x over ``axis`` (n elements per output).   dz/dx_i = 1/n."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        ctx.kd_shape = keepdims_shape(x.shape, axis)
        ctx.in_shape = x.shape
        ctx.n = _count(x.shape, axis)
        return np.asarray(x.mean(axis=axis, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (Expand.apply(_expand_back(g, ctx) * (1.0 / ctx.n), shape=ctx.in_shape),)


class Var(Function):
    """z = sum((x - mean)^2) / (n - correction) over ``axis``; correction=1 is the unbiased estimate.

    dz/dx_i = 2 (x_i - mean) / (n - correction): the mean's own dependence on x_i drops out because
    sum(x - mean) = 0. Backward recomputes x - mean from the saved x (so it is differentiable again).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False,
                correction: int = 1) -> np.ndarray:
        n = _count(x.shape, axis)
        centered = x - x.mean(axis=axis, keepdims=True)
        ctx.save_for_backward(x)
        ctx.kd_shape = keepdims_shape(x.shape, axis)
        ctx.denom = n - correction
        out = (centered * centered).sum(axis=axis, keepdims=keepdims) / np.asarray(ctx.denom, dtype=x.dtype)
        return np.asarray(out)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        centered = x - x.mean(axis=ctx.attrs["axis"], keepdims=True)
        return (_expand_back(g, ctx) * centered * (2.0 / ctx.denom),)


class _Extremum(Function):
    """Shared backward of Max and Min: the gradient goes to the elements equal to the result,
    split equally among ties (as PyTorch's amax/amin), so the gradient of a tie sums to grad_output.
    A result that is NaN (the input had NaN there) sends its gradient to the NaN position(s)."""

    reduce = staticmethod(np.max)

    @classmethod
    def _forward(cls, ctx: Node, x: np.ndarray, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        out_kd = cls.reduce(x, axis=axis, keepdims=True)
        mask = (x == out_kd) | (np.isnan(x) & np.isnan(out_kd))  # a NaN result: its gradient goes to the NaN(s)
        ctx.save_for_backward(mask, mask.sum(axis=axis, keepdims=True))
        return out_kd if keepdims else np.asarray(out_kd.reshape([n for i, n in enumerate(x.shape) if i not in axis]))

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        mask, count = ctx.saved_tensors
        g_kd = g.reshape(count.shape)
        return (mask * (g_kd / count.astype(g.dtype)),)


class Max(_Extremum):
    """z = max of x over ``axis`` (see ``_Extremum`` for the backward)."""

    reduce = staticmethod(np.max)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        return Max._forward(ctx, x, axis, keepdims)


class Min(_Extremum):
    """z = min of x over ``axis`` (see ``_Extremum`` for the backward)."""

    reduce = staticmethod(np.min)

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, axis: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
        return Min._forward(ctx, x, axis, keepdims)
