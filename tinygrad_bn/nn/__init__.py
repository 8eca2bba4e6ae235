"""Layers and models, PyTorch's ``torch.nn`` style."""

from . import utils
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, GaussianDropout, Uout
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm

__all__ = ["Module", "Parameter"]
__all__ += ["Dropout", "Dropout1d", "Dropout2d", "GaussianDropout", "Uout", "AlphaDropout"]
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]
__all__ += ["utils"]
