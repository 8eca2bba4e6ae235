"""tinygrad_bn: a small autograd framework for learning, checking and seeing gradients.

The public API, re-exported here: ``Tensor``, tensor constructors, ``no_grad``, ``manual_seed``,
``gradcheck``, and the namespaces ``functional`` (``F``), ``nn``, ``autograd``, ``random``, ``registry``.
"""

from . import autograd, diagnostics, functional, nn, optim, random, registry, reporting, viz
from . import functional as F
from .autograd import enable_grad, is_grad_enabled, no_grad
from .creation import arange, ones, rand, randn, tensor, zeros
from .models import mlp
from .ops.shape import concatenate, stack
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor
from .testing import GradcheckError, gradcheck

cat = concatenate

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "rand", "arange", "concatenate", "cat", "stack",
    "no_grad", "enable_grad", "is_grad_enabled", "manual_seed", "gradcheck", "GradcheckError",
    "autograd", "functional", "F", "nn", "random", "registry",
]
__all__ += ["models", "mlp"]
__all__ += ["optim"]
__all__ += ["serialization", "save", "load"]
__all__ += ["viz"]
__all__ += ["diagnostics", "reporting"]
