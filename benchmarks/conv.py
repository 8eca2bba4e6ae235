"""Conv2d forward + backward: GFLOP/s next to the same-FLOP numpy matmuls (the ceiling) and PyTorch.

    python -m benchmarks.conv [--rounds 15] [--target 0.2] [--threads N] [--alternatives] [--no-memory]

Float32, 3x3 kernels, padding 1, CNN-typical sizes (``SHAPES``: batch 128, 1->32 channels on 28x28 and
32->64 on 14x14). Candidates, each computing y, dx, dweight and dbias:

- ``tinygrad_bn``: ``Conv2d`` + ``tg.autograd.grad``: what a training step pays, tape included.
- ``matmul``: the three matmuls of an im2col convolution on ready, contiguous operands
  (y = W cols, dW = g cols^T, dcols = W^T g): the same FLOPs with no im2col, col2im or tape; the ceiling.
- ``torch``: ``torch.nn.functional.conv2d`` + ``torch.autograd.grad``, only if torch is importable.

FLOPs per forward+backward: 3 x 2 N O (C KH KW) OH OW (the bias and col2im additions are not counted).
``--alternatives`` also times two ways to get dW (see ``docs/cnn.md``): N per-sample matmuls summed,
as ``Conv2d`` does, against one long matmul on columns gathered in (C KH KW, N OH OW) order.
Unless ``--no-memory``: the peak memory ``tracemalloc`` sees during one forward+backward, next to the
sizes of x and of the column matrix.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from collections.abc import Callable

import numpy as np

import tinygrad_bn as tg
from tinygrad_bn.ops.conv import Conv2d
from tinygrad_bn.ops.windows import pad2d, window_view

from .timing import Summary, describe_machine, interleaved, markdown_table

#: (N, C, H, W, O): 3x3 kernel, stride 1, padding 1.
SHAPES = [(128, 1, 28, 28, 32), (128, 32, 14, 14, 64)]
ATTRS = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1)


def flops(shape: tuple[int, ...]) -> int:
    """Multiply-adds x 2 of one forward+backward (three matmuls of the same size)."""
    n, c, h, w, o = shape
    return 3 * 2 * n * o * c * 9 * h * w


def _arrays(shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, ...]:
    n, c, h, w, o = shape
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w), dtype=np.float32), rng.standard_normal((o, c, 3, 3), dtype=np.float32),
            rng.standard_normal(o, dtype=np.float32), rng.standard_normal((n, o, h, w), dtype=np.float32))


def candidates(shape: tuple[int, ...]) -> dict[str, Callable[[], object]]:
    """Forward+backward closures for one shape."""
    n, c, h, w, o = shape
    x, wt, b, dy = _arrays(shape)
    tw, tb = tg.Tensor(wt, requires_grad=True), tg.Tensor(b, requires_grad=True)

    def ours() -> tuple:
        tx = tg.Tensor(x, requires_grad=True)
        y = Conv2d.apply(tx, tw, tb, **ATTRS)
        return (y.data, *tg.autograd.grad(y, [tx, tw, tb], grad_output=dy))

    cols = np.ones((c * 9, n * h * w), np.float32)
    w2, g2 = wt.reshape(o, -1), np.ones((o, n * h * w), np.float32)

    def matmul() -> tuple:
        return w2 @ cols, g2 @ cols.T, w2.T @ g2

    out = {"tinygrad_bn": ours, "matmul": matmul}
    try:
        import torch
    except ImportError:
        return out
    tx, twt, tbt, tdy = (torch.tensor(a) for a in (x, wt, b, dy))

    def torch_fb() -> tuple:
        xr, wr, br = (t.detach().requires_grad_() for t in (tx, twt, tbt))
        y = torch.nn.functional.conv2d(xr, wr, br, padding=1)
        return (y, *torch.autograd.grad(y, [xr, wr, br], tdy))

    out["torch"] = torch_fb
    return out


def dw_alternatives(shape: tuple[int, ...]) -> dict[str, Callable[[], np.ndarray]]:
    """dW from x and grad_output, gathering the columns included: per-sample matmuls summed vs one matmul."""
    n, c, h, w, o = shape
    x, _, _, dy = _arrays(shape)
    view = window_view(pad2d(x, (1, 1)), (3, 3), (1, 1), (1, 1), (h, w))    # (N, C, 3, 3, H, W)

    def batched() -> np.ndarray:
        cols = view.reshape(n, c * 9, h * w)
        return (dy.reshape(n, o, h * w) @ cols.transpose(0, 2, 1)).sum(axis=0)

    def one_matmul() -> np.ndarray:
        cols = view.transpose(1, 2, 3, 0, 4, 5).reshape(c * 9, n * h * w)
        return dy.transpose(1, 0, 2, 3).reshape(o, n * h * w) @ cols.T

    np.testing.assert_allclose(batched(), one_matmul(), rtol=1e-3, atol=1e-2)
    return {"dW: per-sample matmuls summed": batched, "dW: one matmul": one_matmul}


def peak_memory(shape: tuple[int, ...]) -> dict[str, float]:
    """MB: tracemalloc's peak during one forward+backward (inputs excluded), and the sizes of x and columns."""
    n, c, h, w, o = shape
    x, wt, b, dy = _arrays(shape)
    tw, tb = tg.Tensor(wt, requires_grad=True), tg.Tensor(b, requires_grad=True)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    tx = tg.Tensor(x, requires_grad=True)
    y = Conv2d.apply(tx, tw, tb, **ATTRS)
    grads = tg.autograd.grad(y, [tx, tw, tb], grad_output=dy)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del grads
    mb = 1 / 2 ** 20
    return {"peak": peak * mb, "x": x.nbytes * mb, "y": n * o * h * w * 4 * mb, "cols": n * c * 9 * h * w * 4 * mb}


def _gflops(times: list[float], shape: tuple[int, ...]) -> Summary:
    return Summary.of([flops(shape) / t / 1e9 for t in times])


def run(rounds: int = 15, target: float = 0.2) -> list[list[str]]:
    rows = []
    for shape in SHAPES:
        times = interleaved(candidates(shape), rounds=rounds, target=target)
        ours = times["tinygrad_bn"]
        row = [f"{shape[0]}x{shape[1]}x{shape[2]}x{shape[3]} -> {shape[4]}",
               Summary.of([t * 1e3 for t in ours]).format(".1f"), _gflops(ours, shape).format(".1f"),
               _gflops(times["matmul"], shape).format(".1f"),
               Summary.of([a / b for a, b in zip(ours, times["matmul"])]).format(unit="x")]
        if "torch" in times:
            row += [_gflops(times["torch"], shape).format(".1f"),
                    Summary.of([a / b for a, b in zip(ours, times["torch"])]).format(unit="x")]
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.conv", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per measurement (default 0.2)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: numpy's choice)")
    parser.add_argument("--alternatives", action="store_true", help="also time the two ways to compute dW")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc peak-memory run")
    args = parser.parse_args(argv)
    from .mlp_step import set_threads

    threads = set_threads(args.threads, argv, "benchmarks.conv") if args.threads else "library default"
    print("Conv2d 3x3, padding 1, float32 forward+backward (median (min, max) over interleaved rounds)\n")
    print(describe_machine() + f"\n- BLAS threads: {threads}\n")
    headers = ["N x C x H x W -> O", "tinygrad_bn ms", "tinygrad_bn GFLOP/s", "matmul GFLOP/s",
               "tinygrad_bn / matmul time"]
    rows = run(args.rounds, args.target)
    if len(rows[0]) > len(headers):
        headers += ["torch GFLOP/s", "tinygrad_bn / torch time"]
    else:
        print("(PyTorch not importable: torch comparison skipped)\n")
    print(markdown_table(headers, rows))
    if args.alternatives:
        alt_rows = []
        for shape in SHAPES:
            times = interleaved(dw_alternatives(shape), rounds=args.rounds, target=args.target)
            alt_rows += [[str(shape), name, Summary.of([t * 1e3 for t in ts]).format(".2f")]
                         for name, ts in times.items()]
        print("\n" + markdown_table(["(N, C, H, W, O)", "dW strategy", "ms"], alt_rows))
    if not args.no_memory:
        mem_rows = [[str(shape), *(f"{v:.1f}" for v in peak_memory(shape).values())] for shape in SHAPES]
        print("\n" + markdown_table(["(N, C, H, W, O)", "peak MB (one forward+backward)", "x MB", "y MB",
                                     "columns MB"], mem_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
