"""Matrix product with numpy's ``@`` semantics for inputs of 2 or more dimensions.

Shapes: a (..., n, k) @ b (..., k, m) -> (..., n, m), batch dimensions broadcast. One-dimensional
operands are handled by ``Tensor.__matmul__``, which adds and removes the length-1 axis around this op.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Node
from ..registry import Sample, register_op

Grads = tuple[np.ndarray | None, ...]


def check_matmul_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    """ValueError naming both shapes unless ``a @ b`` is defined."""
    if len(a) == 0 or len(b) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a} and {b}")
    k_a = a[-1]
    k_b = b[-2] if len(b) >= 2 else b[0]
    if k_a != k_b:
        which = "second-to-last" if len(b) >= 2 else "only"
        raise ValueError(f"matmul: shapes {a} and {b} are not aligned: the last dimension of the first ({k_a}) "
                         f"must equal the {which} dimension of the second ({k_b})")
    try:
        np.broadcast_shapes(a[:-2], b[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a} and {b} cannot be broadcast together") from None


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


def _mm_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 3), (3, 2)), ((3,), (3, 2)), ((4, 3), (3,)), ((3,), (3,)), ((2, 4, 3), (3, 5)),
             ((2, 1, 2, 3), (4, 3, 2))]
    return [Sample((rng.standard_normal(a), rng.standard_normal(b)), note=f"{a} @ {b}") for a, b in cases]


register_op("matmul", lambda a, b: a @ b, _mm_samples)
register_op("rmatmul_numpy", lambda b: np.ones((2, 3)) @ b, lambda rng: [Sample((rng.standard_normal((3, 4)),))])
