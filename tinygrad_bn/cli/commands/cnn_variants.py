"""``tinygrad-bn cnn-variants``: the CNN with BatchNorm2d against per-pixel BatchNorm and no BN, and with
Dropout2d against element-wise Dropout (``tinygrad_bn.cli.experiments.cnn_variants``).

Writes into ``--out``: ``cnn_variants.csv`` (one row per variant and epoch), ``results.md``,
``summary.json`` and, with matplotlib, ``cnn_variants.png`` (test error and training loss per epoch).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ...tables import markdown_table
from .. import runs
from .arguments import add_data_arguments, load_data, number, widths


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..experiments.cnn_variants import VARIANTS

    positive_int = number(int, 1, "a positive integer")
    add_data_arguments(p, default_dataset="fashion-mnist")
    p.add_argument("--variants", type=lambda s: tuple(v for v in s.split(",") if v), default=VARIANTS,
                   metavar="V1,V2,...", help=f"which variants, of {','.join(VARIANTS)} (default: all)")
    p.add_argument("--epochs", type=positive_int, default=3, help="epochs per variant (default: 3)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (quick runs)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="default: 128")
    p.add_argument("--lr", type=number(float, 0, "a positive number", inclusive=False), default=2e-3,
                   help="Adam learning rate, cosine to 0 over the epochs (default: 0.002)")
    p.add_argument("--p", type=number(float, 0, "a probability in [0, 1)", high=1), default=0.1,
                   help="dropout rate in the conv blocks (default: 0.1)")
    p.add_argument("--channels", type=widths, default=(32, 64), metavar="C1,C2,...",
                   help="channels of the conv blocks (default: 32,64)")
    p.add_argument("--seed", type=number(int, 0, "a non-negative integer"), default=0, help="default: 0")
    p.add_argument("--out", type=Path, default=Path("runs/cnn-variants"), metavar="DIR",
                   help="output folder (default: runs/cnn-variants)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.add_argument("--force", action="store_true",
                   help="start afresh even if --out holds a finished run (summary.json): it is replaced")


def _plot(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    from .. import reporting

    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    panels = [{"series": {v: ([r["epoch"] for r in rs], [1 - r["test_acc"] for r in rs]) for v, rs in by.items()},
               "xlabel": "epoch", "ylabel": "test error", "title": "test error (eval mode)"},
              {"series": {v: ([r["epoch"] for r in rs], [r["train_loss"] for r in rs]) for v, rs in by.items()},
               "xlabel": "epoch", "ylabel": "training cross-entropy", "title": "training loss (train mode)",
               "logy": True}]
    png = reporting.line_plots(out / "cnn_variants.png", panels,
                               title=f"{args.dataset}: CNN {','.join(map(str, args.channels))}, p={args.p:g}")
    print(reporting.plot_note(png, "cnn_variants.png"))


def run(args: argparse.Namespace) -> int:
    from .. import reporting
    from ..experiments import cnn_variants
    from ..experiments.common import printer

    unknown = [v for v in args.variants if v not in cnn_variants.VARIANTS]
    if unknown or not args.variants:
        print(f"tinygrad-bn cnn-variants: error: --variants must name some of {', '.join(cnn_variants.VARIANTS)}, "
              f"got {','.join(args.variants)!r}", file=sys.stderr)
        return runs.EXIT_USAGE

    def body(run: runs.Run) -> int:
        data = load_data(args)
        out = args.out
        log = printer(not args.no_progress)
        start = time.perf_counter()
        log(f"cnn-variants on {data.description}")
        rows: list[dict[str, Any]] = []
        for v in args.variants:
            run.position = f"the variant {v!r}"
            rows += cnn_variants.run_one(v, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                         p=args.p, channels=args.channels, seed=args.seed,
                                         progress=not args.no_progress and sys.stderr.isatty(), log=log)
        final = [{k: r[k] for k in ("variant", "train_loss", "train_acc", "test_loss", "test_acc", "seconds")}
                 for r in rows if r["epoch"] == args.epochs]
        md = [f"Data: {data.description}. CNN channels {','.join(map(str, args.channels))}, dropout p={args.p:g}; "
              f"Adam lr {args.lr:g} (cosine), batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}.", "",
              "### After the last epoch", "", markdown_table(final, floatfmt=".4f"), "",
              "### Per epoch", "", markdown_table(rows, floatfmt=".4f"), ""]
        seconds = round(time.perf_counter() - start, 1)
        with run.critical():
            reporting.write_csv(out / "cnn_variants.csv", rows)
            _plot(rows, args, out)
            (out / "results.md").write_text("# CNN variants\n\n" + "\n".join(md))
            reporting.write_json(out / "summary.json", {
                "command": "cnn-variants", "data": data.description, "args": runs.json_options(args), "rows": rows,
                "machine": reporting.machine(), "seconds": seconds})
        print("\n".join(md))
        print(f"wrote {out / 'results.md'}, {out / 'summary.json'} and {out / 'cnn_variants.csv'} ({seconds} s)")
        return runs.EXIT_OK

    return runs.run_training("cnn-variants", args.out, resume=False, force=args.force, finished=("summary.json",),
                             body=body)
