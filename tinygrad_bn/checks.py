"""Argument checks shared across the package, so every caller words its error the same way."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_int(value: Any, owner: str, what: str, *, minimum: int = 1) -> int:
    """``value`` as a Python int if it is an integer (not a bool) >= ``minimum`` (1, or 0 to allow zero).

    Otherwise ``ValueError("OWNER: WHAT must be a positive integer, got VALUE")`` (``a non-negative
    integer`` when ``minimum`` is 0).
    """
    if minimum not in (0, 1):
        raise ValueError(f"check_int: minimum must be 0 or 1, got {minimum!r}")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        expected = "a non-negative integer" if minimum == 0 else "a positive integer"
        raise ValueError(f"{owner}: {what} must be {expected}, got {value!r}")
    return int(value)
