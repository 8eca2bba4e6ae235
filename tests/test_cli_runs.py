"""The training commands as a user meets them, each in a real subprocess: checkpoints and --resume
(bit for bit after a Ctrl-C), --force and the refusal to overwrite, the lock, --out checked before any
work, divergence, SIGINT/SIGTERM, and one-line errors with their exit statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.checkpoint import load_checkpoint
from tinygrad_bn.data import write_idx

ROOT = Path(__file__).parents[1]
REAL = os.environ.get("TINYGRAD_BN_DATA")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A synthetic MNIST test split (uncompressed IDX files: no MD5 warning) of 1,200 images."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1200).astype(np.uint8)
    protos = rng.random((10, 28, 28)) < 0.25
    images = np.clip(protos[labels] * 200 + rng.integers(0, 80, (1200, 28, 28)), 0, 255).astype(np.uint8)
    (root / "mnist").mkdir()
    write_idx(root / "mnist" / "t10k-images-idx3-ubyte", images)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", labels)
    return root


def mnist_args(data_dir: Path, out: Path, *extra: str, epochs: int = 3) -> list[str]:
    """A tiny run: 1,000 training images in batches of 25, a 16-unit hidden layer."""
    return ["mnist", "--data-dir", str(data_dir), "--holdout", "200", "--out", str(out), "--hidden", "16",
            "--epochs", str(epochs), "--batch-size", "25", "--no-progress", "--no-download", *extra]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tinygrad_bn", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT)


def one_line_error(proc: subprocess.CompletedProcess, status: int, *fragments: str) -> str:
    """The process exited with ``status`` and said one line on stderr (no traceback) holding ``fragments``."""
    err = proc.stderr.strip()
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def leftovers(out: Path) -> list[str]:
    """Hidden files (temporary files, the lock) left in ``out``."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def final_model(out: Path) -> dict[str, np.ndarray]:
    return dict(tg.load(out / "model.npz"))


def assert_same_model(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k  # bit for bit


# ---- checkpoints, resume, signals -----------------------------------------------------------------
def interrupt_during(args: list[str], epoch: int, signum: int) -> subprocess.CompletedProcess:
    """Start the command, wait for the line of epoch ``epoch - 1`` (its checkpoint is written before the
    line), send ``signum`` while epoch ``epoch`` trains, and return the finished process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_bn", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(f"epoch {epoch - 1:3d}/"):
            proc.send_signal(signum)
            break
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(args, proc.returncode, "".join(seen) + out, err)


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
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_bn",
                             *mnist_args(data_dir, out, "--batch-size", "2", "--no-bn", epochs=2)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    for line in proc.stdout:
        if line.startswith("model "):  # training starts right after this line; its first epoch takes 500 steps
            proc.send_signal(signal.SIGINT)
            break
    out_text, err = proc.communicate(timeout=60)
    one_line_error(subprocess.CompletedProcess([], proc.returncode, out_text, err), 130,
                   "stopped by SIGINT during epoch 1, before the first checkpoint: nothing was saved")
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
