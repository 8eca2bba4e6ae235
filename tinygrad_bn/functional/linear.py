"""Matrix products: ``F.matmul`` (``a @ b``, numpy's rules) and ``F.linear`` (x @ W^T + b, one fused op)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.tensor import Tensor, as_tensor
from ..ops.linear import Linear
from ..ops.matmul import MatMul
from .elementwise import operands
from .shape import reshape, squeeze


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



def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with numpy's semantics: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes broadcast.
    A 1-D operand gets a temporary length-1 axis (a row for ``a``, a column for ``b``) removed afterwards."""
    a, b = operands(a, b, "matmul", broadcast=False)
    check_matmul_shapes(a.shape, b.shape)
    out = MatMul.apply(reshape(a, 1, -1) if a.ndim == 1 else a, reshape(b, -1, 1) if b.ndim == 1 else b)
    if b.ndim == 1:
        out = squeeze(out, -1)
    return squeeze(out, -2 if out.ndim >= 2 else 0) if a.ndim == 1 else out


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """x (..., in) @ weight (out, in)^T + bias (out,) -> (..., out), as ``torch.nn.functional.linear``.

    One fused primitive (``ops/linear.py``): one graph node, and dweight comes out in weight's layout.
    All arrays must be floating point of one dtype (an integer input raises: convert it first).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    params = (weight,) if bias is None else (weight, as_tensor(bias))
    for name, t in zip(("input", "weight", "bias"), (x, *params)):
        if t.dtype.kind != "f" or t.dtype != weight.dtype:
            raise TypeError(f"linear: expected {name} of weight's dtype {weight.dtype}, got dtype {t.dtype}"
                            + ("; convert integer data first, e.g. x.float()" if t.dtype.kind != "f" else ""))
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: expected input (..., {weight.shape[-1] if weight.ndim else '?'}) and weight "
                         f"(out_features, in_features), got input {x.shape} and weight {weight.shape}")
    if bias is not None and params[1].shape != weight.shape[:1]:
        raise ValueError(f"linear: expected bias of shape ({weight.shape[0]},) for weight {weight.shape}, "
                         f"got shape {params[1].shape}")
    return Linear.apply(x, *params)
