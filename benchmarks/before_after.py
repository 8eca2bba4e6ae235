"""The MLP training step of this checkout against another checkout of the package, in one interleaved run.

    python -m benchmarks.before_after PATH [--rounds 15] [--cpu-time]

PATH is the root of another checkout (a git worktree of the commit before a change, say); its
``tinygrad_bn`` is imported under the name ``tinygrad_bn_before`` next to this one, so both steps,
the numpy reference and PyTorch take turns in the same rounds on the same batch (``mlp_step.py``'s
model, batch and optimizer; both models from the same seed, so the same weights). ``--cpu-time``
times with this process's CPU time, steadier on a busy machine when BLAS runs one thread
(``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_bn as tg

from . import mlp_step
from .timing import describe_machine, interleaved, markdown_table, ms, ratio_summary


def load_before(path: str, name: str = "tinygrad_bn_before") -> Any:
    """The package at ``path``/tinygrad_bn, imported as ``name`` (its imports are relative)."""
    root = Path(path) / "tinygrad_bn"
    spec = importlib.util.spec_from_file_location(name, root / "__init__.py", submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"before_after: no tinygrad_bn package under {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def step_of(pkg: Any, seed: int = 0) -> mlp_step.Step:
    """The framework step (forward, loss, backward, SGD) built with package ``pkg``."""
    pkg.manual_seed(seed)
    model = pkg.models.mlp()
    opt = pkg.optim.SGD(model.parameters(), lr=mlp_step.LR, momentum=mlp_step.MOMENTUM)
    pkg.manual_seed(seed + 1)

    def step(x: np.ndarray, y: np.ndarray) -> float:
        loss = pkg.functional.cross_entropy(model(pkg.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.before_after", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="root of the other checkout (the 'before')")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--cpu-time", action="store_true", help="time with process CPU time")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    before = load_before(args.path)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((mlp_step.BATCH, 784), dtype=np.float32), rng.integers(0, 10, mlp_step.BATCH)
    steps = {"after": step_of(tg), "before": step_of(before)}
    steps.update({k: v for k, v in mlp_step.candidates(0).items() if k != "tinygrad_bn"})
    times = interleaved({k: (lambda s=s: s(x, y)) for k, s in steps.items()}, rounds=args.rounds, target=0.2,
                        timer=time.process_time if args.cpu_time else time.perf_counter)
    rows = [[f"{k} (ms per step)", ms(t).format(".3f")] for k, t in times.items()]
    for who in ("after", "before"):
        rows.append([f"{who} / numpy reference (target <= 1.15x)", ratio_summary(times, who, "reference").format(
            ".3f", "x")])
        if "torch" in times:
            rows.append([f"PyTorch eager / {who} (target > 1)", ratio_summary(times, "torch", who).format(unit="x")])
    rows.append(["after / before", ratio_summary(times, "after", "before").format(".3f", "x")])
    print(describe_machine())
    print(f"- before: {args.path}; {args.rounds} interleaved rounds; timer: "
          f"{'CPU time' if args.cpu_time else 'wall-clock'}\n")
    print(markdown_table(["measure", "median (min, max)"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
