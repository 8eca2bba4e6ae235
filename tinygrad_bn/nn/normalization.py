"""Normalization layers with PyTorch's semantics: BatchNorm1d, BatchNorm2d, LayerNorm, GroupNorm.

Each is a thin holder of parameters and buffers around one call of ``tinygrad_bn.functional``
(``F.batch_norm``, ``F.layer_norm``, ``F.group_norm``), which checks the arguments and runs the one
``Normalize`` primitive (math and backward in ``tinygrad_bn/ops/normalization.py`` and docs/batchnorm.md).

BatchNorm buffers: ``running_mean`` (C,) starts at 0, ``running_var`` (C,) at 1, ``num_batches_tracked``
(int64 scalar) at 0; they are in ``state_dict()`` but not in ``parameters()``, and no gradient reaches
them. In training mode each call updates them (outside the tape); ``momentum=None`` gives the
cumulative average (momentum 1 / num_batches_tracked). ``track_running_stats=False``: no buffers
(they are None) and batch statistics in evaluation mode too. Parameters and buffers are float32
unless ``dtype`` says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..checks import check_float_dtype, check_int
from ..engine.tensor import Tensor
from ..functional.normalization import check_eps, check_momentum, check_normalized_shape
from .module import Module, Parameter


def _affine(module: Module, on: bool, shape: tuple[int, ...], dtype: np.dtype, bias: bool = True) -> None:
    """Register ``weight`` (ones) and ``bias`` (zeros) of ``shape``, or None for those switched off."""
    module.register_parameter("weight", Parameter(np.ones(shape, dtype)) if on else None)
    module.register_parameter("bias", Parameter(np.zeros(shape, dtype)) if on and bias else None)


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: statistics per channel (axis 1) over every other axis."""

    ranks: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        self.num_features = check_int(num_features, name, "num_features")
        self.eps = check_eps(eps, name)
        self.momentum = check_momentum(momentum, name, allow_none=True)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dt = check_float_dtype(dtype, name)
        _affine(self, self.affine, (self.num_features,), dt)
        tracked = self.track_running_stats
        self.register_buffer("running_mean", Tensor(np.zeros(self.num_features, dt)) if tracked else None)
        self.register_buffer("running_var", Tensor(np.ones(self.num_features, dt)) if tracked else None)
        self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)) if tracked else None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, batch count 0 (in place)."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        """Running statistics reset, weight 1 and bias 0 (in place)."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        """Normalize ``x`` (shape: see the class); same shape and dtype out."""
        count = self.num_batches_tracked
        update = self.training and self.track_running_stats
        factor = self.momentum
        if update and factor is None:  # cumulative average: the k-th batch gets weight 1/k
            factor = 1.0 / (int(count.item()) + 1)
        out = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                           training=self.training or not self.track_running_stats,
                           momentum=0.0 if factor is None else factor, eps=self.eps,
                           name=f"{type(self).__name__}({self.num_features})", ranks=self.ranks,
                           num_features=self.num_features)
        if update:  # counted only once the batch was accepted
            count.data += 1
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input over N (and L), per channel C."""

    ranks = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input over N, H and W, per channel C."""

    ranks = (4,)


class LayerNorm(Module):
    """Layer normalization over the last dims of (*, *normalized_shape), each sample on its own.

    ``elementwise_affine``: weight (ones) and bias (zeros) of shape ``normalized_shape``; ``bias=False``
    keeps only the weight. Works the same in training and evaluation mode (no running statistics).
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        self.normalized_shape = check_normalized_shape(normalized_shape, name)
        self.eps = check_eps(eps, name)
        self.elementwise_affine = bool(elementwise_affine)
        _affine(self, self.elementwise_affine, self.normalized_shape, check_float_dtype(dtype, name), bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps,
                            name=f"LayerNorm({self.normalized_shape})")

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalization of (N, C, *): C channels in ``num_groups`` groups, each sample and group
    normalized over its channels and all of *; per-channel weight and bias (C,) if ``affine``.
    Works the same in training and evaluation mode (no running statistics).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 dtype: Any = None):
        super().__init__()
        name = type(self).__name__
        self.num_groups = check_int(num_groups, name, "num_groups")
        self.num_channels = check_int(num_channels, name, "num_channels")
        if self.num_channels % self.num_groups:
            raise ValueError(f"{name}: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.eps = check_eps(eps, name)
        self.affine = bool(affine)
        _affine(self, self.affine, (self.num_channels,), check_float_dtype(dtype, name))

    def forward(self, x: Tensor) -> Tensor:
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps,
                            name=f"GroupNorm({self.num_groups}, {self.num_channels})", num_channels=self.num_channels)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
