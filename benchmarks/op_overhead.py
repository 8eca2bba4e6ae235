"""Per-node cost of the tape: a chain of tiny ops, forward only and forward + backward.

    python -m benchmarks.op_overhead [--rounds 15] [--length 200]

The op is ``y = y * w`` on 8-element float32 arrays (w a leaf that requires grad), repeated
``--length`` times, so the numpy work is negligible and what is timed is the bookkeeping around it:
building the node, saving inputs, ordering the graph, calling each backward, accumulating ``w.grad``.
Candidates, each timed per node (total / length):

- ``tinygrad_bn``: ``Tensor.__mul__`` and ``Tensor.backward``.
- ``minimal``: the smallest honest Python tape (below: a node object with its parents and a backward
  closure, an iterative topological sort, a dict of gradients); the floor for a pure-Python tape.
- ``torch``: PyTorch eager autograd, when ``import torch`` works (not a dependency).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import tinygrad_bn as tg

from .timing import describe_machine, interleaved, markdown_table, ratio_summary


class _Var:
    """A value of the minimal tape: data, gradient, parents and the local backward."""

    __slots__ = ("data", "grad", "parents", "backward")

    def __init__(self, data: np.ndarray, parents: tuple = (), backward: Callable | None = None):
        self.data, self.grad, self.parents, self.backward = data, None, parents, backward


def _mul(a: _Var, b: _Var) -> _Var:
    ad, bd = a.data, b.data
    return _Var(ad * bd, (a, b), lambda g: (g * bd, g * ad))


def _backprop(root: _Var, seed: np.ndarray) -> None:
    """Reverse-mode sweep: DFS post-order, then gradients from the root down, summed per variable."""
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        v, done = stack.pop()
        if done:
            order.append(v)
        elif id(v) not in visited and v.backward is not None:
            visited.add(id(v))
            stack.append((v, True))
            stack.extend((p, False) for p in v.parents)
    grads = {id(root): seed}
    for v in reversed(order):
        g = grads.pop(id(v))
        for p, pg in zip(v.parents, v.backward(g)):
            if p.backward is None:
                p.grad = pg if p.grad is None else p.grad + pg
            else:
                grads[id(p)] = grads[id(p)] + pg if id(p) in grads else pg


def candidates(length: int, backward: bool) -> dict[str, Callable[[], object]]:
    """Closures running one chain of ``length`` multiplications (and its backward if ``backward``)."""
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0.9, 1.1, 8).astype(np.float32)
    w0 = rng.uniform(0.9, 1.1, 8).astype(np.float32)
    seed = np.ones(8, np.float32)

    x, w = tg.Tensor(x0, requires_grad=True), tg.Tensor(w0, requires_grad=True)

    def ours() -> None:
        y = x
        for _ in range(length):
            y = y * w
        if backward:
            y.backward(seed)
            x.grad = w.grad = None

    mx, mw = _Var(x0), _Var(w0)

    def minimal() -> None:
        y = mx
        for _ in range(length):
            y = _mul(y, mw)
        if backward:
            _backprop(y, seed)
            mx.grad = mw.grad = None

    out = {"tinygrad_bn": ours, "minimal": minimal}
    try:
        import torch
    except ImportError:
        return out
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    tseed = torch.tensor(seed)

    def torch_chain() -> None:
        y = tx
        for _ in range(length):
            y = y * tw
        if backward:
            y.backward(tseed)
            tx.grad = tw.grad = None

    out["torch"] = torch_chain
    return out


def run(rounds: int = 15, length: int = 200, target: float = 0.05) -> dict[str, dict[str, list[float]]]:
    """Microseconds per node of each candidate, per round, for 'forward' and 'forward+backward'.

    Timed with this process's CPU time: everything here runs on one thread, and CPU time does not count
    the time other jobs on a shared machine take the core away (wall-clock medians did, by up to 2x).
    """
    result = {}
    for mode, backward in (("forward", False), ("forward+backward", True)):
        times = interleaved(candidates(length, backward), rounds=rounds, target=target, timer=time.process_time)
        result[mode] = {k: [t / length * 1e6 for t in v] for k, v in times.items()}
    return result


def rows(result: dict[str, dict[str, list[float]]]) -> list[list[str]]:
    from .timing import Summary

    out = []
    for mode, times in result.items():
        for name, us in times.items():
            row = [mode, name, Summary.of(us).format(".2f", " us")]
            row.append("1" if name == "tinygrad_bn" else ratio_summary(times, "tinygrad_bn", name).format(unit="x"))
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--length", type=int, default=200, help="ops per chain (default 200)")
    args = parser.parse_args(argv)
    print(f"Per-node tape cost: a chain of {args.length} tiny multiplications (median (min, max) over "
          "interleaved rounds)\n")
    print(describe_machine() + "\n")
    print(markdown_table(["mode", "candidate", "per node", "tinygrad_bn / candidate"], rows(run(args.rounds,
                                                                                                  args.length))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
