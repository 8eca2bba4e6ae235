"""Data files a user gets wrong: IDX headers that promise too much, unreadable files and folders, a
folder where a file should be, over-long paths, a cache that is not a writable folder, and files of
another data set (recognized by their MD5)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bn.data import datasets as ds
from tinygrad_bn.data import files, idx, load_mnist, read_idx, write_idx

SHARED = os.environ.get(ds.ENV_VAR)  # read before the fixture below removes it
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(ds.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(url, dest, timeout=60.0):
        raise OSError("offline (test)")

    monkeypatch.setattr(ds, "fetch_url", no_network)
    return tmp_path


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(int(n).to_bytes(4, "big") for n in shape)


@pytest.mark.parametrize("gz", [False, True])
def test_header_whose_dimensions_overflow_is_refused_before_allocating(tmp_path, gz):
    blob = _header(0x0E, (2**32 - 1,) * 4) + b"\0" * 64  # product ~3e38 elements of 8 bytes
    path = tmp_path / ("big.gz" if gz else "big")
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(ValueError, match=r"big(\.gz)?: the header promises shape \(4294967295, 4294967295, "
                                         r"4294967295, 4294967295\) of float64 needs \d+ bytes .*\(max_bytes\)"):
        read_idx(path)


def test_small_gzip_that_inflates_to_gigabytes_is_refused_from_its_header(tmp_path):
    """13 MB of gzip can inflate to 3 GB of zeros: the header's 3 GB is refused before inflating."""
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_header(0x08, (3000, 1000, 1000)))
        f.write(b"\0" * (1 << 22))  # only the first 4 MB: the check must not need the rest
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"bomb.gz: the header promises shape \(3000, 1000, 1000\) of uint8 needs "
                                         r"3000000000 bytes after the header, more than the 1073741824 bytes"):
        read_idx(path)
    assert time.perf_counter() - start < 1.0
    with pytest.raises(ValueError, match="more than the 100 bytes"):
        read_idx(write_idx(tmp_path / "ok.gz", np.zeros(101, np.uint8)), max_bytes=100)


def test_header_promising_more_than_the_file_can_hold_is_refused_before_reading(tmp_path):
    raw = tmp_path / "raw"
    raw.write_bytes(_header(0x08, (60000, 28, 28)) + b"\0" * 100)
    with pytest.raises(ValueError, match=r"raw: truncated payload: shape \(60000, 28, 28\) of uint8 needs 47040000 "
                                         r"bytes after the header, the file has 100"):
        read_idx(raw)
    gz = tmp_path / "small.gz"
    gz.write_bytes(gzip.compress(_header(0x0E, (100_000_000,)) + b"\0" * 100))  # 800 MB from ~100 bytes
    with pytest.raises(ValueError, match=r"small.gz: truncated payload: .* more than a \d+-byte gzip file can hold"):
        read_idx(gz)


def test_a_folder_where_the_file_should_be(tmp_path, isolated):
    (tmp_path / "x.idx").mkdir()
    with pytest.raises(ValueError, match=r"read_idx: .*x.idx: is a folder, not an IDX file"):
        read_idx(tmp_path / "x.idx")
    (tmp_path / "d" / "mnist" / "t10k-images-idx3-ubyte.gz").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"load_mnist: .*t10k-images-idx3-ubyte.gz: is a folder, where a data file"):
        load_mnist("test", data_dir=tmp_path / "d", download=False)


def test_unreadable_file_is_one_clear_error(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "x", np.zeros(3, np.uint8))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(idx, "open", denied, raising=False)
    with pytest.raises(ValueError, match=r"read_idx: .*x: permission denied"):
        read_idx(path)


@pytest.mark.skipif(AS_ROOT, reason="permissions do not apply to root")
def test_unreadable_file_and_folder_for_real(tmp_path, isolated):
    folder = tmp_path / "d" / "mnist"
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    os.chmod(folder / "t10k-images-idx3-ubyte", 0)
    try:
        with pytest.raises(ValueError, match="permission denied"):
            load_mnist("test", data_dir=tmp_path / "d", download=False)
    finally:
        os.chmod(folder / "t10k-images-idx3-ubyte", 0o644)
    os.chmod(folder, 0)
    try:
        with pytest.raises(ValueError, match=r"mnist: permission denied \(the data folder is not readable\)"):
            load_mnist("test", data_dir=tmp_path / "d", download=False)
    finally:
        os.chmod(folder, 0o755)


def test_unsearchable_data_folder_is_named(tmp_path, isolated, monkeypatch):
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    real_access = os.access
    monkeypatch.setattr(files.os, "access", lambda p, mode: False if str(p).endswith("mnist") else real_access(p, mode))
    with pytest.raises(ValueError, match=r"load_mnist: .*d/mnist: permission denied \(the data folder is not readable"):
        load_mnist("test", data_dir=tmp_path / "d", download=False)


def test_over_long_data_dir_is_one_short_line(isolated):
    with pytest.raises(ValueError) as err:
        load_mnist("test", data_dir="x" * 5000, download=False)
    text = str(err.value)
    assert "\n" not in text and len(text) < 300 and "(5000 characters)" in text and "too long" in text


@pytest.mark.parametrize("make_cache, problem", [
    (lambda p: p.write_text("a file"), "is a file, not a folder|cannot be created"),
    (lambda p: (p / "tinygrad_bn").mkdir(parents=True) or os.chmod(p / "tinygrad_bn", 0o500), "not writable"),
])
def test_cache_that_is_not_a_writable_folder(tmp_path, monkeypatch, make_cache, problem):
    if AS_ROOT and "writable" in problem:
        pytest.skip("permissions do not apply to root")
    cache = tmp_path / "cachehome"
    make_cache(cache)
    monkeypatch.delenv(ds.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    with pytest.raises(ValueError, match=rf"load_mnist: MNIST test split not found locally, and the download cache "
                                         rf".*({problem}).*set XDG_CACHE_HOME to a writable folder") as err:
        load_mnist("test")
    assert "\n" not in str(err.value)


def test_file_of_another_known_data_set_is_refused_naming_it(tmp_path, isolated, monkeypatch):
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    images = write_idx(tmp_path / "d" / "mnist" / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / "d" / "mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(2, np.uint8))
    md5 = hashlib.md5(images.read_bytes()).hexdigest()
    fashion = ds.DATASETS["fashion-mnist"]
    sums = {**fashion.md5, "t10k-images-idx3-ubyte.gz": (md5,)}  # pretend this file is Fashion-MNIST's
    monkeypatch.setitem(ds.DATASETS, "fashion-mnist", ds.DatasetSpec(fashion.name, fashion.folder, fashion.files,
                                                                     sums, fashion.mirrors))
    with pytest.raises(ValueError, match=rf"load_mnist: .*t10k-images-idx3-ubyte.gz: this file is Fashion-MNIST's "
                                         rf"t10k-images-idx3-ubyte.gz \(by its MD5 {md5}\), not MNIST's"):
        load_mnist("test", data_dir=tmp_path / "d", download=False)


def test_real_fashion_mnist_placed_as_mnist_is_refused(tmp_path, isolated):
    real = Path(SHARED or ".") / "fashion-mnist"
    if not SHARED or not (real / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"set {ds.ENV_VAR} to a folder holding fashion-mnist/ to run this")
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real / name, tmp_path / "d" / "mnist" / name)
    with pytest.raises(ValueError, match="this file is Fashion-MNIST's t10k-images-idx3-ubyte.gz .* not MNIST's"):
        load_mnist("test", data_dir=tmp_path / "d", download=False)


def test_random_shift_larger_than_the_image_is_refused():
    from tinygrad_bn.data import RandomShift

    images = np.ones((2, 28, 28), np.uint8)
    assert RandomShift(27, seed=0)(images).shape == (2, 28, 28)
    with pytest.raises(ValueError, match=r"RandomShift: max_shift 28 would move whole images out of their 28x28 "
                                         r"frame; expected less than 28"):
        RandomShift(28, seed=0)(images)
