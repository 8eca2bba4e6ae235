"""Ways to make tensors: ``tensor``, ``zeros``, ``ones``, ``randn``, ``rand``, ``arange``.

Floating-point results are float32 unless ``dtype`` says otherwise (PyTorch's default). Random ones
use the default generator (``tg.manual_seed``) unless given ``generator=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine.tensor import Tensor
from .random import get_generator


def _shape(shape: tuple[Any, ...]) -> tuple[int, ...]:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor holding a *copy* of ``data`` (like ``torch.tensor``); ``Tensor(array)`` shares the array."""
    t = Tensor(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad, dtype=dtype)
    t.data = t.data.copy()
    return t


def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(shape), dtype=dtype), requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal samples."""
    data = get_generator(generator, "randn").standard_normal(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform samples in [0, 1)."""
    data = get_generator(generator, "rand").random(_shape(shape)).astype(dtype, copy=False)
    return Tensor(data, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None) -> Tensor:
    return Tensor(np.arange(start, stop, step, dtype=dtype) if stop is not None else np.arange(start, dtype=dtype))
