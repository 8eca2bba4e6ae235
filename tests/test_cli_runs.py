"""The training commands' runs as a user meets them, each in a real subprocess: checkpoints and
--resume (bit for bit after a Ctrl-C or SIGTERM), --force and the refusal to overwrite, the lock,
divergence, strict metrics.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import (
    REAL,
    ROOT,
    assert_same_model,
    cli,
    final_model,
    interrupt_during,
    leftovers,
    mnist_args,
    one_line_error,
    signal_when,
    write_synthetic_mnist,
)

from tinygrad_bn.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("data"))


# ---- checkpoints, resume, signals -----------------------------------------------------------------
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_at_epoch_3_then_resume_gives_the_uninterrupted_model(data_dir, tmp_path, signum, status):
    # slower epochs (batch 5: 200 steps) so that the signal lands inside epoch 3
    whole = cli(*mnist_args(data_dir, tmp_path / "whole", "--batch-size", "5", epochs=5))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "stopped"
    stopped = interrupt_during(mnist_args(data_dir, out, "--batch-size", "5", epochs=5), 3, signum)
    name = signal.Signals(signum).name
    one_line_error(stopped, status, f"stopped by {name} during epoch 3; the checkpoint after epoch 2 is in",
                   f"continue with: tinygrad-bn mnist --out {out} --resume")
    assert not (out / "model.npz").exists() and load_checkpoint(out / "checkpoint.npz").epoch == 2
    assert leftovers(out) == []  # no temporary file, no lock
    resumed = cli("mnist", "--out", str(out), "--resume", "--data-dir", str(data_dir), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch 2 of 5" in resumed.stdout
    assert_same_model(final_model(out), final_model(tmp_path / "whole"))
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5]


def test_interrupt_before_the_first_checkpoint_saves_nothing(data_dir, tmp_path):
    out = tmp_path / "run"
    # training starts right after the "model ..." line; its first epoch takes 500 steps
    proc = signal_when(mnist_args(data_dir, out, "--batch-size", "2", "--no-bn", epochs=2), "model ", signal.SIGINT)
    one_line_error(proc, 130, "stopped by SIGINT during epoch 1, before the first checkpoint: nothing was saved")
    assert not out.exists()  # the folder this run created is removed again: it holds nothing


def test_checkpoint_written_every_epoch_and_kept_after_the_run(data_dir, tmp_path):
    out = tmp_path / "run"
    proc = cli(*mnist_args(data_dir, out))
    assert proc.returncode == 0, proc.stderr
    assert load_checkpoint(out / "checkpoint.npz").epoch == 3
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".png") == [
        "checkpoint.npz", "metrics.csv", "metrics.json", "model.npz"]
    assert_same_model(final_model(out), dict(load_checkpoint(out / "checkpoint.npz").model))
    mode = os.stat(out / "checkpoint.npz").st_mode & 0o777
    assert mode == os.stat(out / "metrics.json").st_mode & 0o777  # the umask's mode, as every output


# ---- never overwrite silently --------------------------------------------------------------------
def test_finished_run_is_refused_then_force_replaces_it(data_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*mnist_args(data_dir, out, epochs=1)).returncode == 0
    before = (out / "model.npz").read_bytes()
    again = cli(*mnist_args(data_dir, out, "--seed", "1", epochs=1))
    one_line_error(again, 2, f"--out {out} already holds a finished run (model.npz); pass --force to replace it, "
                             "or choose another --out folder")
    assert (out / "model.npz").read_bytes() == before
    resumed = cli(*mnist_args(data_dir, out, "--resume", epochs=1))
    one_line_error(resumed, 2, f"--resume: the run in {out} has finished (model.npz); nothing to resume")
    forced = cli(*mnist_args(data_dir, out, "--seed", "1", "--force", epochs=1))
    assert forced.returncode == 0, forced.stderr
    assert (out / "model.npz").read_bytes() != before


def test_unfinished_run_offers_resume_and_resume_refuses_other_options(data_dir, tmp_path):
    out = tmp_path / "run"
    stopped = interrupt_during(mnist_args(data_dir, out, "--batch-size", "5", epochs=3), 2, signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr
    again = cli(*mnist_args(data_dir, out, epochs=3))
    one_line_error(again, 2, "already holds an unfinished run (checkpoint.npz); pass --resume to continue it, "
                             "--force to start over")
    other = cli("mnist", "--out", str(out), "--resume", "--lr", "0.5", "--data-dir", str(data_dir))
    one_line_error(other, 2, "--resume continues the run with the options it was started with; --lr 0.5 differs "
                             "(the run has no --lr)")


def test_a_second_concurrent_run_into_the_same_folder_is_refused(data_dir, tmp_path):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running tinygrad-bn holds it
        proc = cli(*mnist_args(data_dir, out))
    one_line_error(proc, 2, f"--out {out}: another run is writing into this folder")
    assert not (out / "model.npz").exists()
    assert cli(*mnist_args(data_dir, out, epochs=1)).returncode == 0  # the lock went with its holder
    assert leftovers(out) == []


# ---- divergence ----------------------------------------------------------------------------------
def test_divergence_stops_with_status_1_names_the_step_and_writes_no_model(data_dir, tmp_path):
    out = tmp_path / "run"
    proc = cli(*mnist_args(data_dir, out, "--lr", "1e30"))
    err = one_line_error(proc, 1, "the training diverged at epoch 1, step", "the learning rate (--lr 1e+30) is "
                         "probably too high", "there is no checkpoint yet; no model was written")
    assert "nan" in err or "inf" in err
    assert not out.exists()  # nothing was written, so the folder the run created is gone


def test_divergence_after_good_epochs_keeps_the_last_good_checkpoint(data_dir, tmp_path):
    """One training image, batches of one, no BN, --lr 1e7: three finite epochs, then the test loss is NaN."""
    out = tmp_path / "run"
    args = [a for a in mnist_args(data_dir, out, epochs=5) if a not in ("--holdout", "200")]
    proc = cli(*args, "--holdout", "1199", "--batch-size", "1", "--no-bn", "--lr", "1e7")
    one_line_error(proc, 1, "the training diverged at epoch 4: the test loss became nan",
                   "the learning rate (--lr 1e+07) is probably too high (default 0.1)",
                   "without BatchNorm (--no-bn)", "batches of one image (--batch-size 1)",
                   f"the last good checkpoint (after epoch 3) is in {out / 'checkpoint.npz'}; no model was written")
    ck = load_checkpoint(out / "checkpoint.npz")
    assert ck.epoch == 3 and all(np.isfinite(v).all() for v in ck.model.values())
    assert [r["epoch"] for r in ck.meta["history"]] == [1, 2, 3]
    assert not (out / "model.npz").exists() and leftovers(out) == []


def test_metrics_json_is_strict(data_dir, tmp_path):
    out = tmp_path / "run"
    assert cli(*mnist_args(data_dir, out, epochs=1)).returncode == 0

    def refuse(constant):
        raise AssertionError(f"metrics.json holds {constant}")

    json.loads((out / "metrics.json").read_text(), parse_constant=refuse)


def test_real_data_tiny_run_resumes_bit_for_bit(tmp_path):
    """The Ctrl-C and --resume check on real MNIST digits when they are available (a tiny model, 600 images)."""
    if not REAL or not (Path(REAL) / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("set TINYGRAD_BN_DATA to a folder holding mnist/ to run this")

    def args(out: Path) -> list[str]:
        return ["mnist", "--data-dir", REAL, "--holdout", "9400", "--hidden", "16", "--batch-size", "2",
                "--epochs", "4", "--no-progress", "--out", str(out)]

    assert cli(*args(tmp_path / "whole")).returncode == 0
    out = tmp_path / "parts"
    stopped = interrupt_during(args(out), 3, signal.SIGINT)
    one_line_error(stopped, 130, "stopped by SIGINT during epoch 3; the checkpoint after epoch 2")
    one_line_error(cli("mnist", "--out", str(out), "--resume", "--batch-size", "20", "--data-dir", REAL), 2,
                   "--batch-size 20 differs (the run has --batch-size 2)")
    resumed = cli("mnist", "--out", str(out), "--resume", "--data-dir", REAL, "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_model(final_model(out), final_model(tmp_path / "whole"))


def test_two_real_concurrent_runs_into_one_folder(data_dir, tmp_path):
    """The second of two runs started into the same --out is refused while the first trains; the first
    finishes normally."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen([sys.executable, "-m", "tinygrad_bn",
                              *mnist_args(data_dir, out, "--batch-size", "2", epochs=8)],  # a few seconds
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in first.stdout:
        if line.startswith("model "):  # the first run holds the lock from before this line
            break
    second = cli(*mnist_args(data_dir, out, epochs=2))
    rest, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    one_line_error(second, 2, f"--out {out}: another run is writing into this folder (tinygrad-bn mnist, process "
                              f"{first.pid})")
    assert (out / "model.npz").exists() and leftovers(out) == []
