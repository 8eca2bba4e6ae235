"""The CNN experiments: placements.build_cnn / run_one(model="cnn"), cnn_variants, and their commands."""

import json

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import diagnostics
from tinygrad_bn.cli import main
from tinygrad_bn.cli.experiments import cnn_variants, placements
from tinygrad_bn.cli.experiments.common import Splits
from tinygrad_bn.data import write_idx

pytestmark = pytest.mark.filterwarnings("ignore:.*is not a known sum:UserWarning")


def _types(model):
    return [type(m).__name__ for m in model.children()]


def _tiny_images(n_train=200, n_test=60, seed=0):
    """Prepared (N, 784) float32 rows of 28x28 images: class k lights up a k-th band of rows, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.normal(0, 0.5, (n, 28, 28))
        for i, k in enumerate(y):
            x[i, 2 * k + 4: 2 * k + 7] += 2.0
        return x.reshape(n, 784).astype(np.float32), y.astype(np.int64)

    (xtr, ytr), (xte, yte) = make(n_train), make(n_test)
    return Splits(xtr, ytr, xte, yte, "tiny synthetic bands")


def test_cnn_placement_architectures():
    block = ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    head = ["Flatten", "Linear", "BatchNorm1d", "ReLU"]
    assert _types(placements.build_cnn("none", channels=(4, 8))) == block * 2 + head + ["Linear"]
    assert _types(placements.build_cnn("dropout-before-bn", channels=(4, 8))) == (
        ["Dropout"] + block) * 2 + ["Flatten", "Dropout"] + head[1:] + ["Linear"]
    assert _types(placements.build_cnn("dropout2d-before-bn", channels=(4, 8))) == (
        block + ["Dropout2d"]) * 2 + head + ["Linear"]
    assert _types(placements.build_cnn("dropout-after-last-bn", channels=(4, 8))) == block * 2 + head + [
        "Dropout", "Linear"]
    m = placements.build_cnn("uout-before-bn", beta=0.3, channels=(4, 8))
    assert _types(m)[:2] == ["Uout", "Conv2d"] and m[0].beta == 0.3
    assert m.eval()(tg.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="placement must be one of"):
        placements.build_cnn("dropout-everywhere")


def test_cnn_placement_run_one_predicts_measures_and_recalibrates():
    data = _tiny_images()
    r = placements.run_one("dropout-before-bn", data, epochs=1, batch_size=50, p=0.5, shift_samples=200,
                           model="cnn", channels=(4, 8))
    before, refreshed, after = r["shift_before"], r["shift_refreshed"], r["shift_after"]
    assert [la.name for la in before] == ["2", "7", "13"]  # BN2d, BN2d, BN1d (Dropouts at 0, 5, 11)
    assert refreshed[0].mean_shift < 0.95 and after[0].mean_shift == pytest.approx(1.0, abs=0.05)
    # the prediction from conv1's weights and the input's 3x3 patches matches the refreshed measurement
    assert r["predicted_bn1"] == pytest.approx(refreshed[0].mean_shift, abs=0.05)
    rows = placements.shift_rows([r])
    assert [row["bn"] for row in rows] == ["BN1", "BN2", "BN3"]


def test_predicted_shift_for_a_conv_is_the_linear_formula_on_patches():
    """Conv2d(1, 2, 3, padding=1): the samples are the padded 3x3 patches around every pixel."""
    tg.manual_seed(0)
    model = placements.build_cnn("dropout-before-bn", channels=(2,))
    x = np.random.default_rng(1).normal(1.0, 1.0, (50, 1, 28, 28)).astype(np.float32)
    got = placements._predicted_first_shift(model, "dropout-before-bn", x, 0.5, 0.5)
    patches = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), (3, 3),
                                                       axis=(2, 3)).reshape(50, 28, 28, 9).reshape(-1, 9)
    w = model[1].weight.data.reshape(2, 9)
    assert got == pytest.approx(float(diagnostics.variance_shift_linear(w, patches, 1.0).mean()))


def test_cnn_variants_build_and_pixel_bn_keeps_one_statistic_per_pixel():
    assert _types(cnn_variants.build("bn2d", channels=(4,)))[:5] == [
        "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Dropout2d"]
    assert _types(cnn_variants.build("dropout", channels=(4,)))[4] == "Dropout"
    assert "BatchNorm2d" not in _types(cnn_variants.build("no-bn", channels=(4,)))
    model = cnn_variants.build("pixel-bn", channels=(4, 8))
    pixel = [m for m in model.children() if isinstance(m, cnn_variants.PixelBatchNorm)]
    assert [m.shape for m in pixel] == [(4, 28, 28), (8, 14, 14)]
    assert pixel[0].bn.running_mean.shape == (4 * 28 * 28,)
    x = tg.randn(6, 1, 28, 28)
    assert model(x).shape == (6, 10)
    # in training mode each (channel, pixel) is normalized over the batch alone: mean 0 per position
    h = model[0](x)
    out = pixel[0](h).data
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    with pytest.raises(ValueError, match="variant must be one of"):
        cnn_variants.build("layer-norm")


def test_cnn_variants_run_one_is_seeded():
    data = _tiny_images()
    a = cnn_variants.run_one("pixel-bn", data, epochs=2, batch_size=50, channels=(4, 8), seed=1)
    b = cnn_variants.run_one("pixel-bn", data, epochs=2, batch_size=50, channels=(4, 8), seed=1)
    assert [r["epoch"] for r in a] == [1, 2] and a[0]["variant"] == "pixel-bn"
    assert [r["test_acc"] for r in a] == [r["test_acc"] for r in b]


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "fashion-mnist").mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 * k + 4: 2 * k + 7] = 250
        write_idx(root / "fashion-mnist" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / "fashion-mnist" / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def test_commands_cnn_variants_and_variance_shift_model_cnn(fashion_dir, tmp_path, capsys):
    out = tmp_path / "variants"
    assert main(["cnn-variants", "--data-dir", str(fashion_dir), "--out", str(out), "--epochs", "1",
                 "--channels", "4,8", "--batch-size", "40", "--variants", "bn2d,pixel-bn", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["variant"] for r in summary["rows"]] == ["bn2d", "pixel-bn"]
    assert (out / "cnn_variants.csv").is_file() and "After the last epoch" in (out / "results.md").read_text()
    assert main(["cnn-variants", "--data-dir", str(fashion_dir), "--out", str(out), "--variants", "bn1d"]) == 2
    assert "--variants must name some of" in capsys.readouterr().err
    out = tmp_path / "vs"
    assert main(["variance-shift", "--model", "cnn", "--data-dir", str(fashion_dir), "--out", str(out),
                 "--epochs", "1", "--channels", "4,8", "--batch-size", "40", "--samples", "2000",
                 "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["placement"] for r in summary["cnn"]["accuracy"]] == list(placements.PLACEMENTS_CNN)
    assert (out / "cnn_variance_shift.csv").is_file() and (out / "cnn_accuracy.csv").is_file()
    assert "CNN with dropout in 5 placements" in (out / "results.md").read_text()
