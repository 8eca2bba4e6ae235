"""BatchNorm forward + backward: our fused kernel vs the staged Ioffe & Szegedy reference (and PyTorch).

    python -m benchmarks.batchnorm [--rounds 15] [--target 0.05]

Training mode, float32, shapes (256, 512) (BatchNorm1d after a 512-unit layer) and (64, 32, 28, 28)
(BatchNorm2d on a small conv feature map). Candidates, each computing y, dx, dweight and dbias:

- ``tape``: ``F.batch_norm`` + ``tg.autograd.grad``: what a user's training step pays, graph included.
- ``kernel``: ``Normalize.forward``/``backward`` called directly on numpy arrays (no tape).
- ``staged``: tests/bn_reference.py, the paper's staged forward and chain-rule backward in numpy.
- ``torch``: ``torch.nn.functional.batch_norm`` + ``torch.autograd.grad``, only if torch is importable.

Prints the machine, then per shape the milliseconds per forward+backward and the ratios
staged / tape, staged / kernel (and torch / tape), each as median (min, max) over interleaved rounds.
"""

from __future__ import annotations

import argparse
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.autograd import Node
from tinygrad_bn.ops.normalization import Normalize

from .timing import describe_machine, interleaved, markdown_table, ms, ratio_summary

SHAPES = [(256, 512), (64, 32, 28, 28)]


def _reference() -> ModuleType:
    """tests/bn_reference.py, loaded by path (the staged reference is test code, not part of the package)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "bn_reference.py"
    spec = importlib.util.spec_from_file_location("bn_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def candidates(shape: tuple[int, ...], seed: int = 0) -> dict[str, Callable[[], tuple]]:
    """Forward+backward closures for one shape; each returns (y, dx, dweight, dbias) as numpy arrays."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 1
    dy = rng.standard_normal(shape, dtype=np.float32)
    w = tg.Tensor(rng.uniform(0.5, 1.5, c).astype(np.float32), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(c, dtype=np.float32), requires_grad=True)
    rm, rv = tg.Tensor(np.zeros(c, np.float32)), tg.Tensor(np.ones(c, np.float32))
    attrs = dict(kind="batch_norm", inputs=("x", "weight", "bias", "running_mean", "running_var"),
                 axes=(0, *range(2, len(shape))), param_axes=(1,), eps=1e-5, training=True, momentum=0.1)
    ref = _reference()

    def tape() -> tuple:
        xt = tg.Tensor(x, requires_grad=True)
        y = F.batch_norm(xt, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
        return (y.data, *(g.data for g in tg.autograd.grad(y, [xt, w, b], grad_output=dy)))

    def kernel() -> tuple:
        xt = tg.Tensor(x, requires_grad=True)
        ctx = Node(Normalize, (xt, w, b, rm, rv), attrs)
        y = Normalize.forward(ctx, x, w.data, b.data, rm.data, rv.data, **ctx.attrs)
        return (y, *Normalize.backward(ctx, dy)[:3])

    def staged() -> tuple:
        y, cache = ref.staged_forward(x, w.data, b.data, 1e-5)
        return (y, *ref.staged_backward(dy, cache))

    out = {"tape": tape, "kernel": kernel, "staged": staged}
    try:
        import torch
    except ImportError:
        return out
    tx, tw, tb = (torch.tensor(a) for a in (x, w.data, b.data))
    trm, trv, tdy = torch.zeros(c), torch.ones(c), torch.tensor(dy)

    def torch_fb() -> tuple:
        xr, wr, br = (t.detach().requires_grad_() for t in (tx, tw, tb))
        y = torch.nn.functional.batch_norm(xr, trm, trv, wr, br, training=True, momentum=0.1, eps=1e-5)
        return (y.detach().numpy(), *(g.numpy() for g in torch.autograd.grad(y, [xr, wr, br], tdy)))

    out["torch"] = torch_fb
    return out


def check_agreement(fns: dict[str, Callable[[], tuple]]) -> float:
    """Largest relative difference between any candidate's results and the staged reference's (float32)."""
    expected = fns["staged"]()
    worst = 0.0
    for fn in fns.values():
        for got, want in zip(fn(), expected):
            worst = max(worst, float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30)))
    return worst


def run(rounds: int = 15, target: float = 0.05) -> list[list[str]]:
    """Time every shape; returns the table rows (also what ``python -m benchmarks`` may reuse)."""
    rows = []
    for shape in SHAPES:
        fns = candidates(shape)
        agreement = check_agreement(fns)
        if agreement > 1e-3:
            raise AssertionError(f"batchnorm benchmark: candidates disagree on {shape} (relative {agreement:.1e})")
        times = interleaved(fns, rounds=rounds, target=target)
        row = [str(shape), ms(times["tape"]).format(".3f"), ms(times["kernel"]).format(".3f"),
               ms(times["staged"]).format(".3f"), ratio_summary(times, "staged", "tape").format(unit="x"),
               ratio_summary(times, "staged", "kernel").format(unit="x")]
        if "torch" in times:
            row += [ms(times["torch"]).format(".3f"), ratio_summary(times, "torch", "tape").format(unit="x")]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--target", type=float, default=0.05, help="seconds per measurement (default 0.05)")
    args = parser.parse_args(argv)
    print("BatchNorm training forward+backward, float32 (median (min, max) over interleaved rounds)\n")
    print(describe_machine() + "\n")
    rows = run(args.rounds, args.target)
    headers = ["shape", "tape ms", "kernel ms", "staged ms", "staged / tape", "staged / kernel"]
    if len(rows[0]) > len(headers):
        headers += ["torch ms", "torch / tape"]
    else:
        print("(PyTorch not importable: torch comparison skipped)\n")
    print(markdown_table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
