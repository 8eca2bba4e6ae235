"""Ready-made models. ``mlp()``: the MNIST multilayer perceptron with BatchNorm and Dropout.

``mlp()`` is 784-512-BN-ReLU-Dropout(0.2)-512-BN-ReLU-Dropout(0.2)-10 and takes (N, 784) float32
input (flattened images), returning (N, 10) float32 logits (feed them to ``F.cross_entropy``).
"""

from __future__ import annotations

from collections.abc import Sequence

from . import nn
from .checks import check_int

__all__ = ["mlp"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def mlp(in_features: int = 784, hidden: Sequence[int] = (512, 512), num_classes: int = 10, *,
        batch_norm: bool = True, dropout: float = 0.2, activation: str = "relu") -> nn.Sequential:
    """A multilayer perceptron as an ``nn.Sequential``: (N, in_features) -> (N, num_classes) logits.

    Each width ``h`` in ``hidden`` adds the block Linear(prev, h) -> BatchNorm1d(h) (if ``batch_norm``)
    -> activation ("relu", "sigmoid" or "tanh") -> Dropout(dropout) (if ``dropout > 0``); a final
    Linear(prev, num_classes) gives the logits. ``hidden=()`` is plain logistic regression.
    Parameters are float32 with PyTorch's default initialization (seed with ``tg.manual_seed``).
    """
    in_features = check_int(in_features, "mlp", "in_features")
    num_classes = check_int(num_classes, "mlp", "num_classes")
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise ValueError(f"mlp: hidden must be a sequence of positive integers, got {hidden!r}")
    widths = [check_int(h, "mlp", f"hidden[{i}]") for i, h in enumerate(hidden)]
    if not isinstance(batch_norm, bool):
        raise ValueError(f"mlp: batch_norm must be True or False, got {batch_norm!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"mlp: dropout must be a probability in [0, 1), got {dropout!r}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")

    layers: list[nn.Module] = []
    prev = in_features
    for h in widths:
        layers.append(nn.Linear(prev, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(_ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(float(dropout)))
        prev = h
    layers.append(nn.Linear(prev, num_classes))
    return nn.Sequential(*layers)
