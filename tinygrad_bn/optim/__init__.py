"""Optimizers and learning-rate schedulers, PyTorch's ``torch.optim`` style (see docs/nn.md)."""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
