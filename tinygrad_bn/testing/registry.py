"""The op registry: every differentiable op with sample inputs, in the spirit of PyTorch's OpInfo.

Parametrized tests (``tests/test_registry.py``) run :func:`tinygrad_bn.gradcheck` and
:func:`tinygrad_bn.gradgradcheck` in float64 over every registered op and every sample, and one fails if
any ``Function`` defined in the package is reached by no sample (forward, or backward under create_graph).
Users extend it for their own ops::

    from tinygrad_bn.testing.registry import Sample, register_op
    register_op("my_softplus", lambda x: my_softplus(x), lambda rng: [Sample((rng.standard_normal((3, 4)),))])

A sample's float arrays become float64 tensors with ``requires_grad=True``; anything else (integer
targets, Python numbers) is passed through as it is. Keyword arguments go to the op unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Sample:
    """One call of an op: positional ``args`` (float arrays are differentiated), ``kwargs``, a ``note``."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass
class OpInfo:
    """A registered op: ``fn(*tensors, **kwargs) -> Tensor`` and ``samples(rng) -> list[Sample]``.
    ``skip_gradgrad``: why its samples are not gradgradchecked (empty: they are)."""

    name: str
    fn: Callable[..., Any]
    samples: Callable[[np.random.Generator], Iterable[Sample]]
    gradcheck_kwargs: dict[str, Any] = field(default_factory=dict)
    skip_gradgrad: str = ""


OPS: dict[str, OpInfo] = {}


def register_op(name: str, fn: Callable[..., Any], samples: Callable[[np.random.Generator], Iterable[Sample]],
                *, skip_gradgrad: str = "", **gradcheck_kwargs: Any) -> OpInfo:
    """Add an op to the registry. ``gradcheck_kwargs`` (e.g. ``atol``) are passed to gradcheck and
    gradgradcheck for it; ``skip_gradgrad`` (a reason) leaves its samples out of gradgradcheck."""
    if name in OPS:
        raise ValueError(f"register_op: an op named {name!r} is already registered")
    if not callable(fn) or not callable(samples):
        raise TypeError(f"register_op: fn and samples must be callables, got {type(fn).__name__} and "
                        f"{type(samples).__name__}")
    info = OpInfo(name, fn, samples, gradcheck_kwargs, skip_gradgrad)
    OPS[name] = info
    return info


def all_samples(seed: int = 0) -> list[tuple[OpInfo, Sample]]:
    """Every (op, sample) pair in the registry, generated reproducibly from ``seed``."""
    pairs = []
    for info in OPS.values():
        rng = np.random.default_rng([seed, sum(map(ord, info.name))])
        pairs.extend((info, s) for s in info.samples(rng))
    return pairs


def away_from(x: np.ndarray, points: float | Sequence[float], margin: float = 0.05) -> np.ndarray:
    """Push values of ``x`` at least ``margin`` away from kinks (``points``), so finite differences are valid."""
    x = np.array(x, dtype=np.float64)
    for p in np.atleast_1d(points):
        near = np.abs(x - p) < margin
        x[near] = p + np.where(x[near] >= p, margin, -margin) * 2
    return x


def samples_of(shapes: Sequence[tuple[int, ...]], *, low: float | None = None, high: float | None = None,
               scale: float = 1.0, transform: Callable[[np.ndarray], np.ndarray] | None = None,
               **kwargs: Any) -> Callable[[np.random.Generator], list[Sample]]:
    """Sample generator for a one-input op: one float64 array per shape, normal (times ``scale``) or
    uniform in [low, high), optionally passed through ``transform``; ``kwargs`` go to the op."""

    def make(rng: np.random.Generator) -> list[Sample]:
        out = []
        for shape in shapes:
            x = rng.uniform(low, high, shape) if low is not None else rng.standard_normal(shape) * scale
            x = np.asarray(transform(x) if transform else x, dtype=np.float64)
            out.append(Sample((x,), dict(kwargs), note=str(shape)))
        return out

    return make
