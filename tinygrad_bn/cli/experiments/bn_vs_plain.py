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
from .common import Splits

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
              batch_size: int, seed: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Train one network for ``steps`` SGD steps, recording a row at step 0, every ``eval_every`` and the end."""
    from ... import functional as F
    from ... import optim
    from ...data import DataLoader
    from ...engine.tensor import Tensor
    from ...random import manual_seed
    from ...train import evaluate

    manual_seed(seed)
    model = build(batch_norm, data.x_train.shape[1])
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(data.x_train, data.y_train, batch_size=batch_size, shuffle=True, seed=seed,
                        drop_last=len(data.y_train) >= batch_size)
    rows: list[dict[str, Any]] = []

    def record(step: int, loss: float) -> None:
        acc = evaluate(model, data.x_test, data.y_test)["acc"]
        q15, q50, q85 = np.percentile(_last_sigmoid_input(model, data.x_test)[:, 0], [15, 50, 85])
        rows.append({"network": label, "step": step, "test_acc": acc, "train_loss": loss,
                     "sigmoid_in_p15": float(q15), "sigmoid_in_p50": float(q50), "sigmoid_in_p85": float(q85)})
        log(f"  {label}: step {step}/{steps} test acc {acc:.4f} train loss {loss:.4f}")

    record(0, float("nan"))
    step, running, count = 0, 0.0, 0
    model.train()
    while step < steps:
        for xb, yb in loader:
            loss = F.cross_entropy(model(Tensor(xb)), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            running, count = running + loss.item(), count + 1
            if step % eval_every == 0 or step == steps:
                record(step, running / count)
                running, count = 0.0, 0
            if step == steps:
                break
    return rows


def run(data: Splits, *, steps: int = 3000, eval_every: int = 100, lr: float = 0.1, batch_size: int = 60,
        seed: int = 0, log: Callable[[str], None] = lambda m: None) -> list[dict[str, Any]]:
    """Train both networks (same seed, same batches); one row per (network, evaluated step): test accuracy,
    mean training loss since the previous row, and the sigmoid-input percentiles."""
    _check(steps, eval_every, lr, batch_size)
    rows = []
    for label, batch_norm in (("with BN", True), ("without BN", False)):
        rows += train_one(label, batch_norm, data, steps=steps, eval_every=eval_every, lr=lr,
                          batch_size=batch_size, seed=seed, log=log)
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
