"""bn-vs-plain and variance-shift as a user meets them, in real subprocesses: an interrupted run resumed
gives the uninterrupted run's results byte for byte; the folder rules, BatchNorm's two-image minimum,
and the step-0 line without a NaN."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
from cli_helpers import cli, signal_when, write_synthetic_mnist


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("data"))


def last_line(proc: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


def test_bn_vs_plain_resumed_gives_the_same_csv(data_dir, tmp_path):
    common = ["--dataset", "mnist", "--data-dir", str(data_dir), "--holdout", "1000", "--steps", "200",
              "--eval-every", "50", "--batch-size", "10", "--no-download"]
    whole = cli("bn-vs-plain", *common, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    assert "step 0/200 test acc" in whole.stderr and "before training" in whole.stderr
    assert "nan" not in whole.stderr.lower()
    out = tmp_path / "parts"
    stopped = signal_when(["bn-vs-plain", *common, "--out", str(out)], "without BN: step 50/200", signal.SIGINT,
                          "stderr")
    assert stopped.returncode == 130
    # the signal lands while the steps after 50 train (or, on a fast machine, a little later)
    assert re.match(r"tinygrad-bn bn-vs-plain: stopped by SIGINT during (the network 'without BN'|the writing of "
                    r"the results); the checkpoint after step (50|100|150|200) of the network 'without BN' is in ",
                    last_line(stopped)), last_line(stopped)
    resumed = cli("bn-vs-plain", "--out", str(out), "--resume", "--data-dir", str(data_dir))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("bn_vs_plain.csv", "results.md"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    again = cli("bn-vs-plain", *common, "--out", str(out))
    assert again.returncode == 2 and "already holds a finished run (summary.json)" in last_line(again)


def test_variance_shift_resumed_gives_the_same_tables(data_dir, tmp_path):
    common = ["--dataset", "mnist", "--data-dir", str(data_dir), "--holdout", "1000", "--epochs", "2",
              "--hidden", "8,8", "--samples", "400", "--batch-size", "50", "--no-download"]
    whole = cli("variance-shift", *common, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "parts"
    stopped = signal_when(["variance-shift", *common, "--out", str(out)], "dropout-before-bn: epoch 1/2",
                          signal.SIGTERM, "stderr")
    assert stopped.returncode == 143
    assert re.search(r"the checkpoint after (epoch [12] of placement|placement) 'dropout-before-bn' is in",
                     last_line(stopped)), last_line(stopped)
    resumed = cli("variance-shift", "--out", str(out), "--resume", "--data-dir", str(data_dir))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("mlp_variance_shift.csv", "mlp_accuracy.csv", "synthetic.csv", "results.md"):
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert "Variance shift measured on the first 200 training images" in (out / "results.md").read_text()


@pytest.mark.parametrize("command", ["bn-vs-plain", "variance-shift"])
def test_batches_of_one_image_are_refused_in_one_line(data_dir, tmp_path, command):
    proc = cli(command, "--batch-size", "1", "--out", str(tmp_path / "o"), "--data-dir", str(data_dir))
    assert proc.returncode == 2 and "BatchNorm needs at least 2 images per batch" in last_line(proc)
    limit = ["--limit", "1", "--dataset", "mnist", "--holdout", "1000", "--data-dir", str(data_dir)]
    extra = ["--steps", "2"] if command == "bn-vs-plain" else ["--epochs", "1", "--samples", "100"]
    proc = cli(command, *limit, *extra, "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2, proc.stderr
    assert "BatchNorm needs at least 2 images per batch; got batch size" in last_line(proc)
    assert len(proc.stderr.strip().splitlines()) <= 3  # progress lines, then the one-line error


def test_last_batch_of_one_image_is_dropped(data_dir, tmp_path):
    """201 training images in batches of 50: the last batch would hold 1 image; it is left out."""
    proc = cli("variance-shift", "--dataset", "mnist", "--data-dir", str(data_dir), "--holdout", "999",
               "--epochs", "1", "--hidden", "8,8", "--samples", "100", "--batch-size", "50", "--no-download",
               "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
