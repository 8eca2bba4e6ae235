"""``tinygrad_bn.autograd``: the names PyTorch users look for under ``torch.autograd``.

``Function`` (write your own op: forward and backward on numpy arrays), ``grad`` (gradients returned
instead of added to ``.grad``), ``no_grad``, ``enable_grad``, ``set_grad_enabled``; and the tools that
watch the tape: ``detect_anomaly`` / ``set_detect_anomaly`` (where did a NaN come from) and ``trace``
(a backward pass step by step). They live in ``tinygrad_bn/engine`` and ``tinygrad_bn/autograd_tools``;
this module only gives them their familiar address.
"""

from .autograd_tools import detect_anomaly, is_anomaly_enabled, set_detect_anomaly, trace
from .engine.backward import grad, run_backward, topological_order, unbroadcast
from .engine.function import FUNCTIONS, Function, Node
from .engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "Node", "grad", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled",
           "run_backward", "topological_order", "unbroadcast", "FUNCTIONS",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "trace"]
