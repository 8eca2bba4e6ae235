"""Checkpoints: ``tg.save(state_dict, path)`` and ``tg.load(path)``, as ``.npz`` without pickle.

Format: a numpy ``.npz`` archive (a zip of ``.npy`` files, one per key, in the mapping's order),
written with ``allow_pickle=False`` and read with ``allow_pickle=False``, so loading a checkpoint
can never run code (a pickle can), and any numpy, on any machine, can read it: ``np.load(path)``.

Nested mappings (a model's and an optimizer's state together, an optimizer's ``state_dict()``) are
flattened by joining keys with "/"::

    {"model": {"0.weight": w}, "optimizer": {"state": {0: {"step": 3}}, "param_groups": [{"lr": 0.1}]}}
    -> "model/0.weight", "optimizer/state/0/step", "optimizer/param_groups/0/lr"

Integer keys and list positions become decimal strings; Python numbers, bools and strings become 0-d
arrays and lists/tuples of numbers become arrays; Tensors are saved as their numpy data. Anything that
would need pickle (None, arbitrary objects, object arrays) raises TypeError naming the key.
``unflatten`` turns the flat mapping that ``load`` returns back into nested dicts (list positions stay
string keys "0", "1", ...; ``Optimizer.load_state_dict`` accepts that). Empty nested mappings (an
optimizer's ``state`` before its first step) have no entries and so do not appear after a round trip.

Atomic write: the archive is written to a temporary file in the destination folder, flushed to disk,
and moved over ``path`` with ``os.replace``. An error (or Ctrl-C) during the write removes the
temporary file and leaves any previous checkpoint at ``path`` untouched; there is never a half-written
file under ``path``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.lib import format as npformat

from .engine.tensor import Tensor

__all__ = ["save", "load", "flatten", "unflatten"]

SEP = "/"


def _as_array(value: Any, key: str) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, (bool, int, float, str, np.generic, np.ndarray, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError as e:  # ragged lists
            raise TypeError(f"save: value at {key!r} cannot be stored as an array ({e})") from None
        if arr.dtype.kind not in "biufcUS":
            raise TypeError(f"save: value at {key!r} has dtype {arr.dtype}, which would need pickle; "
                            "only numeric, bool and string arrays can be saved")
        return arr
    raise TypeError(f"save: value at {key!r} is {type(value).__name__}; expected an array, a Tensor, a number, "
                    "a string, a list of numbers or a nested mapping (no pickle, so no other objects)")


def flatten(obj: Mapping[Any, Any]) -> OrderedDict[str, np.ndarray]:
    """Nested mappings (and lists of mappings) as one flat mapping with "/"-joined string keys."""
    if not isinstance(obj, Mapping):
        raise TypeError(f"save: expected a mapping such as model.state_dict(), got {type(obj).__name__}")
    out: OrderedDict[str, np.ndarray] = OrderedDict()

    def walk(value: Any, key: str) -> None:
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Mapping) for v in value):
            value = {i: v for i, v in enumerate(value)}
        if isinstance(value, Mapping):
            for k, v in value.items():
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                    raise TypeError(f"save: keys must be strings or integers, got {k!r} ({type(k).__name__})"
                                    f"{f' under {key!r}' if key else ''}")
                k = str(k)
                if not k or SEP in k:
                    raise ValueError(f"save: key {k!r}{f' under {key!r}' if key else ''} must be non-empty and "
                                     f"must not contain {SEP!r} (it joins nested keys)")
                walk(v, f"{key}{SEP}{k}" if key else k)
            return
        if key in out:
            raise ValueError(f"save: two entries flatten to the same key {key!r}")
        out[key] = _as_array(value, key)

    walk(obj, "")
    return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten`` for mappings: split keys on "/" into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(SEP)
        node = out
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"unflatten: {key!r} is below {p!r}, which is also a value")
        node[last] = value
    return out


def save(obj: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write ``obj`` (a state_dict: str -> array/Tensor, possibly nested) to ``path`` as ``.npz``, atomically.

    ``path`` is used as given (no ".npz" is appended). Raises TypeError for values that would need
    pickle, FileNotFoundError if the folder does not exist.
    """
    arrays = flatten(obj)  # every check happens before anything touches the disk
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder!r} does not exist (for {path!r})")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
                for key, arr in arrays.items():
                    with zf.open(key + ".npy", "w", force_zip64=True) as member:
                        npformat.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """Read a checkpoint written by ``save``: an OrderedDict of numpy arrays in the saved order.

    Never unpickles. FileNotFoundError if there is no file; ValueError naming the file if it is not
    a readable ``.npz`` archive (truncated, corrupt, or holding pickled objects).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single .npy array, not an .npz archive")
        with archive:
            return OrderedDict((key, archive[key]) for key in archive.files)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"load: {path!r} is not a valid checkpoint (a .npz archive written by tg.save): "
                         f"{type(e).__name__}: {e}") from None
