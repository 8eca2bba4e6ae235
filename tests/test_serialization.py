"""tg.save / tg.load: round trips, the nested key scheme, atomic writes, corrupt files, and no pickle."""

from __future__ import annotations

import os
import pickle
import zipfile

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import serialization
from tinygrad_bn.serialization import flatten, unflatten


def _trained_model(seed=0, steps=3):
    tg.manual_seed(seed)
    model = tg.mlp(6, (8,), 3)
    opt = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y)).backward()
        opt.step()
    return model, opt


def test_round_trip_gives_identical_predictions(tmp_path):
    model, _ = _trained_model()
    path = tmp_path / "model.npz"
    tg.save(model.state_dict(), path)
    loaded = tg.load(path)
    sd = model.state_dict()
    assert list(loaded) == list(sd)  # saved order
    for k in sd:
        assert loaded[k].dtype == sd[k].dtype and loaded[k].shape == sd[k].shape, k
    fresh = tg.mlp(6, (8,), 3)
    fresh.load_state_dict(loaded)
    x = tg.randn(10, 6)
    model.eval(), fresh.eval()
    np.testing.assert_array_equal(fresh(x).data, model(x).data)
    assert os.listdir(tmp_path) == ["model.npz"]
    # a plain numpy can read it too
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["0.weight"], sd["0.weight"])


def test_tensors_and_scalars_are_saved_as_arrays(tmp_path):
    tg.save({"t": tg.Tensor(np.arange(3.0)), "epoch": 7, "lr": 0.5, "name": "mlp", "flag": True}, tmp_path / "a")
    out = tg.load(tmp_path / "a")  # the path is used as given: no ".npz" appended
    np.testing.assert_array_equal(out["t"], [0.0, 1.0, 2.0])
    assert out["epoch"].item() == 7 and out["lr"].item() == 0.5 and out["name"].item() == "mlp"
    assert out["flag"].dtype == np.bool_ and out["flag"].item() is True


def test_nested_model_and_optimizer_checkpoint_resumes_identically(tmp_path):
    model, opt = _trained_model()
    path = tmp_path / "ckpt.npz"
    tg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    flat = tg.load(path)
    assert "model/0.weight" in flat and "optimizer/state/0/momentum_buffer" in flat
    assert "optimizer/param_groups/0/lr" in flat and int(flat["epoch"]) == 3
    ck = unflatten(flat)
    model2 = tg.mlp(6, (8,), 3)
    opt2 = tg.optim.SGD(model2.parameters(), lr=0.5)
    model2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optimizer"])
    assert opt2.param_groups[0]["momentum"] == 0.9 and isinstance(opt2.param_groups[0]["nesterov"], bool)
    x = np.random.default_rng(1).standard_normal((16, 6)).astype(np.float32)
    y = np.arange(16) % 3
    for m, o in ((model, opt), (model2, opt2)):
        tg.manual_seed(5)  # same dropout masks
        for _ in range(2):
            o.zero_grad()
            F.cross_entropy(m(tg.Tensor(x)), tg.Tensor(y)).backward()
            o.step()
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_key_scheme():
    flat = flatten({"a": {"b": np.zeros(2), 3: {"c": 1.0}}, "groups": [{"lr": 0.1}, {"lr": 0.2}], "xs": [1, 2]})
    assert list(flat) == ["a/b", "a/3/c", "groups/0/lr", "groups/1/lr", "xs"]
    assert flat["xs"].dtype == np.int64
    nested = unflatten(flat)
    assert nested["groups"]["1"]["lr"] == 0.2 and nested["a"]["3"]["c"] == 1.0


class _ExplodingWriter:
    """Writes half of the second array's bytes, then fails, like a full disk or a crash mid-write."""

    def __init__(self, exc):
        self.calls, self.exc, self.real = 0, exc, serialization.npformat.write_array

    def __call__(self, fp, array, **kwargs):
        self.calls += 1
        if self.calls == 2:
            fp.write(array.tobytes()[: array.nbytes // 2])
            raise self.exc
        return self.real(fp, array, **kwargs)


@pytest.mark.parametrize("exc", [OSError("No space left on device"), KeyboardInterrupt()])
def test_failed_write_leaves_no_file_and_no_temp_file(tmp_path, monkeypatch, exc):
    model, _ = _trained_model(steps=0)
    writer = _ExplodingWriter(exc)
    monkeypatch.setattr(serialization.npformat, "write_array", writer)
    with pytest.raises(type(exc)):
        tg.save(model.state_dict(), tmp_path / "new.npz")
    assert writer.calls == 2
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tg.save({"w": np.arange(4.0)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(serialization.npformat, "write_array", _ExplodingWriter(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        tg.save({"w": np.ones(4), "b": np.ones(1000)}, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(tg.load(path)["w"], np.arange(4.0))


def test_bad_values_fail_before_touching_the_disk(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=r"save: value at 'opt/momentum' is NoneType"):
        tg.save({"w": np.ones(2), "opt": {"momentum": None}}, path)
    with pytest.raises(TypeError, match=r"save: value at 'o' has dtype object, which would need pickle"):
        tg.save({"o": np.array([{}, 1], dtype=object)}, path)
    with pytest.raises(TypeError, match="save: expected a mapping such as model.state_dict\\(\\), got list"):
        tg.save([np.ones(2)], path)
    with pytest.raises(ValueError, match="key 'a/b' must be non-empty and must not contain '/'"):
        tg.save({"a/b": np.ones(2)}, path)
    with pytest.raises(TypeError, match="keys must be strings or integers"):
        tg.save({(1, 2): np.ones(2)}, path)
    with pytest.raises(ValueError, match="flatten to the same key '1'"):
        tg.save({1: np.ones(2), "1": np.ones(2)}, path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="save: folder .*missing.* does not exist"):
        tg.save({"w": np.ones(2)}, tmp_path / "missing" / "x.npz")


def test_missing_and_corrupt_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="load: no checkpoint file at .*nope.npz"):
        tg.load(tmp_path / "nope.npz")
    good = tmp_path / "good.npz"
    tg.save({"w": np.arange(1000.0), "b": np.ones(3)}, good)
    data = good.read_bytes()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "garbage.npz": b"this is not a zip file at all" * 10,
        "empty.npz": b"",
    }
    flipped = bytearray(data)
    flipped[200] ^= 0xFF  # inside the first array's bytes: the zip CRC check catches it
    cases["flipped.npz"] = bytes(flipped)
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
        with pytest.raises(ValueError, match=f"load: .*{name}' is not a valid checkpoint"):
            tg.load(tmp_path / name)
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match="single .npy array, not an .npz archive"):
        tg.load(tmp_path / "single.npy")


class _Payload:
    """Unpickling this would create a marker file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_never_unpickles(tmp_path):
    marker = tmp_path / "code-ran"
    raw = tmp_path / "evil.npz"
    raw.write_bytes(pickle.dumps({"w": _Payload(str(marker))}))
    with pytest.raises(ValueError, match="evil.npz' is not a valid checkpoint"):
        tg.load(raw)
    packed = tmp_path / "evil2.npz"  # an .npz holding a pickled object array, as np.savez would write
    with zipfile.ZipFile(packed, "w") as zf, zf.open("w.npy", "w") as f:
        np.lib.format.write_array(f, np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="evil2.npz' is not a valid checkpoint.*would need pickle"):
        tg.load(packed)
    assert not marker.exists()
