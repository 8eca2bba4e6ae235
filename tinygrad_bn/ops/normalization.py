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
import numbers
from typing import Any

import numpy as np

from ..autograd import Function, Node
from ..registry import Sample, register_op
from ..tensor import Tensor, as_tensor  # fine here: tensor.py never imports this module (functional.py does)
from .reduce import keepdims_shape

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
        inv_m = 1 / ctx.m
        mean = xv.sum(axis=axes, keepdims=True) * inv_m
        xc = xv - mean                                                  # centered x, saved for backward
        var = _pair_sum(xc, xc, axes) * inv_m                           # biased variance, two-pass
        rstd = 1 / np.sqrt(var + eps)
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
            dxh = g if ctx.pulled else g * w
            s1, s2 = dxh.sum(axis=axes, keepdims=True), _pair_sum(dxh, xc, axes) * rstd  # s2 = sum(dxh x_hat)
            if ctx.pulled and reduce_axes == axes:
                sum_g, sum_gx = s1, s2
            dx = xc * (s2 * rstd * (-1 / m))                            # x_hat = xc * r
            dx += dxh
            dx -= s1 * (1 / m)
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


# ---- argument checks, in one place: the functional wrappers below and the nn layers both use them ----
_RANK_SHAPES = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def check_eps(eps: Any, name: str) -> float:
    """``eps`` as a float; TypeError/ValueError naming ``name`` unless it is a real number >= 0."""
    if type(eps) is float and eps >= 0:  # the common case first: isinstance on numbers.Real is slow
        return eps
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise (ValueError if isinstance(eps, numbers.Real) else TypeError)(
            f"{name}: eps must be a number >= 0, got {eps!r}")
    return float(eps)


def check_momentum(momentum: Any, name: str, allow_none: bool = False) -> float | None:
    """``momentum`` as a float in [0, 1] (or None when ``allow_none``: cumulative average)."""
    if momentum is None and allow_none:
        return None
    if type(momentum) is float and 0 <= momentum <= 1:  # the common case first
        return momentum
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1:
        hint = " (None, the cumulative average, is for the BatchNorm layers)" if momentum is None else ""
        raise (ValueError if isinstance(momentum, numbers.Real) else TypeError)(
            f"{name}: momentum must be a number in [0, 1]{hint}, got {momentum!r}")
    return float(momentum)


def check_count(value: Any, what: str, name: str) -> int:
    """A positive int (num_features, num_groups, ...); TypeError/ValueError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: {what} must be a positive int, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: {what} must be a positive int, got {value}")
    return int(value)


def check_normalized_shape(shape: Any, name: str) -> tuple[int, ...]:
    """LayerNorm's ``normalized_shape`` (an int or a non-empty sequence of positive ints) as a tuple."""
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape) if isinstance(shape, (tuple, list)) \
        else None
    if not dims:
        raise TypeError(f"{name}: normalized_shape must be an int or a non-empty tuple of ints, got {shape!r}")
    return tuple(check_count(d, "every dimension of normalized_shape", name) for d in dims)


def _floating(t: Any, what: str, name: str, shape: tuple[int, ...] | None = None) -> Any:
    """``t`` as a Tensor of floats (of ``shape`` if given), or None if ``t`` is None."""
    if t is None:
        return None
    if isinstance(t, Tensor) and t.data.dtype.kind == "f" and (shape is None or t.data.shape == shape):
        return t  # the common case in one line (this runs 5 times per BatchNorm call); else the checks below
    t = as_tensor(t)
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point {what}, got dtype {t.dtype}")
    if shape is not None and t.shape != shape:
        raise ValueError(f"{name}: expected {what} of shape {shape}, got shape {t.shape}")
    return t


def _running(t: Any, what: str, name: str, channels: int) -> Any:
    if t is None:
        return None
    if isinstance(t, Tensor) and not t.requires_grad and t.data.dtype.kind == "f" and t.data.shape == (channels,):
        return t  # the common case in one line; the checks below name what is wrong
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor (it is updated in place) or None, got {type(t).__name__}")
    if t.requires_grad:
        raise ValueError(f"{name}: {what} must not require grad: running statistics are buffers, no gradient "
                         "flows into them")
    return _floating(t, what, name, (channels,))


def _apply(x: Tensor, params: dict[str, Tensor | None], **attrs: Any) -> Tensor:
    present = {k: v for k, v in params.items() if v is not None}
    return Normalize.apply(x, *present.values(), inputs=("x", *present), **attrs)


def _shapes(ranks: tuple[int, ...], channels: int | None) -> str:
    c = "C" if channels is None else str(channels)
    return " or ".join(_RANK_SHAPES[r].replace("C", c) for r in ranks) if ranks else f"(N, {c}, *)"


def batch_norm(input: Any, running_mean: Any, running_var: Any, weight: Any = None, bias: Any = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5, *, name: str = "batch_norm",
               ranks: tuple[int, ...] = (), num_features: int | None = None) -> Tensor:
    """Batch normalization of ``input`` (N, C, *) per channel, as ``torch.nn.functional.batch_norm``.

    ``training=True``: batch statistics (biased variance); ``running_mean``/``running_var`` (C,), if given,
    are updated in place: ``running = (1 - momentum) * running + momentum * batch_stat``, the variance
    made unbiased (m / (m - 1), m values per channel). ``training=False``: the running statistics are
    used and held constant. ``weight``/``bias`` (C,) are optional. Output: input's shape and dtype.
    ``name``, ``ranks`` and ``num_features`` only shape the error messages (the BatchNorm layers pass them).
    """
    x = _floating(input, "input", name)
    channels = num_features if num_features is not None else x.shape[1] if x.ndim >= 2 else None
    if x.ndim < 2 or (ranks and x.ndim not in ranks) or x.shape[1] != channels:
        raise ValueError(f"{name}: expected input of shape {_shapes(ranks, num_features)}, got shape {x.shape}")
    params = {"weight": _floating(weight, "weight", name, (channels,)),
              "bias": _floating(bias, "bias", name, (channels,)),
              "running_mean": _running(running_mean, "running_mean", name, channels),
              "running_var": _running(running_var, "running_var", name, channels)}
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{name}: pass both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError(f"{name}: evaluation (training=False) uses running_mean and running_var, got None; "
                         "pass training=True to normalize with batch statistics")
    per_channel = math.prod(x.shape[:1] + x.shape[2:])
    if training and per_channel <= 1:
        raise ValueError(f"{name}: expected more than 1 value per channel when training, got input shape "
                         f"{x.shape} ({per_channel} value per channel)")
    return _apply(x, params, kind="batch_norm", axes=(0, *range(2, x.ndim)), param_axes=(1,),
                  eps=check_eps(eps, name), training=bool(training), momentum=check_momentum(momentum, name))


def layer_norm(input: Any, normalized_shape: int | tuple[int, ...], weight: Any = None, bias: Any = None,
               eps: float = 1e-5, *, name: str = "layer_norm") -> Tensor:
    """Layer normalization over the last dims of ``input`` (*, *normalized_shape), as PyTorch's.

    Each sample is normalized with its own mean and biased variance over those dims; ``weight``/``bias``
    have shape ``normalized_shape``. Output: input's shape and dtype.
    """
    shape = check_normalized_shape(normalized_shape, name)
    x, k = _floating(input, "input", name), len(shape)
    if x.ndim < k or x.shape[x.ndim - k:] != shape:
        raise ValueError(f"{name}: expected input of shape (*, {', '.join(map(str, shape))}) (last dims equal to "
                         f"normalized_shape {shape}), got shape {x.shape}")
    params = {"weight": _floating(weight, "weight", name, shape), "bias": _floating(bias, "bias", name, shape)}
    axes = tuple(range(x.ndim - k, x.ndim))
    return _apply(x, params, kind="layer_norm", axes=axes, param_axes=axes, eps=check_eps(eps, name))


def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5, *,
               name: str = "group_norm", num_channels: int | None = None) -> Tensor:
    """Group normalization of ``input`` (N, C, *): the C channels form ``num_groups`` groups, each sample
    and group normalized over its C / num_groups channels and all of *. ``weight``/``bias``: (C,).
    Output: input's shape and dtype. ``name``/``num_channels`` shape the error messages (GroupNorm passes them).
    """
    groups = check_count(num_groups, "num_groups", name)
    x = _floating(input, "input", name)
    channels = num_channels if num_channels is not None else x.shape[1] if x.ndim >= 2 else None
    if x.ndim < 2 or x.shape[1] != channels:
        raise ValueError(f"{name}: expected input of shape {_shapes((), num_channels)}, got shape {x.shape}")
    if channels % groups:
        raise ValueError(f"{name}: the {channels} channels of input shape {x.shape} cannot be split into "
                         f"{groups} groups of equal size")
    params = {"weight": _floating(weight, "weight", name, (channels,)),
              "bias": _floating(bias, "bias", name, (channels,))}
    view = (x.shape[0], groups, channels // groups, math.prod(x.shape[2:]))
    return _apply(x, params, kind="group_norm", axes=(2, 3), param_axes=(1, 2), eps=check_eps(eps, name),
                  view=view)


# ----------------------------------------------------------------------------------------------
# Registry samples: batch norm 1d (N, C) and (N, C, L), 2d (N, C, H, W); affine on/off, weight or bias
# alone; train (with and without running statistics) and eval; layer norm; group norm.
def _x(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values with a different scale and offset per channel (axis 1), as real activations have."""
    c = (1, shape[1], *[1] * (len(shape) - 2)) if len(shape) > 1 else shape
    return rng.standard_normal(shape) * rng.uniform(0.5, 2.0, c) + rng.standard_normal(c)


def _args(rng: np.random.Generator, x: np.ndarray, affine: str, pshape: tuple[int, ...]) -> tuple[Any, ...]:
    w = rng.uniform(0.5, 1.5, pshape) * rng.choice([-1, 1], pshape) if "w" in affine else None
    b = rng.standard_normal(pshape) if "b" in affine else None
    return (x, w, b) if b is not None else (x, w) if w is not None else (x,)


def _bn(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, *, running: Any = None,
        **kwargs: Any) -> Tensor:
    stats = (None, None) if running is None else (Tensor(running[0].copy()), Tensor(running[1].copy()))
    return batch_norm(x, *stats, weight, bias, **kwargs)


def _bn_samples(rng: np.random.Generator) -> list[Sample]:
    out = []
    cases = [((8, 5), True, "wb", True), ((6, 4, 3), True, "wb", True), ((3, 4, 3, 2), True, "wb", True),
             ((8, 5), True, "", False), ((5, 3, 2), True, "w", True), ((4, 3, 2, 2), True, "b", False),
             ((8, 5), False, "wb", True), ((6, 4, 3), False, "", True), ((3, 4, 3, 2), False, "wb", True),
             ((5, 3), False, "w", True)]
    for shape, training, affine, track in cases:
        c = shape[1]
        running = (rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c)) if track else None
        out.append(Sample(_args(rng, _x(rng, shape), affine, (c,)), {"training": training, "running": running},
                          note=f"{shape} {'train' if training else 'eval'} affine={affine or 'off'} track={track}"))
    # two values per channel (the fewest training allows), kept well apart so finite differences are smooth
    two = np.array([[-1.0, 0.6, 2.0], [1.0, -0.8, 0.1]]) + rng.uniform(-0.1, 0.1, (2, 3))
    out.append(Sample(_args(rng, two, "wb", (3,)), {"training": True}, note="(2, 3) two values per channel"))
    # a constant channel (zero variance): the sample's larger eps keeps the 5-point stencil's h = 1e-3
    # small against sqrt(eps), the scale on which x_hat bends there; default eps is tested in test_normalization
    const = _x(rng, (6, 3))
    const[:, 1] = 0.7
    out.append(Sample(_args(rng, const, "wb", (3,)), {"training": True, "eps": 0.1}, note="constant channel"))
    return out


def _ln_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 6), (6,), "wb"), ((3, 2, 4), (2, 4), "wb"), ((5, 4), 4, ""), ((2, 3, 4), (4,), "w"),
             ((3, 5), (5,), "b"), ((6,), 6, "wb")]
    return [Sample(_args(rng, _x(rng, s), a, (ns,) if isinstance(ns, int) else ns), {"normalized_shape": ns},
                   note=f"{s} normalized_shape={ns} affine={a or 'off'}") for s, ns, a in cases]


def _gn_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 6), 2, "wb"), ((2, 6, 5), 2, "wb"), ((2, 4, 3, 2), 4, "wb"), ((3, 4, 5), 1, ""),
             ((2, 6, 3), 3, "w"), ((2, 4, 3), 2, "b")]
    return [Sample(_args(rng, _x(rng, s), a, (s[1],)), {"num_groups": g}, note=f"{s} groups={g} affine={a or 'off'}")
            for s, g, a in cases]


register_op("batch_norm", _bn, _bn_samples)
register_op("layer_norm", lambda x, w=None, b=None, *, normalized_shape: layer_norm(x, normalized_shape, w, b),
            _ln_samples)
register_op("group_norm", lambda x, w=None, b=None, *, num_groups: group_norm(x, num_groups, w, b), _gn_samples)
