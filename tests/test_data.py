"""tinygrad_bn.data: IDX reading/writing, finding and downloading data sets (no network: the fetcher is
mocked), DataLoader, prepare and RandomShift."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bn.data import (
    DataLoader,
    DatasetNotFoundError,
    RandomShift,
    load_fashion_mnist,
    load_mnist,
    prepare,
    read_idx,
    write_idx,
)
from tinygrad_bn.data import datasets as ds
from tinygrad_bn.data.datasets import DatasetSpec


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No env data folder, the cache under tmp_path, and any real network access is an error."""
    monkeypatch.delenv(ds.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def no_network(url, dest, timeout=60.0):
        raise AssertionError(f"test tried to reach the network: {url}")

    monkeypatch.setattr(ds, "fetch_url", no_network)
    return tmp_path


# ---- IDX ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path, dtype, name):
    a = (np.random.default_rng(1).standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / name, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype).newbyteorder("=") and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_as_specified(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.int32).reshape(2, 3))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 2]) and raw[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert raw[12:16] == bytes([0, 0, 0, 0]) and raw[16:20] == bytes([0, 0, 0, 1])


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw[:-1], "truncated payload"),
    (lambda raw: raw + b"\0", "trailing bytes"),
    (lambda raw: raw[:6], "truncated header"),
    (lambda raw: raw[:3], "too short"),
    (lambda raw: b"\x01" + raw[1:], "bad magic number"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "unknown element type code 0x07"),
    (lambda raw: raw[:3] + b"\x00" + raw[4:], "0 dimensions"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_malformed_files_raise_naming_the_file(tmp_path, mutate, message, gz):
    raw = write_idx(tmp_path / "good", np.zeros((2, 3, 3), np.uint8)).read_bytes()
    bad = tmp_path / ("bad.gz" if gz else "bad")
    bad.write_bytes(gzip.compress(mutate(raw)) if gz else mutate(raw))
    with pytest.raises(ValueError, match=message) as err:
        read_idx(bad)
    assert str(bad) in str(err.value)


def test_idx_cut_off_gzip_stream_is_reported(tmp_path):
    path = write_idx(tmp_path / "x.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="write_idx: dtype uint16"):
        write_idx(tmp_path / "x", np.zeros(3, np.uint16))


# ---- finding and downloading --------------------------------------------------------------------
def _write_split(folder: Path, split: str, n: int = 20, seed: int = 0, gz: bool = True) -> tuple[np.ndarray, ...]:
    images, labels = _digits(n, seed)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if gz else ""
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return images, labels


def test_load_from_data_dir_raw_or_gz_and_from_its_subfolder(isolated):
    images, labels = _write_split(isolated / "d1" / "mnist", "test", gz=False)
    x, y = load_mnist("test", data_dir=isolated / "d1", download=False)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    images2, _ = _write_split(isolated / "d2", "train", seed=3)  # files directly in data_dir
    with pytest.warns(UserWarning, match="not a known sum"):       # synthetic files have unknown MD5s
        x2, _ = load_mnist("train", data_dir=isolated / "d2", download=False)
    np.testing.assert_array_equal(x2, images2)


def test_search_order_data_dir_then_env_then_cache(isolated, monkeypatch):
    a, _ = _write_split(isolated / "arg" / "fashion-mnist", "test", seed=1, gz=False)
    b, _ = _write_split(isolated / "env" / "fashion-mnist", "test", seed=2, gz=False)
    c, _ = _write_split(isolated / "cache" / "tinygrad_bn" / "fashion-mnist", "test", seed=3, gz=False)
    monkeypatch.setenv(ds.ENV_VAR, str(isolated / "env"))
    np.testing.assert_array_equal(load_fashion_mnist("test", data_dir=isolated / "arg")[0], a)
    np.testing.assert_array_equal(load_fashion_mnist("test")[0], b)
    monkeypatch.delenv(ds.ENV_VAR)
    np.testing.assert_array_equal(load_fashion_mnist("test")[0], c)


def test_offline_without_data_gives_clear_error(isolated, monkeypatch):
    def offline(url, dest, timeout=60.0):
        raise OSError("Name or service not known")

    monkeypatch.setattr(ds, "fetch_url", offline)
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist("test", data_dir=isolated / "nothing-here")
    msg = str(err.value)
    for needed in ("load_mnist", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "--data-dir",
                   ds.ENV_VAR, "DIR/mnist/", str(isolated / "nothing-here"), "Name or service not known",
                   "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz"):
        assert needed in msg, needed
    assert [p for p in (isolated / "cache").rglob("*") if p.is_file()] == []


def test_download_false_does_not_try_the_network(isolated):
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_fashion_mnist("train", download=False)


def _fake_spec(tmp_path: Path, payload: dict[str, bytes]) -> DatasetSpec:
    md5 = {name: (hashlib.md5(blob).hexdigest(),) for name, blob in payload.items()}
    return DatasetSpec(name="Fake", folder="fake", files={"test": tuple(payload)}, md5=md5,
                       mirrors=("https://mirror-a/", "https://mirror-b/"))


def _fake_payload(tmp_path: Path) -> dict[str, bytes]:
    images, labels = _digits(12)
    return {"t10k-images-idx3-ubyte.gz": write_idx(tmp_path / "src-images.gz", images).read_bytes(),
            "t10k-labels-idx1-ubyte.gz": write_idx(tmp_path / "src-labels.gz", labels).read_bytes()}


def test_download_checks_md5_and_leaves_no_partial_file(isolated, monkeypatch):
    payload = _fake_payload(isolated)
    monkeypatch.setitem(ds.DATASETS, "mnist", _fake_spec(isolated, payload))
    calls = []

    def fetch(url, dest, timeout=60.0):  # mirror a serves corrupt bytes, mirror b the right ones
        calls.append(url)
        name = url.rsplit("/", 1)[1]
        Path(dest).write_bytes(payload[name][:-5] if "mirror-a" in url else payload[name])

    monkeypatch.setattr(ds, "fetch_url", fetch)
    x, y = load_mnist("test")
    assert len(x) == len(y) == 12
    assert calls == ["https://mirror-a/t10k-images-idx3-ubyte.gz", "https://mirror-b/t10k-images-idx3-ubyte.gz",
                     "https://mirror-a/t10k-labels-idx1-ubyte.gz", "https://mirror-b/t10k-labels-idx1-ubyte.gz"]
    cached = sorted(p.name for p in (isolated / "cache" / "tinygrad_bn" / "fake").iterdir())
    assert cached == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]  # no .part left behind
    calls.clear()
    load_mnist("test")
    assert calls == []  # second time: from the cache


def test_all_mirrors_bad_leaves_nothing_and_says_why(isolated, monkeypatch):
    payload = _fake_payload(isolated)
    monkeypatch.setitem(ds.DATASETS, "mnist", _fake_spec(isolated, payload))

    def fetch(url, dest, timeout=60.0):
        Path(dest).write_bytes(b"<html>not the file</html>")
        if "mirror-b" in url:
            raise OSError("connection reset")  # fails half-way: the partial file must go too

    monkeypatch.setattr(ds, "fetch_url", fetch)
    with pytest.raises(DatasetNotFoundError) as err:
        load_mnist("test")
    assert "mirror-a/t10k-images-idx3-ubyte.gz: MD5" in str(err.value) and "connection reset" in str(err.value)
    assert [p for p in (isolated / "cache").rglob("*") if p.is_file()] == []


def test_corrupt_cached_file_is_downloaded_again(isolated, monkeypatch):
    payload = _fake_payload(isolated)
    monkeypatch.setitem(ds.DATASETS, "mnist", _fake_spec(isolated, payload))
    folder = isolated / "cache" / "tinygrad_bn" / "fake"
    folder.mkdir(parents=True)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(payload["t10k-images-idx3-ubyte.gz"][:100])  # truncated
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(payload["t10k-labels-idx1-ubyte.gz"])
    calls = []

    def fetch(url, dest, timeout=60.0):
        calls.append(url)
        Path(dest).write_bytes(payload[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(ds, "fetch_url", fetch)
    with pytest.warns(UserWarning, match="downloading again"):
        x, _ = load_mnist("test")
    assert calls == ["https://mirror-a/t10k-images-idx3-ubyte.gz"] and len(x) == 12
    assert (folder / "t10k-images-idx3-ubyte.gz").read_bytes() == payload["t10k-images-idx3-ubyte.gz"]


def test_truncated_local_file_raises_naming_it(isolated):
    folder = isolated / "d" / "mnist"
    _write_split(folder, "test", gz=False)
    bad = folder / "t10k-images-idx3-ubyte"
    bad.write_bytes(bad.read_bytes()[:-28])
    with pytest.raises(ValueError, match="truncated payload") as err:
        load_mnist("test", data_dir=isolated / "d", download=False)
    assert str(bad) in str(err.value)


def test_images_and_labels_must_agree(isolated):
    folder = isolated / "d" / "mnist"
    _write_split(folder, "test", n=20, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8))
    with pytest.raises(ValueError, match="holds 20 images but .* holds 19 labels"):
        load_mnist("test", data_dir=isolated / "d", download=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.full(20, 10, np.uint8))
    with pytest.raises(ValueError, match="labels must be 0..9"):
        load_mnist("test", data_dir=isolated / "d", download=False)


def test_bad_split_and_name():
    with pytest.raises(ValueError, match="load_mnist: split must be 'train' or 'test', got 'val'"):
        load_mnist("val")
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        ds.load_dataset("cifar")


def test_shared_fashion_copy_md5_is_accepted_without_warning(tmp_path, recwarn):
    """The Debian re-gzipped Fashion-MNIST files (package dataset-fashion-mnist) are among the accepted sums."""
    shared = os.environ.get(ds.ENV_VAR)
    real = Path(shared or ".") / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    if not shared or not real.is_file():
        pytest.skip(f"set {ds.ENV_VAR} to a folder holding fashion-mnist/t10k-labels-idx1-ubyte.gz to run this")
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    shutil.copy(real, folder)
    assert ds._find_local(ds.DATASETS["fashion-mnist"], real.name, [(folder, True)]) == folder / real.name
    assert (folder / real.name).is_file() and not recwarn.list  # a cached file with a known sum is kept


# ---- DataLoader, prepare, RandomShift -----------------------------------------------------------
def test_loader_batches_cover_the_data_in_order_without_shuffle():
    x, y = np.arange(10 * 2).reshape(10, 2), np.arange(10)
    loader = DataLoader(x, y, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    dropped = DataLoader(x, y, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(b[1]) for b in dropped] == [4, 4]


def test_loader_shuffle_is_a_permutation_new_each_epoch_and_reproducible():
    x, y = np.arange(100) * 10, np.arange(100)
    loader = DataLoader(x, y, batch_size=32, shuffle=True, seed=7)
    e1 = [b for b in loader]
    e2 = [b for b in loader]
    for xb, yb in e1 + e2:
        np.testing.assert_array_equal(xb, yb * 10)  # images and labels stay paired
    o1, o2 = np.concatenate([b[1] for b in e1]), np.concatenate([b[1] for b in e2])
    assert sorted(o1) == list(range(100)) and not np.array_equal(o1, np.arange(100))
    assert not np.array_equal(o1, o2)
    again = DataLoader(x, y, batch_size=32, shuffle=True, seed=7)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in again]), o1)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in again]), o2)
    other = DataLoader(x, y, batch_size=32, shuffle=True, seed=8)
    assert not np.array_equal(np.concatenate([b[1] for b in other]), o1)


def test_loader_without_seed_follows_manual_seed():
    import tinygrad_bn as tg
    y = np.arange(50)
    tg.manual_seed(3)
    a = np.concatenate([b[1] for b in DataLoader(y, y, batch_size=8, shuffle=True)])
    tg.manual_seed(3)
    b = np.concatenate([b[1] for b in DataLoader(y, y, batch_size=8, shuffle=True)])
    np.testing.assert_array_equal(a, b)


def test_loader_transform_and_bad_arguments():
    x, y = np.ones((5, 2)), np.zeros(5)
    assert all((xb == 2).all() for xb, _ in DataLoader(x, y, batch_size=2, transform=lambda b: b * 2))
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive integer, got 0"):
        DataLoader(x, y, batch_size=0)
    with pytest.raises(ValueError, match=r"same N, got \(5, 2\) and \(4,\)"):
        DataLoader(x, y[:4])
    with pytest.raises(ValueError, match="seed"):
        DataLoader(x, y, seed=-1)


def test_prepare_standardizes_to_float32_rows():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = prepare(images, mean=0.5, std=0.25)
    assert out.dtype == np.float32 and out.shape == (1, 4)
    np.testing.assert_allclose(out, [[-2.0, 2.0, -1.2, -0.4]], rtol=1e-6)
    with pytest.raises(TypeError, match="prepare: expected uint8 images"):
        prepare(out)


def test_random_shift_moves_by_at_most_one_pixel_and_is_seeded():
    img = np.zeros((200, 5, 5), np.uint8)
    img[:, 2, 2] = 255  # one bright pixel in the middle
    out = RandomShift(1, seed=0)(img)
    rows, cols = np.nonzero(out.reshape(200, 5, 5).max(axis=2))[1], np.nonzero(out.max(axis=1))[1]
    assert out.shape == img.shape and out.dtype == np.uint8 and (out.sum(axis=(1, 2)) == 255).all()
    assert set(rows) == {1, 2, 3} and set(cols) == {1, 2, 3}  # all 9 shifts happen, none larger
    np.testing.assert_array_equal(RandomShift(1, seed=0)(img), out)
    edge = np.zeros((1, 3, 3), np.uint8)
    edge[0, 0, 0] = 9
    shifted = [RandomShift(1, seed=s)(edge)[0] for s in range(30)]
    assert any(s.sum() == 0 for s in shifted)  # shifted out of the frame: zero fill, no wrap-around
