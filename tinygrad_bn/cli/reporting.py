"""Writing experiment results: CSV, JSON, Markdown tables and (optional) matplotlib plots.

Rows are a list of dicts (one dict per row, the same keys in every row). Plots need matplotlib,
which is an optional dependency (``pip install tinygrad-bn[examples]``): it is imported lazily with
the non-interactive Agg backend, and when it is missing ``line_plot``/``bar_plot`` return ``None``
instead of a path, so the caller can print a one-line note (see :func:`plot_note`) and carry on.
:func:`machine` describes what a run was measured on; the commands' JSON files and the benchmarks'
tables both use it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..tables import Row, check_rows, columns_of


def _plain(x: Any) -> Any:
    """numpy scalars/arrays -> Python numbers/lists (for JSON)."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"write_json: cannot serialise {type(x).__name__}")


def _prepare(path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_csv(path: str | Path, rows: Sequence[Row], columns: Sequence[str] | None = None) -> Path:
    """Write rows as CSV with a header line (columns: given, else every key); missing values are empty."""
    rows = check_rows("write_csv", rows)
    path = _prepare(path)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns_of(rows, columns), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def strict_json(x: Any) -> Any:
    """``x`` with NaN and infinities replaced by None (JSON's null), in nested dicts, lists and arrays."""
    if isinstance(x, (np.generic, np.ndarray)):
        x = x.tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, Mapping):
        return {k: strict_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [strict_json(v) for v in x]
    return x


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented, strict JSON: numpy scalars and arrays become numbers and lists, and a
    non-finite number becomes null (bare NaN or Infinity is not JSON; other readers reject it)."""
    path = _prepare(path)
    path.write_text(json.dumps(strict_json(obj), indent=2, default=_plain, allow_nan=False) + "\n")
    return path


def _pyplot():
    """matplotlib.pyplot with the Agg backend, or None when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_note(path: Path | None, what: str = "plot") -> str:
    """The one line to print after a plot call: where it went, or why there is none."""
    if path is None:
        return f"(no {what}: matplotlib is not installed; pip install matplotlib)"
    return f"wrote {path}"


Series = Mapping[str, Sequence[Any]]


def _check_series(fn: str, series: Any) -> None:
    if not isinstance(series, Mapping) or not series:
        raise ValueError(f"{fn}: series must be a non-empty dict label -> (xs, ys) or (xs, ys, fmt)")
    for label, xy in series.items():
        if len(xy) not in (2, 3) or len(xy[0]) != len(xy[1]):
            raise ValueError(f"{fn}: series {label!r} must be (xs, ys) or (xs, ys, fmt) with xs, ys of equal length")


def _fit_titles(fig: Any) -> None:
    """Wrap every axes title and the figure's title that is wider than the figure (they would be cut
    off at the edges of the PNG), at the longest line length that fits."""
    import textwrap

    renderer = fig.canvas.get_renderer()
    titles = [ax.title for ax in fig.axes] + ([fig._suptitle] if getattr(fig, "_suptitle", None) else [])
    for t in titles:
        text = t.get_text()
        limit = (fig.bbox.width if t is getattr(fig, "_suptitle", None) else t.axes.bbox.width) * 0.98
        chars = len(text)
        while t.get_window_extent(renderer).width > limit and chars > 12:
            chars -= 2
            t.set_text(textwrap.fill(text, chars))


def _draw_lines(ax: Any, series: Series, xlabel: str, ylabel: str, title: str, logy: bool,
                ylim: tuple[float, float] | None) -> None:
    for label, xy in series.items():
        xs, ys = list(xy[0]), list(xy[1])
        if len(xy) == 3:
            ax.plot(xs, ys, xy[2], label=label, markersize=4)
        else:
            ax.plot(xs, ys, label=label, marker="o" if len(xs) <= 12 else None, markersize=3)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small")


def line_plot(
    path: str | Path,
    series: Series,
    xlabel: str,
    ylabel: str,
    title: str,
    *,
    logy: bool = False,
    ylim: tuple[float, float] | None = None,
) -> Path | None:
    """One line per entry of ``series`` (label -> (xs, ys), or (xs, ys, fmt) with a matplotlib format
    string such as ``"o"`` or ``"--"``) in a PNG at ``path``; None without matplotlib."""
    _check_series("line_plot", series)
    plt = _pyplot()
    if plt is None:
        return None
    path = _prepare(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    try:
        _draw_lines(ax, series, xlabel, ylabel, title, logy, ylim)
        _fit_titles(fig)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def line_plots(path: str | Path, panels: Sequence[Mapping[str, Any]], title: str = "") -> Path | None:
    """Several :func:`line_plot` panels side by side in one PNG. Each panel is a dict with keys
    ``series``, ``xlabel``, ``ylabel``, ``title`` and optionally ``logy``, ``ylim``. None without matplotlib."""
    if not panels:
        raise ValueError("line_plots: need at least one panel")
    for i, p in enumerate(panels):
        missing = {"series", "xlabel", "ylabel", "title"} - set(p)
        if missing:
            raise ValueError(f"line_plots: panel {i} lacks {sorted(missing)}")
        _check_series(f"line_plots (panel {i})", p["series"])
    plt = _pyplot()
    if plt is None:
        return None
    path = _prepare(path)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.0), dpi=100, squeeze=False)
    try:
        for ax, p in zip(axes[0], panels):
            _draw_lines(ax, p["series"], p["xlabel"], p["ylabel"], p["title"], p.get("logy", False), p.get("ylim"))
        if title:
            fig.suptitle(title)
        _fit_titles(fig)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path


def bar_plot(
    path: str | Path,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
    title: str,
    *,
    hline: float | None = None,
    ylim: tuple[float, float] | None = None,
) -> Path | None:
    """Grouped bars: one group per entry of ``groups``, one bar per entry of ``series`` (label -> one value
    per group). ``hline`` draws a dashed reference line (e.g. 1.0 for "no shift"). None without matplotlib."""
    groups = list(groups)
    if not groups or not isinstance(series, Mapping) or not series:
        raise ValueError("bar_plot: need at least one group and a non-empty dict label -> values")
    for label, ys in series.items():
        if len(ys) != len(groups):
            raise ValueError(f"bar_plot: series {label!r} has {len(ys)} values for {len(groups)} groups")
    plt = _pyplot()
    if plt is None:
        return None
    path = _prepare(path)
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.4, 0.9 * len(groups) + 2)), 4.0), dpi=100)
    try:
        width = 0.8 / len(series)
        x = np.arange(len(groups))
        for i, (label, ys) in enumerate(series.items()):
            ax.bar(x + (i - (len(series) - 1) / 2) * width, [float(y) for y in ys], width, label=label)
        if hline is not None:
            ax.axhline(hline, color="k", linestyle="--", linewidth=0.8)
        ax.set_xticks(x, groups, fontsize="x-small" if len(groups) > 6 else "small")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
        if ylim is not None:
            ax.set_ylim(*ylim)
        ax.grid(True, axis="y", alpha=0.3)
        tick_lines = max(g.count("\n") for g in groups) + 1  # the legend goes below the tick labels
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.06 * tick_lines),
                  ncol=len(series), frameon=False)
        fig.tight_layout()
        fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


# ---- what a run was measured on ----------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _blas() -> str:
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]  # numpy >= 1.25
        blas = deps.get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no machine-readable config
        return "unknown"


def machine() -> dict[str, str]:
    """What the figures were measured on: CPU, cores, load, Python, numpy and its BLAS, thread settings."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "blas": _blas(),
    }
    if hasattr(os, "getloadavg"):
        info["load average (1 min)"] = f"{os.getloadavg()[0]:.2f}"
    threads = {k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}
    if threads:
        info["threads"] = ", ".join(f"{k}={v}" for k, v in sorted(threads.items()))
    return info
