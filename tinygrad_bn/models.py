"""Ready-made models: ``mlp()``, the MNIST multilayer perceptron with BatchNorm and Dropout, and ``cnn()``,
a small convolutional network with BatchNorm2d and Dropout2d.

``mlp()`` is 784-512-BN-ReLU-Dropout(0.2)-512-BN-ReLU-Dropout(0.2)-10 and takes (N, 784) float32
input (flattened images), returning (N, 10) float32 logits (feed them to ``F.cross_entropy``).
``cnn()`` takes images (N, 1, 28, 28) float32 and returns (N, 10) float32 logits; see its docstring.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import nn
from .checks import check_bool, check_int

__all__ = ["mlp", "cnn"]

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


def cnn(in_channels: int = 1, channels: Sequence[int] = (32, 64), num_classes: int = 10, *, image_size: int = 28,
        hidden: int | None = 128, batch_norm: bool = True, dropout: float = 0.1, spatial_dropout: bool = True,
        head_dropout: float = 0.3) -> nn.Sequential:
    """A small convolutional network as an ``nn.Sequential``: (N, in_channels, S, S) -> (N, num_classes) logits.

    Each width ``c`` in ``channels`` adds the block (S: the image side at the block's input)::

        Conv2d(prev, c, 3, padding=1)   (N, prev, S, S)  -> (N, c, S, S)     no bias when batch_norm
        BatchNorm2d(c)                  statistics per channel, over N, S and S   (if batch_norm)
        ReLU
        MaxPool2d(2)                    (N, c, S, S)     -> (N, c, S/2, S/2)
        Dropout2d(dropout)              zeroes whole channels (Dropout if not spatial_dropout; if dropout > 0)

    then the head: Flatten -> (N, c_last * s * s), s = image_size / 2**len(channels) -> Linear(., hidden)
    -> BatchNorm1d(hidden) (if batch_norm) -> ReLU -> Dropout(head_dropout) (if > 0) -> Linear(hidden,
    num_classes); with ``hidden=None`` the head is one Linear(c_last * s * s, num_classes). The default,
    ``cnn()`` for 28x28 grey-scale images (421,866 parameters)::

        (N, 1, 28, 28)  Conv2d(1, 32, 3, padding=1, bias=False) BN2d(32) ReLU MaxPool2d(2) Dropout2d(0.1)
        (N, 32, 14, 14) Conv2d(32, 64, 3, padding=1, bias=False) BN2d(64) ReLU MaxPool2d(2) Dropout2d(0.1)
        (N, 64, 7, 7)   Flatten -> (N, 3136)
        (N, 3136)       Linear(3136, 128, bias=False) BN1d(128) ReLU Dropout(0.3) Linear(128, 10) -> (N, 10)

    A convolution in front of BatchNorm needs no bias: BN subtracts the channel mean, bias included, and
    its own ``bias`` takes the role. Parameters are float32 with PyTorch's default initialization (seed
    with ``tg.manual_seed``); the state_dict names are PyTorch's for the same ``nn.Sequential``
    ("0.weight", "1.weight", "1.bias", "1.running_mean", ...).
    """
    in_channels = check_int(in_channels, "cnn", "in_channels")
    num_classes = check_int(num_classes, "cnn", "num_classes")
    image_size = check_int(image_size, "cnn", "image_size")
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence) or not channels:
        raise ValueError(f"cnn: channels must be a non-empty sequence of positive integers, got {channels!r}")
    widths = [check_int(c, "cnn", f"channels[{i}]") for i, c in enumerate(channels)]
    if image_size % 2 ** len(widths):
        raise ValueError(f"cnn: image_size ({image_size}) must be divisible by 2**len(channels) = "
                         f"{2 ** len(widths)} (each block halves the image side)")
    batch_norm = check_bool(batch_norm, "cnn", "batch_norm")
    spatial_dropout = check_bool(spatial_dropout, "cnn", "spatial_dropout")
    hidden = None if hidden is None else check_int(hidden, "cnn", "hidden")
    for name, rate in (("dropout", dropout), ("head_dropout", head_dropout)):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(f"cnn: {name} must be a probability in [0, 1), got {rate!r}")

    layers: list[nn.Module] = []
    prev, side = in_channels, image_size
    for c in widths:
        layers.append(nn.Conv2d(prev, c, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        if dropout > 0:
            layers.append((nn.Dropout2d if spatial_dropout else nn.Dropout)(float(dropout)))
        prev, side = c, side // 2
    layers.append(nn.Flatten())
    prev = prev * side * side
    if hidden is not None:
        layers.append(nn.Linear(prev, hidden, bias=not batch_norm))
        layers += [nn.BatchNorm1d(hidden)] if batch_norm else []
        layers.append(nn.ReLU())
        layers += [nn.Dropout(float(head_dropout))] if head_dropout > 0 else []
        prev = hidden
    layers.append(nn.Linear(prev, num_classes))
    return nn.Sequential(*layers)
