"""The IDX file format (MNIST, Fashion-MNIST): read with every field checked, and write.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type code, ``DD`` the number
of dimensions), then ``DD`` big-endian uint32 sizes, then the elements, big-endian, row-major.
MNIST's ``t10k-images-idx3-ubyte`` is ``00 00 08 03``, sizes 10000, 28, 28, then 7,840,000 bytes.
Files may be gzip-compressed (the usual ``.gz`` downloads); gzip is recognized by its own magic
bytes, not by the file name.

:func:`read_idx` raises ``ValueError`` naming the file and what was wrong (bad magic number,
unknown type code, truncated header or payload, trailing bytes, corrupt gzip stream) instead of
returning a silently wrong array.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_DTYPES"]

#: IDX element type code -> numpy dtype (big-endian, as stored in the file)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it starts with the gzip magic; ValueError if the gzip stream is bad."""
    blob = path.read_bytes()
    if not blob.startswith(_GZIP_MAGIC):
        return blob
    try:
        return gzip.decompress(blob)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut-off stream is an EOFError
        raise ValueError(f"read_idx: {path}: corrupt or truncated gzip data ({e or type(e).__name__})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian numpy array of its stored shape and type.

    Returns e.g. uint8 (10000, 28, 28) for MNIST test images and uint8 (10000,) for its labels.
    Raises ``ValueError`` naming ``path`` when the magic number, type code, dimensions or payload
    length are wrong, and ``FileNotFoundError`` when there is no such file.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4:
        raise ValueError(f"read_idx: {path}: file too short for an IDX header ({len(data)} bytes, need at least 4)")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"read_idx: {path}: bad magic number 0x{data[:4].hex()} (an IDX file starts with 00 00); "
                         "not an IDX file")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: {path}: unknown element type code 0x{code:02X} in the magic number "
                         f"(expected one of {known})")
    if ndim == 0:
        raise ValueError(f"read_idx: {path}: the magic number says 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"read_idx: {path}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header
    if got < expected:
        raise ValueError(f"read_idx: {path}: truncated payload: shape {shape} of {dtype.name} needs {expected} bytes "
                         f"after the header, the file has {got}")
    if got > expected:
        raise ValueError(f"read_idx: {path}: {got - expected} unexpected trailing bytes after the payload of shape "
                         f"{shape} ({expected} bytes); the header's dimensions do not match the data")
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native byte order, writable, owns its memory


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` (uint8, int8, int16, int32, float32 or float64; 1 to 255 dimensions) as an IDX file.

    ``compress=None`` gzips when the name ends in ``.gz``. Returns the path. Used by the tests to make
    synthetic data sets that go through exactly the same reader as the real ones.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code; use one of "
                        f"{', '.join(dt.newbyteorder('=').name for dt in IDX_DTYPES.values())}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: expected 1 to 255 dimensions, got {array.ndim}")
    code = codes[key]
    blob = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
            + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes())
    if compress if compress is not None else path.suffix == ".gz":
        blob = gzip.compress(blob, mtime=0)
    path.write_bytes(blob)
    return path
