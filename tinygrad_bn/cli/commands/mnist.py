"""``tinygrad-bn mnist``: train the BatchNorm + Dropout MLP (or, with ``--model cnn``, the small BatchNorm2d
CNN) on MNIST or Fashion-MNIST and evaluate it.

Defaults (measured in docs/mnist.md): 784-512-BN-ReLU-Dropout(0.2)-512-BN-ReLU-Dropout(0.2)-10,
SGD lr 0.1, momentum 0.9, weight decay 5e-4, cosine learning-rate schedule, 30 epochs, batch 128,
random 1-pixel shifts of the training images. ``--model cnn``: ``models.cnn()`` with the defaults of
``MODEL_DEFAULTS["cnn"]``. Writes into ``--out``: ``model.npz`` (the state dict,
``tg.load`` reads it), ``metrics.json`` (configuration, model, per-epoch history, machine),
``metrics.csv`` (per-epoch history) and, when matplotlib is installed, ``curves.png``; after every
epoch ``checkpoint.npz`` (``--resume`` continues from it). The folder, the lock, signals, divergence
and exit statuses are handled by :mod:`tinygrad_bn.cli.runs`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import runs
from .arguments import add_data_arguments, check_memory, data_error, number, widths

DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}
DEFAULT_WEIGHT_DECAY = {"sgd": 5e-4, "adam": 0.0}
#: per-model defaults of the options left unset (None) on the command line
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 30, "batch_size": 128, "optimizer": "sgd", "lr": None, "dropout": 0.2, "shift": 1,
            "hidden": (512, 512), "channels": None},
    "cnn": {"epochs": 10, "batch_size": 128, "optimizer": "adam", "lr": 2e-3, "dropout": 0.1, "shift": 0,
            "hidden": None, "channels": (32, 64)},
}


def _default(option: str) -> str:
    """'default: 30 (mlp), 10 (cnn)' for the help texts."""
    def show(v: Any) -> str:
        return ",".join(map(str, v)) if isinstance(v, tuple) else f"{v:g}" if isinstance(v, float) else str(v)
    return "default: " + ", ".join(f"{show(d[option])} ({m})" for m, d in MODEL_DEFAULTS.items()
                                   if d[option] is not None)


def add_arguments(p: argparse.ArgumentParser) -> None:
    positive_int = number(int, 1, "a positive integer")
    add_data_arguments(p, default_dataset="mnist")
    p.add_argument("--model", choices=tuple(MODEL_DEFAULTS), default="mlp",
                   help="mlp: the BatchNorm MLP; cnn: the small BatchNorm2d CNN (default: mlp)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="train on the first N training images only (quick runs)")
    p.add_argument("--epochs", type=positive_int, default=None, help=_default("epochs"))
    p.add_argument("--batch-size", type=positive_int, default=None, help=_default("batch_size"))
    p.add_argument("--optimizer", choices=("sgd", "adam"), default=None,
                   help=_default("optimizer") + "; sgd is SGD with momentum")
    p.add_argument("--lr", type=number(float, 0, "a positive number", inclusive=False), default=None,
                   help="learning rate (default: 0.1 for sgd, 0.001 for adam; cnn with adam: "
                        f"{MODEL_DEFAULTS['cnn']['lr']:g}); decays to 0 on a cosine schedule")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="default: cosine")
    p.add_argument("--momentum", type=number(float, 0, "a number in [0, 1)", high=1), default=None,
                   help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=number(float, 0, "a non-negative number"), default=None,
                   help="L2 weight decay (default: 5e-4 for sgd, 0 for adam)")
    p.add_argument("--hidden", type=widths, default=None, metavar="W1,W2,...",
                   help="mlp: hidden layer widths (default: 512,512)")
    p.add_argument("--channels", type=widths, default=None, metavar="C1,C2,...",
                   help="cnn: channels of the conv blocks, each halving the image side (default: "
                        f"{','.join(map(str, MODEL_DEFAULTS['cnn']['channels']))})")
    p.add_argument("--dropout", type=number(float, 0, "a probability in [0, 1)", high=1), default=None,
                   help="dropout probability after each hidden layer (mlp) or conv block (cnn, Dropout2d) ("
                        + _default("dropout") + "; 0 disables)")
    p.add_argument("--no-bn", action="store_true", help="no BatchNorm layers")
    p.add_argument("--shift", type=number(int, 0, "a non-negative integer"), default=None, metavar="PIXELS",
                   help="augment: shift each training image by up to PIXELS in x and y (" + _default("shift")
                        + "; 0 disables)")
    p.add_argument("--seed", type=number(int, 0, "a non-negative integer"), default=0,
                   help="seed for initialization, shuffling, dropout and augmentation (default: 0)")
    p.add_argument("--out", type=Path, default=Path("runs/mnist"), metavar="DIR",
                   help="output folder for model.npz, metrics.json/.csv and curves.png (default: runs/mnist)")
    p.add_argument("--no-progress", action="store_true", help="no per-batch progress bar")
    runs.add_run_arguments(p, "model.npz")


def check_args(args: argparse.Namespace) -> None:
    """Fill in the model's defaults, then refuse option combinations that cannot work, before any file is
    read (RunError, one line)."""
    try:
        resolve_defaults(args)
    except ValueError as e:
        raise runs.RunError(str(e)) from None
    if args.optimizer == "adam" and args.momentum is not None:
        raise runs.RunError("--momentum applies to --optimizer sgd only (Adam's betas are fixed at 0.9, 0.999)")
    if args.shift >= 28:
        raise runs.RunError(f"--shift {args.shift}: an image is 28x28 pixels, so the shift must be below 28 "
                            "(a small one, such as 1 or 2, is what helps)")
    if args.batch_size < 2 and not args.no_bn:
        raise runs.RunError("--batch-size 1: BatchNorm needs at least 2 images per batch (it normalizes over the "
                            "batch); use --batch-size 2 or more, or --no-bn")
    states = 2 if args.optimizer == "adam" else 1
    if args.model == "cnn":  # conv blocks (each value of a block: ~8 arrays of outputs, masks, gradients)
        chans, sides = [1, *args.channels], [28 // 2 ** i for i in range(len(args.channels) + 1)]
        n_params = sum(9 * a * b + 2 * b for a, b in zip(chans, chans[1:])) + chans[-1] * sides[-1] ** 2 * 128 + 1546
        activations = args.batch_size * (784 + 8 * sum(c * s * s for c, s in zip(chans[1:], sides)) + 1100)
        what = f"--channels {','.join(map(str, args.channels))} with --batch-size {args.batch_size}"
    else:
        widths_ = [784, *args.hidden, 10]
        n_params = sum(a * b + b for a, b in zip(widths_, widths_[1:])) + 4 * sum(args.hidden)
        activations = args.batch_size * (784 + 8 * sum(args.hidden) + 40)  # each layer's outputs, masks, gradients
        what = f"--hidden {','.join(map(str, args.hidden))} with --batch-size {args.batch_size}"
    check_memory(4 * (n_params * (3 + states) + activations), what,
                 f"{n_params:,} parameters with their gradients and optimizer state, and a batch's activations")


def divergence_hints(args: argparse.Namespace) -> str:
    """What probably made the run diverge, from its options."""
    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    hints = []
    if lr > 3 * DEFAULT_LR[args.optimizer]:
        hints.append(f"the learning rate (--lr {lr:g}) is probably too high (default {DEFAULT_LR[args.optimizer]:g})")
    if args.no_bn:
        hints.append("without BatchNorm (--no-bn) the network needs a smaller --lr")
    if args.batch_size == 1:
        hints.append("batches of one image (--batch-size 1) make very noisy steps")
    return "probable causes: " + "; ".join(hints or [f"a learning rate (--lr {lr:g}) too high for this model"])


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the options left unset with ``MODEL_DEFAULTS[args.model]`` (in place); refuse --hidden with the
    cnn and --channels with the mlp. Returns ``args``."""
    defaults = MODEL_DEFAULTS[args.model]
    for option, flag in (("hidden", "--hidden"), ("channels", "--channels")):
        if getattr(args, option, None) is not None and defaults[option] is None:
            raise ValueError(f"{flag} does not apply to --model {args.model}")
    own_optimizer = args.optimizer in (None, defaults["optimizer"])
    for option, value in defaults.items():
        # the model's lr goes with its own optimizer; another optimizer gets DEFAULT_LR in build_optimizer
        if getattr(args, option, None) is None and (option != "lr" or own_optimizer):
            setattr(args, option, value)
    return args


def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """(train images, train labels, test images, test labels, a one-line description) per the arguments."""
    from ...data import load_dataset

    download = not args.no_download
    if args.holdout is None:
        x_train, y_train = load_dataset(args.dataset, "train", args.data_dir, download)
        x_test, y_test = load_dataset(args.dataset, "test", args.data_dir, download)
        split = "train split / test split"
    else:
        images, labels = load_dataset(args.dataset, "test", args.data_dir, download)
        if args.holdout >= len(labels):
            raise ValueError(f"--holdout {args.holdout}: must be smaller than the {len(labels)} images of the "
                             "test split")
        k = len(labels) - args.holdout
        x_train, y_train, x_test, y_test = images[:k], labels[:k], images[k:], labels[k:]
        split = f"test split: first {k} images to train, last {args.holdout} to test (--holdout)"
    if getattr(args, "limit", None) is not None and args.limit < len(y_train):
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
        split += f", training limited to the first {args.limit} (--limit)"
    return x_train, y_train, x_test, y_test, split


def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``models.mlp`` (or ``models.cnn``) for this run (also stored in metrics.json)."""
    if args.model == "cnn":
        return {"in_channels": 1, "channels": list(args.channels), "num_classes": 10, "image_size": 28,
                "hidden": 128, "batch_norm": not args.no_bn, "dropout": args.dropout, "head_dropout": 0.3}
    return {"in_features": 784, "hidden": list(args.hidden), "num_classes": 10, "batch_norm": not args.no_bn,
            "dropout": args.dropout}


def build_model(architecture: str, cfg: dict[str, Any]) -> Any:
    """``models.mlp(**cfg)`` or ``models.cnn(**cfg)``."""
    from ... import models

    return {"mlp": models.mlp, "cnn": models.cnn}[architecture](**cfg)


def build_optimizer(args: argparse.Namespace, params: Any) -> tuple[Any, Any, str]:
    """(optimizer, scheduler or None, description) for the arguments."""
    from ... import optim

    lr = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr  # (resolve_defaults sets the cnn's)
    wd = DEFAULT_WEIGHT_DECAY[args.optimizer] if args.weight_decay is None else args.weight_decay
    if args.optimizer == "sgd":
        momentum = 0.9 if args.momentum is None else args.momentum
        opt = optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)
        desc = f"SGD lr {lr:g} momentum {momentum:g} weight decay {wd:g}"
    else:
        if args.momentum is not None:
            raise ValueError("--momentum applies to --optimizer sgd only (Adam's betas are fixed at 0.9, 0.999)")
        opt = optim.Adam(params, lr=lr, weight_decay=wd)
        desc = f"Adam lr {lr:g} weight decay {wd:g}"
    if args.schedule == "constant":
        return opt, None, desc + ", constant"
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    return opt, scheduler, desc + f", cosine over {args.epochs} epochs"


def describe_model(cfg: dict[str, Any]) -> str:
    """e.g. 784-512-BN-ReLU-Dropout(0.2)-512-BN-ReLU-Dropout(0.2)-10, or for the cnn
    1x28x28-Conv32-BN-ReLU-MaxPool-Dropout2d(0.1)-Conv64-BN-ReLU-MaxPool-Dropout2d(0.1)-128-BN-ReLU-Dropout(0.3)-10."""
    if "channels" in cfg:
        parts = [f"{cfg['in_channels']}x{cfg['image_size']}x{cfg['image_size']}"]
        for c in cfg["channels"]:
            parts += [f"Conv{c}"] + (["BN"] if cfg["batch_norm"] else []) + ["ReLU", "MaxPool"]
            parts += [f"Dropout2d({cfg['dropout']:g})"] if cfg["dropout"] > 0 else []
        if cfg["hidden"] is not None:
            parts += [str(cfg["hidden"])] + (["BN"] if cfg["batch_norm"] else []) + ["ReLU"]
            parts += [f"Dropout({cfg['head_dropout']:g})"] if cfg["head_dropout"] > 0 else []
        return "-".join(parts + [str(cfg["num_classes"])])
    parts = [str(cfg["in_features"])]
    for h in cfg["hidden"]:
        parts += [str(h)] + (["BN"] if cfg["batch_norm"] else []) + ["ReLU"]
        parts += [f"Dropout({cfg['dropout']:g})"] if cfg["dropout"] > 0 else []
    return "-".join(parts + [str(cfg["num_classes"])])


def train(args: argparse.Namespace, log: Callable[[str], None] = print,
          after_epoch: Callable[[dict[str, Any]], None] | None = None, run: runs.Run | None = None) -> dict[str, Any]:
    """Run the whole job; returns {"model", "history", "summary", "config", "test_images", "test_labels"}.

    ``log`` receives each printed line; ``after_epoch(row)``, if given, is called after each epoch's
    line (benchmarks/mnist_memory.py measures memory there). With a ``run``, a checkpoint is written
    into its folder after every epoch (before the epoch's line), and training continues from
    ``run.resume_from`` when it is set.
    """
    import tinygrad_bn as tg

    from ...checkpoint import restore_checkpoint
    from ...data import FASHION_MNIST_MEAN, FASHION_MNIST_STD, MNIST_MEAN, MNIST_STD, DataLoader, RandomShift, prepare
    from ...train import fit

    started = time.perf_counter()
    resolve_defaults(args)
    x_train, y_train, x_test, y_test, split = load_data(args)
    if args.batch_size > len(y_train):
        raise ValueError(f"--batch-size {args.batch_size} is larger than the {len(y_train)} training images")
    mean, std = (MNIST_MEAN, MNIST_STD) if args.dataset == "mnist" else (FASHION_MNIST_MEAN, FASHION_MNIST_STD)
    shift = RandomShift(args.shift, seed=args.seed) if args.shift else None

    shape = (-1, 1, 28, 28) if args.model == "cnn" else (-1, 784)  # the cnn takes images, the mlp rows

    def transform(xb: np.ndarray) -> np.ndarray:
        return prepare(shift(xb) if shift else xb, mean, std).reshape(shape)

    # drop_last: a last batch of a few images would give BatchNorm noisy statistics (and fail for 1 image);
    # the shuffle differs each epoch, so every image is still used.
    loader = DataLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True, seed=args.seed, drop_last=True,
                        transform=transform)
    tg.manual_seed(args.seed)
    cfg = model_config(args)
    model = build_model(args.model, cfg)
    optimizer, scheduler, opt_desc = build_optimizer(args, model.parameters())
    n_params = sum(p.data.size for p in model.parameters())
    name = DATASET_NAMES[args.dataset]
    history: list[dict[str, Any]] = []
    start, states = 1, {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": loader,
                        "generators": {"shift": shift.rng} if shift else None}
    if run is not None and run.resume_from is not None:
        start = restore_checkpoint(run.resume_from, **states) + 1
        history = list(run.resume_from.meta["history"])
        log(f"resuming after epoch {start - 1} of {args.epochs} from {run.checkpoint}")
    if run is not None:
        run.position = f"epoch {start}"  # before the lines below: a signal after them is "during epoch N"
    log(f"{name}: {len(y_train)} training / {len(y_test)} test images ({split})")
    log(f"model {describe_model(cfg)}, {n_params:,} parameters; {opt_desc}; batch {args.batch_size}, "
        f"shift {args.shift} px, seed {args.seed}")

    def on_epoch(row: dict[str, Any]) -> None:
        history.append(row)
        if run is not None:  # saved before the line is printed: a line on screen means its checkpoint exists
            meta = {"history": history, "options": runs.json_options(args)}
            run.save_checkpoint(epoch=row["epoch"], meta=meta, **states)
            run.position = f"epoch {row['epoch'] + 1}"
        log(f"epoch {row['epoch']:3d}/{args.epochs}  train loss {row['train_loss']:.4f}  train acc "
            f"{100 * row['train_acc']:6.2f}%  test acc {100 * row['test_acc']:6.2f}%  {row['seconds']:6.1f} s")
        if after_epoch is not None:
            after_epoch(row)

    test_x = prepare(x_test, mean, std).reshape(shape)
    fit(model, optimizer, loader, test_x, y_test, epochs=args.epochs, scheduler=scheduler,
        progress=not args.no_progress, on_epoch=on_epoch, start_epoch=start)
    final = history[-1]
    summary = {"dataset": name, "split": split, "n_train": len(y_train), "n_test": len(y_test),
               "epochs": args.epochs, "test_acc": final["test_acc"], "test_loss": final["test_loss"],
               "train_seconds": sum(r["seconds"] for r in history), "total_seconds": time.perf_counter() - started,
               "peak_rss_mb": final["peak_rss_mb"], "parameters": n_params, "optimizer": opt_desc}
    log(f"test accuracy {100 * final['test_acc']:.2f}% after {args.epochs} epochs "
        f"({summary['train_seconds']:.1f} s training, {summary['total_seconds']:.1f} s in all)")
    return {"model": model, "history": history, "summary": summary, "config": cfg, "architecture": args.model,
            "test_images": test_x, "test_labels": y_test}


def save_outputs(args: argparse.Namespace, result: dict[str, Any]) -> list[str]:
    """Write model.npz, metrics.json, metrics.csv and (with matplotlib) curves.png into ``args.out``.

    Returns one line per file ("wrote PATH"), or a note saying why there is no plot.
    """
    import tinygrad_bn as tg

    from ..reporting import machine, plot_note, write_csv, write_json

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    history = result["history"]
    tg.save(result["model"].state_dict(), out / "model.npz")
    written = [out / "model.npz",
               write_json(out / "metrics.json", {"summary": result["summary"], "architecture": result["architecture"],
                                                 "model": result["config"], "options": runs.json_options(args),
                                                 "history": history, "machine": machine()}),
               write_csv(out / "metrics.csv", history)]
    title = f"{result['summary']['dataset']}: {describe_model(result['config'])}"
    png = plot_curves(out / "curves.png", history, title)
    return [f"wrote {p}" for p in written] + [plot_note(png, "curves.png")]


def plot_curves(path: str | os.PathLike, history: list[dict[str, Any]], title: str) -> Path | None:
    """Error rate (1 - accuracy) and cross-entropy per epoch, train and test, on one log-scale axis.

    On a log scale 2% and 1.5% error are far apart, where accuracy curves would sit flat near 1.
    Returns the PNG's path, or None when matplotlib is not installed.
    """
    from ..reporting import line_plot

    epochs = [r["epoch"] for r in history]
    series = {f"{split} {what}": (epochs, [f(r[f"{split}_{key}"]) for r in history])
              for what, key, f in (("error", "acc", lambda a: max(1.0 - a, 1e-4)), ("loss", "loss", float))
              for split in ("train", "test")}
    return line_plot(path, series, xlabel="epoch", ylabel="error rate, cross-entropy (log scale)", title=title,
                     logy=True)


def load_trained(out: str | os.PathLike) -> Any:
    """Rebuild the model a run saved in ``out`` (model.npz + metrics.json), in evaluation mode."""
    import tinygrad_bn as tg

    out = Path(out)
    metrics = json.loads((out / "metrics.json").read_text())
    model = build_model(metrics.get("architecture", "mlp"), metrics["model"])
    model.load_state_dict(tg.load(out / "model.npz"))
    return model.eval()


def run(args: argparse.Namespace) -> int:
    from ...data import DatasetNotFoundError

    def body(run: runs.Run) -> int:
        nonlocal args
        if run.resume_from is not None:
            args = runs.resumed_args(args, run.resume_from.meta["options"])
        check_args(args)
        try:
            result = train(args, run=run)
        except (DatasetNotFoundError, ValueError) as e:  # missing data: exit 1; a bad option value: exit 2
            raise data_error(e, args) from None
        with run.critical():
            lines = save_outputs(args, result)
        print("\n".join(lines))
        return runs.EXIT_OK

    if not args.resume:
        try:
            check_args(args)
        except runs.RunError as e:
            print(f"tinygrad-bn mnist: error: {e}", file=sys.stderr)
            return e.status
    return runs.run_training("mnist", args.out, resume=args.resume, force=args.force, finished=("model.npz",),
                             body=body, diverged_hints=lambda err: divergence_hints(args))
