"""Markdown tables from rows of dicts (``markdown_table``), for reports and ``diagnostics`` results."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Row = Mapping[str, Any]


def check_rows(fn: str, rows: Sequence[Row]) -> list[Row]:
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise TypeError(f"{fn}: rows must be a list of dicts, got {type(rows).__name__}")
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise TypeError(f"{fn}: rows[{i}] must be a dict, got {type(r).__name__}")
    return list(rows)


def columns_of(rows: Sequence[Row], columns: Sequence[str] | None) -> list[str]:
    """The given columns, else every key in order of first appearance."""
    if columns is not None:
        return list(columns)
    seen: dict[str, None] = {}
    for r in rows:
        for k in r:
            seen.setdefault(k, None)
    return list(seen)


def _fmt(x: Any, floatfmt: str) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (float, np.floating)):
        return "nan" if math.isnan(x) else format(float(x), floatfmt)
    return str(x).replace("|", "\\|")


def markdown_table(rows: Sequence[Row], columns: Sequence[str] | None = None, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table: header, separator, one line per row (no trailing newline).

    Floats are formatted with ``format(x, floatfmt)``; numbers are right-aligned, text left-aligned.
    An empty ``rows`` gives just the header (or "" when there are no columns either).
    """
    rows = check_rows("markdown_table", rows)
    cols = columns_of(rows, columns)
    if not cols:
        return ""
    cells = [[_fmt(r.get(c), floatfmt) for c in cols] for r in rows]
    numeric = [bool(rows) and all(isinstance(r.get(c), (int, float, np.number)) for r in rows) for c in cols]
    widths = [max([len(c), 3] + [len(line[j]) for line in cells]) for j, c in enumerate(cols)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "| " + " | ".join(parts) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(list(cols)), sep] + [line(c) for c in cells])
