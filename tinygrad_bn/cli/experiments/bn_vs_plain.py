"""BatchNorm speeds up training: Ioffe & Szegedy (2015), Figure 1(a).

The paper's setup: 3 fully connected hidden layers of 100 sigmoid units, a 10-way softmax, mini-batches
of 60, plain SGD (no momentum), 50,000 steps; test accuracy against the step, with and without BN
(BN after each hidden Linear, before the sigmoid). The paper does not give the learning rate or the
initialization; we use PyTorch's default initialization and a learning rate chosen by the caller
(default in the command). Both networks start from the same seed and see the same batches.

Alongside the accuracy we record, like the paper's Figure 1(b, c), the 15th, 50th and 85th percentiles
of the input to one sigmoid of the last hidden layer (unit 0), over the test images in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ... import nn
from .common import Splits, bn_loader

#: ``save(step, model, optimizer, rows)`` of :func:`train_one`
Save = Callable[[int, Any, Any, list], None]

HIDDEN = (100, 100, 100)


def build(batch_norm: bool, in_features: int = 784, num_classes: int = 10) -> nn.Sequential:
    """784-100-100-100-10 with sigmoids; ``batch_norm``: Linear -> BN -> Sigmoid in each hidden block."""
    from ...models import mlp

    return mlp(in_features, HIDDEN, num_classes, batch_norm=batch_norm, dropout=0.0, activation="sigmoid")


def _last_sigmoid_input(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """The input to the last hidden sigmoid (all its units), eval mode, no grad: (N, 100)."""
    from ...autograd import no_grad
    from ...engine.tensor import Tensor
    from ...nn.utils import preserved_modes

    layers = list(model.children())
    last = max(i for i, m in enumerate(layers) if isinstance(m, nn.Sigmoid))
    with preserved_modes(model), no_grad():
        model.eval()
        h = Tensor(x)
        for m in layers[:last]:
            h = m(h)
    return h.data


def _check(steps: int, eval_every: int, lr: float, batch_size: int) -> None:
    for name, val in (("steps", steps), ("eval_every", eval_every), ("batch_size", batch_size)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"bn_vs_plain.run: {name} must be an int >= 1, got {val!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ValueError(f"bn_vs_plain.run: lr must be > 0, got {lr!r}")


def train_one(label: str, batch_norm: bool, data: Splits, *, steps: int, eval_every: int, lr: float,
              batch_size: int, seed: int, log: Callable[[str], None], save: Save | None = None,
              resume: Any = None) -> list[dict[str, Any]]:
    """Train one network for ``steps`` SGD steps, recording a row at step 0, every ``eval_every`` and the end.

    ``save(step, model, optimizer, rows)``, if given, is called after every recorded row (to checkpoint);
    ``resume`` (a :class:`~tinygrad_bn.checkpoint.Checkpoint` saved that way, meta ``step`` and ``rows``)
    continues from that row: the same batches follow, so the rows are those of an uninterrupted run."""
    from ... import functional as F
    from ... import optim
    from ...checkpoint import restore_checkpoint
    from ...engine.tensor import Tensor
    from ...random import manual_seed
    from ...train import check_finite_loss, evaluate

    manual_seed(seed)
    model = build(batch_norm, data.x_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loader = bn_loader(data.x_train, data.y_train, batch_size, seed, "bn_vs_plain")
    rows: list[dict[str, Any]] = []

    def record(step: int, loss: float | None) -> None:
        acc = evaluate(model, data.x_test, data.y_test)["acc"]
        q15, q50, q85 = np.percentile(_last_sigmoid_input(model, data.x_test)[:, 0], [15, 50, 85])
        rows.append({"network": label, "step": step, "test_acc": acc, "train_loss": loss,
                     "sigmoid_in_p15": float(q15), "sigmoid_in_p50": float(q50), "sigmoid_in_p85": float(q85)})
        if step and save is not None:  # saved before the line: a line on screen means its checkpoint exists
            save(step, model, optimizer, rows)
        trained = "before training" if loss is None else f"train loss {loss:.4f}"
        log(f"  {label}: step {step}/{steps} test acc {acc:.4f} {trained}")

    if resume is None:
        record(0, None)  # no training loss yet: None in the rows (empty in the CSV, null in JSON)
        step = 0
    else:
        restore_checkpoint(resume, model=model, optimizer=optimizer)
        step, rows[:] = resume.meta["step"], resume.meta["rows"]
    # the loader's epoch e is drawn from (seed, e): step s is batch s % len of epoch s // len
    loader.epoch, skip = divmod(step, len(loader))
    running, count = 0.0, 0
    model.train()
    while step < steps:
        for xb, yb in loader:
            if skip:
                skip -= 1
                continue
            loss = F.cross_entropy(model(Tensor(xb)), yb)
            value = loss.item()
            check_finite_loss(value, f"bn_vs_plain ({label})", step=step + 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            running, count = running + value, count + 1
            if step % eval_every == 0 or step == steps:
                record(step, running / count)
                running, count = 0.0, 0
                model.train()
            if step == steps:
                break
    return rows


NETWORKS = (("with BN", True), ("without BN", False))


def run(data: Splits, *, steps: int = 3000, eval_every: int = 100, lr: float = 0.1, batch_size: int = 60,
        seed: int = 0, log: Callable[[str], None] = lambda m: None, save: Callable[..., None] | None = None,
        resume: Any = None) -> list[dict[str, Any]]:
    """Train both networks (same seed, same batches); one row per (network, evaluated step): test accuracy,
    mean training loss since the previous row, and the sigmoid-input percentiles.

    ``save(network, step, model, optimizer, rows)`` is called after every recorded row (``network``: 0 or 1,
    ``rows``: all rows so far); ``resume``, a checkpoint saved then (meta ``network``, ``step``, ``rows``),
    continues the run from there."""
    _check(steps, eval_every, lr, batch_size)
    first = 0 if resume is None else resume.meta["network"]
    done = [] if resume is None else [r for r in resume.meta["rows"] if r["network"] != NETWORKS[first][0]]
    rows = list(done)
    for i, (label, batch_norm) in enumerate(NETWORKS[first:], first):
        keep = list(rows)

        def save_one(step: int, model: Any, optimizer: Any, own: list[dict[str, Any]], i: int = i,
                     keep: list[dict[str, Any]] = keep) -> None:
            if save is not None:
                save(i, step, model, optimizer, keep + own)

        if resume is not None and i == first:
            resume.meta["rows"] = [r for r in resume.meta["rows"] if r["network"] == label]
        rows += train_one(label, batch_norm, data, steps=steps, eval_every=eval_every, lr=lr,
                          batch_size=batch_size, seed=seed, log=log, save=save_one,
                          resume=resume if i == first else None)
    return rows


def summary(rows: list[dict[str, Any]], thresholds: tuple[float, ...] = (0.8, 0.85, 0.9, 0.95)) -> list[dict[str, Any]]:
    """Per network: final and best test accuracy, and the first evaluated step reaching each threshold."""
    out = []
    for label in dict.fromkeys(r["network"] for r in rows):
        rs = [r for r in rows if r["network"] == label]
        row: dict[str, Any] = {"network": label, "steps": rs[-1]["step"], "final_test_acc": rs[-1]["test_acc"],
                               "best_test_acc": max(r["test_acc"] for r in rs)}
        for t in thresholds:
            hit = next((r["step"] for r in rs if r["test_acc"] >= t), None)
            row[f"steps_to_{t:g}"] = "not reached" if hit is None else hit
        out.append(row)
    return out
