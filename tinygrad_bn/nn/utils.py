"""Model utilities: finding BatchNorm and dropout layers, and ``recalibrate_bn``.

``recalibrate_bn(model, batches)`` re-estimates every BatchNorm layer's running statistics with
dropout switched off: the remedy for the *variance shift* of Li et al. (CVPR 2019). A BN layer fed
by dropout learns, in training, the variance of its input *with* the dropout noise; in evaluation
the noise is gone, the input variance is smaller, and the layer normalizes with the wrong variance.
Running the training data through the model once more, BN in training mode (so it updates its
statistics) but dropout in evaluation mode (the identity), makes the statistics match what BN will
see at test time. PyTorch's counterpart is ``torch.optim.swa_utils.update_bn`` (which, unlike this
function, leaves dropout in training mode).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..engine.grad_mode import no_grad
from ..engine.tensor import Tensor
from ..functional.normalization import check_momentum
from .dropout import _Noise
from .module import Module
from .normalization import _BatchNorm

__all__ = ["batch_norm_layers", "dropout_layers", "preserved_modes", "batch_inputs", "recalibrate_bn"]


def check_model(fn: str, model: Any) -> Module:
    """``model`` if it is a Module; otherwise a TypeError naming ``fn`` (shared by train.py and the diagnostics)."""
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a tinygrad_bn.nn.Module, got {type(model).__name__}")
    return model


def batch_norm_layers(model: Module) -> list[tuple[str, _BatchNorm]]:
    """Every BatchNorm1d/2d in ``model`` that tracks running statistics, with its dotted name, in order."""
    check_model("batch_norm_layers", model)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def dropout_layers(model: Module) -> list[tuple[str, Module]]:
    """Every dropout-family layer (Dropout, Dropout1d/2d, GaussianDropout, Uout, AlphaDropout) in ``model``."""
    check_model("dropout_layers", model)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, _Noise)]


@contextlib.contextmanager
def preserved_modes(model: Module) -> Iterator[Module]:
    """Inside the block change modes freely; on exit every sub-module gets back its own ``training`` flag."""
    saved = [(m, m.training) for m in check_model("preserved_modes", model).modules()]
    try:
        yield model
    finally:
        for m, mode in saved:
            object.__setattr__(m, "training", mode)  # as Module.train does, one module at a time


def batch_inputs(batches: Iterable[Any], fn: str) -> Iterator[Tensor]:
    """The model input of each batch as a Tensor.

    A batch is an array or Tensor (the input), or a tuple/list whose first item is the input (as
    ``DataLoader`` yields ``(images, labels)``). Non-float arrays are converted to float32.
    """
    if isinstance(batches, (np.ndarray, Tensor)):
        raise TypeError(f"{fn}: batches must be an iterable of batches (e.g. a DataLoader or a list of arrays), "
                        f"got a single {type(batches).__name__}; wrap it in a list")
    try:
        it = iter(batches)
    except TypeError:
        raise TypeError(f"{fn}: batches must be an iterable of batches, got {type(batches).__name__}") from None
    for b in it:
        x = b[0] if isinstance(b, (tuple, list)) else b
        if isinstance(x, Tensor):
            yield x
        elif isinstance(x, np.ndarray):
            yield Tensor(x if x.dtype.kind == "f" else x.astype(np.float32))
        else:
            raise TypeError(f"{fn}: each batch must be an array, a Tensor or a tuple (inputs, ...), "
                            f"got {type(x).__name__}")


def recalibrate_bn(model: Module, batches: Iterable[Any], momentum: float | None = None, *,
                   keep_dropout: bool = False) -> int:
    """Re-estimate the running mean and variance of every BatchNorm layer in ``model`` with dropout off.

    Resets the running statistics, then runs every batch through the model without recording
    gradients, BN layers in training mode (they update their statistics) and every dropout-family
    layer in evaluation mode (the identity). With ``momentum=None`` (default) each layer's statistics
    end as the plain average over the batches of the batch mean and of the unbiased batch variance
    (cumulative average, as ``torch.optim.swa_utils.update_bn``); a float uses that exponential
    momentum instead. Afterwards every module's ``training`` flag and every BN's ``momentum`` are
    what they were. Parameters are not touched.

    ``keep_dropout=True`` leaves the dropout layers in training mode, as ``update_bn`` does: the
    statistics are refreshed (no longer lagging behind the weights) but still include the dropout
    noise, so the variance shift stays. It exists to tell the two effects apart in experiments.

    ``batches``: an iterable of inputs or ``(inputs, labels)`` (see :func:`batch_inputs`), e.g. the
    training ``DataLoader``. Returns the number of batches used. A model without BN layers is left
    as it is (returns 0); an empty ``batches`` raises ValueError before anything is reset.
    """
    check_model("recalibrate_bn", model)
    momentum = check_momentum(momentum, "recalibrate_bn", allow_none=True)
    if not isinstance(keep_dropout, bool):
        raise TypeError(f"recalibrate_bn: keep_dropout must be a bool, got {type(keep_dropout).__name__}")
    layers = [m for _, m in batch_norm_layers(model)]
    if not layers:
        return 0
    inputs = batch_inputs(batches, "recalibrate_bn")
    first = next(inputs, None)
    if first is None:
        raise ValueError("recalibrate_bn: batches is empty; need at least one batch to estimate the statistics")
    saved_momentum = [m.momentum for m in layers]
    count = 0
    with preserved_modes(model), no_grad():
        try:
            model.train()
            for _, m in [] if keep_dropout else dropout_layers(model):
                m.eval()
            for m in layers:
                m.reset_running_stats()
                m.momentum = momentum
            for x in itertools.chain([first], inputs):
                model(x)
                count += 1
        finally:
            for m, mom in zip(layers, saved_momentum):
                m.momentum = mom
    return count
