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
file under ``path``. The file gets the mode any new file gets (0666 minus the umask), as other outputs.

Loading checks before it reads: every member of the archive must be a ``.npy`` array whose header
(shape, dtype) accounts exactly for the member's bytes; other members, object dtypes and headers
that promise more data than there is are refused with a ValueError naming the file and the member.
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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private (0600); give it the usual mode
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


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def load(path: str | os.PathLike[str]) -> OrderedDict[str, np.ndarray]:
    """Read a checkpoint written by ``save``: an OrderedDict of numpy arrays in the saved order.

    Never unpickles, and checks every member before reading it: each must be a ``.npy`` array (no
    other files, no object dtypes) whose header's shape and dtype account exactly for the member's
    size, so a damaged or hostile header cannot make ``load`` allocate more than the file holds.
    FileNotFoundError if there is no file; ValueError naming the file and the member otherwise.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise FileNotFoundError(f"load: {path!r} is a folder, not a checkpoint file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no checkpoint file at {path!r}")
    try:
        with open(path, "rb") as f:
            if f.read(6) == npformat.MAGIC_PREFIX:
                raise ValueError("it holds a single .npy array, not an .npz archive")
        with zipfile.ZipFile(path) as zf:
            out: OrderedDict[str, np.ndarray] = OrderedDict()
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                if key == info.filename or key in out:
                    raise ValueError(f"member {info.filename!r} is not an array of a tg.save checkpoint "
                                     "(expected distinct NAME.npy members only)")
                out[key] = _read_member(zf, info)
            return out
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"load: {path!r} is not a valid checkpoint (a .npz archive written by tg.save): "
                         f"{type(e).__name__}: {e}") from None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` member, after checking that its header's shape and dtype match its size."""
    with zf.open(info) as f:
        try:
            version = npformat.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy format version {version}")
            read_header = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
        except ValueError as e:
            raise ValueError(f"member {info.filename!r} is not a .npy array: {e}") from None
        if dtype.hasobject or dtype.kind not in "biufcUS":
            raise ValueError(f"member {info.filename!r} has dtype {dtype}, which would need pickle")
        count = 1
        for n in shape:
            count *= int(n)
        needed = count * dtype.itemsize
        header = f.tell()
        if needed != info.file_size - header:
            raise ValueError(f"member {info.filename!r}: its header promises shape {shape} of {dtype} "
                             f"({needed} bytes) but it holds {info.file_size - header} bytes")
        data = f.read(needed)
    if len(data) != needed:
        raise ValueError(f"member {info.filename!r} is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order="F" if fortran else "C")
    return arr.copy(order="K")
