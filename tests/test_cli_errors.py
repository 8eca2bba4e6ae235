"""Every user error at the command line is one line (no traceback) with exit status 2, found before
the work where it can be: an unusable --out, option combinations that cannot work, unreadable or
foreign data, an unusable cache, graph's --out; plus the plot title, warnings and the docs snippet."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import AS_ROOT, REAL, ROOT, cli, leftovers, mnist_args, one_line_error, write_synthetic_mnist

from tinygrad_bn.data import write_idx


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_synthetic_mnist(tmp_path_factory.mktemp("data"))


# ---- fail before the work ------------------------------------------------------------------------
@pytest.mark.parametrize("make_out, problem", [
    (lambda tmp: tmp / "afile" / "run", "cannot be created (a folder above it is a file)"),
    (lambda tmp: tmp / "afile", "is a file, not a folder"),
    (lambda tmp: tmp / ("x" * 300), "cannot be created (File name too long)"),
])
def test_unusable_out_is_refused_before_the_data_is_read(tmp_path, make_out, problem):
    (tmp_path / "afile").write_text("")
    out = make_out(tmp_path)
    proc = cli("mnist", "--out", str(out), "--data-dir", str(tmp_path / "no-data"), "--no-download")
    one_line_error(proc, 2, problem, "tinygrad-bn mnist: error: --out")


@pytest.mark.skipif(AS_ROOT, reason="permissions do not apply to root")
def test_read_only_out_is_refused(tmp_path):
    out = tmp_path / "ro"
    out.mkdir(mode=0o500)
    one_line_error(cli("mnist", "--out", str(out), "--no-download"), 2, "cannot be written")


# ---- one line, not a traceback -------------------------------------------------------------------
@pytest.mark.parametrize("extra, fragments", [
    (["--optimizer", "adam", "--momentum", "0.9"], ["--momentum applies to --optimizer sgd only"]),
    (["--shift", "28"], ["--shift 28", "28x28"]),
    (["--hidden", "200000,200000"], ["needs about", "GB of memory", "--hidden"]),
    (["--batch-size", "100000000"], ["needs about", "GB of memory", "--batch-size"]),
    (["--batch-size", "1"], ["BatchNorm needs at least 2 images per batch", "--no-bn"]),
])
def test_bad_combinations_are_refused_before_the_data_loads(tmp_path, extra, fragments):
    proc = cli("mnist", "--out", str(tmp_path / "run"), "--data-dir", str(tmp_path / "nowhere"), "--no-download",
               *extra)
    one_line_error(proc, 2, *fragments)
    assert not (tmp_path / "run").exists() or leftovers(tmp_path / "run") == []


def test_data_problems_are_one_line(data_dir, tmp_path):
    (tmp_path / "d" / "mnist" / "t10k-images-idx3-ubyte").mkdir(parents=True)
    proc = cli(*mnist_args(tmp_path / "d", tmp_path / "run"))
    one_line_error(proc, 2, "is a folder, where a data file of that name was expected")
    proc = cli(*mnist_args(tmp_path / ("y" * 5000), tmp_path / "run2"))
    one_line_error(proc, 2, "characters): File name too long")


def test_fashion_mnist_files_placed_as_mnist_are_refused(tmp_path):
    real = Path(REAL or ".") / "fashion-mnist"
    if not REAL or not (real / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("set TINYGRAD_BN_DATA to a folder holding fashion-mnist/ to run this")
    (tmp_path / "d" / "mnist").mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(real / name, tmp_path / "d" / "mnist" / name)
    proc = cli(*mnist_args(tmp_path / "d", tmp_path / "run"))
    one_line_error(proc, 2, "this file is Fashion-MNIST's t10k-images-idx3-ubyte.gz", "not MNIST's")


# ---- graph ----------------------------------------------------------------------------------------
def test_graph_draws_jpeg_for_a_jpg_out(tmp_path):
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed")
    proc = cli("graph", "--out", str(tmp_path / "z.jpg"), "--batch-size", "4")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "z.jpg").read_bytes()[:3] == b"\xff\xd8\xff" and not (tmp_path / "z.svg").exists()


@pytest.mark.parametrize("out, fragments", [
    ("z.gif", ["--out", "'.gif' is not a format this command draws; use .svg, .png, .pdf, .jpg, .dot"]),
    ("afile/g.svg", ["afile: is a file, not a folder"]),
    ("adir", ["is a folder; give a file name"]),
])
def test_graph_refuses_an_unusable_out_in_one_line(tmp_path, out, fragments):
    (tmp_path / "afile").write_text("")
    (tmp_path / "adir.svg").mkdir()
    one_line_error(cli("graph", "--out", str(tmp_path / out)), 2, "tinygrad-bn graph: error:", *fragments)


def test_graph_refuses_a_batch_too_large_for_memory(tmp_path):
    one_line_error(cli("graph", "--out", str(tmp_path / "g.svg"), "--batch-size", "10000000000"), 2,
                   "--batch-size 10000000000 needs about", "GB of memory")


def test_curves_title_is_not_cut_off(tmp_path, monkeypatch):
    """The default model's title is wider than the plot: it is wrapped, and stays inside the PNG."""
    pytest.importorskip("matplotlib")
    import matplotlib.figure

    from tinygrad_bn.cli.commands.mnist import describe_model, plot_curves

    seen = {}
    save = matplotlib.figure.Figure.savefig

    def record(fig, *args, **kwargs):
        fig.canvas.draw()
        seen["bbox"] = fig.bbox
        seen["title"] = fig.axes[0].title.get_window_extent()
        seen["text"] = fig.axes[0].title.get_text()
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    cfg = {"in_features": 784, "hidden": [512, 512], "num_classes": 10, "batch_norm": True, "dropout": 0.2}
    rows = [{"epoch": e, "train_acc": 0.9, "test_acc": 0.9, "train_loss": 0.3, "test_loss": 0.3} for e in (1, 2)]
    title = f"Fashion-MNIST: {describe_model(cfg)}"
    assert plot_curves(tmp_path / "curves.png", rows, title) is not None
    box, whole = seen["title"], seen["bbox"]
    assert box.x0 >= whole.x0 and box.x1 <= whole.x1 and box.y1 <= whole.y1
    assert "\n" in seen["text"] and seen["text"].replace("\n", " ").replace("- ", "-") .replace(" ", "") == \
        title.replace(" ", "")


def test_unusable_cache_and_bad_idx_headers_are_one_line(tmp_path):
    env_cache = tmp_path / "cachefile"
    env_cache.write_text("")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(env_cache)}
    env.pop("TINYGRAD_BN_DATA", None)
    proc = subprocess.run([sys.executable, "-m", "tinygrad_bn", "mnist", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    one_line_error(proc, 2, "the download cache", "cannot be created", "set XDG_CACHE_HOME to a writable folder")
    folder = tmp_path / "d" / "mnist"
    folder.mkdir(parents=True)
    header = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (3000, 1000, 1000))
    (folder / "t10k-images-idx3-ubyte").write_bytes(header + b"\0" * 1000)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(3000, np.uint8))
    proc = cli(*mnist_args(tmp_path / "d", tmp_path / "run2"))
    one_line_error(proc, 2, "the header promises shape (3000, 1000, 1000) of uint8")


def test_docs_snippet_scores_a_holdout_model_on_the_held_out_images(data_dir, tmp_path, capsys):
    """docs/mnist.md's "use a trained model later" snippet prints the test accuracy of metrics.json."""
    import re

    from tinygrad_bn.cli import main

    out = tmp_path / "run"
    assert main(mnist_args(data_dir, out, epochs=1)) == 0
    text = (ROOT / "docs" / "mnist.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "load_trained" in b)
    capsys.readouterr()
    exec(snippet.replace('"runs/mnist"', repr(str(out))), {})
    printed = float(capsys.readouterr().out.strip())
    assert printed == pytest.approx(json.loads((out / "metrics.json").read_text())["summary"]["test_acc"])


def test_warnings_are_one_line_too(tmp_path):
    """A local .gz with an unknown MD5 is loaded with a warning: one line, no source excerpt."""
    folder = tmp_path / "d" / "mnist"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (300, 28, 28)).astype(np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 300).astype(np.uint8))
    proc = cli(*mnist_args(tmp_path / "d", tmp_path / "run", epochs=1))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("tinygrad-bn mnist: warning: ") for line in lines), lines
    assert "is not a known sum of MNIST's" in lines[0] and "UserWarning" not in proc.stderr
