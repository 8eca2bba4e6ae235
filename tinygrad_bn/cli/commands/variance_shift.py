"""``tinygrad-bn variance-shift``: the variance shift of BatchNorm under dropout (Li et al., CVPR 2019).

(a) Synthetic: the closed forms against measurements for dropout, Gaussian dropout and Uout
(``tinygrad_bn.experiments.synthetic``). (b) Unless ``--synthetic-only``: the 784-512-512-10 MLP in four
dropout placements, trained for ``--epochs`` on ``--dataset``, with the measured variance shift per BN
layer and the test accuracy before and after ``recalibrate_bn`` (``tinygrad_bn.experiments.placements``).

With ``--model cnn``, (b) is the CNN of ``models.cnn`` in five placements instead (files ``cnn_*``).
Writes into ``--out``: ``synthetic.csv``, ``mlp_variance_shift.csv``, ``mlp_accuracy.csv``, ``results.md``
(all tables), ``summary.json`` (arguments, data, machine, tables) and, with matplotlib,
``synthetic.png``, ``mlp_variance_shift.png``, ``mlp_accuracy.png``.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from ...tables import markdown_table
from .. import runs
from .arguments import add_data_arguments, load_data, number, widths


def add_arguments(p: argparse.ArgumentParser) -> None:
    positive_int = number(int, 1, "a positive integer")
    p.add_argument("--synthetic-only", action="store_true", help="only part (a), the synthetic closed-form check")
    add_data_arguments(p, default_dataset="fashion-mnist")
    p.add_argument("--epochs", type=number(int, 0, "a non-negative integer"), default=5,
                   help="training epochs per placement (default: 5)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="default: 128")
    p.add_argument("--lr", type=number(float, 0, "a positive number", inclusive=False), default=1e-3,
                   help="Adam learning rate (default: 0.001)")
    p.add_argument("--p", type=number(float, 0, "a probability in [0, 1)", high=1), default=0.5,
                   help="dropout rate in the MLP placements (default: 0.5)")
    p.add_argument("--beta", type=number(float, 0, "a number in [0, 1]", high=1, high_inclusive=True), default=0.5,
                   help="Uout's beta in the MLP placement uout-before-bn (default: 0.5)")
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="(b) on the MLP or on the CNN of models.cnn (default: mlp)")
    p.add_argument("--hidden", type=widths, default=(512, 512), metavar="W1,W2,...",
                   help="hidden widths of the MLP (default: 512,512)")
    p.add_argument("--channels", type=widths, default=(32, 64), metavar="C1,C2,...",
                   help="channels of the CNN's conv blocks (default: 32,64)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (quick runs)")
    p.add_argument("--samples", type=number(int, 2, "an integer >= 2"), default=200_000, metavar="N",
                   help="synthetic: samples per channel to learn running_var, and again to measure (default: 200000)")
    p.add_argument("--seed", type=number(int, 0, "a non-negative integer"), default=0, help="default: 0")
    p.add_argument("--out", type=Path, default=Path("runs/variance-shift"), metavar="DIR",
                   help="output folder (default: runs/variance-shift)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines on stderr (nor per-batch bars, shown only on a terminal)")
    runs.add_run_arguments(p, "summary.json")


def _synthetic(args: argparse.Namespace, out: Path, log: Any,
               rows: list[dict[str, Any]] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Part (a): run it and write its CSV and plot, or (resuming) only describe the ``rows`` it gave."""
    from .. import reporting
    from ..experiments import synthetic

    if rows is None:
        log("(a) synthetic: closed form vs measured variance shift")
        results = synthetic.run(n=args.samples, seed=args.seed, progress=log)
        rows = [r.row() for r in results]
        reporting.write_csv(out / "synthetic.csv", rows)
        png = reporting.line_plots(out / "synthetic.png", synthetic.plot_panels(results),
                                   title="Variance shift: closed form (dashed) vs measured (dots)")
        print(reporting.plot_note(png, "synthetic.png"))
    md = ["## (a) Synthetic input x ~ N(c, v): closed form vs measured variance shift", "",
          f"{args.samples} samples per channel (4 channels) to learn running_var, as many to measure; "
          f"seed {args.seed}.",
          "", markdown_table(rows, floatfmt=".4f"), ""]
    return rows, md


def _wrap(placement: str) -> str:
    """'dropout-after-last-bn' -> "dropout\\nafter last\\nbn": tick labels that do not run into each other."""
    return textwrap.fill(placement.replace("-", " "), 10)


def _mlp_plots(shift: list[dict[str, Any]], acc: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> None:
    """{mlp,cnn}_variance_shift.png (mean Delta per placement and BN layer) and {mlp,cnn}_accuracy.png
    (test accuracy)."""
    from .. import reporting

    stages = {"as trained": ("shift_before", "test_acc_before"),
              "refreshed, dropout on": ("shift_refreshed", "test_acc_refreshed"),
              "recalibrate_bn (dropout off)": ("shift_after", "test_acc_after")}
    shifts = {label: [r[k] for r in shift] for label, (k, _) in stages.items()}
    accs = {label: [r[k] for r in acc] for label, (_, k) in stages.items()}
    lo, hi = min(min(v) for v in shifts.values()), max(max(v) for v in shifts.values())
    png1 = reporting.bar_plot(out / f"{args.model}_variance_shift.png",
                              [f"{_wrap(r['placement'])}\n{r['bn']}" for r in shift],
                              shifts, "placement / BN layer", "mean Delta = Var_test / running_var",
                              f"Variance shift per BN layer ({args.dataset})", hline=1.0,
                              ylim=(max(0.0, lo - 0.1), max(1.0, hi) + 0.05))
    lo = min(min(v) for v in accs.values())
    png2 = reporting.bar_plot(out / f"{args.model}_accuracy.png", [_wrap(r["placement"]) for r in acc], accs,
                              "placement",
                              "test accuracy", f"Test accuracy ({args.dataset}, {args.epochs} epochs)",
                              ylim=(max(0.0, lo - 0.03), min(1.0, max(max(v) for v in accs.values()) + 0.02)))
    for png, name in ((png1, f"{args.model}_variance_shift.png"), (png2, f"{args.model}_accuracy.png")):
        print(reporting.plot_note(png, name))


def _mlp(args: argparse.Namespace, data: Any, out: Path, log: Any, run: Any,
         meta: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Part (b), placement by placement, with a checkpoint after every epoch and every finished placement
    (``meta``: what the checkpoints carry besides; resuming, also the rows of the finished placements)."""
    from .. import reporting
    from ..experiments import placements

    cnn = args.model == "cnn"
    names = placements.PLACEMENTS_CNN if cnn else placements.PLACEMENTS
    log(f"(b) {args.model.upper()} placements on {data.description}")
    resume = run.resume_from if run.resume_from is not None and "placement" in run.resume_from.meta else None
    first = resume.meta["placement"] if resume else 0
    shift, acc = (list(resume.meta["shift"]), list(resume.meta["acc"])) if resume else ([], [])
    for i, placement in enumerate(names[first:], first):
        run.position = f"placement {placement!r}"
        where = {**meta, "placement": i, "shift": shift, "acc": acc}

        def save(epoch: int, history: list[dict[str, Any]], placement: str = placement,
                 where: dict[str, Any] = where, **states: Any) -> None:
            run.save_checkpoint(epoch=epoch, label=f"epoch {epoch} of placement {placement!r}",
                                meta={**where, "history": history}, **states)

        again = resume if resume is not None and i == first and "history" in resume.meta else None
        result = placements.run_one(placement, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                    p=args.p, beta=args.beta, hidden=args.hidden, seed=args.seed,
                                    progress=not args.no_progress and sys.stderr.isatty(), log=log, save=save,
                                    resume=again, model=args.model, channels=args.channels)
        shift += reporting.strict_json(placements.shift_rows([result]))
        acc += reporting.strict_json(placements.accuracy_rows([result]))
        run.save_checkpoint(epoch=0, label=f"placement {placement!r}", model=result["model"],
                            optimizer=result["optimizer"], meta={**meta, "placement": i + 1, "shift": shift,
                                                                 "acc": acc})
    reporting.write_csv(out / f"{args.model}_variance_shift.csv", shift)
    reporting.write_csv(out / f"{args.model}_accuracy.csv", acc)
    _mlp_plots(shift, acc, args, out)
    hidden = "-".join(str(h) for h in args.hidden)
    convs = ", ".join(f"Conv{c}-BN2d-ReLU-MaxPool" for c in args.channels)
    arch = (f"Model: {convs}, then Linear-128-BN1d-ReLU, Linear-10 (BN layers in this order)" if cnn else
            f"Model {data.x_train.shape[1]}-{hidden}-10 (Linear-BN-ReLU blocks)")
    md = [f"## (b) {args.model.upper()} with dropout in {len(names)} placements", "",
          f"Data: {data.description}. {arch}, "
          f"dropout p={args.p:g}, Uout beta={args.beta:g}; Adam lr {args.lr:g}, batch {args.batch_size}, "
          f"{args.epochs} epochs, seed {args.seed}. Variance shift measured on the first "
          f"{min(placements.SHIFT_SAMPLES, len(data.x_train))} training images "
          f"(eval mode); BN1, BN2: the BN layers in model order (module: index in the Sequential)"
          + ("; predicted: from the 3x3 patches of the first 1000 training images." if cnn else "."), "",
          "### Variance shift per BN layer (mean over channels; worst channel)", "",
          markdown_table(shift, floatfmt=".4f"), "",
          "### Test accuracy: as trained, BN statistics refreshed with dropout on, after recalibrate_bn", "",
          markdown_table(acc, floatfmt=".4f"), ""]
    return {"data": data.description, "variance_shift": shift, "accuracy": acc}, md


def run(args: argparse.Namespace) -> int:
    from .. import reporting
    from ..experiments.common import check_bn_batches, printer
    from ..reporting import machine

    refused = runs.refuse_batch_of_one("variance-shift", args.batch_size)
    if refused is not None:
        return refused

    def body(run: runs.Run) -> int:
        nonlocal args
        resume = run.resume_from
        if resume is not None:
            args = runs.resumed_args(args, resume.meta["options"])
            print(f"resuming after {run.saved}")
        data = None if args.synthetic_only else load_data(args)  # fail fast on missing data
        if data is not None:
            check_bn_batches(args.batch_size, len(data.y_train), "variance-shift")
        out = args.out
        log = printer(not args.no_progress)
        start = time.perf_counter()
        summary: dict[str, Any] = {"command": "variance-shift", "args": {k: v for k, v in vars(args).items()
                                                                       if not k.startswith("_")}}
        synth_rows, md = _synthetic(args, out, log, resume.meta["synthetic"] if resume else None)
        summary["synthetic"] = synth_rows
        if data is not None:
            meta = {"options": runs.json_options(args), "synthetic": reporting.strict_json(synth_rows)}
            summary[args.model], md_mlp = _mlp(args, data, out, log, run, meta)
            md += md_mlp
        summary["machine"] = machine()
        summary["seconds"] = round(time.perf_counter() - start, 1)
        with run.critical():
            (out / "results.md").write_text("# Variance shift\n\n" + "\n".join(md))
            reporting.write_json(out / "summary.json", summary)
        print("\n".join(md))
        print(f"wrote {out / 'results.md'}, {out / 'summary.json'} and the CSVs ({summary['seconds']} s)")
        return runs.EXIT_OK

    return runs.run_training("variance-shift", args.out, resume=args.resume, force=args.force,
                             finished=("summary.json",), body=body,
                             diverged_hints=lambda err: f"try a smaller --lr (now {args.lr:g})")
