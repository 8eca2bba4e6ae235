"""``python -m benchmarks``: every performance figure and its target in one Markdown table, with the machine.

    python -m benchmarks [--rounds 15] [--threads N] [--cpu-time] [--epochs 2] [--no-memory] [--quick]

Runs, in this order: the MLP training step (tinygrad_bn vs the numpy reference vs PyTorch when importable,
see mlp_step.py), the CNN training step (the same three, see cnn_step.py), the per-node tape cost
(op_overhead.py), BatchNorm fused vs staged (batchnorm.py), conv2d and max_pool2d forward+backward against
same-FLOP matmuls and PyTorch (conv.py), the Hessian-vector product of the MLP against a gradient and
PyTorch's (hvp.py), the import time (import_time.py), and peak memory over ``--epochs`` epochs in fresh
processes (mlp_step.py --memory).
Each row is a median with the min and max over interleaved rounds, and its target.
``--quick`` uses fewer rounds and skips the memory run (a smoke test, not figures to quote).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from . import batchnorm, cnn_step, conv, hvp, import_time, mlp_step, op_overhead
from .timing import Summary, describe_machine, load_warning, markdown_table


def _row(measure: str, values: list[float], target: str = "", ok: bool | None = None, fmt: str = ".2f",
         unit: str = "") -> list[str]:
    s = Summary.of(values)
    status = "" if ok is None else ("met" if ok else "not met")
    return [measure, f"{s.median:{fmt}}{unit}", f"{s.min:{fmt}}", f"{s.max:{fmt}}", target, status]


def _ratios(times: dict[str, list[float]], a: str, b: str) -> list[float]:
    return [x / y for x, y in zip(times[a], times[b])]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per timing (default 15)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: numpy's choice)")
    parser.add_argument("--cpu-time", action="store_true", help="time the MLP and CNN steps with process CPU time")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per candidate in the memory run (default 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory run (the slowest part)")
    parser.add_argument("--quick", action="store_true", help="5 rounds, no memory run: a smoke test")
    args = parser.parse_args(argv)
    threads = mlp_step.set_threads(args.threads, argv, "benchmarks") if args.threads else "library default"
    rounds = 5 if args.quick else args.rounds
    rows: list[list[str]] = []

    _, step = mlp_step.run_steps(rounds, cpu_time=args.cpu_time)
    rows.append(_row("MLP training step: tinygrad_bn / numpy reference", _ratios(step, "tinygrad_bn", "reference"),
                     "<= 1.15x", statistics.median(_ratios(step, "tinygrad_bn", "reference")) <= 1.15, fmt=".3f",
                     unit="x"))
    if "torch" in step:
        rows.append(_row("MLP training step: PyTorch / numpy reference", _ratios(step, "torch", "reference"),
                         "(for comparison)", unit="x"))
        rows.append(_row("MLP training step: PyTorch / tinygrad_bn", _ratios(step, "torch", "tinygrad_bn"),
                         "> 1 (faster than PyTorch)", statistics.median(_ratios(step, "torch", "tinygrad_bn")) > 1,
                         unit="x"))
    rows.append(_row("MLP training step: tinygrad_bn ms", [t * 1e3 for t in step["tinygrad_bn"]], fmt=".3f"))
    rows.append(_row("MLP training step: numpy reference ms", [t * 1e3 for t in step["reference"]], fmt=".3f"))

    cnn = cnn_step.run_steps(rounds, cpu_time=args.cpu_time)[1]
    rows.append(_row("CNN training step: tinygrad_bn / numpy reference", _ratios(cnn, "tinygrad_bn", "reference"),
                     "<= 1.15x", statistics.median(_ratios(cnn, "tinygrad_bn", "reference")) <= 1.15, fmt=".3f",
                     unit="x"))
    if "torch" in cnn:
        rows.append(_row("CNN training step: PyTorch / tinygrad_bn", _ratios(cnn, "torch", "tinygrad_bn"),
                         "(for comparison)", unit="x"))
    rows.append(_row("CNN training step: tinygrad_bn ms", [t * 1e3 for t in cnn["tinygrad_bn"]], fmt=".1f"))
    rows.append(_row("CNN training step: numpy reference ms", [t * 1e3 for t in cnn["reference"]], fmt=".1f"))

    nodes = op_overhead.run(rounds)
    fb = nodes["forward+backward"]
    rows.append(_row("tape per node, forward+backward (us)", fb["tinygrad_bn"], "(report, next to PyTorch's)"))
    rows.append(_row("tape per node, forward only (us)", nodes["forward"]["tinygrad_bn"]))
    rows.append(_row("minimal Python tape per node, forward+backward (us)", fb["minimal"], "(floor)"))
    if "torch" in fb:
        rows.append(_row("PyTorch per node, forward+backward (us)", fb["torch"], "(for comparison)"))

    for shape in batchnorm.SHAPES:
        times = batchnorm.interleaved(batchnorm.candidates(shape), rounds=rounds)
        rows.append(_row(f"BatchNorm {shape}: staged / fused (with tape)", _ratios(times, "staged", "tape"),
                         "report (expect > 1.5x)", unit="x"))

    conv_times = conv.measure(rounds, target=0.1)
    for shape in conv.SHAPES:
        t, name = conv_times[shape], f"conv2d {shape[0]}x{shape[1]}x{shape[2]}x{shape[3]} -> {shape[4]} 3x3"
        rows.append(_row(f"{name} fwd+bwd: GFLOP/s", [conv.flops(shape) / v / 1e9 for v in t["tinygrad_bn"]],
                         fmt=".1f"))
        rows.append(_row(f"{name}: tinygrad_bn / same-FLOP matmuls", _ratios(t, "tinygrad_bn", "matmul"),
                         "report (the matmul ceiling)", unit="x"))
        if "torch" in t:
            rows.append(_row(f"{name}: tinygrad_bn / PyTorch", _ratios(t, "tinygrad_bn", "torch"), "(for comparison)",
                             unit="x"))
    pool = conv_times[conv.POOL_SHAPE]
    rows.append(_row(f"max_pool2d {conv.POOL_SHAPE} 2x2 fwd+bwd (ms)", [v * 1e3 for v in pool["tinygrad_bn"]]))
    if "torch" in pool:
        rows.append(_row("max_pool2d: tinygrad_bn / PyTorch", _ratios(pool, "tinygrad_bn", "torch"), "(for comparison)",
                         unit="x"))

    second = hvp.run(rounds, cpu_time=args.cpu_time)
    rows.append(_row("Hessian-vector product / gradient, MLP", _ratios(second, "hvp", "gradient"),
                     "report (textbook: about 2x)", unit="x"))
    if "torch hvp" in second:
        rows.append(_row("Hessian-vector product: tinygrad_bn / torch.autograd.functional.hvp",
                         _ratios(second, "hvp", "torch hvp"), "(for comparison)", unit="x"))

    imp = import_time.measure(rounds)
    only = [(t - b) * 1e3 for t, b in zip(imp["import tinygrad_bn + CLI parser"], imp["python start-up"])]
    rows.append(_row("import tinygrad_bn + CLI (ms, minus interpreter start-up)", only, "< 300 ms",
                     statistics.median(only) < 300, fmt=".0f"))
    numpy = [(t - b) * 1e3 for t, b in zip(imp["import numpy"], imp["python start-up"])]
    rows.append(_row("import numpy (ms, minus interpreter start-up)", numpy, "(for comparison)", fmt=".0f"))

    if not (args.quick or args.no_memory):
        mem = mlp_step.run_memory(args.epochs, threads=args.threads)
        ref = mem["reference"]
        for name, r in mem.items():
            if name == "reference":
                continue
            ratio = r["peak"] / ref["peak"]
            target, ok = ("<= 1.2x", ratio <= 1.2) if name == "tinygrad_bn" else ("(for comparison)", None)
            rows.append([f"peak RSS in {args.epochs} training epochs: {name} / reference", f"{ratio:.2f}x", "", "",
                         target, "" if ok is None else ("met" if ok else "not met")])
            extra = (r["peak"] - r["before"]) / (ref["peak"] - ref["before"])
            rows.append([f"training working set (peak - RSS before training): {name} / reference",
                         f"{extra:.2f}x", "", "", "(the part the framework adds)", ""])
        growth = mem["tinygrad_bn"]["after"][-1] - mem["tinygrad_bn"]["after"][0]
        rows.append([f"RSS growth epoch 1 -> {args.epochs}: tinygrad_bn (MB)", f"{growth:+.1f}", "", "",
                     "no growth (< 5 MB)", "met" if growth < 5 else "not met"])

    print(describe_machine())
    if load_warning(args.threads):
        print(load_warning(args.threads))
    print(f"- BLAS threads: {threads}; MLP and CNN step timer: {'CPU time' if args.cpu_time else 'wall-clock'}; "
          f"{rounds} interleaved rounds\n")
    print(markdown_table(["measure", "median", "min", "max", "target", "status"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
