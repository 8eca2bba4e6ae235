"""Matrix product with numpy's ``@`` semantics for inputs of 2 or more dimensions.

Shapes: a (..., n, k) @ b (..., k, m) -> (..., n, m), batch dimensions broadcast. One-dimensional
operands are handled by ``Tensor.__matmul__``, which adds and removes the length-1 axis around this op.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node

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
        ga = g @ np.swapaxes(b, -1, -2) if ctx.needs_input_grad[0] else None
        gb = np.swapaxes(a, -1, -2) @ g if ctx.needs_input_grad[1] else None
        return ga, gb
