"""Training checkpoints: continuing from one gives the uninterrupted run's parameters bit for bit;
restoring is all or nothing; the file is a plain tg.save archive."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import optim
from tinygrad_bn.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from tinygrad_bn.data import DataLoader, RandomShift
from tinygrad_bn.train import fit

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (96, 6, 6)).astype(np.uint8)
LABELS = RNG.integers(0, 3, 96)
TEST_X = RNG.standard_normal((10, 36)).astype(np.float32)
TEST_Y = RNG.integers(0, 3, 10)


def _run(seed=0, adam=False):
    """Model (BN + dropout), optimizer, cosine schedule, seeded loader with random shifts: all random state."""
    tg.manual_seed(seed)
    model = tg.mlp(36, (16, 16), 3, batch_norm=True, dropout=0.3)
    opt = (optim.Adam(model.parameters(), lr=0.01) if adam
           else optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3))
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    shift = RandomShift(1, seed=seed)
    loader = DataLoader(IMAGES, LABELS, batch_size=16, shuffle=True, seed=seed, drop_last=True,
                        transform=lambda xb: (shift(xb).reshape(len(xb), -1) / 255.0).astype(np.float32))
    return model, opt, sched, loader, shift


@pytest.mark.parametrize("adam", [False, True])
def test_resume_gives_the_uninterrupted_parameters_bit_for_bit(tmp_path, adam):
    reference, opt, sched, loader, _ = _run(adam=adam)
    full = fit(reference, opt, loader, TEST_X, TEST_Y, epochs=4, scheduler=sched)

    model, opt, sched, loader, shift = _run(adam=adam)
    first = fit(model, opt, loader, TEST_X, TEST_Y, epochs=2, scheduler=sched)
    save_checkpoint(tmp_path / "ck.npz", epoch=2, model=model, optimizer=opt, scheduler=sched, loader=loader,
                    generators={"shift": shift.rng}, meta={"history": first})
    tg.manual_seed(123)  # the process that resumes starts from other random state
    model2, opt2, sched2, loader2, shift2 = _run(seed=0, adam=adam)
    ck = load_checkpoint(tmp_path / "ck.npz")
    assert restore_checkpoint(ck, model=model2, optimizer=opt2, scheduler=sched2, loader=loader2,
                              generators={"shift": shift2.rng}) == 2
    rest = fit(model2, opt2, loader2, TEST_X, TEST_Y, epochs=4, scheduler=sched2, start_epoch=3)
    assert [r["epoch"] for r in ck.meta["history"] + rest] == [1, 2, 3, 4]
    for (name, a), b in zip(reference.state_dict().items(), model2.state_dict().values()):
        assert np.array_equal(a, b), name  # bit for bit
    assert [r["test_loss"] for r in rest] == [r["test_loss"] for r in full[2:]]


def test_restore_is_all_or_nothing(tmp_path):
    model, opt, sched, loader, shift = _run()
    fit(model, opt, loader, TEST_X, TEST_Y, epochs=1, scheduler=sched)
    save_checkpoint(tmp_path / "ck.npz", epoch=1, model=model, optimizer=opt, scheduler=sched, loader=loader,
                    generators={"shift": shift.rng})
    ck = load_checkpoint(tmp_path / "ck.npz")
    tg.manual_seed(5)
    other, _, _, other_loader, other_shift = _run(seed=5)
    other_opt = optim.Adam(other.parameters())  # another optimizer kind: the optimizer state does not fit
    other_sched = optim.lr_scheduler.CosineAnnealingLR(other_opt, T_max=4)
    before = {k: v.copy() for k, v in other.state_dict().items()}
    gen_before = tg.random.default_generator().bit_generator.state
    with pytest.raises(ValueError, match=r"ck.npz: does not fit this run: .*does not fit Adam"):
        restore_checkpoint(ck, model=other, optimizer=other_opt, scheduler=other_sched, loader=other_loader,
                           generators={"shift": other_shift.rng})
    for k, v in other.state_dict().items():
        assert np.array_equal(v, before[k]), k
    assert tg.random.default_generator().bit_generator.state == gen_before and other_loader.epoch == 0
    with pytest.raises(ValueError, match=r"holds generators \['shift'\], expected \[\]"):
        restore_checkpoint(ck, model=other, optimizer=other_opt, scheduler=other_sched, loader=other_loader)


def test_checkpoint_file_checks(tmp_path):
    model, opt, sched, loader, _ = _run()
    tg.save(model.state_dict(), tmp_path / "model.npz")
    with pytest.raises(ValueError, match="model.npz is not a training checkpoint"):
        load_checkpoint(tmp_path / "model.npz")
    with pytest.raises(ValueError, match="meta must be strict JSON"):
        save_checkpoint(tmp_path / "ck.npz", epoch=0, model=model, optimizer=opt, meta={"loss": float("nan")})
    assert not (tmp_path / "ck.npz").exists()
    with pytest.raises(ValueError, match="epoch must be an integer >= 0"):
        save_checkpoint(tmp_path / "ck.npz", epoch=-1, model=model, optimizer=opt)
    save_checkpoint(tmp_path / "ck.npz", epoch=0, model=model, optimizer=opt)  # before any step: empty state
    ck = load_checkpoint(tmp_path / "ck.npz")
    assert ck.epoch == 0 and ck.scheduler is None and ck.loader_epoch is None
    restore_checkpoint(ck, model=model, optimizer=opt)


def test_the_resume_check_is_sensitive_to_the_random_state(tmp_path):
    """The bit-for-bit test above would catch a checkpoint that forgot the dropout generator's state."""
    reference, opt, sched, loader, _ = _run()
    fit(reference, opt, loader, TEST_X, TEST_Y, epochs=3, scheduler=sched)
    model, opt, sched, loader, shift = _run()
    fit(model, opt, loader, TEST_X, TEST_Y, epochs=2, scheduler=sched)
    save_checkpoint(tmp_path / "ck.npz", epoch=2, model=model, optimizer=opt, scheduler=sched, loader=loader,
                    generators={"shift": shift.rng})
    model2, opt2, sched2, loader2, shift2 = _run()
    restore_checkpoint(load_checkpoint(tmp_path / "ck.npz"), model=model2, optimizer=opt2, scheduler=sched2,
                       loader=loader2, generators={"shift": shift2.rng})
    tg.manual_seed(99)  # other dropout masks from here on
    fit(model2, opt2, loader2, TEST_X, TEST_Y, epochs=3, scheduler=sched2, start_epoch=3)
    assert not all(np.array_equal(a, b) for a, b in zip(reference.state_dict().values(),
                                                        model2.state_dict().values()))
