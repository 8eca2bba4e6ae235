"""``Tensor``: a numpy array, its gradient, and the node of the tape that produced it.

Every operator and method here is a thin call into a primitive ``Function`` in ``tinygrad_bn/ops``;
the arithmetic, and its derivative, lives there.

Dtypes: Python floats and lists of floats become float32 (PyTorch's default); numpy arrays keep
their dtype (float64 stays float64, which is what gradcheck needs); integers stay integers and can
never require grad. A Python number (or numpy scalar) combined with a tensor takes the tensor's dtype (no silent
float32 -> float64 promotion). The wrapped numpy array is shared, not copied.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import autograd
from .ops import elementwise as ew
from .ops import loss, matmul, reduce
from .ops import shape as shape_ops

Axis = int | tuple[int, ...] | None
_new = object.__new__  # bound once: Tensor._make runs for every op result


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data) if dtype is None else np.asarray(data, dtype=dtype)
    else:
        arr = np.asarray(data, dtype=dtype)
        if dtype is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"Tensor: expected numeric data (float, int or bool), got dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that can record the ops applied to it and carry a gradient.

    ``Tensor(data, requires_grad=False, dtype=None, name=None)``: ``data`` is a numpy array, a Python
    number or a nested list. ``.data`` is the numpy array, ``.grad`` a numpy array of the same shape
    and dtype once ``backward()`` reaches this tensor (it accumulates until reset to None).
    """

    __array_ufunc__ = None  # numpy defers to our reflected operators: ndarray + Tensor -> Tensor
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "name", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: autograd.Node | None = None
        self._retains_grad = False
        self.name = name

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, ctx: autograd.Node | None) -> Tensor:
        """Fast path for op results: no conversion or checks (one attribute per statement: no tuple built)."""
        t = _new(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retains_grad = False
        t.name = None
        return t

    # ---- properties -------------------------------------------------------------------------
    shape = property(lambda self: self.data.shape, doc="Shape of the data, a tuple of ints.")
    ndim = property(lambda self: self.data.ndim, doc="Number of dimensions.")
    dtype = property(lambda self: self.data.dtype, doc="numpy dtype of the data.")
    size = property(lambda self: self.data.size, doc="Number of elements.")
    is_leaf = property(lambda self: self._ctx is None, doc="True for tensors not produced by a recorded op.")
    grad_fn = property(lambda self: self._ctx, doc="The tape node that produced this tensor (None for leaves).")

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A new leaf sharing the same data, cut off from the graph (requires_grad=False)."""
        return Tensor._make(self.data, False, None)

    def retain_grad(self) -> Tensor:
        """Ask backward() to fill ``.grad`` of this non-leaf tensor too."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: the tensor does not require grad")
        self._retains_grad = True
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"requires_grad_: only floating-point tensors can require grad, got dtype {self.dtype}")
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; use detach() first")
        self.requires_grad = requires_grad
        return self

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d self / d leaf into ``leaf.grad`` for every leaf that requires grad.

        ``grad`` (same shape as self) is required unless self has one element. After the call the
        graph's saved arrays are freed unless ``retain_graph=True``.
        """
        autograd.run_backward(self, seed_gradient(self, grad, "backward"), retain_graph=retain_graph)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=20, prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype not in (np.float32, np.int64, np.bool_) else ""
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    __hash__ = object.__hash__

    # ---- arithmetic ---------------------------------------------------------------------------
    def _other(self, other: Any) -> Tensor:
        """A Python number or numpy scalar takes this tensor's dtype; arrays and tensors keep theirs.

        numpy scalars count as numbers, as in PyTorch: under numpy 2's promotion rules a float32 array
        times ``np.float64(2.0)`` (what ``np.sum`` or ``np.sqrt`` of float64 data return) would
        otherwise silently become float64.
        """
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic) and other.dtype.kind in "fiub":
            other = other.item()
        if isinstance(other, (int, float, bool)):
            return Tensor._make(np.asarray(other, dtype=np.result_type(self.data.dtype, other)), False, None)
        return Tensor(other)

    def __add__(self, o: Any) -> Tensor: return ew.Add.apply(self, o if type(o) is Tensor else self._other(o))
    def __radd__(self, o: Any) -> Tensor: return ew.Add.apply(self._other(o), self)
    def __sub__(self, o: Any) -> Tensor: return ew.Sub.apply(self, self._other(o))
    def __rsub__(self, o: Any) -> Tensor: return ew.Sub.apply(self._other(o), self)
    def __mul__(self, o: Any) -> Tensor: return ew.Mul.apply(self, o if type(o) is Tensor else self._other(o))
    def __rmul__(self, o: Any) -> Tensor: return ew.Mul.apply(self._other(o), self)
    def __truediv__(self, o: Any) -> Tensor: return ew.Div.apply(self, self._other(o))
    def __rtruediv__(self, o: Any) -> Tensor: return ew.Div.apply(self._other(o), self)
    def __neg__(self) -> Tensor: return ew.Neg.apply(self)
    def __rpow__(self, o: Any) -> Tensor: return ew.Pow.apply(self._other(o), self)

    def __pow__(self, o: Any) -> Tensor:
        if isinstance(o, (int, float)):
            return ew.PowScalar.apply(self, exponent=o)
        return ew.Pow.apply(self, self._other(o))

    def __matmul__(self, o: Any) -> Tensor: return _matmul(self, self._other(o))
    def __rmatmul__(self, o: Any) -> Tensor: return _matmul(self._other(o), self)

    # comparisons give boolean tensors outside the graph
    def __eq__(self, o: Any) -> Tensor: return Tensor._make(self.data == self._other(o).data, False, None)  # type: ignore[override]
    def __ne__(self, o: Any) -> Tensor: return Tensor._make(self.data != self._other(o).data, False, None)  # type: ignore[override]
    def __lt__(self, o: Any) -> Tensor: return Tensor._make(self.data < self._other(o).data, False, None)
    def __le__(self, o: Any) -> Tensor: return Tensor._make(self.data <= self._other(o).data, False, None)
    def __gt__(self, o: Any) -> Tensor: return Tensor._make(self.data > self._other(o).data, False, None)
    def __ge__(self, o: Any) -> Tensor: return Tensor._make(self.data >= self._other(o).data, False, None)

    # ---- element-wise -------------------------------------------------------------------------
    def exp(self) -> Tensor: return ew.Exp.apply(self)
    def log(self) -> Tensor: return ew.Log.apply(self)
    def sqrt(self) -> Tensor: return ew.Sqrt.apply(self)
    def abs(self) -> Tensor: return ew.Abs.apply(self)
    def relu(self) -> Tensor: return ew.ReLU.apply(self)
    def sigmoid(self) -> Tensor: return ew.Sigmoid.apply(self)
    def tanh(self) -> Tensor: return ew.Tanh.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Values limited to [min, max] (either may be None); ``clamp`` is the same."""
        if min is not None and max is not None and min > max:
            raise ValueError(f"clip: min ({min}) must not be greater than max ({max})")
        return ew.Clip.apply(self, min=min, max=max)

    clamp = clip

    # ---- reductions (numpy's axis/keepdims; PyTorch's dim/keepdim accepted too) ----------------
    def _reduce(self, fn: type[autograd.Function], axis: Axis, keepdims: bool, **kw: Any) -> Tensor:
        axes = reduce.normalize_axis(axis, self.ndim, fn.__name__.lower())
        return fn.apply(self, axis=axes, keepdims=keepdims, **kw)

    def sum(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        return self._reduce(reduce.Sum, _pick(axis, dim), _pick(keepdims, keepdim))

    def mean(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        return self._reduce(reduce.Mean, _pick(axis, dim), _pick(keepdims, keepdim))

    def var(self, axis: Axis = None, keepdims: bool = False, correction: int = 1, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        """Variance; ``correction=1`` (PyTorch's default) is the unbiased estimate, 0 the biased one."""
        return self._reduce(reduce.Var, _pick(axis, dim), _pick(keepdims, keepdim), correction=correction)

    def max(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        return self._reduce(reduce.Max, _pick(axis, dim), _pick(keepdims, keepdim))

    def min(self, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None,
            keepdim: bool | None = None) -> Tensor:
        return self._reduce(reduce.Min, _pick(axis, dim), _pick(keepdims, keepdim))

    def argmax(self, axis: int | None = None) -> Tensor:
        """Indices of the maxima (int64, never requires grad)."""
        return Tensor._make(np.asarray(self.data.argmax(axis=axis)), False, None)

    # ---- shape --------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return shape_ops.Reshape.apply(self, shape=_resolve_shape(self, tuple(int(n) for n in shape)))

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def permute(self, *dims: Any) -> Tensor:
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the axes of shape {self.shape}")
        return shape_ops.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (the last two by default)."""
        if self.ndim < 2:
            return self
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(*dims)

    @property
    def T(self) -> Tensor:
        """All axes reversed (the matrix transpose for 2-D)."""
        return self.permute(*reversed(range(self.ndim))) if self.ndim >= 2 else self

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        s, e = start_dim % self.ndim, end_dim % self.ndim
        return self.reshape(*self.shape[:s], -1, *self.shape[e + 1:])

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to ``shape`` without copying (-1 keeps a dimension); ``broadcast_to`` is the same."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
        try:
            np.broadcast_shapes(self.shape, shape)
            if len(shape) < self.ndim or np.broadcast_shapes(self.shape, shape) != shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"expand: cannot broadcast shape {self.shape} to {shape}") from None
        return self if self.shape == shape else shape_ops.Expand.apply(self, shape=shape)

    broadcast_to = expand

    def squeeze(self, axis: int | None = None) -> Tensor:
        if axis is None:
            return self.reshape(*[n for n in self.shape if n != 1])
        if self.shape[axis] != 1:
            raise ValueError(f"squeeze: axis {axis} has length {self.shape[axis]}, expected 1")
        return self.reshape(*[n for i, n in enumerate(self.shape) if i != axis % self.ndim])

    def unsqueeze(self, axis: int) -> Tensor:
        axis = axis % (self.ndim + 1)
        return self.reshape(*self.shape[:axis], 1, *self.shape[axis:])

    def __getitem__(self, index: Any) -> Tensor:
        return shape_ops.GetItem.apply(self, index=_plain_index(index))

    # ---- softmax family -----------------------------------------------------------------------
    def log_softmax(self, axis: int = -1) -> Tensor: return loss.LogSoftmax.apply(self, axis=axis)
    def softmax(self, axis: int = -1) -> Tensor: return loss.Softmax.apply(self, axis=axis)


def _pick(numpy_style: Any, torch_style: Any) -> Any:
    return numpy_style if torch_style is None else torch_style


def _resolve_shape(t: Tensor, new_shape: tuple[int, ...]) -> tuple[int, ...]:
    """``new_shape`` with a -1 filled in; ValueError naming both shapes if the sizes do not match."""
    known = int(np.prod([n for n in new_shape if n != -1], dtype=np.int64))
    unknown = new_shape.count(-1)
    ok = unknown == 0 and known == t.size or unknown == 1 and known > 0 and t.size % known == 0
    if not ok or any(n < -1 for n in new_shape):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {t.shape} ({t.size} elements) "
                         f"into shape {new_shape}")
    return tuple(t.size // known if n == -1 else n for n in new_shape)


def _plain_index(index: Any) -> Any:
    """Tensors inside an index become numpy arrays; lists become integer/boolean arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` with numpy semantics; 1-D operands get a temporary length-1 axis."""
    matmul.check_matmul_shapes(a.shape, b.shape)
    if a.ndim >= 2 and b.ndim >= 2:
        return matmul.MatMul.apply(a, b)
    out = matmul.MatMul.apply(a.reshape(1, -1) if a.ndim == 1 else a, b.reshape(-1, 1) if b.ndim == 1 else b)
    if b.ndim == 1:
        out = out.squeeze(-1)
    if a.ndim == 1:
        out = out.squeeze(-2) if out.ndim >= 2 else out.squeeze(0)
    return out


def as_tensor(x: Any) -> Tensor:
    """``x`` itself if it is a Tensor, else a new Tensor wrapping it (no grad)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def seed_gradient(t: Tensor, grad: Any, op: str) -> np.ndarray:
    """The starting gradient for ``backward``/``grad``: ones for a one-element tensor, else the given array."""
    if not t.requires_grad:
        raise RuntimeError(f"{op}: the tensor does not require grad and has no grad_fn; did you forget "
                           "requires_grad=True on an input, or compute it under no_grad()?")
    if grad is None:
        if t.size != 1:
            raise RuntimeError(f"{op}: grad can be omitted only for one-element outputs, got shape {t.shape}; "
                               "pass grad= of the same shape (or reduce with .sum() / .mean() first)")
        return np.ones_like(t.data)
    g = _to_array(grad.data if isinstance(grad, Tensor) else grad).astype(t.dtype, copy=False)
    if g.shape != t.shape:
        raise ValueError(f"{op}: grad has shape {g.shape}, expected the output's shape {t.shape}")
    return g
