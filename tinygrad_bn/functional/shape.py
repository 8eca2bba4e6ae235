"""Shape functions: ``F.reshape``, ``permute``, ``transpose``, ``flatten``, ``expand``, ``squeeze``,
``unsqueeze``, ``getitem`` (``x[index]``), ``concatenate`` (``cat``) and ``stack``.

Dims follow PyTorch: an axis may be negative (counted from the end) and must be in range, else
ValueError naming the function, the axis and the tensor's dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import check_dim, check_int
from ..engine.tensor import Tensor, as_tensor
from ..ops import shape as sh


def _dims(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x`` with a new shape of the same size; one entry may be -1 (worked out from the others)."""
    x = as_tensor(x)
    new = tuple(check_int(n, "reshape", "every size", minimum=-1) for n in _dims(shape))
    known = int(np.prod([n for n in new if n != -1], dtype=np.int64))
    unknown = new.count(-1)
    if not (unknown == 0 and known == x.size or unknown == 1 and known > 0 and x.size % known == 0):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) into shape {new}")
    new = tuple(x.size // known if n == -1 else n for n in new)
    return x if new == x.shape else sh.Reshape.apply(x, shape=new)


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Axes reordered: result.shape[i] == x.shape[dims[i]]."""
    x = as_tensor(x)
    dims = tuple(check_dim(d, x.ndim, "permute") for d in _dims(dims))
    if sorted(dims) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {_dims(dims)} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return sh.Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    """Two axes swapped (the last two by default; a tensor with fewer than 2 axes is returned as it is)."""
    x = as_tensor(x)
    if x.ndim < 2:
        return x
    dims = list(range(x.ndim))
    a, b = check_dim(dim0, x.ndim, "transpose"), check_dim(dim1, x.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return sh.Permute.apply(x, dims=tuple(dims))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Axes ``start_dim`` to ``end_dim`` merged into one (a 0-d tensor becomes shape (1,), as PyTorch)."""
    x = as_tensor(x)
    s, e = check_dim(start_dim, x.ndim, "flatten"), check_dim(end_dim, x.ndim, "flatten")
    if x.ndim == 0:
        return reshape(x, 1)
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    return reshape(x, *x.shape[:s], -1, *x.shape[e + 1:])


def expand(x: Tensor, *shape: Any) -> Tensor:
    """``x`` broadcast to ``shape`` without copying. -1 keeps an existing axis; new axes go in front."""
    x = as_tensor(x)
    shape = tuple(check_int(n, "expand", "every size", minimum=-1) for n in _dims(shape))
    lead = len(shape) - x.ndim
    ok = lead >= 0 and all(n != -1 for n in shape[:lead])
    if ok:
        shape = shape[:lead] + tuple(x.shape[i] if n == -1 else n for i, n in enumerate(shape[lead:]))
        ok = all(old in (1, new) for old, new in zip(x.shape, shape[lead:]))
    if not ok:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {_dims(shape)} (only axes of length 1 can grow; "
                         "-1 keeps an existing axis and cannot be used for a new one)")
    return x if shape == x.shape else sh.Expand.apply(x, shape=shape)


def squeeze(x: Tensor, axis: int | None = None) -> Tensor:
    """Axes of length 1 removed (only ``axis`` if given; it must have length 1)."""
    x = as_tensor(x)
    if axis is None:
        return reshape(x, *[n for n in x.shape if n != 1])
    axis = check_dim(axis, x.ndim, "squeeze", what="axis")
    if x.ndim and x.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} has length {x.shape[axis]}, expected 1")
    return reshape(x, *[n for i, n in enumerate(x.shape) if i != axis])


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """A new axis of length 1 at ``axis`` (in [-ndim - 1, ndim])."""
    x = as_tensor(x)
    axis = check_dim(axis, x.ndim + 1, "unsqueeze", what="axis")
    return reshape(x, *x.shape[:axis], 1, *x.shape[axis:])


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: ints, slices, None, ..., integer or boolean arrays (lists and Tensors too), as numpy."""
    x = as_tensor(x)
    try:
        return sh.GetItem.apply(x, index=_plain_index(index))
    except IndexError as err:
        raise IndexError(f"getitem: {err} (a tensor of shape {x.shape})") from err


def _plain_index(index: Any) -> Any:
    """Tensors inside an index become their arrays, lists become integer or boolean arrays."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    return np.asarray(index) if isinstance(index, list) else index


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Tensors joined along an existing ``axis`` (``torch.cat``). All shapes must agree off that axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: expected a non-empty sequence of tensors")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: 0-d tensors cannot be joined; use stack")
    axis = check_dim(axis, ndim, "concatenate", what="axis")
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != axis):
            raise ValueError(f"concatenate: shapes {[t.shape for t in tensors]} differ off axis {axis}")
    return sh.Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Same-shaped tensors joined along a new ``axis`` (``torch.stack``)."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    if len({t.shape for t in tensors}) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    axis = check_dim(axis, tensors[0].ndim + 1, "stack", what="axis")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


cat = concatenate
