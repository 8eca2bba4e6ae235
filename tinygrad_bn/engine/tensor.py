"""``Tensor``: a numpy array, its gradient, and the tape node that produced it.

Operators and methods are one line each into ``tinygrad_bn.functional`` (argument checks), which runs
a primitive op (``tinygrad_bn/ops``: the arithmetic and its derivative). Dtypes: see docs/autograd.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backward import run_backward
from .function import Node
from .hooks import RemovableHandle


def as_array(data: Any, dtype: Any = None) -> np.ndarray:
    """``data`` (a Tensor, array, number or nested list) as a numeric numpy array; lists of floats -> float32."""
    data = data.data if isinstance(data, Tensor) else data
    arr = np.asarray(data, dtype=dtype)
    if dtype is None and not isinstance(data, (np.ndarray, np.generic)) and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: expected numeric data (float, int or bool), got dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that can record the ops applied to it and carry a gradient.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``. ``.data`` is the numpy array;
    ``.grad`` is None until ``backward()`` reaches this tensor, then a numpy array of the same shape
    and dtype, added into by later backward passes until set back to None.
    """

    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor -> Tensor

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = as_array(data, dtype)
        self._ctx: Node | None = None
        self._grad: np.ndarray | None = None
        self._retains_grad, self._hooks = False, None
        self.requires_grad = requires_grad
        self.name = name

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, ctx: Node | None) -> Tensor:
        """An op's result: ``data`` as it is, no checks."""
        t = cls.__new__(cls)
        t.data, t._ctx, t._grad, t._requires_grad, t.name = data, ctx, None, requires_grad, None
        t._retains_grad, t._hooks = False, None
        return t

    # ---- autograd state -----------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor. Settable on leaves of floating-point dtype only."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._ctx is not None:
            raise RuntimeError("requires_grad can be changed only on leaf tensors; use detach() for a new leaf")
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._requires_grad = bool(value)

    @property
    def grad(self) -> np.ndarray | None:
        """The accumulated gradient: None, or a numpy array of this tensor's shape and dtype."""
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        if value is not None and (type(value) is not np.ndarray or value.shape != self.shape
                                  or value.dtype != self.dtype):
            got = f"shape {value.shape}, dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"grad: expected None or a numpy array of shape {self.shape} and dtype {self.dtype}, "
                             f"got {got}")
        self._grad = value

    is_leaf = property(lambda self: self._ctx is None, doc="True for tensors not produced by a recorded op.")
    grad_fn = property(lambda self: self._ctx, doc="The tape node that produced this tensor (None for leaves).")

    def backward(self, grad: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Add d self / d leaf to ``leaf.grad`` for every leaf that requires grad.

        ``grad`` (self's shape; a Tensor, array, list or number, taken in self's dtype) may be omitted
        for one-element tensors. The saved arrays are freed afterwards unless ``retain_graph=True``.
        ``.grad`` holds numpy arrays, so ``create_graph=True`` is refused: use ``tg.autograd.grad``.
        """
        if create_graph:
            raise RuntimeError("backward(create_graph=True): .grad holds numpy arrays, which cannot be differentiated "
                               "again; use tg.autograd.grad(output, inputs, create_graph=True), which returns Tensors")
        run_backward(self, grad, retain_graph)

    def detach(self) -> Tensor:
        """A new leaf sharing the same data, cut off from the graph (requires_grad=False)."""
        return Tensor._make(self.data, False, None)

    def retain_grad(self) -> Tensor:
        """Ask backward() to fill ``.grad`` of this non-leaf tensor too."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    def register_hook(self, hook: Any) -> RemovableHandle:
        """``hook(grad)`` sees this tensor's gradient in every backward and may return a replacement."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: the tensor does not require grad, so no gradient will reach it")
        self._hooks = {} if self._hooks is None else self._hooks
        return RemovableHandle(self._hooks, hook)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    # ---- the array ----------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="Shape of the data, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    dtype = property(lambda self: self.data.dtype, doc="numpy dtype of the data.")
    size = property(lambda self: self.data.size, doc="Number of elements.")

    def numpy(self) -> np.ndarray: return self.data
    def tolist(self) -> Any: return self.data.tolist()

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a number, got shape {self.shape}")
        return self.data.item()

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with {self.data.size} elements is ambiguous; "
                               "use .any() or .all() on .data, or compare a reduced value")
        return bool(self.data.item())

    def __float__(self) -> float: return float(self.item())
    def __int__(self) -> int: return int(self.item())
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Any: return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype not in (np.float32, np.int64, np.bool_) else ""
        extra += f", grad_fn=<{self._ctx.name}>" if self._ctx else ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- operators: one line each into functional (argument checks there, math in ops/) -----------
    def __add__(self, o: Any) -> Tensor: return F.add(self, o)
    def __radd__(self, o: Any) -> Tensor: return F.add(o, self)
    def __sub__(self, o: Any) -> Tensor: return F.sub(self, o)
    def __rsub__(self, o: Any) -> Tensor: return F.sub(o, self)
    def __mul__(self, o: Any) -> Tensor: return F.mul(self, o)
    def __rmul__(self, o: Any) -> Tensor: return F.mul(o, self)
    def __truediv__(self, o: Any) -> Tensor: return F.div(self, o)
    def __rtruediv__(self, o: Any) -> Tensor: return F.div(o, self)
    def __pow__(self, o: Any) -> Tensor: return F.pow(self, o)
    def __rpow__(self, o: Any) -> Tensor: return F.pow(o, self)
    def __matmul__(self, o: Any) -> Tensor: return F.matmul(self, o)
    def __rmatmul__(self, o: Any) -> Tensor: return F.matmul(o, self)
    def __neg__(self) -> Tensor: return F.neg(self)
    def __getitem__(self, index: Any) -> Tensor: return F.getitem(self, index)
    def __iadd__(self, o: Any) -> Tensor: return F.in_place(self, o, F.add)
    def __isub__(self, o: Any) -> Tensor: return F.in_place(self, o, F.sub)
    def __imul__(self, o: Any) -> Tensor: return F.in_place(self, o, F.mul)
    def __itruediv__(self, o: Any) -> Tensor: return F.in_place(self, o, F.div)

    # comparisons give boolean tensors outside the graph
    def __eq__(self, o: Any) -> Tensor: return F.compare(self, o, np.equal)  # type: ignore[override]
    def __ne__(self, o: Any) -> Tensor: return F.compare(self, o, np.not_equal)  # type: ignore[override]
    def __lt__(self, o: Any) -> Tensor: return F.compare(self, o, np.less)
    def __le__(self, o: Any) -> Tensor: return F.compare(self, o, np.less_equal)
    def __gt__(self, o: Any) -> Tensor: return F.compare(self, o, np.greater)
    def __ge__(self, o: Any) -> Tensor: return F.compare(self, o, np.greater_equal)

    def exp(self) -> Tensor: return F.exp(self)
    def log(self) -> Tensor: return F.log(self)
    def sqrt(self) -> Tensor: return F.sqrt(self)
    def abs(self) -> Tensor: return F.abs(self)
    def relu(self) -> Tensor: return F.relu(self)
    def sigmoid(self) -> Tensor: return F.sigmoid(self)
    def tanh(self) -> Tensor: return F.tanh(self)
    def clip(self, min: float | None = None, max: float | None = None) -> Tensor: return F.clip(self, min, max)
    clamp = clip
    def to(self, dtype: Any) -> Tensor: return F.cast(self, dtype)
    def float(self) -> Tensor: return F.cast(self, np.float32)
    def double(self) -> Tensor: return F.cast(self, np.float64)

    # reductions: numpy's axis/keepdims, PyTorch's dim/keepdim accepted too
    def sum(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return F.sum(self, axis, keepdims, **kw)
    def mean(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return F.mean(self, axis, keepdims, **kw)
    def var(self, axis: Any = None, keepdims: bool = False, correction: int = 1, **kw: Any) -> Tensor:
        return F.var(self, axis, keepdims, correction, **kw)
    def max(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return F.max(self, axis, keepdims, **kw)
    def min(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        return F.min(self, axis, keepdims, **kw)
    def argmax(self, axis: int | None = None) -> Tensor: return F.argmax(self, axis)

    def reshape(self, *shape: Any) -> Tensor: return F.reshape(self, *shape)
    view = reshape
    def permute(self, *dims: Any) -> Tensor: return F.permute(self, *dims)
    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor: return F.transpose(self, dim0, dim1)
    T = property(lambda self: F.permute(self, *reversed(range(self.ndim))), doc="All axes reversed.")
    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor: return F.flatten(self, start_dim, end_dim)
    def expand(self, *shape: Any) -> Tensor: return F.expand(self, *shape)
    broadcast_to = expand
    def squeeze(self, axis: int | None = None) -> Tensor: return F.squeeze(self, axis)
    def unsqueeze(self, axis: int) -> Tensor: return F.unsqueeze(self, axis)
    def log_softmax(self, axis: int = -1) -> Tensor: return F.log_softmax(self, axis)
    def softmax(self, axis: int = -1) -> Tensor: return F.softmax(self, axis)


def as_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else a new Tensor wrapping it (no grad)."""
    return x if isinstance(x, Tensor) else Tensor(x)


# The operators above call into functional, and functional builds Tensors: imported here, at the end,
# once Tensor exists (the one place where engine/ looks up; see docs/autograd.md, "Layout").
from .. import functional as F  # noqa: E402
