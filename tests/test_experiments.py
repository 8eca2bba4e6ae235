"""experiments (synthetic, placements, bn_vs_plain) and the commands variance-shift and bn-vs-plain."""

import json

import numpy as np
import pytest
from shift_se import delta_standard_error

from tinygrad_bn import nn
from tinygrad_bn.cli import main
from tinygrad_bn.cli.experiments import bn_vs_plain, placements, synthetic
from tinygrad_bn.cli.experiments.common import Splits, load_splits

# the tiny IDX files written below have MD5 sums the loader does not know: it warns and loads them
pytestmark = pytest.mark.filterwarnings("ignore:.*is not a known sum:UserWarning")

# ---- synthetic ----------------------------------------------------------------------------------


def test_synthetic_grid_within_standard_error():
    n, batch, channels = 20_000, 1000, 4
    rates = {"dropout": (0.3, 0.7), "gaussian": (0.5,), "uout": (0.5, 1.0)}
    results = synthetic.run(noises=("dropout", "gaussian", "uout"), rates=rates, inputs=((0.0, 1.0), (1.0, 2.0)),
                            n=n, channels=channels, batch_size=batch, seed=5)
    assert len(results) == 10
    for r in results:
        se = delta_standard_error(r.noise, r.rate, r.c, r.v, n, batch, channels)  # derivation in shift_se.py
        assert abs(r.measured - r.closed_form) < 4 * se, r
        row = r.row()
        assert row["rel_error"] == pytest.approx((r.measured - r.closed_form) / r.closed_form)
    panels = synthetic.plot_panels(results)
    assert [p["title"] for p in panels] == ["dropout", "gaussian", "uout"]


def test_synthetic_is_seeded_and_checks_arguments():
    a = synthetic.measure("uout", 0.5, 1.0, 1.0, n=2000, seed=3)
    b = synthetic.measure("uout", 0.5, 1.0, 1.0, n=2000, seed=3)
    c = synthetic.measure("uout", 0.5, 1.0, 1.0, n=2000, seed=4)
    assert a.measured == b.measured != c.measured
    with pytest.raises(ValueError, match="noise must be one of"):
        synthetic.measure("bernoulli", 0.5, 0, 1)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        synthetic.measure("dropout", 0.5, 0, 1, n=1)
    with pytest.raises(ValueError, match="variance_shift_dropout: p"):
        synthetic.measure("dropout", 1.0, 0, 1)


# ---- placements ---------------------------------------------------------------------------------

def _types(model):
    return [type(m).__name__ for m in model.children()]


def test_placement_architectures():
    lin_bn = ["Linear", "BatchNorm1d", "ReLU"]
    assert _types(placements.build("none", hidden=(8, 8))) == lin_bn * 2 + ["Linear"]
    assert _types(placements.build("dropout-before-bn", hidden=(8, 8))) == (["Dropout"] + lin_bn) * 2 + ["Linear"]
    assert _types(placements.build("dropout-after-last-bn", hidden=(8, 8))) == lin_bn * 2 + ["Dropout", "Linear"]
    m = placements.build("uout-before-bn", beta=0.3, hidden=(8, 8))
    assert _types(m) == (["Uout"] + lin_bn) * 2 + ["Linear"] and m[0].beta == 0.3
    with pytest.raises(ValueError, match="placement must be one of"):
        placements.build("dropout-everywhere")


def _tiny_splits(n_train=300, n_test=100, features=20, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (10, features))
    ytr, yte = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    xtr = (centers[ytr] + rng.normal(size=(n_train, features))).astype(np.float32)
    xte = (centers[yte] + rng.normal(size=(n_test, features))).astype(np.float32)
    return Splits(xtr, ytr, xte, yte, "tiny synthetic blobs")


def test_placement_run_one_recalibrates():
    data = _tiny_splits()
    r = placements.run_one("dropout-before-bn", data, epochs=2, batch_size=50, hidden=(16, 16), shift_samples=300)
    assert len(r["history"]) == 2 and 0 <= r["acc_before"] <= 1 and 0 <= r["acc_after"] <= 1
    before, refreshed, after = r["shift_before"], r["shift_refreshed"], r["shift_after"]
    assert before[0].mean_shift < 0.8  # dropout 0.5 before BN1
    assert refreshed[0].mean_shift < 0.8  # statistics re-estimated with dropout on: still shifted
    assert after[0].mean_shift == pytest.approx(1.0, abs=0.05)  # 300 samples, 6 batches: a few % noise
    rows = placements.shift_rows([r])
    assert [row["bn"] for row in rows] == ["BN1", "BN2"] and rows[0]["module"] == "2"  # Dropout is 0
    acc = placements.accuracy_rows([r])[0]
    assert acc["gain_dropout_off"] == pytest.approx(r["acc_after"] - r["acc_refreshed"])
    assert acc["test_acc_refreshed"] == r["acc_refreshed"]


# ---- bn_vs_plain --------------------------------------------------------------------------------

def test_bn_vs_plain_models():
    with_bn, plain = bn_vs_plain.build(True, 20), bn_vs_plain.build(False, 20)
    assert _types(with_bn) == ["Linear", "BatchNorm1d", "Sigmoid"] * 3 + ["Linear"]
    assert _types(plain) == ["Linear", "Sigmoid"] * 3 + ["Linear"]
    assert [m.out_features for m in plain.children() if isinstance(m, nn.Linear)] == [100, 100, 100, 10]


def test_bn_vs_plain_run_rows_and_summary():
    data = _tiny_splits()
    rows = bn_vs_plain.run(data, steps=7, eval_every=3, lr=0.1, batch_size=60, seed=0)
    assert [(r["network"], r["step"]) for r in rows] == [
        (n, s) for n in ("with BN", "without BN") for s in (0, 3, 6, 7)]
    for r in rows:
        assert r["sigmoid_in_p15"] <= r["sigmoid_in_p50"] <= r["sigmoid_in_p85"]
    assert rows[0]["train_loss"] is None and rows[1]["train_loss"] > 0
    again = bn_vs_plain.run(data, steps=7, eval_every=3, lr=0.1, batch_size=60, seed=0)
    assert [r["test_acc"] for r in again] == [r["test_acc"] for r in rows]  # seeded
    s = bn_vs_plain.summary(rows, thresholds=(0.0, 2.0))
    assert s[0]["steps_to_0"] == 0 and s[0]["steps_to_2"] == "not reached" and s[1]["network"] == "without BN"
    for bad in ({"steps": 0}, {"eval_every": -1}, {"lr": 0.0}, {"batch_size": 1.5}):
        with pytest.raises(ValueError, match="bn_vs_plain.run"):
            bn_vs_plain.run(data, **bad)


# ---- commands end to end on tiny IDX files ------------------------------------------------------

@pytest.fixture
def tiny_data_dir(tmp_path):
    """DIR/fashion-mnist/ with a 120-image train and 60-image test split; DIR/mnist/ with a test split only."""
    from tinygrad_bn.data import write_idx

    rng = np.random.default_rng(0)
    for folder, splits in (("fashion-mnist", {"train": 120, "t10k": 60}), ("mnist", {"t10k": 80})):
        (tmp_path / folder).mkdir()
        for split, n in splits.items():
            labels = rng.integers(0, 10, n).astype(np.uint8)
            images = (rng.random((n, 28, 28)) < 0.1 + 0.08 * labels[:, None, None]).astype(np.uint8) * 255
            write_idx(tmp_path / folder / f"{split}-images-idx3-ubyte.gz", images)
            write_idx(tmp_path / folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return tmp_path


def test_variance_shift_command_end_to_end(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "vs"
    code = main(["variance-shift", "--data-dir", str(tiny_data_dir), "--no-download", "--epochs", "1",
                 "--batch-size", "40", "--hidden", "16,8", "--samples", "2000", "--out", str(out), "--no-progress"])
    assert code == 0
    for name in ("synthetic.csv", "mlp_variance_shift.csv", "mlp_accuracy.csv", "results.md", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    md = (out / "results.md").read_text()
    assert "## (a)" in md and "## (b)" in md and "dropout-after-last-bn" in md and "| BN2 " in md
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["synthetic"]) == 52 and len(summary["mlp"]["accuracy"]) == 4
    assert summary["args"]["hidden"] == [16, 8]
    pytest.importorskip("matplotlib")
    for name in ("synthetic.png", "mlp_variance_shift.png", "mlp_accuracy.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_variance_shift_synthetic_only_needs_no_data(tmp_path):
    out = tmp_path / "vs"
    assert main(["variance-shift", "--synthetic-only", "--samples", "1000", "--out", str(out), "--no-progress",
                 "--data-dir", str(tmp_path / "nothing"), "--no-download"]) == 0
    assert (out / "synthetic.csv").exists() and not (out / "mlp_accuracy.csv").exists()


def test_bn_vs_plain_command_end_to_end_with_holdout(tiny_data_dir, tmp_path):
    out = tmp_path / "bp"
    code = main(["bn-vs-plain", "--dataset", "mnist", "--holdout", "30", "--data-dir", str(tiny_data_dir),
                 "--no-download", "--steps", "4", "--eval-every", "2", "--batch-size", "10", "--out", str(out),
                 "--no-progress"])
    assert code == 0
    lines = (out / "bn_vs_plain.csv").read_text().strip().split("\n")
    assert lines[0].startswith("network,step,test_acc") and len(lines) == 1 + 2 * 3
    summary = json.loads((out / "summary.json").read_text())
    assert "first 50 images for training, last 30" in summary["data"]
    pytest.importorskip("matplotlib")
    assert (out / "bn_vs_plain.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "sigmoid_input.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    (["variance-shift", "--epochs", "-1"], "expected a non-negative integer"),
    (["variance-shift", "--p", "1.0"], "expected a probability in [0, 1)"),
    (["variance-shift", "--beta", "1.5"], "expected a number in [0, 1]"),
    (["variance-shift", "--hidden", "16,x"], "expected comma-separated positive widths"),
    (["bn-vs-plain", "--steps", "0"], "expected a positive integer"),
    (["bn-vs-plain", "--lr", "-0.1"], "expected a positive number"),
    (["bn-vs-plain", "--dataset", "cifar"], "invalid choice"),
])
def test_commands_reject_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_commands_report_missing_data(tiny_data_dir, tmp_path, capsys):
    # MNIST has only its test split here: without --holdout the command says what to do
    code = main(["bn-vs-plain", "--dataset", "mnist", "--data-dir", str(tiny_data_dir), "--no-download",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "tinygrad-bn bn-vs-plain: error" in err and "--holdout" in err
    # a bad value is a usage error: status 2 (the missing data set above: 1)
    code = main(["variance-shift", "--dataset", "mnist", "--holdout", "80", "--data-dir", str(tiny_data_dir),
                 "--no-download", "--out", str(tmp_path / "o")])
    assert code == 2 and "holdout (80) must be smaller" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_load_splits_holdout_and_limit(tiny_data_dir):
    s = load_splits("mnist", tiny_data_dir, holdout=30, limit=20, download=False)
    assert s.x_train.shape == (20, 784) and s.x_test.shape == (30, 784) and s.x_train.dtype == np.float32
    assert s.y_train.dtype == np.int64
    with pytest.raises(ValueError, match="load_splits: dataset"):
        load_splits("cifar")
