"""``tinygrad-bn mnist --model cnn``: per-model defaults, a short run on synthetic IDX files, the checkpoint,
and (with TINYGRAD_BN_DATA) a tiny run of the real command in a subprocess on real digits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_mnist_cli import synthetic_digits

import tinygrad_bn as tg
from tinygrad_bn.cli import build_parser, main
from tinygrad_bn.cli.commands import mnist as cmd
from tinygrad_bn.data import ENV_VAR, write_idx
from tinygrad_bn.train import predict

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    for prefix, n, seed in (("train", 300, 0), ("t10k", 100, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def tiny_cnn(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["mnist", "--model", "cnn", "--data-dir", str(data_dir), "--out", str(out), "--channels", "4,8",
            "--epochs", "2", "--batch-size", "32", "--no-progress", "--no-download", *extra]


def parse(argv: list[str]):
    return build_parser().parse_args(argv)


def test_defaults_depend_on_the_model_and_the_mlps_stay_as_they_were(tmp_path):
    mlp_args = cmd.resolve_defaults(parse(["mnist"]))
    assert (mlp_args.epochs, mlp_args.batch_size, mlp_args.optimizer, mlp_args.lr, mlp_args.dropout,
            mlp_args.shift, mlp_args.hidden, mlp_args.channels) == (30, 128, "sgd", None, 0.2, 1, (512, 512), None)
    cnn_args = cmd.resolve_defaults(parse(["mnist", "--model", "cnn"]))
    expected = cmd.MODEL_DEFAULTS["cnn"]
    assert {k: getattr(cnn_args, k) for k in expected} == expected
    # the cnn's learning rate belongs to its optimizer: another optimizer gets that optimizer's default
    assert cmd.resolve_defaults(parse(["mnist", "--model", "cnn", "--optimizer", "sgd"])).lr is None
    assert cmd.resolve_defaults(parse(["mnist", "--model", "cnn", "--optimizer", "sgd", "--lr", "0.05"])).lr == 0.05
    assert cmd.resolve_defaults(parse(["mnist", "--model", "cnn", "--epochs", "2"])).epochs == 2


def test_cnn_run_trains_writes_outputs_and_reloads(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_cnn(data_dir, out)) == 0
    printed = capsys.readouterr().out
    assert "MNIST: 300 training / 100 test images" in printed and printed.count("epoch ") == 2
    assert ("1x28x28-Conv4-BN-ReLU-MaxPool-Dropout2d(0.1)-Conv8-BN-ReLU-MaxPool-Dropout2d(0.1)-128-BN-ReLU-"
            "Dropout(0.3)-10") in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["architecture"] == "cnn"
    assert metrics["model"] == {"in_channels": 1, "channels": [4, 8], "num_classes": 10, "image_size": 28,
                                "hidden": 128, "batch_norm": True, "dropout": 0.1, "head_dropout": 0.3}
    assert metrics["summary"]["test_acc"] > 0.3  # chance is 0.1; two short epochs on 300 images
    model = cmd.load_trained(out)
    x = tg.Tensor(np.zeros((2, 1, 28, 28), np.float32))
    saved = tg.load(out / "model.npz")
    assert list(saved) == list(model.state_dict()) and model(x).shape == (2, 10)


def test_limit_and_holdout_pick_the_training_images(data_dir, tmp_path):
    lines: list[str] = []
    result = cmd.train(parse(tiny_cnn(data_dir, tmp_path / "r", "--holdout", "40", "--limit", "50",
                                      "--epochs", "1", "--no-bn")), log=lines.append)
    assert "50 training / 40 test images" in lines[0] and "--limit" in lines[0]
    assert "Conv4-ReLU-MaxPool" in lines[1] and "Adam lr 0.002" in lines[1]
    assert result["summary"]["n_train"] == 50
    assert predict(result["model"], result["test_images"]).shape == (40,)


@pytest.mark.parametrize("extra, message", [
    (["--hidden", "32"], "--hidden does not apply to --model cnn"),
])
def test_options_of_the_other_model_are_refused(data_dir, tmp_path, capsys, extra, message):
    assert main(tiny_cnn(data_dir, tmp_path, *extra)) == 2
    assert f"tinygrad-bn mnist: error: {message}" in capsys.readouterr().err


def test_channels_with_the_mlp_are_refused(data_dir, tmp_path, capsys):
    argv = ["mnist", "--data-dir", str(data_dir), "--out", str(tmp_path), "--channels", "4", "--no-progress"]
    assert main(argv) == 2
    assert "tinygrad-bn mnist: error: --channels does not apply to --model mlp" in capsys.readouterr().err


DATA = os.environ.get(ENV_VAR)


@pytest.mark.skipif(not DATA or not (Path(DATA) / "mnist").is_dir(),
                    reason=f"real MNIST not available: set {ENV_VAR} to a folder holding mnist/ with "
                           "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")
def test_the_real_command_trains_a_tiny_cnn_on_real_digits(tmp_path):
    """The installed entry point, in a subprocess: 1,000 real digits, two epochs, 8 and 16 channels."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    ran = subprocess.run([sys.executable, "-m", "tinygrad_bn", "mnist", "--model", "cnn", "--holdout", "500",
                          "--limit", "1000", "--epochs", "2", "--channels", "8,16", "--batch-size", "50",
                          "--no-progress", "--no-download", "--out", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "1000 training / 500 test images" in ran.stdout
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    # chance is 0.1; this run measured 0.70 (seed 0): 40 Adam steps are enough to learn far more than chance
    assert summary["test_acc"] > 0.5, summary


def test_example_script_computes_what_the_command_computes(data_dir, tmp_path):
    """examples/mnist_cnn.py spells out ``tinygrad-bn mnist --model cnn``: same seed, same numbers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_cnn.py"), "--dataset", "mnist",
                          "--data-dir", str(data_dir), "--epochs", "1"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "mnist_cnn.npz").is_file()
    args = parse(["mnist", "--model", "cnn", "--data-dir", str(data_dir), "--epochs", "1", "--no-progress",
                  "--no-download", "--out", str(tmp_path / "out")])
    row = cmd.train(args, log=lambda line: None)["history"][0]
    assert (f"train loss {row['train_loss']:.4f}  train acc {100 * row['train_acc']:.2f}%  "
            f"test acc {100 * row['test_acc']:.2f}%") in ran.stdout
