"""Functions on tensors, in the style of PyTorch's ``torch.nn.functional``: ``import tinygrad_bn.functional as F``.

This is the one public entry to every op: each function checks its arguments (errors name the
function, the argument, what was expected and what was received), then runs a primitive from
``tinygrad_bn/ops``, where the math and its derivative live. ``Tensor``'s operators and methods call
these functions. One module per family, named like the ops module it calls.
"""

from .conv import conv2d
from .dropout import alpha_dropout, dropout, dropout1d, dropout2d, gaussian_dropout, uout
from .elementwise import (
                          abs,
                          add,
                          cast,
                          clip,
                          compare,
                          div,
                          exp,
                          in_place,
                          log,
                          mul,
                          neg,
                          pow,
                          relu,
                          sigmoid,
                          sqrt,
                          sub,
                          tanh,
)
from .linear import linear, matmul
from .loss import cross_entropy, log_softmax, mse_loss, softmax
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from .reduce import argmax, max, mean, min, sum, var
from .shape import cat, concatenate, expand, flatten, getitem, permute, reshape, squeeze, stack, transpose, unsqueeze

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh", "clip", "cast",
    "compare", "in_place",
    "sum", "mean", "var", "max", "min", "argmax", "reshape", "permute", "transpose", "flatten", "expand",
    "squeeze", "unsqueeze", "getitem", "concatenate", "cat", "stack", "matmul", "linear", "log_softmax", "softmax",
    "cross_entropy", "mse_loss", "batch_norm", "layer_norm", "group_norm", "dropout", "dropout1d", "dropout2d",
    "gaussian_dropout", "uout", "alpha_dropout", "conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
]
