"""How to build a dropout mask cheaply, and what F.dropout costs over bare numpy.

Run: ``python benchmarks/dropout_mask.py [--rows 256] [--cols 1024] [--rounds 15]``. Each variant is
timed once per round, the variants interleaved round by round (the machine is shared, so timings are
noisy), and the median per variant is printed in ms, with its ratio to the reference: the mask
tinygrad_bn builds, ``(g.random(shape, float32) >= p) * float32(1/(1-p))``, then ``x * mask``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tinygrad_bn as tg
import tinygrad_bn.functional as F


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    shape, p = (args.rows, args.cols), 0.5
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(1)
    scale = np.float32(1 / (1 - p))
    xt = tg.Tensor(x, requires_grad=True)

    def fwd_bwd() -> None:
        xt.grad = None
        F.dropout(xt, p, generator=g).sum().backward()

    variants = {
        "reference: bool mask * f32 scale, x * mask": lambda: x * ((g.random(shape, dtype=np.float32) >= p) * scale),
        "float64 uniforms, / (1-p) (result float64!)": lambda: x * ((g.random(shape) >= p) / (1 - p)),
        "np.where(u >= p, x * scale, 0)": lambda: np.where(g.random(shape, dtype=np.float32) >= p, x * scale, 0),
        "g.binomial(1, 1-p) * scale": lambda: x * (g.binomial(1, 1 - p, shape).astype(np.float32) * scale),
        "F.dropout forward only": lambda: F.dropout(xt, p, generator=g),
        "F.dropout forward + sum + backward": fwd_bwd,
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ref = float(np.median(times[next(iter(variants))]))
    print(f"shape {shape} float32, p = {p}, {args.rounds} interleaved rounds, medians")
    for name, ts in times.items():
        med = float(np.median(ts))
        print(f"  {name:50s} {med * 1e3:8.2f} ms   x{med / ref:5.2f}")


if __name__ == "__main__":
    main()
