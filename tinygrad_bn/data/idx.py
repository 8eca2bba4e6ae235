"""The IDX file format (MNIST, Fashion-MNIST): read with every field checked, and write.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type code, ``DD`` the number
of dimensions), then ``DD`` big-endian uint32 sizes, then the elements, big-endian, row-major.
MNIST's ``t10k-images-idx3-ubyte`` is ``00 00 08 03``, sizes 10000, 28, 28, then 7,840,000 bytes.
Files may be gzip-compressed (the usual ``.gz`` downloads); gzip is recognized by its own magic
bytes, not by the file name.

:func:`read_idx` raises ``ValueError`` naming the file and what was wrong (not readable, a folder,
bad magic number, unknown type code, truncated header or payload, trailing bytes, corrupt gzip
stream) instead of returning a silently wrong array. It reads the header first and checks the size
it promises (against ``max_bytes`` and the file's size) before allocating anything for the payload.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

__all__ = ["read_idx", "write_idx", "IDX_DTYPES", "MAX_BYTES"]

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
#: the largest payload ``read_idx`` reads unless told otherwise (MNIST's training images are 47 MB)
MAX_BYTES = 1 << 30
#: deflate inflates at most ~1032:1, so a gzip of n bytes cannot hold more than this many times n
_MAX_INFLATE = 1032


def _open_error(path: Path, err: OSError) -> ValueError:
    """A one-line ValueError for a file that cannot be opened (permissions, a folder, a name too long)."""
    if isinstance(err, IsADirectoryError) or path.is_dir():
        return ValueError(f"read_idx: {path}: is a folder, not an IDX file")
    if isinstance(err, PermissionError):
        return ValueError(f"read_idx: {path}: permission denied (the file or a folder above it is not readable)")
    return ValueError(f"read_idx: {path}: cannot be read ({err.strerror or err})")


def _read_exact(stream: BinaryIO, out: memoryview) -> int:
    """Fill ``out`` from ``stream``; returns how many bytes were read (fewer at the end of the stream)."""
    filled = 0
    while filled < len(out):
        n = stream.readinto(out[filled:])
        if not n:
            break
        filled += n
    return filled


def read_idx(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian numpy array of its stored shape and type.

    Returns e.g. uint8 (10000, 28, 28) for MNIST test images and uint8 (10000,) for its labels.
    The header is checked before the payload is read or memory allocated for it: a payload larger
    than ``max_bytes`` (default 1 GiB), or larger than the file (for gzip: than a gzip of the file's
    size can inflate to), is refused. Raises ``ValueError`` naming ``path`` when the file cannot be
    read (permissions, a folder) or the magic number, type code, dimensions or payload length are
    wrong, and ``FileNotFoundError`` when there is no such file.
    """
    path = Path(path)
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed below, with the gzip stream over it)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise _open_error(path, e) from None
    with raw:
        size = os.fstat(raw.fileno()).st_size
        gz = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw  # type: ignore[assignment]
        try:
            with stream:
                return _read_stream(path, stream, size, gz, max_bytes)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut-off stream an EOFError
            if not gz:
                raise _open_error(path, e) if isinstance(e, OSError) else e from None
            raise ValueError(f"read_idx: {path}: corrupt or truncated gzip data ({e or type(e).__name__})") from None


def _read_stream(path: Path, stream: BinaryIO, size: int, gz: bool, max_bytes: int) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4:
        raise ValueError(f"read_idx: {path}: file too short for an IDX header ({len(magic)} bytes, need at least 4)")
    if magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"read_idx: {path}: bad magic number 0x{magic.hex()} (an IDX file starts with 00 00); "
                         "not an IDX file")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"read_idx: {path}: unknown element type code 0x{code:02X} in the magic number "
                         f"(expected one of {known})")
    if ndim == 0:
        raise ValueError(f"read_idx: {path}: the magic number says 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"read_idx: {path}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"the file has {4 + len(dims)}")
    shape = tuple(int.from_bytes(dims[4 * i:4 * i + 4], "big") for i in range(ndim))
    dtype = IDX_DTYPES[code]
    count = 1
    for n in shape:  # Python ints: no overflow, however large the header's sizes
        count *= n
    expected = count * dtype.itemsize
    what = f"shape {shape} of {dtype.name} needs {expected} bytes after the header"
    if expected > max_bytes:
        raise ValueError(f"read_idx: {path}: the header promises {what}, more than the {max_bytes} bytes "
                         "read_idx accepts (max_bytes); refusing to allocate it")
    if not gz and expected != size - header:
        problem = "truncated payload" if expected > size - header else (
            f"{size - header - expected} unexpected trailing bytes after the payload")
        raise ValueError(f"read_idx: {path}: {problem}: {what}, the file has {size - header}"
                         + ("" if expected > size - header else "; the header's dimensions do not match the data"))
    if gz and expected > _MAX_INFLATE * size + 1024:
        raise ValueError(f"read_idx: {path}: truncated payload: {what}, more than a {size}-byte gzip file can "
                         "hold")
    arr = np.empty(count, dtype=dtype)
    got = _read_exact(stream, memoryview(arr).cast("B"))
    if got < expected:
        raise ValueError(f"read_idx: {path}: truncated payload: {what}, the file has {got}")
    extra = len(stream.read(1 << 16))
    if extra:
        raise ValueError(f"read_idx: {path}: unexpected trailing bytes after the payload of shape {shape} "
                         f"({expected} bytes); the header's dimensions do not match the data")
    return arr.reshape(shape).astype(dtype.newbyteorder("="), copy=False)  # native byte order, owns its memory


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
