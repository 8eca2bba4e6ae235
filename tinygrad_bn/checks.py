"""Argument checks shared across the package, so every caller words its errors the same way.

One convention: ``TypeError`` for an argument of the wrong kind, ``ValueError`` for the right kind
with a wrong value. Every message starts with the op or class (``owner``), names the argument, says
what was expected and what was received.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np


def check_int(value: Any, owner: str, what: str, *, minimum: int | None = 1) -> int:
    """``value`` as a Python int: an integer (not a bool) >= ``minimum`` (None: any integer)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {what} must be an integer, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        expected = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")
        raise ValueError(f"{owner}: {what} must be {expected}, got {value!r}")
    return int(value)


def check_number(value: Any, owner: str, what: str, *, low: float | None = None, high: float | None = None,
                 high_open: bool = False, meaning: str = "") -> float:
    """``value`` as a float: a real number (not a bool) in [low, high] (or [low, high) if ``high_open``)."""
    limits = f"in [{low:g}, {high:g}{')' if high_open else ']'}" if low is not None and high is not None else \
        f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "a real number"
    about = f" ({meaning})" if meaning else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {what}{about} must be a number {limits}, got {type(value).__name__} {value!r}")
    x = float(value)
    if not (x == x and (low is None or x >= low) and (high is None or (x < high if high_open else x <= high))):
        raise ValueError(f"{owner}: {what}{about} must be {limits}, got {value!r}")
    return x


def check_bool(value: Any, owner: str, what: str) -> bool:
    """``value`` if it is True or False (numpy bools too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {what} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_choice(value: Any, owner: str, what: str, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{owner}: {what} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_dim(dim: Any, ndim: int, owner: str, *, what: str = "dim") -> int:
    """One axis of a tensor with ``ndim`` dimensions, in [-ndim, ndim), as a non-negative int."""
    dim = check_int(dim, owner, what, minimum=None)
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ValueError(f"{owner}: {what} {dim} is out of range for a tensor with {ndim} dimension(s) "
                         f"(expected a value in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
    return dim % max(ndim, 1)


def check_pair(value: Any, owner: str, what: str, *, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (kernel size, stride, padding, ...) as a pair of ints >= ``minimum``;
    one int means the same value for height and width."""
    pair = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
        else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or any(isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral)
                                             for v in pair):
        raise TypeError(f"{owner}: {what} must be an integer or a pair of integers, got {type(value).__name__} "
                        f"{value!r}")
    if min(pair) < minimum:
        expected = {0: "non-negative", 1: "positive"}.get(minimum, f">= {minimum}")
        raise ValueError(f"{owner}: {what} must be {expected} (an integer or a pair of them), got {value!r}")
    return int(pair[0]), int(pair[1])


def check_float_dtype(dtype: Any, owner: str) -> np.dtype:
    """A layer's ``dtype=`` argument as a floating-point numpy dtype (None: float32, PyTorch's default)."""
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"{owner}: dtype must be a floating-point type, got {dt}")
    return dt


def short_path(path: Any) -> str:
    """A path for a one-line message: in full up to 160 characters, else its start and end around "..."."""
    import os

    text = os.fspath(path)
    return text if len(text) <= 160 else f"{text[:70]}...{text[-70:]} ({len(text)} characters)"
