"""Reductions: ``F.sum``, ``F.mean``, ``F.var``, ``F.max``, ``F.min`` (and ``F.argmax``, outside the graph).

``axis`` is an int, a tuple of ints or None (every axis), numpy style; PyTorch's ``dim=`` and
``keepdim=`` are accepted as keyword arguments too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_dim, check_int
from ..engine.function import Function
from ..engine.tensor import Tensor, as_tensor
from ..ops import reduce as red

Axis = int | tuple[int, ...] | None


def normalize_axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (all of them for None); ValueError if out of range."""
    if axis is None:
        return tuple(range(ndim))
    axes = [check_dim(a, ndim, op, what="axis") for a in (axis if isinstance(axis, (tuple, list)) else (axis,))]
    if len(set(axes)) != len(axes):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(axes))


def _reduce(fn: type[Function], x: Any, axis: Axis, keepdims: bool, dim: Axis, keepdim: bool | None,
            **attrs: Any) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis if dim is None else dim, x.ndim, fn.__name__.lower())
    return fn.apply(x, axis=axes, keepdims=bool(keepdims if keepdim is None else keepdim), **attrs)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Sum over ``axis``."""
    return _reduce(red.Sum, x, axis, keepdims, dim, keepdim)


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
         keepdim: bool | None = None) -> Tensor:
    """Mean over ``axis``."""
    return _reduce(red.Mean, x, axis, keepdims, dim, keepdim)


def var(x: Tensor, axis: Axis = None, keepdims: bool = False, correction: int = 1, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Variance over ``axis``: ``correction=1`` (PyTorch's default) is the unbiased estimate, 0 the biased one."""
    x = as_tensor(x)
    correction = check_int(correction, "var", "correction", minimum=0)
    axes = normalize_axes(axis if dim is None else dim, x.ndim, "var")
    n = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    if n - correction <= 0:
        raise ValueError(f"var: needs more than correction={correction} value(s) per reduction, got {n} "
                         f"(shape {x.shape}, axis {axis if dim is None else dim})")
    return _reduce(red.Var, x, axis, keepdims, dim, keepdim, correction=correction)


def _extremum(fn: type[Function], x: Any, axis: Axis, keepdims: bool, dim: Axis, keepdim: bool | None) -> Tensor:
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"{fn.__name__.lower()}: cannot reduce an empty tensor of shape {x.shape}")
    return _reduce(fn, x, axis, keepdims, dim, keepdim)


def max(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Maximum over ``axis`` (values only; ties share the gradient equally, a NaN wins and takes it)."""
    return _extremum(red.Max, x, axis, keepdims, dim, keepdim)


def min(x: Tensor, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
        keepdim: bool | None = None) -> Tensor:
    """Minimum over ``axis`` (values only; ties share the gradient equally, a NaN wins and takes it)."""
    return _extremum(red.Min, x, axis, keepdims, dim, keepdim)


def argmax(x: Tensor, axis: int | None = None) -> Tensor:
    """Indices of the maxima along ``axis`` (of the flattened tensor for None): int64, never requires grad."""
    x = as_tensor(x)
    axis = None if axis is None else check_dim(axis, x.ndim, "argmax", what="axis")
    return Tensor._make(np.asarray(x.data.argmax(axis=axis)), False, None)


__all__ = ["sum", "mean", "var", "max", "min", "argmax", "normalize_axes"]
