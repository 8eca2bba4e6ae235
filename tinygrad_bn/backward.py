"""The backward engine: ``run_backward`` (what ``Tensor.backward`` runs), ``grad``, ``unbroadcast``.

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

import operator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .tensor import Tensor


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


#: A tensor's creation number (the sort key of ``topological_order``), read in C rather than by a Python function.
_creation = operator.attrgetter("_ctx.seq")


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
        # An op may return one array for two inputs (Add does); that needs the bookkeeping in ``kept`` below. For
        # two inputs we can tell at once; ops with more inputs (Linear, Normalize) simply always do it.
        n = len(in_grads)
        shared = n > 2 or (n == 2 and in_grads[0] is in_grads[1] and in_grads[0] is not None)
        kept: dict[int, str] = {}  # if shared: arrays kept already by this call, id -> "leaf" (a .grad) or "grads"
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
                    if type(current) is np.ndarray and current.dtype is pg.dtype and current.shape == pg.shape:
                        try:
                            current += pg
                            continue
                        except ValueError:  # read-only (e.g. a broadcast view the user set): not in place
                            pass
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
            first = kept.get(id(pg)) if shared else None  # kept already by this very call (returned twice)
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
                if shared:
                    kept[id(pg)] = "grads"
                if fresh:
                    owned.add(id(pg))
            elif wanted is None:
                parent.grad = pg if fresh else pg.copy()
                if fresh and shared:
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
