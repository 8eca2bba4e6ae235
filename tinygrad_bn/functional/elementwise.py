"""Arithmetic and element-wise functions: ``F.add`` ... ``F.tanh``, ``F.clip``, ``F.cast``, and the
dtype rules for mixing tensors with numbers (PyTorch's).

Dtype promotion, as PyTorch: a Python number (or numpy scalar) takes the tensor's dtype unless it is
of a higher kind (bool < integer < float): an integer tensor times 1.5 is float32, the default float.
A 0-d tensor next to a tensor with dimensions counts the same way (float32 times a 0-d float64 tensor
is float32). Otherwise numpy's rule (float32 with float64 gives float64). An operand converted to the
common dtype goes through the ``Cast`` op when it requires grad, so its gradient comes back in its
own dtype.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.grad_mode import is_grad_enabled
from ..engine.tensor import Tensor, as_tensor
from ..ops import elementwise as ew

_KIND = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < float


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.bool_, np.integer, np.floating))


def _result_dtype(a: Any, b: Any) -> np.dtype:
    """The dtype of ``a op b`` by the rules in the module docstring (at least one of them a Tensor)."""
    if _is_number(a) or _is_number(b):
        t, n = (b, a) if _is_number(a) else (a, b)
        kind = _KIND[np.asarray(n).dtype.kind]
        if kind <= _KIND[t.dtype.kind]:
            return t.dtype
        return np.dtype(np.float32 if kind == 2 else np.int64)
    if (a.ndim == 0) != (b.ndim == 0):
        dim, zero = (b, a) if a.ndim == 0 else (a, b)
        if _KIND[zero.dtype.kind] <= _KIND[dim.dtype.kind]:
            return dim.dtype
    return np.result_type(a.dtype, b.dtype)


def _convert(x: Any, dtype: np.dtype) -> Tensor:
    """``x`` as a Tensor of ``dtype``: a differentiable Cast if it requires grad, else a plain conversion."""
    if _is_number(x):
        return Tensor._make(np.asarray(x, dtype=dtype), False, None)
    if x.dtype == dtype:
        return x
    if x.requires_grad and is_grad_enabled() and dtype.kind == "f":
        return ew.Cast.apply(x, dtype=dtype)
    return Tensor._make(x.data.astype(dtype), False, None)


def operands(a: Any, b: Any, op: str, broadcast: bool = True) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors of one dtype (shapes checked to broadcast, if ``broadcast``)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype and a.shape == b.shape:
        return a, b                               # the common case: nothing to convert or check
    a = a if isinstance(a, Tensor) or _is_number(a) else as_tensor(a)
    b = b if isinstance(b, Tensor) or _is_number(b) else as_tensor(b)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    shapes = [t.shape for t in (a, b) if isinstance(t, Tensor)]
    if broadcast and len(shapes) == 2 and shapes[0] != shapes[1]:
        try:
            np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"{op}: inputs with shapes {shapes[0]}, {shapes[1]} cannot be broadcast together"
                             ) from None
    dtype = _result_dtype(a, b)
    return _convert(a, dtype), _convert(b, dtype)


def add(a: Any, b: Any) -> Tensor:
    """a + b, element-wise with broadcasting."""
    return ew.Add.apply(*operands(a, b, "add"))


def sub(a: Any, b: Any) -> Tensor:
    """a - b, element-wise with broadcasting."""
    return ew.Sub.apply(*operands(a, b, "sub"))


def mul(a: Any, b: Any) -> Tensor:
    """a * b, element-wise with broadcasting."""
    return ew.Mul.apply(*operands(a, b, "mul"))


def div(a: Any, b: Any) -> Tensor:
    """a / b, element-wise with broadcasting (integer tensors divide to float32, as PyTorch)."""
    a, b = operands(a, b, "div")
    if a.dtype.kind != "f":
        a, b = _convert(a, np.dtype(np.float32)), _convert(b, np.dtype(np.float32))
    return ew.Div.apply(a, b)


def pow(a: Any, b: Any) -> Tensor:
    """a ** b. A number as exponent uses the constant-exponent op (no gradient for the exponent)."""
    if isinstance(a, Tensor) and _is_number(b) and not isinstance(b, np.generic):
        return ew.PowScalar.apply(a, exponent=b)
    return ew.Pow.apply(*operands(a, b, "pow"))


def compare(a: Any, b: Any, ufunc: np.ufunc) -> Tensor:
    """A comparison (``ufunc`` is np.less, np.equal, ...): a bool tensor, outside the graph."""
    a, b = operands(a, b, ufunc.__name__)
    return Tensor._make(np.asarray(ufunc(a.data, b.data)), False, None)


def cast(x: Tensor, dtype: Any) -> Tensor:
    """``x`` converted to ``dtype`` (``Tensor.to``, ``.float()``, ``.double()``); differentiable between floats."""
    x, dtype = as_tensor(x), np.dtype(dtype)
    if dtype.kind not in _KIND:
        raise TypeError(f"cast: expected a float, integer or bool dtype, got {dtype}")
    return _convert(x, dtype)


def neg(x: Tensor) -> Tensor:
    """-x."""
    return ew.Neg.apply(as_tensor(x))


def exp(x: Tensor) -> Tensor:
    """exp(x), element-wise."""
    return ew.Exp.apply(as_tensor(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm, element-wise (NaN below 0, -inf at 0, as numpy)."""
    return ew.Log.apply(as_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    """Square root, element-wise."""
    return ew.Sqrt.apply(as_tensor(x))


def abs(x: Tensor) -> Tensor:
    """|x|, element-wise (gradient 0 at 0, as PyTorch)."""
    return ew.Abs.apply(as_tensor(x))


def relu(x: Tensor) -> Tensor:
    """max(x, 0), element-wise."""
    return ew.ReLU.apply(as_tensor(x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), element-wise."""
    return ew.Sigmoid.apply(as_tensor(x))


def tanh(x: Tensor) -> Tensor:
    """tanh(x), element-wise."""
    return ew.Tanh.apply(as_tensor(x))


def clip(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:
    """Values limited to [min, max] (either may be None); ``Tensor.clamp`` is the same."""
    if min is not None and max is not None and min > max:
        raise ValueError(f"clip: min ({min}) must not be greater than max ({max})")
    return ew.Clip.apply(as_tensor(x), min=min, max=max)


def in_place(x: Tensor, other: Any, op: Any) -> Tensor:
    """``x += other`` (``op`` is ``add``, ``sub``, ``mul`` or ``div``), as PyTorch where it can be.

    A leaf that requires grad cannot be changed while recording: RuntimeError, as PyTorch. A recorded
    (non-leaf) tensor gets a new node and the name is rebound, unlike PyTorch, which changes the tensor
    itself (docs/autograd.md says why). Otherwise, e.g. under ``no_grad``, ``x.data`` is updated in place.
    """
    if x.requires_grad and x.is_leaf and is_grad_enabled():
        raise RuntimeError("a leaf tensor that requires grad cannot be changed in place while recording; "
                           "wrap the update in tg.no_grad(), or change .data")
    result = op(x, other)
    if x.requires_grad and is_grad_enabled():
        return result
    if result.dtype != x.dtype or result.shape != x.shape:
        raise ValueError(f"in-place {op.__name__}: the result (shape {result.shape}, {result.dtype}) cannot be "
                         f"stored in this tensor (shape {x.shape}, {x.dtype})")
    x.data[...] = result.data
    return x
