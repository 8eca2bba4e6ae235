"""Shape ops: reshape, permute, expand (broadcast_to), indexing, concatenate.

None of these does arithmetic, so each backward only moves gradient entries back to where the
forward took them from, with shape ops again (so it can be differentiated again: the backward of
indexing is ``ScatterAdd``, whose backward is indexing).
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node

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
        return (Permute.apply(g, dims=tuple(int(d) for d in np.argsort(ctx.attrs["dims"]))),)


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
        ctx.in_shape = x.shape
        return x[index]

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (ScatterAdd.apply(g, index=ctx.attrs["index"], shape=ctx.in_shape),)


class ScatterAdd(Function):
    """z = zeros of ``shape`` with g added at ``index`` (the backward of ``GetItem``; ``np.add.at`` for
    advanced indices, where a position may be picked several times). Linear in g, and its backward is
    indexing: dz[index]/dg = 1, so grad_g = grad_output[index]."""

    @staticmethod
    def forward(ctx: Node, g: np.ndarray, *, index: object, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape, dtype=g.dtype)
        if is_advanced_index(index):
            np.add.at(out, index, g)
        else:
            out[index] = g
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (GetItem.apply(g, index=ctx.attrs["index"]),)


class Concatenate(Function):
    """z = the inputs joined along ``axis``.   Backward splits grad_output at the same boundaries."""

    @staticmethod
    def forward(ctx: Node, *xs: np.ndarray, axis: int = 0) -> np.ndarray:
        ctx.sizes = [x.shape[axis] for x in xs]
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        axis, ends = ctx.attrs["axis"], np.cumsum(ctx.sizes)
        lead = (slice(None),) * axis
        return tuple(GetItem.apply(g, index=(*lead, slice(int(e - n), int(e)))) for e, n in zip(ends, ctx.sizes))
