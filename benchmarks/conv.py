"""Conv2d forward + backward: GFLOP/s next to the same-FLOP numpy matmuls (the ceiling) and PyTorch.

    python -m benchmarks.conv [--rounds 15] [--target 0.2] [--threads N] [--alternatives] [--no-memory]

Also run by ``python -m benchmarks`` (the two convolutions and the pooling, without the extras).

Float32, 3x3 kernels, padding 1, CNN-typical sizes (``SHAPES``: batch 128, 1->32 channels on 28x28 and
32->64 on 14x14). Candidates, each computing y, dx, dweight and dbias:

- ``tinygrad_bn``: ``F.conv2d`` + ``tg.autograd.grad``: what a training step pays, tape included.
- ``matmul``: the three matmuls of an im2col convolution on ready, contiguous operands
  (y = W cols, dW = g cols^T, dcols = W^T g): the same FLOPs with no im2col, col2im or tape; the ceiling.
- ``torch``: ``torch.nn.functional.conv2d`` + ``torch.autograd.grad``, only if torch is importable.

FLOPs per forward+backward: 3 x 2 N O (C KH KW) OH OW (the bias and col2im additions are not counted).
Also max_pool2d 2x2 forward+backward on (128, 32, 28, 28) (the pooling after the first convolution), against
PyTorch. ``--alternatives`` also times two ways to get dW (see ``docs/cnn.md``): N per-sample matmuls summed,
as ``Conv2d`` does, against one long matmul on columns gathered in (C KH KW, N OH OW) order; and the
whole forward+backward with the batch in cache-sized chunks (as ``Conv2d`` does) against all at once.
Unless ``--no-memory``: the peak memory ``tracemalloc`` sees during one forward+backward, next to the
sizes of x and of the column matrix.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tracemalloc
from collections.abc import Callable, Iterator

import numpy as np

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.ops import conv as conv_op
from tinygrad_bn.ops.windows import pad2d, window_view

from .timing import Summary, describe_machine, interleaved, load_warning, markdown_table

#: (N, C, H, W, O): 3x3 kernel, stride 1, padding 1.
SHAPES = [(128, 1, 28, 28, 32), (128, 32, 14, 14, 64)]
#: max_pool2d 2x2 (stride 2) after the first convolution.
POOL_SHAPE = (128, 32, 28, 28)


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
        y = F.conv2d(tx, tw, tb, padding=1)
        return (y.data, *(g.data for g in tg.autograd.grad(y, [tx, tw, tb], grad_output=dy)))

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


def pool_candidates(shape: tuple[int, ...] = POOL_SHAPE) -> dict[str, Callable[[], object]]:
    """max_pool2d 2x2 forward+backward: ours and PyTorch's (if importable)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    dy = rng.standard_normal(shape[:2] + (shape[2] // 2, shape[3] // 2), dtype=np.float32)

    def ours() -> tuple:
        tx = tg.Tensor(x, requires_grad=True)
        y = F.max_pool2d(tx, 2)
        return y.data, tg.autograd.grad(y, [tx], grad_output=dy)[0].data

    out = {"tinygrad_bn": ours}
    try:
        import torch
    except ImportError:
        return out
    tx, tdy = torch.tensor(x), torch.tensor(dy)

    def torch_fb() -> tuple:
        xr = tx.detach().requires_grad_()
        y = torch.nn.functional.max_pool2d(xr, 2)
        return y, torch.autograd.grad(y, [xr], tdy)[0]

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


@contextlib.contextmanager
def whole_batch() -> Iterator[None]:
    """Inside: ``Conv2d`` treats the whole batch as one chunk (the full column matrix at once)."""
    saved, conv_op.CHUNK_VALUES = conv_op.CHUNK_VALUES, 1 << 62
    try:
        yield
    finally:
        conv_op.CHUNK_VALUES = saved


def chunk_alternatives(shape: tuple[int, ...]) -> dict[str, Callable[[], object]]:
    """Forward+backward with the batch in cache-sized chunks (the default) and all at once (one chunk)."""
    ours = candidates(shape)["tinygrad_bn"]

    def one_chunk() -> object:
        with whole_batch():
            return ours()

    return {"fwd+bwd: batch in chunks": ours, "fwd+bwd: whole batch at once": one_chunk}


def peak_memory(shape: tuple[int, ...]) -> dict[str, float]:
    """MB: tracemalloc's peak during one forward+backward (inputs excluded), and the sizes of x and columns."""
    n, c, h, w, o = shape
    x, wt, b, dy = _arrays(shape)
    tw, tb = tg.Tensor(wt, requires_grad=True), tg.Tensor(b, requires_grad=True)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    tx = tg.Tensor(x, requires_grad=True)
    y = F.conv2d(tx, tw, tb, padding=1)
    grads = tg.autograd.grad(y, [tx, tw, tb], grad_output=dy)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    del grads
    mb = 1 / 2 ** 20
    return {"peak": peak * mb, "x": x.nbytes * mb, "y": n * o * h * w * 4 * mb, "cols": n * c * 9 * h * w * 4 * mb}


def _gflops(times: list[float], shape: tuple[int, ...]) -> Summary:
    return Summary.of([flops(shape) / t / 1e9 for t in times])


def check_agreement(fns: dict[str, Callable[[], tuple]]) -> None:
    """AssertionError unless ours and PyTorch's results (if present) agree to float32 accuracy."""
    if "torch" not in fns:
        return
    for got, want in zip(fns["tinygrad_bn"](), fns["torch"]()):
        want = want.detach().numpy()
        worst = float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30))
        if worst > 1e-4:
            raise AssertionError(f"conv benchmark: tinygrad_bn and PyTorch disagree (relative {worst:.1e})")


def measure(rounds: int = 15, target: float = 0.2) -> dict[tuple[int, ...], dict[str, list[float]]]:
    """Seconds per forward+backward of every candidate, per conv shape and for ``POOL_SHAPE`` (interleaved),
    after checking that ours and PyTorch's results agree."""
    out = {}
    for shape, fns in [(s, candidates(s)) for s in SHAPES] + [(POOL_SHAPE, pool_candidates())]:
        check_agreement(fns)
        out[shape] = interleaved(fns, rounds=rounds, target=target)
    return out


def rows(times: dict[tuple[int, ...], dict[str, list[float]]]) -> list[list[str]]:
    """One table row per conv shape (ms, GFLOP/s, ratios) and one for max pooling (ms, ratio to torch)."""
    out = []
    for shape in SHAPES:
        t = times[shape]
        ours = t["tinygrad_bn"]
        row = [f"conv2d {shape[0]}x{shape[1]}x{shape[2]}x{shape[3]} -> {shape[4]}, 3x3",
               Summary.of([s * 1e3 for s in ours]).format(".1f"), _gflops(ours, shape).format(".1f"),
               _gflops(t["matmul"], shape).format(".1f"),
               Summary.of([a / b for a, b in zip(ours, t["matmul"])]).format(unit="x")]
        if "torch" in t:
            row += [_gflops(t["torch"], shape).format(".1f"),
                    Summary.of([a / b for a, b in zip(ours, t["torch"])]).format(unit="x")]
        out.append(row)
    t = times[POOL_SHAPE]
    row = [f"max_pool2d {'x'.join(map(str, POOL_SHAPE))}, 2x2", Summary.of([s * 1e3 for s in t["tinygrad_bn"]]).format(
        ".1f"), "", "", ""]
    if "torch" in t:
        row += ["", Summary.of([a / b for a, b in zip(t["tinygrad_bn"], t["torch"])]).format(unit="x")]
    out.append(row)
    return out


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
    print("conv2d (3x3, padding 1) and max_pool2d, float32 forward+backward (median (min, max) over interleaved "
          "rounds)\n")
    print(describe_machine())
    if load_warning(args.threads):
        print(load_warning(args.threads))
    print(f"- BLAS threads: {threads}\n")
    headers = ["forward+backward", "tinygrad_bn ms", "tinygrad_bn GFLOP/s", "matmul GFLOP/s",
               "tinygrad_bn / matmul time"]
    table = rows(measure(args.rounds, args.target))
    if len(table[0]) > len(headers):
        headers += ["torch GFLOP/s", "tinygrad_bn / torch time"]
    else:
        print("(PyTorch not importable: torch comparison skipped)\n")
    print(markdown_table(headers, table))
    if args.alternatives:
        alt_rows = []
        for shape in SHAPES:
            for fns in (dw_alternatives(shape), chunk_alternatives(shape)):
                times = interleaved(fns, rounds=args.rounds, target=args.target)
                alt_rows += [[str(shape), name, Summary.of([t * 1e3 for t in ts]).format(".2f")]
                             for name, ts in times.items()]
        print("\n" + markdown_table(["(N, C, H, W, O)", "alternative", "ms"], alt_rows))
    if not args.no_memory:
        mem_rows = []
        for shape in SHAPES:
            with whole_batch():
                at_once = peak_memory(shape)["peak"]
            mem_rows.append([str(shape), *(f"{v:.1f}" for v in peak_memory(shape).values()), f"{at_once:.1f}"])
        print("\n" + markdown_table(["(N, C, H, W, O)", "peak MB (one forward+backward)", "x MB", "y MB",
                                     "columns MB", "peak MB, whole batch at once"], mem_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
