"""Functions on tensors, PyTorch's ``torch.nn.functional`` style: ``import tinygrad_bn.functional as F``.

Each is a thin wrapper over a primitive in ``tinygrad_bn/ops`` (where the math and its derivative
live), plus argument checks that name the function and what it received.
"""

from __future__ import annotations

import numpy as np

from .ops import dropout as _dropout
from .ops.linear import Linear as _Linear
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
    """x (..., in) @ weight (out, in)^T + bias (out,) -> (..., out), as ``torch.nn.functional.linear``.

    One fused primitive (``ops/linear.py``): one graph node, and dweight comes out in weight's layout.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    xs, ws = x.data.shape, weight.data.shape  # the arrays' shapes: Tensor.shape is a property (slower)
    if len(ws) != 2 or len(xs) < 1 or xs[-1] != ws[1]:
        raise ValueError(f"linear: expected input (..., {ws[-1] if ws else '?'}) and weight "
                         f"(out_features, in_features), got input {xs} and weight {ws}")
    if bias is None:
        return _Linear.apply(x, weight)
    bias = as_tensor(bias)
    if bias.data.shape != ws[:1]:
        raise ValueError(f"linear: expected bias of shape ({weight.shape[0]},) for weight {weight.shape}, "
                         f"got shape {bias.shape}")
    return _Linear.apply(x, weight, bias)


# ---- dropout family (primitives and the shared checks in ops/dropout.py; see docs/dropout.md) ------
__all__ += ["dropout", "dropout1d", "dropout2d", "gaussian_dropout", "uout", "alpha_dropout"]


def dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
            generator: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: in training zero each element with probability ``p``, scale the rest by 1/(1-p).

    x: any shape, floating point; y: same shape and dtype. ``training=False`` or ``p=0`` returns x
    itself (as PyTorch). ``p=1`` gives zeros and zero gradient. ``generator`` (a numpy Generator)
    fixes the mask; by default the one seeded by ``tg.manual_seed`` is used.
    """
    return _dropout.apply_noise(_dropout.Dropout, "dropout", x, training, generator, p=p)


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for x of shape (N, C, L) or unbatched (C, L): whole channels zeroed, mask (N, C, 1)."""
    return _dropout.apply_noise(_dropout.ChannelDropout, "dropout1d", x, training, generator, p=p, spatial_dims=1,
                                ranks=(2, 3), layout="a 3-D input (N, C, L) or a 2-D unbatched input (C, L)")


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for x of shape (N, C, H, W): whole channels zeroed, mask (N, C, 1, 1), kept ones scaled.

    Unlike PyTorch, a 3-D input raises ValueError: PyTorch treats it as (N, C, L) with a warning and
    plans to treat it as (C, H, W) later, so we refuse to guess (use ``dropout1d`` or add a batch axis).
    """
    return _dropout.apply_noise(_dropout.ChannelDropout, "dropout2d", x, training, generator, p=p, spatial_dims=2,
                                ranks=(4,), layout="a 4-D input (N, C, H, W)",
                                hint="for (N, C, L) use dropout1d; for one unbatched image (C, H, W) add a batch "
                                "axis with x.reshape(1, C, H, W) (PyTorch guesses (N, C, L) for 3-D input, with a "
                                "warning, and plans to switch to (C, H, W); we do not guess)")


def gaussian_dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
                     generator: np.random.Generator | None = None) -> Tensor:
    """Multiply x by noise N(1, p/(1-p)) in training (the variance of dropout with rate p); identity in eval.

    p must be in [0, 1): at p = 1 the variance is infinite.
    """
    return _dropout.apply_noise(_dropout.GaussianDropout, "gaussian_dropout", x, training, generator, p=p)


def uout(x: Tensor, beta: float = 0.1, training: bool = True, *,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uout (Li et al., CVPR 2019): x + x * r with r ~ U(-beta, beta) in training, identity in eval; beta in [0, 1]."""
    return _dropout.apply_noise(_dropout.Uout, "uout", x, training, generator, beta=beta)


def alpha_dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
                  generator: np.random.Generator | None = None) -> Tensor:
    """Alpha dropout for SELU networks, as ``torch.nn.functional.alpha_dropout``: dropped units go to SELU's
    saturation value and an affine correction keeps mean 0 and variance 1 for standardized inputs."""
    return _dropout.apply_noise(_dropout.AlphaDropout, "alpha_dropout", x, training, generator, p=p)
