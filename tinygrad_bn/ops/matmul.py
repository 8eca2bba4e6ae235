"""Matrix product with numpy's ``@`` semantics for inputs of 2 or more dimensions.

Shapes: a (..., n, k) @ b (..., k, m) -> (..., n, m), batch dimensions broadcast. One-dimensional
operands are handled by ``Tensor.__matmul__``, which adds and removes the length-1 axis around this op.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node
from .shape import Permute

Grads = tuple[np.ndarray | None, ...]


class MatMul(Function):
    """Z = A @ B.   For one matrix product Z_ij = sum_k A_ik B_kj, so
    dL/dA = dL/dZ @ B^T and dL/dB = A^T @ dL/dZ (transposing the last two axes). Broadcast batch
    axes are summed back by the engine."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        ga = g @ swap_last(b) if ctx.needs_input_grad[0] else None
        gb = swap_last(a) @ g if ctx.needs_input_grad[1] else None
        return ga, gb


def swap_last(v: np.ndarray) -> np.ndarray:
    """``v`` with its last two axes swapped (an array or a Tensor: backward rules run on both)."""
    return Permute.apply(v, dims=(*range(v.ndim - 2), v.ndim - 1, v.ndim - 2))
