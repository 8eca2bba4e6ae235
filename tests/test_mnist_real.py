"""A short run on real MNIST digits (the 10k test split): needs TINYGRAD_BN_DATA, skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tinygrad_bn.cli import build_parser
from tinygrad_bn.cli.commands import mnist as cmd
from tinygrad_bn.data import ENV_VAR

DATA = os.environ.get(ENV_VAR)
pytestmark = pytest.mark.skipif(
    not DATA or not (Path(DATA) / "mnist").is_dir(),
    reason=f"real MNIST not available: set {ENV_VAR} to a folder holding mnist/ with t10k-images-idx3-ubyte.gz "
           "and t10k-labels-idx1-ubyte.gz")


def test_one_epoch_on_8k_real_digits_exceeds_90_percent_on_the_other_2k(tmp_path):
    args = build_parser().parse_args(["mnist", "--holdout", "2000", "--epochs", "1", "--no-progress",
                                      "--no-download", "--out", str(tmp_path)])
    result = cmd.train(args, log=lambda line: None)  # data found through TINYGRAD_BN_DATA, not --data-dir
    assert result["summary"]["n_train"] == 8000 and result["summary"]["n_test"] == 2000
    assert result["summary"]["test_acc"] > 0.90
