"""Second-order cost: a Hessian-vector product of the MLP against a gradient, and against PyTorch.

    python -m benchmarks.hvp [--rounds 15] [--cpu-time]

The model and batch are the MLP step's (``mlp_step.py``: 784-512-BN-ReLU-Dropout-512-BN-ReLU-Dropout-10,
batch 128, float32, softmax cross-entropy), in training mode. Candidates, each from the forward pass on:

- ``gradient``: loss and ``tg.autograd.grad(loss, params)``: one reverse pass;
- ``hvp``: loss, ``grad(loss, params, create_graph=True)``, then ``grad(sum(g . v), params)``: the
  Hessian-vector product H v by double backward. The textbook cost (Pearlmutter 1994) is a small
  constant times a gradient; 2x counts the recorded first pass and the second one;
- ``tensor values, recording off``: the first-order gradient computed the way a Tensor-only design
  (PyTorch, needle) would, every backward step on Tensors with recording off (our rules run on
  both), the price of not running ordinary backward passes on plain arrays;
- ``torch gradient`` / ``torch hvp``: PyTorch eager, ``torch.autograd.grad`` and
  ``torch.autograd.functional.hvp`` over the parameters (``torch.func.functional_call``), when importable.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import models
from tinygrad_bn.engine.backward import run_backward

from .timing import describe_machine, interleaved, markdown_table, ms, ratio_summary

BATCH = 128


def _setup(seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray, list[np.ndarray]]:
    tg.manual_seed(seed)
    model = models.mlp()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, 784)).astype(np.float32)
    y = rng.integers(0, 10, BATCH)
    v = [rng.standard_normal(p.shape).astype(np.float32) for p in model.parameters()]
    return model, x, y, v


def candidates(seed: int = 0) -> dict[str, Callable[[], object]]:
    model, x, y, v = _setup(seed)
    params = list(model.parameters())
    vt = [tg.Tensor(a) for a in v]

    def loss() -> tg.Tensor:
        return F.cross_entropy(model(tg.Tensor(x)), y)

    def gradient() -> object:
        return tg.autograd.grad(loss(), params)

    def hvp() -> object:
        grads = tg.autograd.grad(loss(), params, create_graph=True)
        dot = sum(((g * w).sum() for g, w in zip(grads[1:], vt[1:])), (grads[0] * vt[0]).sum())
        return tg.autograd.grad(dot, params)

    def tensor_values() -> object:
        out = loss()
        with tg.no_grad():                       # Tensors in every backward step, nothing recorded
            return run_backward(out, None, False, tuple(params), create_graph=True)

    out: dict[str, Callable[[], object]] = {"gradient": gradient, "hvp": hvp, "tensor values, recording off":
                                            tensor_values}
    out.update(_torch(model, x, y, v))
    return out


def _torch(model: Any, x: np.ndarray, y: np.ndarray, v: list[np.ndarray]) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torch.func import functional_call
    except ImportError:
        return {}
    from .mlp_step import torch_model
    tmodel = torch_model(model)
    names = [n for n, _ in tmodel.named_parameters()]
    params = tuple(p.detach() for p in tmodel.parameters())
    tx, ty, tv = torch.from_numpy(x), torch.from_numpy(y), tuple(torch.from_numpy(a) for a in v)

    def f(*ps: Any) -> Any:
        return torch.nn.functional.cross_entropy(functional_call(tmodel, dict(zip(names, ps)), (tx,)), ty)

    def gradient() -> object:
        ps = tuple(p.requires_grad_() for p in params)
        return torch.autograd.grad(f(*ps), ps)

    def hvp() -> object:
        return torch.autograd.functional.hvp(f, params, tv)

    return {"torch gradient": gradient, "torch hvp": hvp}


def run(rounds: int = 15, seed: int = 0, cpu_time: bool = False) -> dict[str, list[float]]:
    return interleaved(candidates(seed), rounds=rounds, target=0.2,
                       timer=time.process_time if cpu_time else time.perf_counter)


def rows(times: dict[str, list[float]]) -> list[list[str]]:
    out = [[f"{name} (ms)", ms(t).format(".2f")] for name, t in times.items()]
    out.append(["hvp / gradient (textbook: about 2x)", ratio_summary(times, "hvp", "gradient").format(unit="x")])
    out.append(["tensor values, recording off / gradient (the Tensor-only design's first order)",
                ratio_summary(times, "tensor values, recording off", "gradient").format(unit="x")])
    if "torch hvp" in times:
        out.append(["torch hvp / torch gradient", ratio_summary(times, "torch hvp", "torch gradient").format(unit="x")])
        out.append(["hvp: tinygrad_bn / torch.autograd.functional.hvp",
                    ratio_summary(times, "hvp", "torch hvp").format(unit="x")])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hvp", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--cpu-time", action="store_true", help="time with process CPU time (steadier with one "
                        "BLAS thread: OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    times = run(args.rounds, cpu_time=args.cpu_time)
    print(describe_machine())
    print(f"- {args.rounds} interleaved rounds, MLP 784-512-512-10 with BatchNorm and dropout, batch {BATCH}; "
          f"timer: {'CPU time' if args.cpu_time else 'wall-clock'}\n")
    print(markdown_table(["measure", "median (min, max)"], rows(times)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
