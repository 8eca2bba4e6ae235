"""Shape ops: reshape, permute, expand (broadcast_to), indexing, concatenate.

None of these does arithmetic, so each backward only moves gradient entries back to where the
forward took them from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..autograd import Function, Node
from ..registry import Sample, register_op

if TYPE_CHECKING:
    from ..tensor import Tensor

Grads = tuple[np.ndarray | None, ...]


class Reshape(Function):
    """z = x viewed with ``shape``.   The gradient is grad_output viewed with x's shape."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g.reshape(ctx.in_shape),)


class Permute(Function):
    """z = x with axes reordered by ``dims`` (z.shape[i] = x.shape[dims[i]]).
    The gradient is grad_output permuted by the inverse permutation argsort(dims)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, dims: tuple[int, ...]) -> np.ndarray:
        return x.transpose(dims)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g.transpose(np.argsort(ctx.attrs["dims"])),)


class Expand(Function):
    """z = x broadcast to ``shape`` (a read-only view, no copy).
    Backward hands grad_output back in the broadcast shape; the engine's ``unbroadcast`` sums it."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g,)


def is_advanced_index(index: object) -> bool:
    """True if ``index`` uses integer or boolean arrays (numpy 'advanced' indexing)."""
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, (list, np.ndarray)) for i in items)


class GetItem(Function):
    """z = x[index] for basic (slices, ints, None, ...) and advanced (integer/boolean array) indices.

    Backward scatters grad_output into zeros of x's shape at the same positions. With advanced
    indices one position may be picked several times, so the scatter must add (``np.add.at``).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, index: object) -> np.ndarray:
        ctx.in_shape, ctx.in_dtype = x.shape, x.dtype
        try:
            return np.asarray(x[index])
        except IndexError as err:
            raise ValueError(f"index {index!r} is invalid for shape {x.shape}: {err}") from None

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        out = np.zeros(ctx.in_shape, dtype=g.dtype)
        index = ctx.attrs["index"]
        if is_advanced_index(index):
            np.add.at(out, index, g)
        else:
            out[index] = g
        return (out,)


class Concatenate(Function):
    """z = the inputs joined along ``axis``.   Backward splits grad_output at the same boundaries."""

    @staticmethod
    def forward(ctx: Node, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        ctx.sizes = [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return tuple(np.split(g, np.cumsum(ctx.sizes)[:-1], axis=ctx.attrs["axis"]))


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis`` (``torch.cat``). All shapes must agree off that axis."""
    from ..tensor import as_tensor

    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate: expected a non-empty sequence of tensors")
    ndim = tensors[0].ndim
    if ndim == 0 or not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for tensors with {ndim} dimension(s)")
    axis %= ndim
    ref = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != axis):
            raise ValueError(f"concatenate: shapes {[tuple(x.shape) for x in tensors]} differ off axis {axis}")
    return Concatenate.apply(*tensors, axis=axis)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new ``axis`` (``torch.stack``)."""
    from ..tensor import as_tensor

    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}")
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for a result with {ndim} dimension(s)")
    return concatenate([t.unsqueeze(axis % ndim) for t in tensors], axis=axis % ndim)


# ----------------------------------------------------------------------------------------------
def _one(shape: tuple[int, ...], **kw: object):
    return lambda rng: [Sample((rng.standard_normal(shape),), dict(kw), note=str(shape))]


register_op("reshape", lambda x: x.reshape(4, 6), _one((2, 3, 4)))
register_op("flatten", lambda x: x.flatten(1), _one((2, 3, 4)))
register_op("squeeze_unsqueeze", lambda x: x.squeeze(1).unsqueeze(0), _one((3, 1, 2)))
register_op("permute", lambda x: x.permute(2, 0, 1), _one((2, 3, 4)))
register_op("transpose_T", lambda x: x.T, _one((3, 5)))
register_op("expand", lambda x: x.expand(2, 3, 4), _one((3, 1)))
register_op("getitem_basic", lambda x: x[1:, ::2, None, 0], _one((3, 4, 2)))
register_op("getitem_int_array", lambda x: x[np.array([0, 2, 2, 1])], _one((3, 4)))
register_op("getitem_pairs", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 0])], _one((2, 3)))
register_op("getitem_bool", lambda x: x[np.array([True, False, True])], _one((3, 2)))
register_op("concatenate", lambda a, b: concatenate([a, b], axis=1),
            lambda rng: [Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 1))))])
register_op("stack", lambda a, b: stack([a, b, a], axis=-1),
            lambda rng: [Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 3))))])
