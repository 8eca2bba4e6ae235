"""Layers and models, PyTorch's ``torch.nn`` style."""

from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm  # noqa: E402

__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]
