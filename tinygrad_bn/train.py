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

__all__ = ["train_epoch", "evaluate", "predict", "fit", "eval_mode", "current_lr", "peak_rss_mb"]


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
                scheduler: Any = None, progress: bool = False, desc: str = "train") -> dict[str, float]:
    """One pass over ``loader`` in training mode; returns the mean loss and accuracy over the samples seen.

    loader yields numpy batches ``(xb, yb)``: xb float (B, ...) as the model expects, yb int (B,). Per
    batch: forward, ``F.cross_entropy``, ``optimizer.zero_grad()``, ``backward()``, ``optimizer.step()``.
    ``scheduler.step()`` is called once, at the end of the epoch (PyTorch's convention for epoch-based
    schedules such as ``StepLR`` and ``CosineAnnealingLR``). ``progress=True`` shows a tqdm bar with
    the running loss and accuracy. The model is left in training mode.
    """
    check_model("train_epoch", model)
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    total = len(loader) if hasattr(loader, "__len__") else None
    with tqdm(loader, total=total, desc=desc, disable=not progress, leave=False, unit="batch",
              dynamic_ncols=True) as bar:
        for xb, yb in bar:
            logits = model(Tensor(xb))
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = len(yb)
            total_loss += loss.item() * n
            correct += int((logits.data.argmax(axis=1) == yb).sum())
            seen += n
            if progress:
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{100 * correct / seen:.2f}%", refresh=False)
    if seen == 0:
        raise ValueError("train_epoch: the loader yielded no batches")
    if scheduler is not None:
        scheduler.step()
    return {"loss": total_loss / seen, "acc": correct / seen}


def evaluate(model: Module, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy and accuracy of ``model`` on (images (N, ...) float, labels (N,) int).

    Runs in evaluation mode (BatchNorm uses its running statistics, Dropout is the identity) under
    ``no_grad``, in batches of ``batch_size``; afterwards every sub-module's ``training`` flag is
    restored to what it was.
    """
    check_model("evaluate", model)
    images, labels = np.asarray(images), np.asarray(labels)
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
    with eval_mode(model), no_grad():
        return np.concatenate([model(Tensor(images[s:s + batch_size])).data.argmax(axis=1)
                               for s in range(0, len(images), batch_size)])


def fit(model: Module, optimizer: Any, train_loader: Iterable[tuple[np.ndarray, np.ndarray]],
        test_images: np.ndarray, test_labels: np.ndarray, *, epochs: int, scheduler: Any = None,
        progress: bool = False, on_epoch: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs, evaluating on the test set after each; returns one row per epoch.

    Each row: epoch, lr (used during the epoch), train_loss, train_acc, test_loss, test_acc,
    seconds (training + evaluation), peak_rss_mb (peak memory of the process so far: it should stop
    growing after the first epoch). ``on_epoch(row)`` is called after each epoch (to print or log it).
    """
    check_int(epochs, "fit", "epochs")
    history: list[dict[str, Any]] = []
    for epoch in range(1, epochs + 1):
        start, lr = time.perf_counter(), current_lr(optimizer)
        train = train_epoch(model, train_loader, optimizer, scheduler=scheduler, progress=progress,
                            desc=f"epoch {epoch}/{epochs}")
        test = evaluate(model, test_images, test_labels)
        row = {"epoch": epoch, "lr": lr, "train_loss": train["loss"], "train_acc": train["acc"],
               "test_loss": test["loss"], "test_acc": test["acc"], "seconds": time.perf_counter() - start,
               "peak_rss_mb": peak_rss_mb()}
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    return history
