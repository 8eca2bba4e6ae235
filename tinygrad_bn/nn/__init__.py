"""Layers and models, PyTorch's ``torch.nn`` style."""

from . import init, utils
from .conv import Conv2d
from .dropout import AlphaDropout, Dropout, Dropout1d, Dropout2d, GaussianDropout, Uout
from .layers import Flatten, Identity, Linear, ReLU, Sequential, Sigmoid, Tanh
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = ["Module", "Parameter"]
__all__ += ["Dropout", "Dropout1d", "Dropout2d", "GaussianDropout", "Uout", "AlphaDropout"]
__all__ += ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]
__all__ += ["init", "Linear", "Sequential", "Flatten", "ReLU", "Sigmoid", "Tanh", "Identity"]
__all__ += ["Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]
__all__ += ["utils"]
