"""The MLP training step: tinygrad_bn vs the hand-written numpy reference (vs PyTorch when importable).

    python -m benchmarks.mlp_step [--rounds 15] [--threads N]        # one step, interleaved rounds
    python -m benchmarks.mlp_step --epoch [--epochs 3] [--threads N]  # whole epochs of Fashion-MNIST
    python -m benchmarks.mlp_step --memory [--epochs 3]               # peak RSS of each, in a subprocess

The model is ``tinygrad_bn.models.mlp()`` (784-512-BN-ReLU-Dropout(0.2)-512-BN-ReLU-Dropout(0.2)-10),
batch 128, float32, softmax cross-entropy, SGD(lr=0.01, momentum=0.9). Candidates, each doing the whole
step (forward, loss, backward, update) and returning the loss as a Python float:

- ``tinygrad_bn``: ``model(x)``, ``F.cross_entropy``, ``loss.backward()``, ``opt.step()``;
- ``reference``: benchmarks/reference_mlp.py, the same math written by hand in numpy (no graph);
- ``torch``: the same model in PyTorch eager (weights copied from ours), when ``import torch`` works.

``--epoch`` runs 468 steps per epoch over Fashion-MNIST's 60,000 training images, read from
``$TINYGRAD_BN_DATA`` or the download cache, never downloading (random images of the same shape when
neither has them),
the candidates taking turns epoch by epoch. ``--threads N`` sets the BLAS thread count (threadpoolctl
when installed, else the *_NUM_THREADS variables and a re-exec before numpy starts its threads).
``--memory`` runs each candidate alone in a fresh process and reports its peak RSS and its RSS after
each epoch (growth from epoch to epoch would be a leak).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import models, nn, optim

from .reference_mlp import ReferenceMLP
from .timing import Summary, describe_machine, interleaved, markdown_table, ms, ratio_summary

BATCH, LR, MOMENTUM, P = 128, 0.01, 0.9, 0.2
Step = Callable[[np.ndarray, np.ndarray], float]


def reference_from(model: nn.Module, lr: float = LR, momentum: float = MOMENTUM) -> ReferenceMLP:
    """A ReferenceMLP holding copies of ``model``'s Linear and BatchNorm1d parameters, in order."""
    linears = [(m.weight.data, m.bias.data) for m in model.modules() if isinstance(m, nn.Linear)]
    norms = [(m.weight.data, m.bias.data) for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    return ReferenceMLP(linears, norms, p=drops[0] if drops else 0.0, lr=lr, momentum=momentum)


def framework_step(model: nn.Module, opt: optim.Optimizer) -> Step:
    def step(x: np.ndarray, y: np.ndarray) -> float:
        loss = F.cross_entropy(model(tg.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def reference_step(ref: ReferenceMLP, generator: np.random.Generator) -> Step:
    return lambda x, y: ref.step(x, y, generator)


def torch_step(model: nn.Module) -> Step | None:
    """The same architecture and weights in PyTorch eager, or None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    tmodel = torch_model(model)
    return torch_training_step(tmodel, torch.optim.SGD(tmodel.parameters(), lr=LR, momentum=MOMENTUM))


def torch_training_step(tmodel: Any, opt: Any) -> Step:
    """One PyTorch eager step of ``tmodel`` with ``opt`` (cross-entropy), for every benchmark comparing with it."""
    import torch

    def step(x: np.ndarray, y: np.ndarray) -> float:
        loss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def torch_model(model: nn.Module) -> Any:
    """``model`` (an nn.Sequential of Linear, BatchNorm1d, ReLU, Dropout) rebuilt in PyTorch with its weights."""
    import torch
    layers: list[Any] = []
    for m in model:  # nn.Sequential
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features)
        elif isinstance(m, nn.BatchNorm1d):
            t = torch.nn.BatchNorm1d(m.num_features)
        elif isinstance(m, nn.Dropout):
            layers.append(torch.nn.Dropout(m.p))
            continue
        else:
            layers.append(torch.nn.ReLU())
            continue
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(m.weight.data))
            t.bias.copy_(torch.from_numpy(m.bias.data))
        layers.append(t)
    return torch.nn.Sequential(*layers)


def candidates(seed: int = 0, only: str | None = None) -> dict[str, Step]:
    """Fresh, identically initialized candidates (one model each); ``only`` builds just that one."""
    tg.manual_seed(seed)
    model = models.mlp()
    out: dict[str, Step] = {}
    if only in (None, "reference"):
        out["reference"] = reference_step(reference_from(model), np.random.default_rng(seed + 1))
    if only in (None, "torch"):
        step = torch_step(model)
        if step is not None:
            out["torch"] = step
    if only in (None, "tinygrad_bn"):
        tg.manual_seed(seed + 1)
        out["tinygrad_bn"] = framework_step(model, optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM))
    return dict(sorted(out.items(), key=lambda kv: ["tinygrad_bn", "reference", "torch"].index(kv[0])))


# ---- data ---------------------------------------------------------------------------------------------
def load_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Fashion-MNIST training images (60000, 784) float32 normalized, labels int64, and where they came from."""
    from tinygrad_bn.data.datasets import DatasetNotFoundError, load_fashion_mnist
    from tinygrad_bn.data.loader import FASHION_MNIST_MEAN, FASHION_MNIST_STD, prepare

    try:
        images, labels = load_fashion_mnist("train", download=False)  # $TINYGRAD_BN_DATA, then the cache
    except DatasetNotFoundError:
        pass
    else:
        return prepare(images, FASHION_MNIST_MEAN, FASHION_MNIST_STD), labels.astype(np.int64), "Fashion-MNIST"
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((60000, 784), dtype=np.float32), rng.integers(0, 10, 60000),
            "synthetic (Fashion-MNIST not found)")


def run_epoch(step: Step, x: np.ndarray, y: np.ndarray, order: np.ndarray) -> float:
    """One pass over ``order`` in batches of 128 (the last partial batch dropped); returns the mean loss."""
    total, n = 0.0, len(order) // BATCH
    for i in range(n):
        idx = order[i * BATCH:(i + 1) * BATCH]
        total += step(x[idx], y[idx])
    return total / n


# ---- threads --------------------------------------------------------------------------------------------
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(n: int, argv: list[str], module: str = "benchmarks.mlp_step") -> str:
    """Limit BLAS (and torch) to ``n`` threads; may re-exec ``python -m module *argv`` with the variables set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if any(os.environ.get(v) != str(n) for v in _THREAD_VARS):
            env = {**os.environ, **{v: str(n) for v in _THREAD_VARS}}
            os.execve(sys.executable, [sys.executable, "-m", module, *argv], env)
        how = "environment variables (re-exec)"
    else:
        threadpool_limits(n)
        how = "threadpoolctl"
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    return f"{n} BLAS thread(s) via {how}"


# ---- modes ------------------------------------------------------------------------------------------------
def run_steps(rounds: int = 15, target: float = 0.2, seed: int = 0,
              cpu_time: bool = False) -> tuple[list[list[str]], dict[str, list[float]]]:
    """Per-step timing on one fixed batch; rows of (candidate, ms per step, ratio to the reference)."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((BATCH, 784), dtype=np.float32), rng.integers(0, 10, BATCH)
    steps = candidates(seed)
    timer = time.process_time if cpu_time else time.perf_counter
    times = interleaved({k: (lambda s=s: s(x, y)) for k, s in steps.items()}, rounds=rounds, target=target,
                        timer=timer)
    return _rows(times, "ms per step", ms), times


def _rows(times: dict[str, list[float]], unit: str, fmt: Callable[[list[float]], Summary]) -> list[list[str]]:
    rows = []
    for name in times:
        ratio = "1" if name == "reference" else ratio_summary(times, name, "reference").format(unit="x")
        rows.append([name, fmt(times[name]).format(".3f" if unit.startswith("ms") else ".2f"), ratio])
    return rows


def run_epochs(epochs: int = 3, seed: int = 0, cpu_time: bool = False) -> tuple[list[list[str]], str]:
    x, y, source = load_data(seed)
    steps = candidates(seed)
    rng = np.random.default_rng(seed)
    names = list(steps)
    timer = time.process_time if cpu_time else time.perf_counter
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(epochs):
        order = rng.permutation(len(x))
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = timer()
            loss = run_epoch(steps[name], x, y, order)
            times[name].append(timer() - start)
            print(f"  epoch {r + 1} {name}: {times[name][-1]:.2f} s, mean loss {loss:.4f}", file=sys.stderr)
    return _rows(times, "s per epoch", Summary.of), source


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def memory_child(name: str, epochs: int, seed: int = 0) -> dict[str, Any]:
    """Run in a fresh process: load data, then ``epochs`` epochs of one candidate; RSS figures in MB.

    The peak is the kernel's high-water mark of this process's RSS, reset (``/proc/self/clear_refs``) after
    the data are loaded, so it is the peak *during training* (loading the data set has its own, larger,
    temporary peak that says nothing about the framework).
    """
    x, y, _ = load_data(seed)
    step = candidates(seed, only=name)[name]
    mb = 1 / 1024
    before = _status_kb("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM, the peak RSS
    rng = np.random.default_rng(seed)
    after = []
    for _ in range(epochs):
        run_epoch(step, x, y, rng.permutation(len(x)))
        after.append(_status_kb("VmRSS") * mb)
    return {"before": before * mb, "after": after, "peak": _status_kb("VmHWM") * mb}


def run_memory(epochs: int = 3, seed: int = 0, threads: int | None = None) -> dict[str, dict[str, Any]]:
    """Each candidate alone in a fresh process (``--memory-child``); its RSS figures (MB) by name."""
    root = Path(__file__).resolve().parents[1]
    results = {}
    extra = ["--threads", str(threads)] if threads else []
    for name in candidates(seed):
        out = subprocess.run([sys.executable, "-m", "benchmarks.mlp_step", "--memory-child", name,
                              "--epochs", str(epochs), *extra], cwd=root, capture_output=True, text=True, check=True)
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def memory_rows(results: dict[str, dict[str, Any]]) -> list[list[str]]:
    ref = results["reference"]
    rows = []
    for name, r in results.items():
        extra, ref_extra = r["peak"] - r["before"], ref["peak"] - ref["before"]
        rows.append([name, f"{r['peak']:.0f}", f"{r['peak'] / ref['peak']:.2f}x", f"{extra:.0f}",
                     f"{extra / ref_extra:.2f}x",
                     " / ".join(f"{a:.0f}" for a in r["after"]), f"{r['after'][-1] - r['after'][0]:+.1f}"])
    return rows


MEMORY_HEADERS = ["candidate", "peak RSS in training MB", "vs reference", "peak - RSS before training MB",
                  "vs reference", "RSS after each epoch MB", "growth epoch 1 -> last MB"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds in per-step mode (default 15)")
    parser.add_argument("--epoch", action="store_true", help="time whole epochs of Fashion-MNIST")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per candidate in --epoch/--memory (default 3)")
    parser.add_argument("--memory", action="store_true", help="peak RSS of each candidate in a subprocess")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: numpy's own choice)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time instead of wall-clock (steadier when the machine "
                        "is busy; use with --threads 1)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = set_threads(args.threads, argv) if args.threads else "BLAS threads: library default"
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.epochs)))
        return 0
    clock = "CPU time of this process" if args.cpu_time else "wall-clock"
    print(describe_machine() + f"\n- {threads}\n- timer: {clock}\n")
    if args.memory:
        print(f"Memory over {args.epochs} epochs, each candidate alone in a fresh process\n")
        print(markdown_table(MEMORY_HEADERS, memory_rows(run_memory(args.epochs, threads=args.threads))))
    elif args.epoch:
        rows, source = run_epochs(args.epochs, cpu_time=args.cpu_time)
        print(f"Seconds per epoch (468 steps of batch 128; data: {source}); median (min, max) over {args.epochs} "
              "interleaved epochs\n")
        print(markdown_table(["candidate", "s per epoch", "candidate / reference"], rows))
    else:
        rows, _ = run_steps(args.rounds, cpu_time=args.cpu_time)
        print(f"Training step, batch 128; median (min, max) over {args.rounds} interleaved rounds\n")
        print(markdown_table(["candidate", "ms per step", "candidate / reference"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
