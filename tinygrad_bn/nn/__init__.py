"""Layers and models, PyTorch's ``torch.nn`` style."""

from .module import Module, Parameter

__all__ = ["Module", "Parameter"]
