"""Training and evaluation loops for classifiers: ``train_epoch``, ``evaluate`` and ``fit``.

    for epoch in range(epochs):
        stats = train_epoch(model, loader, optimizer, scheduler=scheduler, progress=True)  # {"loss", "acc"}
        test = evaluate(model, test_images, test_labels)                                    # {"loss", "acc"}

The model maps a float batch ``xb`` (B, ...) to logits (B, C); the loss is softmax cross-entropy
against integer labels ``yb`` (B,). Memory stays flat from step to step: each step's graph is freed
by ``backward()`` and the loop keeps only Python floats (``loss.item()``), never a Tensor.
"""

from __future__ import annotations

import contextlib
import math
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from . import functional as F
from .checks import check_int
from .engine.grad_mode import no_grad
from .engine.tensor import Tensor
from .nn import Module
from .nn.utils import check_model, preserved_modes

__all__ = ["train_epoch", "evaluate", "predict", "fit", "eval_mode", "current_lr", "peak_rss_mb", "DivergenceError",
           "check_finite_state", "check_finite_loss"]


class DivergenceError(FloatingPointError):
    """Training produced a non-finite loss (or parameter): it diverged.

    ``epoch`` (1-based, None when ``train_epoch`` ran on its own), ``step`` (1-based within the
    epoch, None for a check at the end of an epoch), ``what`` (``"loss"``, ``"test loss"`` or the
    state_dict key of the first non-finite tensor) and ``value`` (the loss, or None) say where.
    """

    def __init__(self, message: str, *, epoch: int | None, step: int | None, what: str, value: float | None):
        super().__init__(message)
        self.epoch, self.step, self.what, self.value = epoch, step, what, value


def check_finite_loss(value: float, owner: str, *, step: int, epoch: int | None = None,
                      steps: int | None = None) -> None:
    """Raise :class:`DivergenceError` if the loss ``value`` of ``step`` (1-based) is NaN or infinite.
    Called before the step's backward and update, so the model keeps the last good parameters."""
    if not math.isfinite(value):
        where = f"epoch {epoch}, " if epoch is not None else ""
        raise DivergenceError(f"{owner}: the loss is {value} at {where}step {step}{f' of {steps}' if steps else ''}: "
                              "the training diverged (the model keeps the parameters of the step before; "
                              "check_finite=False trains on)", epoch=epoch, step=step, what="loss", value=value)


def check_finite_state(model: Module, owner: str = "check_finite_state", epoch: int | None = None) -> None:
    """Raise :class:`DivergenceError` naming the first parameter or buffer holding NaN or infinity."""
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.data.dtype.kind in "fc" and not np.isfinite(t.data).all():
            where = f" after epoch {epoch}" if epoch is not None else ""
            raise DivergenceError(f"{owner}: {name!r} holds non-finite values{where}: the training diverged",
                                  epoch=epoch, step=None, what=name, value=None)


def current_lr(optimizer: Any) -> float:
    """The learning rate of the optimizer's first parameter group."""
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"] if groups else optimizer.lr)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (``ru_maxrss``: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@contextlib.contextmanager
def eval_mode(model: Module) -> Iterator[Module]:
    """``model.eval()`` inside the block; afterwards every sub-module's ``training`` flag is as before."""
    with preserved_modes(model):
        model.eval()
        yield model


def train_epoch(model: Module, loader: Iterable[tuple[np.ndarray, np.ndarray]], optimizer: Any, *,
                scheduler: Any = None, progress: bool = False, desc: str = "train", check_finite: bool = True,
                epoch: int | None = None) -> dict[str, float]:
    """One pass over ``loader`` in training mode; returns the mean loss and accuracy over the samples seen.

    loader yields numpy batches ``(xb, yb)``: xb float (B, ...) as the model expects, yb int (B,). Per
    batch: forward, ``F.cross_entropy``, ``optimizer.zero_grad()``, ``backward()``, ``optimizer.step()``.
    ``scheduler.step()`` is called once, at the end of the epoch (PyTorch's convention for epoch-based
    schedules such as ``StepLR`` and ``CosineAnnealingLR``). ``progress=True`` shows a tqdm bar with
    the running loss and accuracy. The model is left in training mode.

    ``check_finite`` (default True): a non-finite loss raises :class:`DivergenceError` naming the step
    *before* that batch's backward and update, so the model holds the parameters after the last good
    step; at the end of the epoch every parameter and buffer must be finite too. Pass False to study
    divergence (the loop then runs on with NaN). ``epoch`` only labels the error message.
    """
    check_model("train_epoch", model)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    total = len(loader) if hasattr(loader, "__len__") else None
    with tqdm(loader, total=total, desc=desc, disable=not progress, leave=False, unit="batch",
              dynamic_ncols=True) as bar:
        for step, (xb, yb) in enumerate(bar, 1):
            logits = model(Tensor(xb))
            loss = F.cross_entropy(logits, yb)
            value = loss.item()
            if check_finite:
                check_finite_loss(value, "train_epoch", step=step, epoch=epoch, steps=total)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(yb)
            total_loss += value * n
            correct += int((logits.data.argmax(axis=1) == yb).sum())
            seen += n
            if progress:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{100 * correct / seen:.2f}%", refresh=False)
    if seen == 0:
        raise ValueError("train_epoch: the loader yielded no batches")
    if check_finite:
        check_finite_state(model, "train_epoch", epoch)
    if scheduler is not None:
        scheduler.step()
    return {"loss": total_loss / seen, "acc": correct / seen}


def _check_float_images(owner: str, images: np.ndarray) -> None:
    """TypeError for images that are not floating point (raw uint8 pixels: ``prepare`` was forgotten)."""
    if images.dtype.kind != "f":
        hint = " (raw pixels? pass prepare(images), the float32 the model was trained on)" \
            if images.dtype.kind in "biu" else ""
        raise TypeError(f"{owner}: expected floating-point images, got {images.dtype}{hint}")


def evaluate(model: Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on (images (N, ...) float, labels (N,) int).

    Runs in evaluation mode (BatchNorm uses its running statistics, Dropout is the identity) under
    ``no_grad``, in batches of ``batch_size``; afterwards every sub-module's ``training`` flag is
    restored to what it was.
    """
    check_model("evaluate", model)
    images, labels = np.asarray(images), np.asarray(labels)
    _check_float_images("evaluate", images)
    if len(images) != len(labels) or len(labels) == 0 or labels.ndim != 1:
        raise ValueError(f"evaluate: expected images (N, ...) and labels (N,) with the same N > 0, got "
                         f"{images.shape} and {labels.shape}")
    check_int(batch_size, "evaluate", "batch_size")
    total_loss, correct = 0.0, 0
    with eval_mode(model), no_grad():
        for start in range(0, len(labels), batch_size):
            xb, yb = images[start:start + batch_size], labels[start:start + batch_size]
            logits = model(Tensor(xb))
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += int((logits.data.argmax(axis=1) == yb).sum())
    return {"loss": total_loss / len(labels), "acc": correct / len(labels)}


def predict(model: Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Class predictions (N,) int64 of ``model`` in evaluation mode (restores the previous mode)."""
    check_model("predict", model)
    images = np.asarray(images)
    _check_float_images("predict", images)
    with eval_mode(model), no_grad():
        return np.concatenate([model(Tensor(images[s:s + batch_size])).data.argmax(axis=1)
                               for s in range(0, len(images), batch_size)])


def fit(model: Module, optimizer: Any, train_loader: Iterable[tuple[np.ndarray, np.ndarray]],
        test_images: np.ndarray, test_labels: np.ndarray, *, epochs: int, scheduler: Any = None,
        progress: bool = False, on_epoch: Callable[[dict[str, Any]], None] | None = None,
        check_finite: bool = True, start_epoch: int = 1) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs, evaluating on the test set after each; returns one row per epoch.

    Each row: epoch, lr (used during the epoch), train_loss, train_acc, test_loss, test_acc,
    seconds (training + evaluation), peak_rss_mb (peak memory of the process so far: it should stop
    growing after the first epoch). ``on_epoch(row)`` is called after each epoch (to print or log it,
    or to save a checkpoint). ``check_finite``: see :func:`train_epoch` (a :class:`DivergenceError`
    says the epoch and step). ``start_epoch`` > 1 continues a run whose first ``start_epoch - 1``
    epochs are done (model, optimizer, scheduler and data order restored by the caller): it runs
    epochs ``start_epoch`` to ``epochs`` and returns their rows.
    """
    check_int(epochs, "fit", "epochs")
    check_int(start_epoch, "fit", "start_epoch")
    if start_epoch > epochs + 1:
        raise ValueError(f"fit: start_epoch {start_epoch} is past the last epoch {epochs}")
    history: list[dict[str, Any]] = []
    for epoch in range(start_epoch, epochs + 1):
        start, lr = time.perf_counter(), current_lr(optimizer)
        train = train_epoch(model, train_loader, optimizer, scheduler=scheduler, progress=progress,
                            desc=f"epoch {epoch}/{epochs}", check_finite=check_finite, epoch=epoch)
        test = evaluate(model, test_images, test_labels)
        if check_finite and not math.isfinite(test["loss"]):
            raise DivergenceError(f"fit: the test loss is {test['loss']} after epoch {epoch}: the training diverged "
                                  "(check_finite=False trains on)", epoch=epoch, step=None, what="test loss",
                                  value=test["loss"])
        row = {"epoch": epoch, "lr": lr, "train_loss": train["loss"], "train_acc": train["acc"],
               "test_loss": test["loss"], "test_acc": test["acc"], "seconds": time.perf_counter() - start,
               "peak_rss_mb": peak_rss_mb()}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history
