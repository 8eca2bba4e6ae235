"""Checks on the files and folders a data set is read from, each failure a one-line ValueError naming the
path: a folder where a file should be, a folder that cannot be searched, a file that cannot be read, a
path too long for the file system, a download cache that is not a writable folder; and the MD5 of a file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..checks import short_path

__all__ = ["md5sum", "md5_or_error", "is_file", "writable_cache"]


def md5sum(path: Path) -> str:
    """Hex MD5 of a file (read in 1 MiB chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def writable_cache(folder: Path) -> None:
    """Create the cache ``folder``; ValueError (one line) if it is not a folder or not writable."""
    fix = "set XDG_CACHE_HOME to a writable folder, or pass --data-dir (data_dir=) to local copies"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ValueError(f"the download cache {folder} (or a folder above it) is a file, not a folder; {fix}") from None
    except OSError as e:
        raise ValueError(f"the download cache {folder} cannot be created ({e.strerror or e}); {fix}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"the download cache {folder} is not writable; {fix}")


def is_file(candidate: Path) -> bool:
    """Whether ``candidate`` is a file to read; ValueError for what a user must fix (a folder in its
    place, a folder that cannot be searched, a path the system refuses as too long)."""
    try:
        if candidate.is_dir():
            raise ValueError(f"{candidate}: is a folder, where a data file of that name was expected")
        if candidate.is_file():
            return True
        folder = candidate.parent
        if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
            raise ValueError(f"{folder}: permission denied (the data folder is not readable)")
        return False
    except OSError as e:  # e.g. ENAMETOOLONG, which is_file does not swallow
        raise ValueError(f"{short_path(candidate)}: cannot be looked up ({e.strerror or e})") from None


def md5_or_error(path: Path) -> str:
    try:
        return md5sum(path)
    except PermissionError:
        raise ValueError(f"{path}: permission denied (the data file is not readable)") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror or e})") from None
