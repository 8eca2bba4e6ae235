"""The tape: ``Function`` (forward/backward on numpy arrays), graph nodes, ``no_grad``.

How a tensor gets onto the tape
-------------------------------
``SomeOp.apply(a, b, **attrs)`` runs ``SomeOp.forward(ctx, a.data, b.data, **attrs)`` on plain numpy
arrays. When gradients are on and any input requires grad, the result remembers ``ctx``: the graph
node, which holds the op class, its input tensors (``parents``), its non-tensor attributes
(``attrs``: ``axis``, ``p``, ``eps``...) and whatever the forward saved with ``ctx.save_for_backward``.

How gradients come back: the backward engine, ``tinygrad_bn/backward.py`` (``run_backward``, ``grad``,
``unbroadcast``, ``topological_order``; re-exported here, so ``tg.autograd.grad`` works as before).
"""

from __future__ import annotations

import contextlib
import itertools
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor

_grad_enabled = True

#: Numbers nodes in creation order (``Node.seq``); the backward engine sorts by it.
_node_counter = itertools.count()

#: Every ``Function`` subclass defined anywhere, in definition order (the op registry checks coverage).
FUNCTIONS: list[type[Function]] = []


def is_grad_enabled() -> bool:
    """Whether ops record themselves on the tape right now."""
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager and decorator: ops run inside record nothing, results do not require grad.

    >>> with tg.no_grad():
    ...     y = model(x)            # y.requires_grad is False
    """

    def __enter__(self) -> no_grad:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc: object) -> None:
        global _grad_enabled
        _grad_enabled = self._prev


class enable_grad(no_grad):
    """Context manager and decorator that turns recording back on (e.g. inside ``no_grad``)."""

    def __enter__(self) -> enable_grad:
        global _grad_enabled
        self._prev = _grad_enabled
        _grad_enabled = True
        return self


_shape_and_dtype = operator.attrgetter("shape", "dtype")


class Node:
    """One recorded op: the ``ctx`` passed to ``forward`` and ``backward``.

    Attributes: ``fn`` (the Function subclass), ``parents`` (input tensors, in order), ``attrs``
    (non-tensor arguments, shown by the graph pictures), ``saved_tensors`` (arrays saved by forward),
    ``saved_shapes`` (their shapes and dtypes, kept after the arrays are freed), ``needs_input_grad``,
    ``seq`` (creation number: a node's inputs were made by nodes with smaller numbers),
    ``may_overwrite_grad_output`` (set by the engine just before ``backward``: True when nothing but
    this call holds ``grad_output``, so an op may compute its input's gradient in place in it and
    return it, saving a full-size array). An op may also store small non-array values on ctx as plain
    attributes.
    """

    __slots__ = ("fn", "parents", "attrs", "saved_tensors", "_saved_meta", "released", "needs_input_grad", "seq",
                 "may_overwrite_grad_output", "__dict__")

    def __init__(self, fn: type[Function], parents: tuple[Tensor, ...], attrs: dict[str, Any]):
        self.fn = fn
        self.parents = parents
        self.attrs = attrs
        self.saved_tensors: tuple[np.ndarray, ...] = ()
        self._saved_meta: tuple[tuple[tuple[int, ...], str], ...] = ()
        self.released = False
        if len(parents) == 2:  # the common arities without a comprehension's frame
            self.needs_input_grad = (parents[0].requires_grad, parents[1].requires_grad)
        elif len(parents) == 1:
            self.needs_input_grad = (parents[0].requires_grad,)
        else:
            self.needs_input_grad = tuple([p.requires_grad for p in parents])
        self.seq = next(_node_counter)
        self.may_overwrite_grad_output = False

    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep arrays that ``backward`` needs; they are freed after backward unless the graph is retained."""
        self.saved_tensors = arrays

    @property
    def saved_shapes(self) -> tuple[tuple[tuple[int, ...], str], ...]:
        """(shape, dtype name) of each saved array; still known after the arrays are freed."""
        meta = self._saved_meta if self.released else self._meta()
        return tuple((shape, str(dtype)) for shape, dtype in meta)

    def _meta(self) -> tuple[tuple[tuple[int, ...], object], ...]:
        # dtype objects, not names: str(dtype) costs microseconds, and this runs once per node
        return tuple((np.shape(a), getattr(a, "dtype", type(a).__name__)) for a in self.saved_tensors)

    def release(self) -> None:
        """Free the saved arrays (and any array stored on ctx); the node stays in the graph."""
        saved = self.saved_tensors
        if saved:
            try:  # the common case, all numpy arrays: attribute reads in C (this runs once per node)
                self._saved_meta = tuple(map(_shape_and_dtype, saved))
            except AttributeError:
                self._saved_meta = self._meta()
            self.saved_tensors = ()
        extra = self.__dict__
        if extra:
            for key in [k for k, v in extra.items() if isinstance(v, np.ndarray)]:
                del extra[key]
        self.released = True

    @property
    def name(self) -> str:
        return self.fn.__name__

    def __repr__(self) -> str:
        return f"<{self.name} node, {len(self.parents)} input(s)>"


class Function:
    """Base class of every primitive op.

    A subclass defines two static methods, side by side:

    - ``forward(ctx, *arrays, **attrs) -> np.ndarray``: numpy in, numpy out; save what backward
      needs with ``ctx.save_for_backward(...)``.
    - ``backward(ctx, grad_output) -> tuple``: one gradient (numpy array, or None) per tensor input.
      A gradient may have the broadcast output shape; the engine reduces it to the input's shape.

    Call it with ``MyOp.apply(*tensors, **attrs)``; every positional argument must be a Tensor.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        FUNCTIONS.append(cls)

    @staticmethod
    def forward(ctx: Node, *arrays: np.ndarray, **attrs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Node, grad_output: np.ndarray) -> tuple[np.ndarray | None, ...]:  # pragma: no cover
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **attrs: Any) -> Tensor:
        ctx = Node(cls, inputs, attrs)
        try:
            n = len(inputs)
            if n == 2 and not attrs:  # the common calls without a comprehension or a keyword dict to unpack
                out = cls.forward(ctx, inputs[0].data, inputs[1].data)
            elif n == 1:
                out = cls.forward(ctx, inputs[0].data, **attrs)
            else:
                out = cls.forward(ctx, *[t.data for t in inputs], **attrs)
        except ValueError as err:
            shapes = ", ".join(str(t.shape) for t in inputs)
            raise ValueError(f"{cls.__name__.lower()}: inputs with shapes {shapes} were rejected: {err}") from None
        if type(out) is not np.ndarray:  # numpy turns 0-d results into scalars; keep .data an array
            out = np.asarray(out)
        if _grad_enabled and True in ctx.needs_input_grad:
            return _make_tensor(out, True, ctx)
        return _make_tensor(out, False, None)


def _make_tensor(data: np.ndarray, requires_grad: bool, ctx: Node | None) -> Tensor:
    """``Tensor._make``; bound on first use (tensor.py imports this module, so not at import time)."""
    global _make_tensor
    from .tensor import Tensor

    _make_tensor = Tensor._make
    return _make_tensor(data, requires_grad, ctx)


# The backward engine lives in its own module; re-exported so ``autograd.grad`` / ``autograd.run_backward`` work.
from .backward import grad, run_backward, topological_order, unbroadcast  # noqa: E402

__all__ = ["Function", "Node", "no_grad", "enable_grad", "is_grad_enabled", "grad", "run_backward",
           "topological_order", "unbroadcast", "FUNCTIONS"]
