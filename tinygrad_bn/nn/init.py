"""Weight initializers with PyTorch's ``torch.nn.init`` names, formulas and defaults: ``tg.nn.init``.

Each ``*_`` function overwrites a Tensor's (or Parameter's) ``data`` in place, keeping its shape and
dtype, and returns the same tensor. Random ones draw from ``generator`` (a ``numpy.random.Generator``)
or, without one, from the package's default generator, so ``tg.manual_seed(s)`` makes them
reproducible. Draws are made in float64 and then cast to the tensor's dtype.

Fans (as PyTorch): for a weight of shape (out, in, *k), ``fan_in = in * prod(k)`` and
``fan_out = out * prod(k)``; tensors with fewer than 2 dimensions have no fan (ValueError).

=====================  =====================================================================
``kaiming_uniform_``   U(-b, b), b = gain * sqrt(3 / fan),  gain = calculate_gain(nonlinearity, a)
``kaiming_normal_``    N(0, std^2), std = gain / sqrt(fan)
``xavier_uniform_``    U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))
``xavier_normal_``     N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))
=====================  =====================================================================

``Linear``'s default, ``kaiming_uniform_(w, a=sqrt(5))``, gives gain = sqrt(2 / (1 + 5)) and hence
b = 1 / sqrt(fan_in).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..engine.tensor import Tensor
from ..random import get_generator

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "kaiming_uniform_",
           "kaiming_normal_", "xavier_uniform_", "xavier_normal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
           "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``.

    linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2)) with
    ``param`` the negative slope (default 0.01); selu: 3/4.
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join(_LINEAR)}, tanh, relu, leaky_relu, selu")


def _data(tensor: Tensor | np.ndarray, fn: str) -> np.ndarray:
    arr = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{fn}: expected a Tensor, Parameter or numpy array, got {type(tensor).__name__}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating-point tensor, got dtype {arr.dtype}")
    return arr


def _fill(tensor: Tensor | np.ndarray, fn: str, generator: np.random.Generator | None,
          sample: Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]) -> Tensor | np.ndarray:
    arr = _data(tensor, fn)
    arr[...] = sample(get_generator(generator, fn), arr.shape)
    return tensor


def _fans(tensor: Tensor | np.ndarray, fn: str) -> tuple[int, int]:
    shape = _data(tensor, fn).shape
    if len(shape) < 2:
        raise ValueError(f"{fn}: fan in and fan out need a tensor with at least 2 dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fill with U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    return _fill(tensor, "uniform_", generator, lambda g, s: g.uniform(a, b, s))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2)."""
    if not std >= 0:
        raise ValueError(f"normal_: expected std >= 0, got {std}")
    return _fill(tensor, "normal_", generator, lambda g, s: g.normal(mean, std, s))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``."""
    _data(tensor, "constant_")[...] = val
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1.0)


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str, fn: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(tensor, fn)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan) if fan else 0.0  # fan 0: no elements, a no-op


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015) uniform: U(-b, b) with b = sqrt(3) * gain / sqrt(fan); ``a`` is leaky_relu's slope."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return _fill(tensor, "kaiming_uniform_", generator, lambda g, s: g.uniform(-bound, bound, s))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He et al. (2015) normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return _fill(tensor, "kaiming_normal_", generator, lambda g, s: g.normal(0.0, std, s))


def _xavier_std(tensor: Tensor, gain: float, fn: str) -> float:
    fan_in, fan_out = _fans(tensor, fn)
    return gain * math.sqrt(2.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010) uniform: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    bound = math.sqrt(3.0) * _xavier_std(tensor, gain, "xavier_uniform_")
    return _fill(tensor, "xavier_uniform_", generator, lambda g, s: g.uniform(-bound, bound, s))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010) normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    std = _xavier_std(tensor, gain, "xavier_normal_")
    return _fill(tensor, "xavier_normal_", generator, lambda g, s: g.normal(0.0, std, s))
