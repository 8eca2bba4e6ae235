"""The CNN training step: tinygrad_bn vs the hand-written numpy reference (vs PyTorch when importable).

    python -m benchmarks.cnn_step [--rounds 15] [--threads N] [--cpu-time]

The model is ``tinygrad_bn.models.cnn()`` (2 x (Conv2d 3x3 -> BatchNorm2d -> ReLU -> MaxPool2d(2) ->
Dropout2d(0.1)) -> Flatten -> Linear(3136, 128) -> BatchNorm1d -> ReLU -> Dropout(0.3) -> Linear(128, 10)),
batch 128 of (1, 28, 28) float32, softmax cross-entropy, Adam(lr=2e-3) as ``tinygrad-bn mnist --model cnn``
trains it. Candidates, each doing the whole step (forward, loss, backward, update) and returning the loss:

- ``tinygrad_bn``: ``model(x)``, ``F.cross_entropy``, ``loss.backward()``, ``opt.step()``;
- ``reference``: benchmarks/reference_cnn.py, the same math written by hand in numpy (im2col, no graph);
- ``torch``: the same model in PyTorch eager (weights copied from ours), when ``import torch`` works.

Each round times every candidate on one fixed batch, in rotating order (benchmarks/timing.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

import tinygrad_bn as tg
from tinygrad_bn import models, nn, optim

from .mlp_step import Step, _rows, framework_step, set_threads, torch_training_step
from .reference_cnn import ReferenceCNN
from .timing import describe_machine, interleaved, markdown_table, ms, ratio_summary

BATCH, LR = 128, 2e-3


def reference_from(model: nn.Module, lr: float = LR) -> ReferenceCNN:
    """A ReferenceCNN holding copies of ``model``'s parameters (a ``models.cnn()`` with a hidden layer)."""
    convs = [m.weight.data for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [(m.weight.data, None if m.bias is None else m.bias.data)
               for m in model.modules() if isinstance(m, nn.Linear)]
    norms = [(m.weight.data, m.bias.data) for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout2d)]
    heads = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    return ReferenceCNN(convs, linears, norms, p=drops[0] if drops else 0.0, head_p=heads[0] if heads else 0.0,
                        lr=lr)


def torch_model(model: nn.Module) -> Any:
    """``model`` (a ``models.cnn()`` nn.Sequential) rebuilt in PyTorch with its weights."""
    import torch
    tnn = torch.nn
    layers: list[Any] = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            t = tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, bias=m.bias is not None)
        elif isinstance(m, nn.Linear):
            t = tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            t = (tnn.BatchNorm2d if isinstance(m, nn.BatchNorm2d) else tnn.BatchNorm1d)(m.num_features)
        else:
            simple = {nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten}
            if isinstance(m, nn.MaxPool2d):
                layers.append(tnn.MaxPool2d(2))
            elif isinstance(m, (nn.Dropout2d, nn.Dropout)):
                layers.append((tnn.Dropout2d if isinstance(m, nn.Dropout2d) else tnn.Dropout)(m.p))
            else:
                layers.append(simple[type(m)]())
            continue
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(m.weight.data))
            if m.bias is not None:
                t.bias.copy_(torch.from_numpy(m.bias.data))
        layers.append(t)
    return tnn.Sequential(*layers)


def torch_step(model: nn.Module) -> Step | None:
    """The same architecture, weights and optimizer in PyTorch eager, or None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    tmodel = torch_model(model)
    return torch_training_step(tmodel, torch.optim.Adam(tmodel.parameters(), lr=LR))


def candidates(seed: int = 0) -> dict[str, Step]:
    """Fresh, identically initialized candidates: tinygrad_bn, reference, torch (when importable)."""
    tg.manual_seed(seed)
    model = models.cnn()
    ref = reference_from(model)
    generator = np.random.default_rng(seed + 1)
    out: dict[str, Step] = {"tinygrad_bn": framework_step(model, optim.Adam(model.parameters(), lr=LR)),
                            "reference": lambda x, y: ref.step(x, y, generator)}
    step = torch_step(model)
    if step is not None:
        out["torch"] = step
    tg.manual_seed(seed + 1)
    return out


def run_steps(rounds: int = 15, target: float = 0.5, seed: int = 0,
              cpu_time: bool = False) -> tuple[list[list[str]], dict[str, list[float]]]:
    """Per-step timing on one fixed batch (each measurement about ``target`` s: a few steps); rows of
    (candidate, ms per step, ratio to the reference) and the times."""
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, BATCH)
    steps = candidates(seed)
    timer = time.process_time if cpu_time else time.perf_counter
    times = interleaved({k: (lambda s=s: s(x, y)) for k, s in steps.items()}, rounds=rounds, target=target,
                        timer=timer)
    return _rows(times, "ms per step", ms), times


def ratio_lines(times: dict[str, list[float]]) -> list[list[str]]:
    """The two headline ratios: tinygrad_bn / reference (target <= 1.15x) and PyTorch / tinygrad_bn."""
    out = [["tinygrad_bn / numpy reference", ratio_summary(times, "tinygrad_bn", "reference").format(unit="x"),
            "<= 1.15x"]]
    if "torch" in times:
        out.append(["PyTorch / tinygrad_bn", ratio_summary(times, "torch", "tinygrad_bn").format(unit="x"),
                    "(above 1: tinygrad_bn is faster)"])
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: numpy's own choice)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with this process's CPU time instead of wall-clock (steadier when the machine "
                        "is busy; use with --threads 1)")
    args = parser.parse_args(argv)
    threads = "BLAS threads: library default"
    if args.threads:
        threads = set_threads(args.threads, argv, "benchmarks.cnn_step")
    clock = "CPU time of this process" if args.cpu_time else "wall-clock"
    print(describe_machine() + f"\n- {threads}\n- timer: {clock}\n")
    rows, times = run_steps(args.rounds, cpu_time=args.cpu_time)
    print(f"CNN training step (models.cnn(), Adam), batch 128 of 1x28x28; median (min, max) over {args.rounds} "
          "interleaved rounds\n")
    print(markdown_table(["candidate", "ms per step", "candidate / reference"], rows))
    print()
    print(markdown_table(["ratio", "median (min, max)", "target"], ratio_lines(times)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
