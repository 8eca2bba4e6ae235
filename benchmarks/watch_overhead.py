"""What the tools that watch the tape cost while they are on: anomaly mode and the backward trace.

    python -m benchmarks.watch_overhead [--rounds 15] [--length 200]

The chain of ``benchmarks/op_overhead.py`` (``y = y * w`` on 8-element float32 arrays, ``--length``
times, then backward), timed per node, with nothing on, inside ``tg.autograd.detect_anomaly()`` (each
op walks the Python stack for its creation site; each result and gradient is scanned for NaN/Inf), and
inside ``tg.autograd.trace()`` (each visited node's gradients are measured and the small ones copied).
Off, neither costs anything but a loop over an empty observer list per op and per node; that cost is
part of op_overhead's figures.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

import numpy as np

import tinygrad_bn as tg

from .timing import describe_machine, interleaved, markdown_table, ratio_summary


def candidates(length: int) -> dict[str, Callable[[], object]]:
    """Closures running the chain forward and backward with each tool on (or none)."""
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.uniform(0.9, 1.1, 8).astype(np.float32), requires_grad=True)
    w = tg.Tensor(rng.uniform(0.9, 1.1, 8).astype(np.float32), requires_grad=True)
    seed = np.ones(8, np.float32)

    def run(context: Callable[[], contextlib.AbstractContextManager]) -> Callable[[], None]:
        def chain() -> None:
            with context():
                y = x
                for _ in range(length):
                    y = y * w
                y.backward(seed)
            x.grad = w.grad = None
        return chain

    return {"off": run(contextlib.nullcontext), "detect_anomaly": run(tg.autograd.detect_anomaly),
            "trace": run(tg.autograd.trace)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--length", type=int, default=200, help="ops per chain (default 200)")
    args = parser.parse_args(argv)
    times = interleaved(candidates(args.length), rounds=args.rounds, timer=time.process_time)
    print(f"Per-node cost of forward + backward, a chain of {args.length} tiny multiplications (process CPU "
          "time; median (min, max) over interleaved rounds)\n")
    print(describe_machine() + "\n")
    rows = []
    for name, seconds in times.items():
        per_node = sorted(s / args.length * 1e6 for s in seconds)
        ratio = "1" if name == "off" else ratio_summary(times, name, "off").format(unit="x")
        rows.append([name, f"{np.median(per_node):.2f} us (min {per_node[0]:.2f}, max {per_node[-1]:.2f})", ratio])
    print(markdown_table(["mode", "per node", "mode / off"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
