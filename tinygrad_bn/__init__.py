"""tinygrad_bn: a small autograd framework for learning, checking and seeing gradients.

The public API: ``Tensor``, tensor constructors, ``no_grad``, ``manual_seed``, ``gradcheck``, ``gradgradcheck``,
and the namespaces ``functional`` (``F``), ``nn``, ``optim``, ``autograd``, ``viz``, ``data``, ``checkpoint``
(saving and resuming a training run). The command line
(``tinygrad-bn``, in ``tinygrad_bn.cli``) is not imported here.
"""

from . import autograd, checkpoint, data, diagnostics, functional, nn, optim, random, testing, viz
from . import functional as F
from .creation import arange, ones, rand, randn, tensor, zeros
from .engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .engine.tensor import Tensor
from .functional.shape import cat, concatenate, stack
from .models import cnn, mlp
from .random import manual_seed
from .serialization import load, save
from .testing import GradcheckError, gradcheck, gradgradcheck, registry

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "rand", "arange", "concatenate", "cat", "stack",
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "manual_seed", "gradcheck", "gradgradcheck",
    "GradcheckError",
    "autograd", "functional", "F", "nn", "optim", "random", "testing", "registry", "viz", "data", "diagnostics",
    "mlp", "cnn", "save", "load", "checkpoint",
]
