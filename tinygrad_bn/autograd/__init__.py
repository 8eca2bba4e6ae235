"""``tinygrad_bn.autograd``: the names PyTorch users look for under ``torch.autograd``.

``Function`` (write your own op: forward and backward on numpy arrays), ``grad`` (gradients returned
instead of added to ``.grad``, differentiable again with ``create_graph=True``), ``functional`` (``vjp``,
``jvp``, ``jacobian``, ``hessian``, ``hvp``), ``no_grad``, ``enable_grad``, ``set_grad_enabled``. They live in
``tinygrad_bn/engine``; this module only gives them their familiar address.

And the tools that watch the tape work, as observers of the engine: ``detect_anomaly`` /
``set_detect_anomaly`` (``anomaly.py``: where did a NaN come from?) and ``trace`` (``trace.py``: a backward
pass step by step). Outside their ``with`` blocks they cost the engine nothing but an empty loop.
"""

from ..engine.backward import run_backward, topological_order, unbroadcast
from ..engine.function import FUNCTIONS, Function, Node
from ..engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ..engine.gradient import grad
from . import functional
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .trace import trace

__all__ = ["Function", "Node", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "run_backward", "topological_order", "unbroadcast", "FUNCTIONS", "functional",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "trace"]
