"""Normalization: ONE primitive (``Normalize``) behind batch, layer and group norm, with a fused backward.

All three normalize groups of values to zero mean and unit variance, then scale and shift:

    x_hat = (x - mean) / sqrt(var + eps),     y = weight * x_hat + bias

They differ only in which axes form a group (``axes``) and along which axes ``weight``/``bias`` vary
(``param_axes``):

- batch norm: x (N, C, *); one group per channel, over N and *; weight, bias (C,)
- layer norm: x (*, D1..Dk); one group per sample, over D1..Dk; weight, bias (D1..Dk)
- group norm: x (N, C, *) seen as (N, G, C/G, M); one group per sample and channel group; weight, bias (C,)

The backward is derived step by step in ``docs/batchnorm.md`` (from Ioffe & Szegedy's chain-rule form
to the compact form used here). With m values per group, r = 1/sqrt(var + eps) and
dxh = dL/dx_hat = weight * grad_output:

    batch statistics:    dx = (r / m) * (m * dxh - sum(dxh) - x_hat * sum(dxh * x_hat))   (sums per group)
    running statistics:  dx = r * dxh                        (mean and var are constants)
    dweight = sum(grad_output * x_hat),  dbias = sum(grad_output)       (sums over non-``param_axes``)

For batch norm the weight is constant inside a group, so the two group sums are weight times
dbias and dweight: two per-channel reductions and one element-wise expression give all three gradients.

Dtypes: everything is computed in the input's dtype (float32 in, float32 out; float64 in, float64
out); weight, bias and running statistics of another float dtype are cast. Running statistics are
updated in place by the forward (never recorded on the tape, never differentiated).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..engine.function import Function, Node
from .reduce import Mean, Var, keepdims_shape

Grads = tuple[np.ndarray | None, ...]


@functools.lru_cache(maxsize=256)
def _pair_plan(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    """The einsum spec of sum(a * b) over ``axes`` for arrays of ``shape``, and the keepdims result shape."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:len(shape)]
    spec = f"{letters},{letters}->" + "".join(c for i, c in enumerate(letters) if i not in axes)
    return spec, keepdims_shape(shape, axes)


def _pair_sum(a: np.ndarray, b: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """sum(a * b) over ``axes``, reduced axes kept as length 1, without a full-size temporary (einsum)."""
    spec, shape = _pair_plan(a.shape, axes)
    return np.einsum(spec, a, b).reshape(shape)


@functools.lru_cache(maxsize=256)
def _layout(shape: tuple[int, ...], axes: tuple[int, ...], param_axes: tuple[int, ...]) -> tuple:
    """For x seen with ``shape``: (statistics shape, parameter shape, values per group m, axes to reduce for
    dweight and dbias, whether no parameter axis is a statistics axis). Cached: the same few layouts recur
    on every training step, and working them out costs more Python than the small arrays' arithmetic."""
    return (keepdims_shape(shape, axes), tuple(n if i in param_axes else 1 for i, n in enumerate(shape)),
            math.prod(shape[a] for a in axes), tuple(i for i in range(len(shape)) if i not in param_axes),
            not set(param_axes) & set(axes))


def _statistics(xv: np.ndarray, axes: tuple[int, ...], m: int, eps: float) -> tuple[np.ndarray, ...]:
    """Per-group mean, centered x, biased variance (two-pass) and r = 1/sqrt(var + eps), keepdims shapes."""
    mean = xv.sum(axis=axes, keepdims=True) * (1 / m)
    xc = xv - mean
    var = _pair_sum(xc, xc, axes) * (1 / m)
    return mean, xc, var, 1 / np.sqrt(var + eps)


def _centered_grad(dxh: np.ndarray, xc: np.ndarray, rstd: np.ndarray, axes: tuple[int, ...],
                   m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dxh - mean(dxh) - x_hat mean(dxh x_hat) per group (dx divided by r), and the two group sums
    sum(dxh), sum(dxh x_hat): the derived first-order backward of batch statistics (docs/batchnorm.md)."""
    s1, s2 = dxh.sum(axis=axes, keepdims=True), _pair_sum(dxh, xc, axes) * rstd  # s2 = sum(dxh x_hat)
    dx = xc * (s2 * rstd * (-1 / m))                                    # x_hat = xc * r
    dx += dxh
    dx -= s1 * (1 / m)
    return dx, s1, s2


class Normalize(Function):
    """y = weight * (x - mean) / sqrt(var + eps) + bias, statistics over ``axes``; see the module docstring.

    Inputs, named in order by the attr ``inputs``: x (any float shape), then any of ``weight`` and ``bias``
    (shape: the sizes of x along ``param_axes``) and ``running_mean``, ``running_var`` (one value per
    group, batch norm only). Attrs: ``kind`` (for readers of graph pictures), ``axes`` (statistics),
    ``param_axes``, ``eps``, ``view`` (shape in which x is seen, e.g. (N, G, C/G, M) for group norm; None
    for x's own shape), ``training`` (True: batch statistics, running ones updated in place with
    ``momentum``, variance made unbiased by m/(m-1); False: running statistics, held constant).
    Output: x's shape and dtype. Saved for backward: x - mean (training) or x (eval), and r = 1/sqrt(var + eps).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *rest: np.ndarray, kind: str, inputs: tuple[str, ...],
                axes: tuple[int, ...], param_axes: tuple[int, ...], eps: float, view: tuple[int, ...] | None = None,
                training: bool = True, momentum: float | None = None) -> np.ndarray:
        given = dict(zip(inputs[1:], rest))
        xv = x if view is None else x.reshape(view)
        stats_shape, param_shape, m, ctx.reduce_axes, disjoint = _layout(xv.shape, axes, param_axes)
        w = given["weight"].reshape(param_shape).astype(x.dtype, copy=False) if "weight" in given else None
        b = given["bias"].reshape(param_shape).astype(x.dtype, copy=False) if "bias" in given else None
        ctx.m, ctx.x_shape, ctx.weight = m, x.shape, w
        ctx.param_shapes = {k: given[k].shape for k in ("weight", "bias") if k in given}
        ctx.pulled = w is None or disjoint  # weight constant inside each group?
        if not training:  # constant statistics: y = x * scale + shift, two passes over x
            ctx.center = given["running_mean"].reshape(stats_shape).astype(x.dtype, copy=True)
            rstd = 1 / np.sqrt(given["running_var"].reshape(stats_shape).astype(x.dtype) + eps)
            ctx.scale = rstd if w is None else w * rstd
            y = xv * ctx.scale
            y += -ctx.center * ctx.scale if b is None else b - ctx.center * ctx.scale
            ctx.save_for_backward(xv, rstd)
            return y.reshape(x.shape)
        mean, xc, var, rstd = _statistics(xv, axes, m, eps)            # xc: centered x, saved for backward
        if "running_mean" in given:                                     # in place, outside the tape
            rm, rv = given["running_mean"], given["running_var"]
            rm *= 1 - momentum
            rm += momentum * mean.reshape(rm.shape)
            rv *= 1 - momentum
            rv += (momentum * ctx.m / (ctx.m - 1)) * var.reshape(rv.shape)  # unbiased: m / (m - 1)
        ctx.save_for_backward(xc, rstd)
        y = xc * (w * rstd if ctx.pulled and w is not None else rstd)  # y = x_hat * weight + bias
        if not ctx.pulled:
            y *= w
        if b is not None:
            y += b
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        if not isinstance(g, np.ndarray):                               # create_graph: Tensors, recorded
            return _recorded_backward(ctx, g)
        attrs = ctx.attrs
        axes, training, view = attrs["axes"], attrs.get("training", True), attrs.get("view")
        g = g if view is None else g.reshape(view)
        reduce_axes = ctx.reduce_axes                                   # for dweight, dbias
        need = dict(zip(attrs["inputs"], ctx.needs_input_grad))
        w, m = ctx.weight, ctx.m
        xc, rstd = ctx.saved_tensors                                    # x - mean (training) or x (eval)
        dx = sum_g = sum_gx = None
        if need["x"] and not training:
            dx = g * ctx.scale                                          # constant statistics: weight * r * g
        elif need["x"]:
            # dxh = dL/dx_hat = weight * g. Where weight is constant inside each group (batch norm) it leaves
            # the group sums: dx = (weight r / m) (m g - sum(g) - x_hat sum(g x_hat)), and those two sums
            # are dbias and dweight.
            dx, s1, s2 = _centered_grad(g if ctx.pulled else g * w, xc, rstd, axes, m)
            if ctx.pulled and reduce_axes == axes:
                sum_g, sum_gx = s1, s2
            dx *= w * rstd if ctx.pulled and w is not None else rstd
        if need.get("weight") and sum_gx is None:                       # sum(g * x_hat) over reduce_axes
            xc = xc if training else xc - ctx.center
            if set(reduce_axes) <= set(axes):                           # r is constant there: it leaves the sum
                sum_gx = _pair_sum(g, xc, reduce_axes) * rstd
            else:
                sum_gx = _pair_sum(g, xc * rstd, reduce_axes)
        if need.get("bias") and sum_g is None:
            sum_g = g.sum(axis=reduce_axes, keepdims=True)
        out = {"x": None if dx is None else dx.reshape(ctx.x_shape),
               "weight": sum_gx.reshape(ctx.param_shapes["weight"]) if need.get("weight") else None,
               "bias": sum_g.reshape(ctx.param_shapes["bias"]) if need.get("bias") else None}
        return tuple(map(out.get, attrs["inputs"]))  # one per input, in order (None for running statistics)


def _recorded_backward(ctx: Node, g: Any) -> tuple[Any, ...]:
    """Normalize's backward on Tensors (create_graph=True), every step an op, so it differentiates again:
    dx from the ``NormalizeGrad`` primitive (batch statistics) or g * weight * r (running ones, constant),
    dweight = sum(g * x_hat) with x_hat from ``Normalize`` itself, dbias = sum(g)."""
    attrs = ctx.attrs
    axes, view, eps = attrs["axes"], attrs.get("view"), attrs["eps"]
    p, need = dict(zip(attrs["inputs"], ctx.parents)), dict(zip(attrs["inputs"], ctx.needs_input_grad))
    xv = p["x"] if view is None else p["x"].reshape(*view)
    gv = g if view is None else g.reshape(*view)
    _, param_shape, _, reduce_axes, _ = _layout(xv.shape, axes, attrs["param_axes"])
    w = p["weight"].reshape(*param_shape) if "weight" in p else None
    if attrs.get("training", True):
        xh = Normalize.apply(xv, kind=attrs["kind"], inputs=("x",), axes=axes, param_axes=(), eps=eps)
        dx = NormalizeGrad.apply(gv if w is None else gv * w, xv, axes=axes, eps=eps) if need["x"] else None
    else:                                                               # constants: copies taken by forward
        rstd = ctx.saved_tensors[1]
        xh = (xv - ctx.center) * rstd
        dx = gv * (rstd if w is None else w * rstd) if need["x"] else None
    out = {"x": None if dx is None else dx.reshape(*ctx.x_shape),
           "weight": (gv * xh).sum(axis=reduce_axes, keepdims=True).reshape(*p["weight"].shape)
           if need.get("weight") else None,
           "bias": gv.sum(axis=reduce_axes, keepdims=True).reshape(*p["bias"].shape) if need.get("bias") else None}
    return tuple(map(out.get, attrs["inputs"]))


class NormalizeGrad(Function):
    """dx of normalization with batch statistics, as an op of its own (what ``Normalize.backward`` applies
    under create_graph), so that second derivatives of batch norm are hand-derived, never composed.

    Inputs d = dL/dx_hat (weight * grad_output) and x, both seen in the grouping shape; attrs ``axes``
    (statistics) and ``eps``. Forward, the derived first-order rule (docs/batchnorm.md), per group of m:

        dx = r (d - mean(d) - x_hat mean(d x_hat)),     r = 1/sqrt(var + eps), x_hat = (x - mean) r

    Backward, with u = the incoming gradient (derived in docs/higher-order.md):

        grad_d = r (u - mean(u) - x_hat mean(u x_hat))        (the same projection: NormalizeGrad(u, x))
        grad_x = -r^2 (x_hat (a - 3 b c) + b (d - mean(d)) + c (u - mean(u)))
        with b = mean(u x_hat), c = mean(d x_hat), a = mean(u d) - mean(u) mean(d)

    both written with ops (x_hat from ``Normalize``, r^2 from ``Var``), so every order differentiates again.
    """

    @staticmethod
    def forward(ctx: Node, d: np.ndarray, x: np.ndarray, *, axes: tuple[int, ...], eps: float) -> np.ndarray:
        m = math.prod(x.shape[a] for a in axes)
        _, xc, _, rstd = _statistics(x, axes, m, eps)
        dx, _, _ = _centered_grad(d, xc, rstd, axes, m)
        ctx.save_for_backward(d, x)
        return dx * rstd

    @staticmethod
    def backward(ctx: Node, u: np.ndarray) -> Grads:
        d, x = ctx.saved_tensors
        axes, eps = ctx.attrs["axes"], ctx.attrs["eps"]
        gd = NormalizeGrad.apply(u, x, axes=axes, eps=eps) if ctx.needs_input_grad[0] else None
        if not ctx.needs_input_grad[1]:
            return gd, None
        xh = Normalize.apply(x, kind="normalize", inputs=("x",), axes=axes, param_axes=(), eps=eps)
        r2 = 1.0 / (Var.apply(x, axis=axes, keepdims=True, correction=0) + eps)

        def mean(v: Any) -> Any:
            return Mean.apply(v, axis=axes, keepdims=True)

        u_bar, d_bar, b, c = mean(u), mean(d), mean(u * xh), mean(d * xh)
        a = mean(u * d) - u_bar * d_bar
        return gd, -r2 * (xh * (a - 3 * b * c) + b * (d - d_bar) + c * (u - u_bar))
