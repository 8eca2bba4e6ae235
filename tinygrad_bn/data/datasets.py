"""MNIST and Fashion-MNIST: find a local copy or download it once (MD5-checked, cached), then read it.

Where the files are looked for, in order (the first folder holding a file wins, file by file):

1. the ``data_dir`` argument (``--data-dir`` on the command line): ``DATA_DIR/mnist/`` or
   ``DATA_DIR/fashion-mnist/``, or the files directly in ``DATA_DIR``;
2. the environment variable ``TINYGRAD_BN_DATA``: a folder holding ``mnist/`` and ``fashion-mnist/``;
3. the cache: ``$XDG_CACHE_HOME/tinygrad_bn/`` (default ``~/.cache/tinygrad_bn/``), same layout.

A file may be gzipped (``train-images-idx3-ubyte.gz``) or not (``train-images-idx3-ubyte``). When a
file is nowhere and ``download=True`` it is downloaded from the public mirrors into the cache: to a
temporary file in the same folder, MD5-checked, then moved in place with ``os.replace``, so an
interrupted or corrupt download never leaves a partial file under the real name. A cached file whose
MD5 is wrong is downloaded again. A cache that is not a writable folder is reported in one line.

Checksums. A downloaded or cached ``.gz`` must match a known MD5. Two sums are known for each
Fashion-MNIST file: the official one (Zalando's S3/GitHub) and the one of Debian's
``dataset-fashion-mnist`` package, whose files hold the same IDX bytes but were re-gzipped
(different gzip header/compression, so a different MD5 of the ``.gz``). A local copy you point to
(``data_dir``, ``TINYGRAD_BN_DATA``) with an unknown sum is still loaded, with a warning, because the
gzip CRC and the IDX reader's checks of magic number, dimensions and length catch truncation and
corruption; unknown sums are refused only in the cache, which holds what this module downloaded.
A file whose MD5 is that of a *different* known file (Fashion-MNIST's images placed as MNIST's, or
the test labels named as the training labels) is always refused, with a message naming what it is.
"""

from __future__ import annotations

import os
import sys
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..checks import short_path
from .files import is_file, md5_or_error, md5sum, writable_cache
from .idx import read_idx

__all__ = ["load_mnist", "load_fashion_mnist", "load_dataset", "DATASETS", "DatasetNotFoundError", "cache_dir",
           "download_file", "ENV_VAR", "FASHION_CLASSES"]

ENV_VAR = "TINYGRAD_BN_DATA"
SPLITS = ("train", "test")


class DatasetNotFoundError(FileNotFoundError):
    """The data set is not stored locally and could not be downloaded; the message says what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    """Where a data set lives: its folder name, its files per split, their accepted MD5s, its mirrors."""

    name: str
    folder: str
    files: dict[str, tuple[str, str]]      # split -> (images file, labels file), gzipped names
    md5: dict[str, tuple[str, ...]]        # gzipped file name -> accepted MD5 sums (official first)
    mirrors: tuple[str, ...]               # base URLs, tried in order


_IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
              "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="MNIST", folder="mnist", files=_IDX_FILES,
        md5={"train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873",),
             "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432",),
             "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3",),
             "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c",)},
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    ),
    "fashion-mnist": DatasetSpec(
        name="Fashion-MNIST", folder="fashion-mnist", files=_IDX_FILES,
        # official sum, then Debian's re-gzipped copy (package dataset-fashion-mnist): same IDX content
        md5={"train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "cf8536b0aa1a6ac5fa3f23001093305c"),
             "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "10bea18fdb374794d4bb42e356e600c9"),
             "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "f78720b4224f21cce2f2ccf2d7a94c9a"),
             "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "0d30e22e447f3c33dab9ed536400ac01")},
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                 "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    ),
}


def cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/tinygrad_bn`` or ``~/.cache/tinygrad_bn``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinygrad_bn"


def fetch_url(url: str, dest: Path, timeout: float = 60.0) -> None:
    """Write the bytes at ``url`` to ``dest`` (the one place that touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            out.write(chunk)


def download_file(spec: DatasetSpec, filename: str, folder: Path) -> Path:
    """Download ``filename`` of ``spec`` into ``folder`` atomically, trying each mirror; returns its path.

    Each attempt writes a temporary file next to the target and renames it only when its MD5 is one
    of the accepted sums; a failed or mismatching attempt deletes its temporary file. Raises
    ``DatasetNotFoundError`` listing every mirror's failure when none worked.
    """
    writable_cache(folder)
    target, failures = folder / filename, []
    for base in spec.mirrors:
        url = base + filename
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=folder)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            print(f"Downloading {url} -> {target}", file=sys.stderr)
            fetch_url(url, tmp)
            got = md5sum(tmp)
            if got not in spec.md5[filename]:
                failures.append(f"{url}: MD5 {got}, expected {spec.md5[filename][0]}")
                continue
            os.replace(tmp, target)
            return target
        except OSError as e:  # URLError, HTTPError, timeouts and disk errors are all OSErrors
            failures.append(f"{url}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetNotFoundError(f"could not download {spec.name} file {filename}:\n  " + "\n  ".join(failures))


def _search_folders(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[tuple[Path, bool]]:
    """(folder, is_cache) in search order."""
    folders: list[tuple[Path, bool]] = []
    if data_dir is not None:
        folders += [(Path(data_dir) / spec.folder, False), (Path(data_dir), False)]
    env = os.environ.get(ENV_VAR)
    if env:
        folders.append((Path(env) / spec.folder, False))
    folders.append((cache_dir() / spec.folder, True))
    return folders


def _known_sums() -> dict[str, str]:
    """MD5 -> "Fashion-MNIST's t10k-images-idx3-ubyte.gz" for every file of every known data set."""
    return {md5: f"{spec.name}'s {name}" for spec in DATASETS.values() for name, sums in spec.md5.items()
            for md5 in sums}


def _find_local(spec: DatasetSpec, filename: str, folders: list[tuple[Path, bool]]) -> Path | None:
    """The first acceptable local copy of ``filename`` (gzipped or not), or None.

    A ``.gz`` whose MD5 is that of another known file (Fashion-MNIST placed as MNIST, test labels
    named as training labels) is refused with a ValueError naming what it is. A cached ``.gz`` with
    an unknown MD5 is deleted (it will be downloaded again); a user-supplied one is used with a
    warning (the IDX reader still validates it).
    """
    for folder, is_cache in folders:
        for candidate in (folder / filename, folder / filename.removesuffix(".gz")):
            if not is_file(candidate):
                continue
            if candidate.suffix != ".gz":
                return candidate
            got = md5_or_error(candidate)
            if got in spec.md5[filename]:
                return candidate
            other = _known_sums().get(got)
            if other is not None:
                raise ValueError(f"{candidate}: this file is {other} (by its MD5 {got}), not {spec.name}'s "
                                 f"{filename}; put the right file there")
            if is_cache:
                warnings.warn(f"{candidate}: MD5 {got} does not match {spec.md5[filename][0]}; downloading again",
                              stacklevel=3)
                try:
                    candidate.unlink()
                except OSError as e:
                    raise ValueError(f"{candidate}: a damaged cached file that cannot be removed "
                                     f"({e.strerror or e}); delete it by hand") from None
                continue
            warnings.warn(f"{candidate}: MD5 {got} is not a known sum of {spec.name}'s {filename} "
                          f"({', '.join(spec.md5[filename])}); loading it anyway after checking its IDX structure",
                          stacklevel=3)
            return candidate
    return None


def _not_found_message(spec: DatasetSpec, func: str, split: str, missing: list[str],
                       folders: list[tuple[Path, bool]], reason: str) -> str:
    looked = "\n".join(f"  {folder}" for folder, _ in folders)
    urls = "\n".join(f"  {spec.mirrors[0]}{name}" for name in missing)
    return (f"{func}: {spec.name} {split} split not found ({reason}).\n"
            f"Missing: {', '.join(missing)}\nLooked in:\n{looked}\n"
            f"To fix: download\n{urls}\ninto a folder DIR/{spec.folder}/ (gzipped or not), then pass "
            f"--data-dir DIR (the tinygrad-bn commands), data_dir=DIR (Python) or set {ENV_VAR}=DIR; "
            f"or run once with network access to fill the cache {cache_dir() / spec.folder}.")


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load ``split`` of data set ``name`` (a key of :data:`DATASETS`) -> (images uint8 (N, 28, 28), labels uint8 (N,)).

    Raises ``ValueError`` for a bad name/split or a malformed file (naming it) and
    :class:`DatasetNotFoundError` when the files are neither local nor downloadable.
    """
    func = "load_mnist" if name == "mnist" else "load_fashion_mnist" if name == "fashion-mnist" else "load_dataset"
    if name not in DATASETS:
        raise ValueError(f"{func}: unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"{func}: split must be 'train' or 'test', got {split!r}")
    spec = DATASETS[name]
    folders = _search_folders(spec, data_dir)
    paths, missing = {}, []
    if data_dir is not None:
        try:
            not_folder = Path(data_dir).exists() and not Path(data_dir).is_dir()
        except OSError as e:  # e.g. a name too long for the file system
            raise ValueError(f"{func}: data_dir {short_path(data_dir)}: {e.strerror or e}") from None
        if not_folder:
            raise ValueError(f"{func}: data_dir {data_dir} is a file, not a folder")
    for filename in spec.files[split]:
        try:
            path = _find_local(spec, filename, folders)
        except ValueError as e:
            raise ValueError(f"{func}: {e}") from None
        if path is None:
            missing.append(filename)
        paths[filename] = path
    if missing and not download:
        raise DatasetNotFoundError(_not_found_message(spec, func, split, missing, folders, "download=False"))
    for filename in missing:
        try:
            paths[filename] = download_file(spec, filename, cache_dir() / spec.folder)
        except ValueError as e:  # the cache is not a writable folder
            raise ValueError(f"{func}: {spec.name} {split} split not found locally, and {e}") from None
        except DatasetNotFoundError as e:
            raise DatasetNotFoundError(_not_found_message(spec, func, split, missing, folders,
                                                          f"offline or mirrors unreachable: {e}")) from None
    images_file, labels_file = spec.files[split]
    images, labels = read_idx(paths[images_file]), read_idx(paths[labels_file])
    _check_pair(func, paths[images_file], images, paths[labels_file], labels)
    return images, labels


def _check_pair(func: str, images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{func}: {images_path}: expected uint8 images of shape (N, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{func}: {labels_path}: expected uint8 labels of shape (N,), "
                         f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{func}: {images_path} holds {len(images)} images but {labels_path} holds "
                         f"{len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{func}: {labels_path}: labels must be 0..9, found {int(labels.max())}")


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MNIST digits: (images uint8 (N, 28, 28), labels uint8 (N,)); N = 60000 (train) or 10000 (test)."""
    return load_dataset("mnist", split, data_dir, download)


def load_fashion_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
                       download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST clothes (same shapes as MNIST; 10 classes, see ``FASHION_CLASSES``)."""
    return load_dataset("fashion-mnist", split, data_dir, download)


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
