"""The tape: ``Function`` (an op's forward and backward side by side) and ``Node`` (its ``ctx``).

``SomeOp.apply(a, b, **attrs)`` runs ``SomeOp.forward(ctx, a.data, b.data, **attrs)`` on numpy arrays.
When recording is on and an input requires grad, the result keeps ``ctx``: the op, its input tensors
(``parents``), its other arguments (``attrs``) and what forward saved for backward. Given plain arrays,
``apply`` is just the forward, so a backward written with operators and ``Op.apply`` runs on arrays
and, recorded, on Tensors (``create_graph=True``, docs/higher-order.md).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from . import grad_mode

#: Every ``Function`` subclass defined anywhere, in definition order (the op registry checks coverage).
FUNCTIONS: list[type[Function]] = []

ON_APPLY: list[Any] = []  # observe(ctx, out) after each op's forward: anomaly mode (where made, NaN in out)
_node_counter = itertools.count()  # numbers nodes in creation order: a node's inputs have smaller numbers


class Node:
    """One recorded op: the ``ctx`` that ``forward`` and ``backward`` receive.

    ``fn`` (the Function subclass), ``parents`` (input tensors, in order), ``attrs`` (non-tensor
    arguments, shown by the graph pictures), ``saved_tensors`` (arrays saved by forward),
    ``needs_input_grad`` (one bool per input), ``seq`` (creation number). An op may also keep small
    values on ctx as plain attributes; arrays kept that way are freed with the saved ones.
    """

    def __init__(self, fn: type[Function], parents: tuple[Any, ...], attrs: dict[str, Any]):
        self.fn, self.parents, self.attrs = fn, parents, attrs
        self.needs_input_grad = tuple(p.requires_grad for p in parents)
        self.saved_tensors: tuple[np.ndarray, ...] = ()
        self._freed_meta: tuple[tuple[tuple[int, ...], Any], ...] = ()
        self.released = False
        self.seq = next(_node_counter)

    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep arrays that ``backward`` needs; freed after backward unless the graph is retained."""
        self.saved_tensors = arrays

    @property
    def saved_shapes(self) -> tuple[tuple[tuple[int, ...], str], ...]:
        """(shape, dtype name) of each saved array, still known after the arrays were freed."""
        meta = self._freed_meta if self.released else _meta(self.saved_tensors)
        return tuple((shape, str(dtype)) for shape, dtype in meta)

    def release(self) -> None:
        """Free the saved arrays (and arrays kept as attributes); the node itself stays in the graph."""
        self._freed_meta, self.saved_tensors = _meta(self.saved_tensors), ()
        for key in [k for k, v in vars(self).items() if isinstance(v, np.ndarray)]:
            delattr(self, key)
        self.released = True

    @property
    def name(self) -> str: return self.fn.__name__

    def __repr__(self) -> str: return f"<{self.name} node, {len(self.parents)} input(s)>"


def _meta(arrays: tuple[Any, ...]) -> tuple[tuple[tuple[int, ...], Any], ...]:
    return tuple((np.shape(a), getattr(a, "dtype", type(a).__name__)) for a in arrays)


class _Scratch:
    """The ctx of a forward run on plain arrays (``Op.apply(array)``): nothing is recorded or saved."""
    needs_input_grad = ()
    def __init__(self, fn: type[Function], attrs: dict[str, Any]): self.fn, self.attrs = fn, attrs
    def save_for_backward(self, *arrays: np.ndarray) -> None: pass


class Function:
    """Base class of every primitive op.

    A subclass defines two static methods, side by side:

    - ``forward(ctx, *arrays, **attrs) -> np.ndarray``: numpy in, numpy out; save what backward
      needs with ``ctx.save_for_backward(...)``.
    - ``backward(ctx, grad_output) -> tuple``: one gradient (numpy array, or None) per input. A
      gradient may have the broadcast output shape; the engine sums it down to the input's shape.
      Never write into ``grad_output`` or a saved array: other ops may hold them too.

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
    def apply(cls, *inputs: Any, **attrs: Any) -> Any:
        """Run forward on the inputs' arrays; record the node if recording is on and an input requires grad.
        Given only numpy arrays: the forward's array, nothing recorded (mixed with Tensors: constants)."""
        for t in inputs:
            if not isinstance(t, tensor.Tensor):
                if any(isinstance(t, tensor.Tensor) for t in inputs):
                    return cls.apply(*map(tensor.as_tensor, inputs), **attrs)
                return np.asarray(cls.forward(_Scratch(cls, attrs), *inputs, **attrs))
        ctx = Node(cls, inputs, attrs)
        try:
            raw = cls.forward(ctx, *[t.data for t in inputs], **attrs)
        except Exception as err:  # the error keeps its type and traceback; the note says which op it came from
            if hasattr(err, "add_note"):
                err.add_note(f"raised by {cls.__name__}.forward on inputs of shapes {[t.shape for t in inputs]}")
            raise
        out = np.asarray(raw)  # numpy scalars -> 0-d arrays (and a saved scalar result becomes the output array)
        if out is not raw and ctx.saved_tensors:
            ctx.saved_tensors = tuple(out if s is raw else s for s in ctx.saved_tensors)
        for observe in ON_APPLY:
            observe(ctx, out)
        if grad_mode.is_grad_enabled() and any(ctx.needs_input_grad):
            return tensor.Tensor._make(out, True, ctx)
        return tensor.Tensor._make(out, False, None)


# The one cycle of the engine: Function.apply wraps results in tensor.Tensor, and tensor.py imports this
# module. Importing the module object (not the class) at the end lets either side be imported first.
from . import tensor  # noqa: E402
