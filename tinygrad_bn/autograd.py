"""The tape: ``Function`` (forward/backward on numpy arrays), graph nodes, ``no_grad``, the backward engine.

How a tensor gets onto the tape
-------------------------------
``SomeOp.apply(a, b, **attrs)`` runs ``SomeOp.forward(ctx, a.data, b.data, **attrs)`` on plain numpy
arrays. When gradients are on and any input requires grad, the result remembers ``ctx``: the graph
node, which holds the op class, its input tensors (``parents``), its non-tensor attributes
(``attrs``: ``axis``, ``p``, ``eps``...) and whatever the forward saved with ``ctx.save_for_backward``.

How gradients come back
-----------------------
``run_backward`` orders the nodes once (by creation number: an op's inputs are always older than
it; the reachable nodes are collected iteratively, so a 10,000-op chain is fine), walks them from
the output back to the leaves and calls each ``backward(ctx, grad_output)``. An op may return
gradients in the *broadcast* shape of its output; the engine reduces each one to its input's shape
with :func:`unbroadcast`, the one helper that does this for every op. Intermediate gradients are
dropped as soon as they are used. Unless ``retain_graph=True``, each node frees what it saved after
its backward ran, and a second backward through it raises ``RuntimeError``; the node
structure itself stays, so the graph can still be drawn after backward.
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
            if n == 2:  # the common arities without a comprehension's frame
                out = cls.forward(ctx, inputs[0].data, inputs[1].data, **attrs)
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


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` (a broadcast result's gradient) back down to ``shape``.

    Broadcasting copies an input along new leading axes and along axes of length 1; the gradient of a
    copy is the sum of the copies' gradients, so we sum over exactly those axes. The result is a new
    array (never a view of ``grad``) whenever any summing was needed.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    out = grad.sum(axis=tuple(range(extra))) if extra else grad
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and out.shape[i] != 1)
    if ones:
        out = out.sum(axis=ones, keepdims=True)
    if type(out) is not np.ndarray:  # a full reduction gives a numpy scalar
        out = np.asarray(out)
    return out if out.shape == shape else out.reshape(shape)


def _creation(t: Tensor) -> int:
    return t._ctx.seq  # type: ignore[union-attr]


def topological_order(root: Tensor) -> list[Tensor]:
    """Non-leaf tensors reachable from ``root``, each after all the tensors it depends on.

    Every node gets a number from a counter when it is created, and an op's inputs exist before it
    runs, so creation order is already a valid order: collect what is reachable (an iterative walk,
    no recursion limit) and sort by that number. Raises ``RuntimeError`` if a node on the way was
    already released by an earlier backward.
    """
    if root._ctx is None:
        return []
    order: list[Tensor] = []
    visited = {id(root)}
    stack = [root]
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx.released:
            raise RuntimeError(
                f"backward: the graph through '{ctx.name}' was already freed by an earlier backward(); "
                "pass retain_graph=True to the first backward() if you need to go through it again"
            )
        order.append(t)
        for p in ctx.parents:
            if p._ctx is not None and id(p) not in visited:
                visited.add(id(p))
                stack.append(p)
    order.sort(key=_creation)
    return order


def run_backward(root: Tensor, grad: np.ndarray, retain_graph: bool = False,
                 inputs: tuple[Tensor, ...] | None = None) -> list[np.ndarray | None] | None:
    """Propagate ``grad`` (d out / d root) back through the graph of ``root``.

    With ``inputs=None`` leaf gradients accumulate into ``leaf.grad`` (and into ``t.grad`` of non-leaves
    that called ``retain_grad()``). With ``inputs`` given, nothing is written to ``.grad``; the
    gradients of those tensors are returned instead, in order (None where no gradient reaches one).

    Who may write into which array. Ops never write into a ``grad_output`` they receive, unless the
    engine set ``ctx.may_overwrite_grad_output`` (this pass owns it and passes it on once). An array an
    op's backward returns is *owned* by this pass if it is new: it owns its memory (not a view), and it
    is not the ``grad_output`` passed in, nor one of the node's saved arrays, nor returned twice
    (a ``grad_output`` that the pass itself owned may be handed on once, as ``Add`` does). An owned
    gradient is stored as ``.grad`` without a copy and further contributions are added into it in
    place; anything else is copied before it becomes a ``.grad`` and is never written into. So one
    array may travel to several places, and in-place edits of one ``.grad`` never leak into another.
    An existing ``.grad`` (from an earlier backward, or set by the user) is accumulated into in
    place, as PyTorch does, when its shape and dtype match.
    """
    order = topological_order(root)
    sink = _GradSink(inputs)
    deliver, wanted = sink.deliver, sink.wanted
    grads: dict[int, np.ndarray] = {id(root): grad}
    pop = grads.pop
    owned: set[int] = set()  # ids of arrays in ``grads`` that only this pass holds
    if root._ctx is None:  # backward on a leaf: its gradient is the seed itself
        deliver(root, grad, False)
    for t in reversed(order):
        g = pop(id(t), None)
        if g is None:
            continue
        handover = id(g) in owned  # g may be passed on once, as an owned array
        if handover:
            owned.discard(id(g))
        if t._retains_grad or wanted is not None:
            deliver(t, g, handover)
            handover = False
        node = t._ctx
        node.may_overwrite_grad_output = handover
        in_grads = node.fn.backward(node, g)
        node.may_overwrite_grad_output = False  # only for this call (a retained graph may be run again)
        saved = node.saved_tensors
        if not retain_graph:
            node.release()
        kept: dict[int, str] = {}  # arrays from this backward already kept: id -> "leaf" (a .grad) or "grads"
        for parent, pg in zip(node.parents, in_grads):
            if pg is None or not parent.requires_grad:
                continue
            data = parent.data
            original = pg
            if pg.shape != data.shape:
                pg = unbroadcast(pg, data.shape)
            if pg.dtype is not data.dtype and pg.dtype != data.dtype:
                pg = pg.astype(data.dtype)
            leaf = parent._ctx is None
            # adding to a gradient that exists already: pg itself is not kept, so whose it is does not matter
            if leaf and wanted is None:
                current = parent.grad
                if current is not None:
                    if (type(current) is np.ndarray and current.dtype is pg.dtype and current.shape == pg.shape
                            and current.flags.writeable):
                        current += pg
                    else:
                        parent.grad = current + pg
                    continue
            elif not leaf:
                key = id(parent)
                old = grads.get(key)
                if old is not None:
                    if id(old) in owned:
                        old += pg
                    else:
                        grads[key] = total = old + pg
                        owned.add(id(total))
                    continue
            # pg is about to be kept: is it this pass's alone (no copy needed, may be added into later)?
            first = kept.get(id(pg))  # kept already by this very call (an op returned it twice)
            if pg is not original:  # made just now by unbroadcast or astype
                fresh = not np.may_share_memory(pg, original)
            elif first is not None:
                fresh = False
            elif pg is g:
                fresh, handover = handover, False
            elif pg.base is not None:  # a view of something
                fresh = False
            else:
                fresh = True
                for other in saved:
                    if other is pg:
                        fresh = False
            if not leaf:
                if first == "leaf":  # that leaf's .grad may be added into in place: this entry gets its own copy
                    pg, fresh = pg.copy(), True
                elif first == "grads":  # two entries share it now: neither may be added into in place
                    owned.discard(id(pg))
                grads[key] = pg
                kept[id(pg)] = "grads"
                if fresh:
                    owned.add(id(pg))
            elif wanted is None:
                parent.grad = pg if fresh else pg.copy()
                if fresh:
                    kept[id(pg)] = "leaf"
            else:
                deliver(parent, pg, fresh)
    return sink.result()


class _GradSink:
    """Where finished gradients go: into ``.grad`` attributes, or into a list for ``autograd.grad``."""

    def __init__(self, inputs: tuple[Tensor, ...] | None):
        self.inputs = inputs
        self.wanted = {id(t) for t in inputs} if inputs is not None else None
        self.captured: dict[int, np.ndarray] = {}

    def deliver(self, t: Tensor, grad: np.ndarray, owned: bool) -> None:
        """Add ``grad`` to t's gradient; ``owned``: nothing else holds ``grad``, so it need not be copied."""
        if self.wanted is not None:
            if id(t) in self.wanted:
                old = self.captured.get(id(t))
                self.captured[id(t)] = grad if old is None else old + grad
            return
        current = t.grad
        if current is None:
            t.grad = grad if owned else grad.copy()
        elif (type(current) is np.ndarray and current.shape == grad.shape and current.dtype == grad.dtype
              and current.flags.writeable):
            current += grad
        else:
            t.grad = current + grad

    def result(self) -> list[np.ndarray | None] | None:
        if self.inputs is None:
            return None
        return [self.captured.get(id(t)) for t in self.inputs]


def grad(output: Tensor, inputs: Tensor | tuple[Tensor, ...] | list[Tensor], grad_output: Any = None,
         retain_graph: bool = False) -> list[np.ndarray | None]:
    """Gradients of ``output`` with respect to ``inputs``, returned (not written to ``.grad``).

    Like ``torch.autograd.grad``: ``grad_output`` (same shape as ``output``) is the seed, required when
    ``output`` is not a scalar. Returns one numpy array per input (None if the input does not affect
    the output).
    """
    from .tensor import seed_gradient

    inputs = (inputs,) if not isinstance(inputs, (tuple, list)) else tuple(inputs)
    seed = seed_gradient(output, grad_output, "grad")
    return run_backward(output, seed, retain_graph=retain_graph, inputs=inputs)
