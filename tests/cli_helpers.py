"""Shared by the command-line tests: a synthetic MNIST test split written as real IDX files, running
``tinygrad-bn`` in a subprocess, and checking that it said one line and exited with a given status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tinygrad_bn as tg
from tinygrad_bn.data import write_idx

ROOT = Path(__file__).parents[1]
REAL = os.environ.get("TINYGRAD_BN_DATA")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1"}


def write_synthetic_mnist(root: Path) -> Path:
    """A synthetic MNIST test split (uncompressed IDX files: no MD5 warning) of 1,200 images in root/mnist."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1200).astype(np.uint8)
    protos = rng.random((10, 28, 28)) < 0.25
    images = np.clip(protos[labels] * 200 + rng.integers(0, 80, (1200, 28, 28)), 0, 255).astype(np.uint8)
    (root / "mnist").mkdir(parents=True)
    write_idx(root / "mnist" / "t10k-images-idx3-ubyte", images)
    write_idx(root / "mnist" / "t10k-labels-idx1-ubyte", labels)
    return root


def mnist_args(data_dir: Path, out: Path, *extra: str, epochs: int = 3) -> list[str]:
    """A tiny run: 1,000 training images in batches of 25, a 16-unit hidden layer."""
    return ["mnist", "--data-dir", str(data_dir), "--holdout", "200", "--out", str(out), "--hidden", "16",
            "--epochs", str(epochs), "--batch-size", "25", "--no-progress", "--no-download", *extra]


def cli(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``tinygrad-bn ARGS`` in a subprocess, one BLAS thread (the runs are then reproducible bit for bit)."""
    return subprocess.run([sys.executable, "-m", "tinygrad_bn", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or ENV, cwd=ROOT)


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


def signal_when(args: list[str], trigger: str, signum: int, stream: str = "stdout") -> subprocess.CompletedProcess:
    """Run ``tinygrad-bn ARGS``; when a line of ``stream`` (stdout: the epoch lines; stderr: the experiments'
    progress lines) starts with ``trigger``, send ``signum``; return the finished process."""
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_bn", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    seen = []
    for line in getattr(proc, stream):
        seen.append(line)
        if line.lstrip().startswith(trigger):
            proc.send_signal(signum)
            break
    out, err = proc.communicate(timeout=120)
    if stream == "stdout":
        out = "".join(seen) + out
    else:
        err = "".join(seen) + err
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def interrupt_during(args: list[str], epoch: int, signum: int) -> subprocess.CompletedProcess:
    """Send ``signum`` while epoch ``epoch`` of ``tinygrad-bn mnist`` trains: right after the line of epoch
    ``epoch - 1`` (whose checkpoint is written before the line)."""
    return signal_when(args, f"epoch {epoch - 1:3d}/", signum)
