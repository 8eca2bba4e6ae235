"""Functions on tensors, PyTorch's ``torch.nn.functional`` style: ``import tinygrad_bn.functional as F``.

Each is a thin wrapper over a primitive in ``tinygrad_bn/ops`` (where the math and its derivative
live), plus argument checks that name the function and what it received.
"""

from __future__ import annotations

from .ops.loss import cross_entropy, mse_loss
from .ops.normalization import batch_norm, group_norm, layer_norm
from .tensor import Tensor, as_tensor

__all__ = ["relu", "sigmoid", "tanh", "log_softmax", "softmax", "cross_entropy", "mse_loss", "linear"]
__all__ += ["batch_norm", "layer_norm", "group_norm"]


def relu(x: Tensor) -> Tensor:
    """max(x, 0), element-wise."""
    return as_tensor(x).relu()


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), element-wise."""
    return as_tensor(x).sigmoid()


def tanh(x: Tensor) -> Tensor:
    """tanh(x), element-wise."""
    return as_tensor(x).tanh()


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """log softmax along ``axis`` (PyTorch's ``dim`` accepted too), computed stably."""
    return as_tensor(x).log_softmax(axis if dim is None else dim)


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """softmax along ``axis`` (PyTorch's ``dim`` accepted too), computed stably."""
    return as_tensor(x).softmax(axis if dim is None else dim)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x (..., in) @ weight (out, in)^T + bias (out,) -> (..., out), as ``torch.nn.functional.linear``."""
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: expected input (..., {weight.shape[-1] if weight.ndim else '?'}) and weight "
                         f"(out_features, in_features), got input {x.shape} and weight {weight.shape}")
    out = x @ weight.T
    return out if bias is None else out + bias
