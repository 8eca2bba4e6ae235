"""The engine, read it first: ``function.py`` (the tape), ``backward.py`` (the backward pass), ``tensor.py``."""

from .backward import run_backward, topological_order, unbroadcast
from .function import FUNCTIONS, Function, Node
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradient import grad
from .tensor import Tensor, as_tensor

__all__ = ["Tensor", "as_tensor", "Function", "Node", "FUNCTIONS", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "grad", "run_backward", "topological_order", "unbroadcast"]
