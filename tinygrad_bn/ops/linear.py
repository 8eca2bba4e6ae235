"""The fully connected layer as one primitive: y = x @ W^T + b (``F.linear``, ``nn.Linear``).

One node instead of three (transpose, matmul, add): the backward produces dW directly in W's
(out, in) layout, contiguous and owned, so no transposed view has to be copied into ``W.grad``,
and db is one reduction instead of the engine's generic unbroadcast.

Shapes: x (..., in), W (out, in), b (out,) -> y (..., out). Dtypes: numpy's (float32 stays float32).
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node

Grads = tuple[np.ndarray | None, ...]


class Linear(Function):
    """y = x W^T + b, i.e. y_ni = sum_k x_nk W_ik + b_i (leading axes of x flattened into n).

    dL/dx_nk = sum_i g_ni W_ik             ->  dx = g @ W
    dL/dW_ik = sum_n g_ni x_nk             ->  dW = g^T @ x        (g, x seen as 2-D: (n, out), (n, in))
    dL/db_i  = sum_n g_ni                  ->  db = g summed over every leading axis
    Inputs: x, W and optionally b (the third input). Saved for backward: x and W.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        ctx.save_for_backward(x, w)
        out = x @ w.T
        if b is not None:
            if out.dtype == np.result_type(out, b):
                out += b                           # in place on our fresh result
            else:
                out = out + b
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        dx = g @ w if need[0] else None
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        dw = g2.T @ x.reshape(-1, x.shape[-1]) if need[1] else None  # operators only: arrays or Tensors
        if len(need) == 2:
            return dx, dw
        return dx, dw, (g2.sum(axis=0) if need[2] else None)
