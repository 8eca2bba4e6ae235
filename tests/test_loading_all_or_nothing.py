"""Loading state is all or nothing and names what is wrong: Module, Optimizer and scheduler
``load_state_dict``, and ``tg.load`` on archives that are not what ``tg.save`` writes."""

from __future__ import annotations

import os
import stat
import zipfile

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn, optim
from tinygrad_bn.optim.lr_scheduler import CosineAnnealingLR, StepLR


def _snapshot(module):
    return {k: v.copy() for k, v in module.state_dict().items()}


def _assert_unchanged(module, before):
    after = module.state_dict()
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
        assert after[k].dtype == before[k].dtype, k


def _bn_model():
    tg.manual_seed(0)
    return tg.mlp(4, (5,), 3, batch_norm=True, dropout=0.0)


@pytest.mark.parametrize("key, value, message", [
    ("0.weight", np.array([["a"] * 4] * 5), r"'0.weight': dtype <U1 cannot be cast"),
    ("0.weight", np.ones((5, 4), dtype=np.complex64), r"'0.weight': dtype complex64 cannot be cast"),
    ("1.num_batches_tracked", np.array(2.5), r"'1.num_batches_tracked': dtype float64 cannot be cast to the int64"),
    ("1.running_var", np.ones(6, dtype=np.float32), r"'1.running_var': expected shape \(5,\), got \(6,\)"),
    ("0.bias", None, r"'0.bias': dtype object cannot be cast"),
])
def test_module_load_refuses_bad_values_and_changes_nothing(key, value, message):
    model = _bn_model()
    before = _snapshot(model)
    sd = {k: v + 1 if v.dtype.kind == "f" else v for k, v in model.state_dict().items()}  # all loadable...
    sd[key] = value                                                                    # ...but one
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(sd)
    _assert_unchanged(model, before)


def test_module_load_casts_within_a_kind_and_refuses_non_mappings():
    model = _bn_model()
    sd = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    assert all(p.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match="expected a mapping of names to arrays.*got list"):
        model.load_state_dict([1, 2])


def _stepped(make, steps=2):
    tg.manual_seed(0)
    model = tg.mlp(4, (5,), 3, batch_norm=False, dropout=0.0)
    opt = make(model.parameters())
    for _ in range(steps):
        for p in model.parameters():
            p.grad = np.ones_like(p.data)
        opt.step()
    return model, opt


def _opt_snapshot(opt):
    return repr(opt), {id(p): {k: np.array(v, copy=True) for k, v in st.items()} for p, st in opt.state.items()}


def _assert_opt_unchanged(opt, before):
    text, state = before
    assert repr(opt) == text
    assert set(state) == {id(p) for p in opt.state}
    for p, st in opt.state.items():
        for k, v in st.items():
            np.testing.assert_array_equal(v, state[id(p)][k])


def _edit(sd, path, value):
    """A copy of an optimizer state dict with sd[path[0]][path[1]]... set to value (None deletes)."""
    import copy

    sd = copy.deepcopy(sd)
    node = sd
    for k in path[:-1]:
        node = node[k]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return sd


@pytest.mark.parametrize("edit, message", [
    (lambda sd: _edit(sd, ("state", 0, "step"), -3), r"state 'step' of parameter 0 must be an integer >= 0"),
    (lambda sd: _edit(sd, ("state", 0, "step"), 2.5), r"state 'step' of parameter 0 must be an integer >= 0"),
    (lambda sd: _edit(sd, ("state", 1, "momentum"), np.zeros(5)), r"state 'momentum' of parameter 1 is not kept"),
    (lambda sd: _edit(sd, ("state", 0, "exp_avg"), np.array(["x"] * 20).reshape(5, 4)),
     r"state 'exp_avg' of parameter 0 has dtype <U1"),
    (lambda sd: _edit(sd, ("state", 2, "exp_avg_sq"), np.zeros(3)), r"'exp_avg_sq' of parameter 2 has shape \(3,\)"),
    (lambda sd: _edit(sd, ("param_groups", 0, "lr"), -1.0), r"saved group 0: Adam: invalid lr -1.0"),
    (lambda sd: _edit(sd, ("param_groups", 0, "betas"), None), r"missing \['betas'\]"),
    (lambda sd: _edit(sd, ("param_groups", 0, "params"), [0, 0, 1, 2]), r"expected distinct integers >= 0"),
    (lambda sd: _edit(sd, ("state",), {9: {"step": 1}}), r"state for parameter 9 but no such parameter"),
])
def test_optimizer_load_validates_everything_first(edit, message):
    _, opt = _stepped(lambda ps: optim.Adam(ps, lr=0.01))
    good = opt.state_dict()
    _, target = _stepped(lambda ps: optim.Adam(ps, lr=0.5), steps=1)
    before = _opt_snapshot(target)
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(edit(good))
    _assert_opt_unchanged(target, before)
    target.load_state_dict(good)  # the unedited state still loads
    assert target.param_groups[0]["lr"] == 0.01


def test_optimizer_load_refuses_another_optimizers_state():
    _, sgd = _stepped(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    _, adam = _stepped(lambda ps: optim.Adam(ps, lr=0.01))
    before = _opt_snapshot(adam)
    with pytest.raises(ValueError, match=r"saved group 0 does not fit Adam: unexpected hyperparameter\(s\) "
                                         r"\['dampening', 'momentum', 'nesterov'\]"):
        adam.load_state_dict(sgd.state_dict())
    _assert_opt_unchanged(adam, before)
    _, sgd2 = _stepped(lambda ps: optim.SGD(ps, lr=0.2, momentum=0.5))
    before = _opt_snapshot(sgd2)
    with pytest.raises(ValueError, match="does not fit SGD"):
        sgd2.load_state_dict(adam.state_dict())
    _assert_opt_unchanged(sgd2, before)


def test_optimizer_load_accepts_a_round_trip_through_save(tmp_path):
    _, opt = _stepped(lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True))
    tg.save({"optimizer": opt.state_dict()}, tmp_path / "ck.npz")
    loaded = tg.serialization.unflatten(tg.load(tmp_path / "ck.npz"))["optimizer"]
    _, other = _stepped(lambda ps: optim.Adam(ps, lr=0.5, amsgrad=True), steps=1)
    other.load_state_dict(loaded)
    assert repr(other) == repr(opt)
    assert [st["step"] for st in other.state.values()] == [2] * 4


@pytest.mark.parametrize("make, edit, message", [
    (lambda o: StepLR(o, 2), {"last_epoch": -2}, r"'last_epoch' must be an integer >= -1, got -2"),
    (lambda o: StepLR(o, 2), {"step_size": 0}, r"'step_size' must be a positive integer, got 0"),
    (lambda o: StepLR(o, 2), {"base_lrs": [0.1, 0.2]}, r"'base_lrs' has 2 value\(s\), the optimizer has 1"),
    (lambda o: CosineAnnealingLR(o, 5), {"eta_min": -1.0}, r"invalid eta_min -1.0"),
    (lambda o: CosineAnnealingLR(o, 5), {"T_max": 2.5}, r"'T_max' must be an integer, got float 2.5"),
])
def test_scheduler_load_validates_everything_first(make, edit, message):
    _, opt = _stepped(lambda ps: optim.SGD(ps, lr=0.1))
    sched = make(opt)
    sched.step()
    good = sched.state_dict()
    other = make(optim.SGD([nn.Parameter(np.ones(2))], lr=0.1))
    before = dict(other.__dict__)
    with pytest.raises(ValueError, match=message):
        other.load_state_dict({**good, **edit})
    assert other.__dict__ == before


def test_scheduler_load_refuses_another_schedulers_state():
    _, opt = _stepped(lambda ps: optim.SGD(ps, lr=0.1))
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['gamma', 'step_size'\], missing key\(s\) "
                                         r"\['T_max', 'eta_min'\]"):
        CosineAnnealingLR(opt, 5).load_state_dict(StepLR(opt, 2).state_dict())


def test_load_refuses_members_that_are_not_arrays(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("w.npy", b"")
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match=r"odd.npz' is not a valid checkpoint.*member 'w.npy'"):
        tg.load(path)
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("w.npy", "w") as f:
            np.lib.format.write_array(f, np.ones(3))
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(ValueError, match=r"odd.npz' is not a valid checkpoint.*member 'notes.txt' is not an array"):
        tg.load(path)


def test_load_refuses_a_header_that_promises_more_than_the_file_holds(tmp_path):
    path = tmp_path / "huge.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}  # 8 TB promised
    with zipfile.ZipFile(path, "w") as zf, zf.open("w.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        f.write(np.ones(4).tobytes())
    with pytest.raises(ValueError, match=r"huge.npz.*member 'w.npy': its header promises shape \(1000000, 1000000\) "
                                         r"of float64 \(8000000000000 bytes\) but it holds 32 bytes"):
        tg.load(path)


def test_load_names_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is a folder, not a checkpoint file"):
        tg.load(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_files_get_the_umasks_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        tg.save({"w": np.ones(2)}, tmp_path / "ck.npz")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "ck.npz").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask
