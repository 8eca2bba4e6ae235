"""Shared by the subcommands: checked argparse numbers, width lists, the data options and their loading."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def number(kind: type, low: float, what: str, *, inclusive: bool = True, high: float | None = None,
           high_inclusive: bool = False) -> Callable[[str], Any]:
    """An argparse ``type=`` parsing ``kind`` and checking low <= value (< or <=) high; the error names ``what``."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = value >= low if inclusive else value > low
        if high is not None:
            ok = ok and (value <= high if high_inclusive else value < high)
        if not ok or (kind is float and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def widths(text: str) -> tuple[int, ...]:
    """``"512,512"`` -> (512, 512); every width a positive int."""
    try:
        out = tuple(int(w) for w in text.split(",") if w.strip())
    except ValueError:
        out = ()
    if not out or any(w < 1 for w in out):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive widths such as 512,512, got {text!r}")
    return out


def add_data_arguments(p: argparse.ArgumentParser, default_dataset: str = "fashion-mnist") -> None:
    """--dataset, --data-dir, --holdout, --no-download (the same meaning as in ``tinygrad-bn mnist``)."""
    p.add_argument("--dataset", choices=("fashion-mnist", "mnist"), default=default_dataset,
                   help=f"data set (default: {default_dataset})")
    p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                   help="folder holding mnist/ and fashion-mnist/ with the IDX files (default: $TINYGRAD_BN_DATA, "
                        "then the download cache ~/.cache/tinygrad_bn)")
    p.add_argument("--holdout", type=number(int, 1, "a positive integer"), default=None, metavar="N",
                   help="train on the TEST split minus its last N images and test on those N (for machines that "
                        "only have the test split)")
    p.add_argument("--no-download", action="store_true", help="never download; fail if the files are not local")


def load_data(args: argparse.Namespace) -> Any:
    """The prepared :class:`~tinygrad_bn.cli.experiments.common.Splits` per the data options; a missing data
    set or a bad value (unreadable file, bad --holdout) raises :class:`~tinygrad_bn.cli.runs.RunError`."""
    from ...data import DatasetNotFoundError
    from ..experiments.common import load_splits

    try:
        return load_splits(args.dataset, args.data_dir, holdout=args.holdout or 0, limit=args.limit,
                           download=not args.no_download)
    except (DatasetNotFoundError, ValueError) as e:
        raise data_error(e, args) from None


def data_error(err: Exception, args: argparse.Namespace) -> Exception:
    """The RunError to raise for a data problem: a missing data set (status 1, with the --holdout hint
    when it applies) or a bad file or value (status 2, one line)."""
    from ...data import DatasetNotFoundError
    from ..runs import EXIT_FAILED, EXIT_USAGE, RunError

    if not isinstance(err, DatasetNotFoundError):
        return RunError(str(err), EXIT_USAGE)
    hint = ""
    if args.holdout is None:
        hint = "\nOnly the test split at hand? --holdout N trains on it minus N images and tests on the last N."
    return RunError(f"{err}{hint}", EXIT_FAILED)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, what: str, detail: str) -> None:
    """RunError if ``needed`` bytes are more than the memory available; ``what`` names the options."""
    from ..runs import RunError

    available = available_memory()
    if available is not None and needed > available:
        raise RunError(f"{what} needs about {needed / 1e9:.1f} GB of memory ({detail}), more than the "
                       f"{available / 1e9:.1f} GB available; make them smaller")
