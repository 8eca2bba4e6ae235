"""``tinygrad-bn mnist`` end to end on a synthetic data set written as real IDX files (no network)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import autograd, optim
from tinygrad_bn.cli import build_parser, main
from tinygrad_bn.cli.commands import mnist as cmd
from tinygrad_bn.data import DataLoader, datasets, write_idx
from tinygrad_bn.models import mlp
from tinygrad_bn.train import evaluate, fit, predict, train_epoch

ROOT = Path(__file__).parents[1]


def synthetic_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (n, 28, 28) images of 10 classes: a fixed random stroke pattern per class, pixels dropped, noise."""
    protos = np.random.default_rng(1234).random((10, 28, 28)) < 0.25
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    keep = rng.random((n, 28, 28)) < 0.7
    noise = rng.integers(0, 80, (n, 28, 28))
    images = np.clip(protos[labels] * keep * 200 + noise, 0, 255).astype(np.uint8)
    return images, labels


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    folder = root / "mnist"
    folder.mkdir()
    for prefix, n, seed in (("train", 600, 0), ("t10k", 300, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def tiny_args(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return ["mnist", "--data-dir", str(data_dir), "--out", str(out), "--hidden", "32", "--epochs", "3",
            "--batch-size", "32", "--no-progress", "--no-download", *extra]


def parse(argv: list[str]):
    return build_parser().parse_args(argv)


def test_cli_trains_beats_chance_and_writes_outputs(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(data_dir, out)) == 0
    printed = capsys.readouterr().out
    assert "MNIST: 600 training / 300 test images" in printed
    assert printed.count("epoch ") == 3 and "784-32-BN-ReLU-Dropout(0.2)-10" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in metrics["history"]] == [1, 2, 3]
    assert metrics["summary"]["test_acc"] > 0.6  # chance is 0.1
    assert metrics["model"] == {"in_features": 784, "hidden": [32], "num_classes": 10, "batch_norm": True,
                                "dropout": 0.2}
    assert metrics["options"]["lr"] is None and metrics["summary"]["optimizer"].startswith("SGD lr 0.1 ")
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,lr,train_loss,train_acc,test_loss,test_acc") and len(csv_lines) == 4
    for name in ("model.npz", "metrics.json", "metrics.csv"):
        assert f"wrote {out / name}" in printed
    pytest.importorskip("matplotlib")
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_checkpoint_round_trip_gives_identical_predictions(data_dir, tmp_path):
    args = parse(tiny_args(data_dir, tmp_path / "run", "--epochs", "1"))
    result = cmd.train(args, log=lambda line: None)
    cmd.save_outputs(args, result)
    reloaded = cmd.load_trained(tmp_path / "run")
    x = result["test_images"]
    expected = predict(result["model"], x)
    np.testing.assert_array_equal(predict(reloaded, x), expected)
    with tg.no_grad():  # the logits too, bit for bit (running statistics included)
        np.testing.assert_array_equal(reloaded(tg.Tensor(x)).data, result["model"].eval()(tg.Tensor(x)).data)
    assert evaluate(reloaded, x, result["test_labels"])["acc"] == result["summary"]["test_acc"]


def _numbers(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "peak_rss_mb")} for row in history]


def test_same_seed_same_numbers_other_seed_other_numbers(data_dir, tmp_path):
    runs = [cmd.train(parse(tiny_args(data_dir, tmp_path / "r", "--epochs", "2", "--seed", s)), log=lambda _: None)
            for s in ("5", "5", "6")]
    assert _numbers(runs[0]["history"]) == _numbers(runs[1]["history"])
    assert _numbers(runs[0]["history"]) != _numbers(runs[2]["history"])


def test_holdout_adam_no_bn_and_constant_schedule(data_dir, tmp_path):
    args = parse(tiny_args(data_dir, tmp_path / "r", "--holdout", "100", "--optimizer", "adam", "--no-bn",
                           "--dropout", "0", "--schedule", "constant", "--shift", "0"))
    lines: list[str] = []
    result = cmd.train(args, log=lines.append)
    assert "200 training / 100 test images" in lines[0] and "784-32-ReLU-10" in lines[1]
    assert "Adam lr 0.001" in lines[1] and [r["lr"] for r in result["history"]] == [1e-3] * 3
    assert result["summary"]["test_acc"] > 0.5


@pytest.mark.parametrize("extra, message", [
    (["--epochs", "0"], "argument --epochs: expected a positive integer, got '0'"),
    (["--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
    (["--dropout", "1"], "argument --dropout: expected a probability in [0, 1), got '1'"),
    (["--hidden", "32,x"], "argument --hidden: expected comma-separated positive widths"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
])
def test_bad_arguments_are_rejected_by_the_parser(data_dir, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_:
        main(tiny_args(data_dir, tmp_path, *extra))
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--holdout", "300"], "--holdout 300: must be smaller than the 300 images of the test split"),
    (["--batch-size", "1000"], "--batch-size 1000 is larger than the 600 training images"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum applies to --optimizer sgd only"),
])
def test_inconsistent_arguments_give_clear_errors(data_dir, tmp_path, capsys, extra, message):
    assert main(tiny_args(data_dir, tmp_path, *extra)) == 2
    assert f"tinygrad-bn mnist: error: {message}" in capsys.readouterr().err


def test_offline_without_data_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(datasets.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def offline(url, dest, timeout=60.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets, "fetch_url", offline)
    argv = ["mnist", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--no-progress"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "MNIST train split not found" in err and "network is unreachable" in err
    assert "--data-dir DIR" in err and "--holdout N" in err and not (tmp_path / "out").exists()


def test_help_lists_the_command_and_its_options():
    top = subprocess.run([sys.executable, "-m", "tinygrad_bn", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert top.returncode == 0 and "mnist" in top.stdout
    sub = subprocess.run([sys.executable, "-m", "tinygrad_bn", "mnist", "--help"], cwd=ROOT, capture_output=True,
                         text=True)
    for option in ("--epochs", "--batch-size", "--lr", "--momentum", "--weight-decay", "--optimizer", "--dropout",
                   "--no-bn", "--seed", "--dataset", "--data-dir", "--out", "--holdout", "--no-progress"):
        assert option in sub.stdout, option


# ---- the training loop ----------------------------------------------------------------------------
def _live_nodes() -> int:
    return sum(isinstance(o, autograd.Node) for o in gc.get_objects())


def test_train_epoch_keeps_no_graph_alive_between_steps():
    """The number of live graph nodes must not grow with the number of steps taken."""
    images, labels = synthetic_digits(320, 3)
    counts: list[int] = []

    class CountingLoader(DataLoader):
        def __iter__(self):
            for batch in super().__iter__():
                gc.collect()
                counts.append(_live_nodes())
                yield batch

    tg.manual_seed(0)
    model = mlp(hidden=(16,))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = CountingLoader(images.reshape(320, -1).astype(np.float32) / 255, labels, batch_size=32)
    stats = train_epoch(model, loader, opt)
    assert set(stats) == {"loss", "acc"} and 0 <= stats["acc"] <= 1
    assert len(counts) == 10 and max(counts[1:]) == counts[1], counts
    gc.collect()
    assert _live_nodes() <= counts[0]


def test_evaluate_restores_each_module_mode_and_leaves_no_graph():
    tg.manual_seed(0)
    model = mlp(hidden=(8,))
    model.train()
    model[1].eval()  # the BatchNorm layer alone in eval mode
    before = [m.training for m in model.modules()]
    x = np.random.default_rng(0).standard_normal((50, 784)).astype(np.float32)
    y = np.arange(50) % 10
    res = evaluate(model, x, y, batch_size=16)
    assert [m.training for m in model.modules()] == before
    assert 0 <= res["acc"] <= 1 and res["loss"] > 0
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="evaluate: expected images"):
        evaluate(model, x, y[:3])


def test_fit_rows_and_scheduler_steps_once_per_epoch():
    images, labels = synthetic_digits(128, 4)
    x = images.reshape(128, -1).astype(np.float32) / 255
    tg.manual_seed(0)
    model = mlp(hidden=(16,))
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    rows = fit(model, opt, DataLoader(x, labels, batch_size=32, shuffle=True, seed=0), x, labels, epochs=3,
               scheduler=sched)
    assert [r["lr"] for r in rows] == [0.1, 0.05, 0.025]
    assert set(rows[0]) == {"epoch", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds",
                            "peak_rss_mb"}
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_example_script_computes_what_the_command_computes(data_dir, tmp_path):
    """examples/mnist_mlp.py spells out the default command's steps: same seed, same numbers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ran = subprocess.run([sys.executable, str(ROOT / "examples" / "mnist_mlp.py"), "--data-dir", str(data_dir),
                          "--epochs", "1"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "mnist_mlp.npz").is_file()
    args = parse(["mnist", "--data-dir", str(data_dir), "--epochs", "1", "--no-progress", "--no-download",
                  "--out", str(tmp_path / "out")])
    row = cmd.train(args, log=lambda line: None)["history"][0]
    assert (f"train loss {row['train_loss']:.4f}  train acc {100 * row['train_acc']:.2f}%  "
            f"test acc {100 * row['test_acc']:.2f}%") in ran.stdout
