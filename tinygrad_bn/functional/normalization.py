"""Normalization: ``F.batch_norm``, ``F.layer_norm``, ``F.group_norm``, all running the one ``Normalize``
primitive (``ops/normalization.py``; its backward is derived in docs/batchnorm.md), and the checks of
their hyperparameters that the ``nn`` layers share."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..checks import check_int, check_number
from ..engine.tensor import Tensor, as_tensor
from ..ops.normalization import Normalize

_RANK_SHAPES = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)", 5: "(N, C, D, H, W)"}


def check_eps(eps: Any, name: str) -> float:
    """``eps`` as a float >= 0."""
    return check_number(eps, name, "eps", low=0.0)


def check_momentum(momentum: Any, name: str, allow_none: bool = False) -> float | None:
    """``momentum`` as a float in [0, 1] (or None when ``allow_none``: the cumulative average)."""
    if momentum is None and allow_none:
        return None
    return check_number(momentum, name, "momentum", low=0.0, high=1.0,
                        meaning="None, the cumulative average, is for the BatchNorm layers" if momentum is None else "")


def check_normalized_shape(shape: Any, name: str) -> tuple[int, ...]:
    """LayerNorm's ``normalized_shape`` (an int or a non-empty sequence of positive ints) as a tuple."""
    dims = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape) if isinstance(shape, (tuple, list)) \
        else None
    if not dims:
        raise TypeError(f"{name}: normalized_shape must be an int or a non-empty tuple of ints, got {shape!r}")
    return tuple(check_int(d, name, "every dimension of normalized_shape") for d in dims)


def _floating(t: Any, what: str, name: str, shape: tuple[int, ...] | None = None) -> Any:
    """``t`` as a Tensor of floats (of ``shape`` if given), or None if ``t`` is None."""
    if t is None:
        return None
    t = as_tensor(t)
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point {what}, got dtype {t.dtype}")
    if shape is not None and t.shape != shape:
        raise ValueError(f"{name}: expected {what} of shape {shape}, got shape {t.shape}")
    return t


def _running(t: Any, what: str, name: str, channels: int) -> Any:
    if t is None:
        return None
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
    groups = check_int(num_groups, name, "num_groups")
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
