"""``tinygrad-bn bn-vs-plain``: test accuracy against training steps with and without BatchNorm
(Ioffe & Szegedy 2015, Figure 1a; ``tinygrad_bn.experiments.bn_vs_plain``).

3 hidden layers of 100 sigmoid units, batch 60, plain SGD with a constant ``--lr``. Writes into
``--out``: ``bn_vs_plain.csv`` (one row per network and evaluated step), ``results.md``,
``summary.json`` and, with matplotlib, ``bn_vs_plain.png`` (test accuracy vs steps) and
``sigmoid_input.png`` (15/50/85th percentiles of one last-layer sigmoid's input, as the paper's Fig. 1b, c).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ...tables import markdown_table
from .. import runs
from .arguments import add_data_arguments, load_data, number


def add_arguments(p: argparse.ArgumentParser) -> None:
    positive_int = number(int, 1, "a positive integer")
    p.add_argument("--steps", type=positive_int, default=5000,
                   help="SGD steps per network (default: 5000; the paper ran 50000)")
    p.add_argument("--eval-every", type=positive_int, default=100, metavar="K",
                   help="evaluate the test accuracy every K steps (default: 100)")
    p.add_argument("--lr", type=number(float, 0, "a positive number", inclusive=False), default=0.1,
                   help="SGD learning rate, constant, no momentum (default: 0.1; the paper does not give one)")
    p.add_argument("--batch-size", type=positive_int, default=60, help="default: 60 (the paper's)")
    add_data_arguments(p, default_dataset="fashion-mnist")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (quick runs)")
    p.add_argument("--seed", type=number(int, 0, "a non-negative integer"), default=0, help="default: 0")
    p.add_argument("--out", type=Path, default=Path("runs/bn-vs-plain"), metavar="DIR",
                   help="output folder (default: runs/bn-vs-plain)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    runs.add_run_arguments(p, "summary.json")


def _plots(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    from .. import reporting

    nets = list(dict.fromkeys(r["network"] for r in rows))
    by = {n: [r for r in rows if r["network"] == n] for n in nets}
    acc = {n: ([r["step"] for r in rs], [r["test_acc"] for r in rs]) for n, rs in by.items()}
    start = max(1, args.steps // 10)  # the zoomed panel leaves out the first tenth of training
    zoom = {n: ([r["step"] for r in rs if r["step"] >= start], [r["test_acc"] for r in rs if r["step"] >= start])
            for n, rs in by.items()}
    panels = [{"series": acc, "xlabel": "training step", "ylabel": "test accuracy", "title": "all steps"}]
    if all(len(xy[0]) > 1 for xy in zoom.values()):
        panels.append({"series": zoom, "xlabel": "training step", "ylabel": "test accuracy",
                       "title": f"from step {start} (zoomed)"})
    png = reporting.line_plots(out / "bn_vs_plain.png", panels,
                               title=f"{args.dataset}: 3x100 sigmoid MLP, SGD lr {args.lr:g}, batch {args.batch_size}")
    print(reporting.plot_note(png, "bn_vs_plain.png"))
    panels = []
    for n, rs in by.items():
        steps = [r["step"] for r in rs]
        panels.append({"series": {f"{q}th percentile": (steps, [r[f"sigmoid_in_p{q}"] for r in rs])
                                  for q in (85, 50, 15)},
                       "xlabel": "training step", "ylabel": "input to a last-layer sigmoid (unit 0)",
                       "title": n})
    png = reporting.line_plots(out / "sigmoid_input.png", panels,
                               title="Distribution of a sigmoid's input over training (test images, eval mode)")
    print(reporting.plot_note(png, "sigmoid_input.png"))


def run(args: argparse.Namespace) -> int:
    from .. import reporting
    from ..experiments import bn_vs_plain
    from ..experiments.common import printer
    from ..reporting import machine

    refused = runs.refuse_batch_of_one("bn-vs-plain", args.batch_size)
    if refused is not None:
        return refused

    def body(run: runs.Run) -> int:
        nonlocal args
        resume = run.resume_from
        if resume is not None:
            args = runs.resumed_args(args, resume.meta["options"])
        data = load_data(args)
        out = args.out
        log = printer(not args.no_progress)
        start = time.perf_counter()
        log(f"bn-vs-plain on {data.description}" + (f", resuming after {run.saved}" if resume else ""))
        options = runs.json_options(args)
        run.position = f"the network {bn_vs_plain.NETWORKS[resume.meta['network'] if resume else 0][0]!r}"

        def save(network: int, step: int, model: Any, optimizer: Any, rows: list[dict[str, Any]]) -> None:
            label = bn_vs_plain.NETWORKS[network][0]
            run.save_checkpoint(epoch=step, label=f"step {step} of the network {label!r}", model=model,
                                optimizer=optimizer, meta={"network": network, "step": step, "options": options,
                                                           "rows": reporting.strict_json(rows)})
            now = network + (step == args.steps)
            run.position = f"the network {bn_vs_plain.NETWORKS[now][0]!r}" if now < 2 else "the writing of the results"

        rows = bn_vs_plain.run(data, steps=args.steps, eval_every=args.eval_every, lr=args.lr,
                               batch_size=args.batch_size, seed=args.seed, log=log, save=save, resume=resume)
        summary = bn_vs_plain.summary(rows)
        md = ["# BatchNorm vs plain: test accuracy against steps", "",
              f"Data: {data.description}. Model 784-100-100-100-10 with sigmoids (and BN before each sigmoid), "
              f"plain SGD lr {args.lr:g}, batch {args.batch_size}, {args.steps} steps, evaluated every "
              f"{args.eval_every} steps, seed {args.seed}.", "",
              markdown_table(summary, floatfmt=".4f"), ""]
        seconds = round(time.perf_counter() - start, 1)
        with run.critical():
            reporting.write_csv(out / "bn_vs_plain.csv", rows)
            _plots(rows, args, out)
            (out / "results.md").write_text("\n".join(md))
            reporting.write_json(out / "summary.json", {
                "command": "bn-vs-plain", "args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
                "data": data.description, "summary": summary, "machine": machine(), "seconds": seconds})
        print("\n".join(md))
        print(f"wrote {out / 'bn_vs_plain.csv'}, {out / 'results.md'}, {out / 'summary.json'} ({seconds} s)")
        return runs.EXIT_OK

    return runs.run_training("bn-vs-plain", args.out, resume=args.resume, force=args.force, finished=("summary.json",),
                             body=body, diverged_hints=lambda err: f"try a smaller --lr (now {args.lr:g})")
