"""The backward pass: ``run_backward`` (what ``Tensor.backward`` and ``autograd.grad`` run), ``unbroadcast``.

Walk the recorded tensors from the output back to the inputs; each node's ``backward`` returns one
gradient per input, summed out of place into what that input received so far; a leaf's whole
gradient is then added into its ``.grad`` (its own array, so in place). docs/autograd.md walks
through it line by line and explains the 0-d trap it avoids (numpy scalars from 0-d arithmetic).
With ``create_graph=True`` the values are Tensors and the walk is recorded (docs/higher-order.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .hooks import run_hooks


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` (the gradient of a broadcast result: an array, or a Tensor) back down to ``shape``.

    Broadcasting copies an input along new leading axes and along its axes of length 1; the gradient
    of a copied value is the sum of its copies' gradients, so we sum over exactly those axes.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return _wrap(grad.sum(axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape))


def topological_order(root: Any) -> list[Any]:
    """The recorded (non-leaf) tensors that ``root`` depends on, ``root`` included, inputs first.

    Each node got a number when it was created, and an op's inputs exist before it runs, so sorting
    by that number is a valid order. The walk is iterative (no recursion limit on long chains).
    """
    order, seen, stack = [], set(), [root] if root._ctx is not None else []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx.released:
            raise RuntimeError(f"backward: the graph through '{t._ctx.name}' was already freed by an earlier "
                               "backward(); pass retain_graph=True to the first backward() to go through it again")
        order.append(t)
        stack.extend(p for p in t._ctx.parents if p._ctx is not None)
    return sorted(order, key=lambda t: t._ctx.seq)


#: Called as ``observe(node, grad_output, input_grads)`` after every node's backward (anomaly mode, traces).
#: The gradients are numpy arrays, or Tensors in a ``create_graph=True`` pass (hooks see the same).
OBSERVERS: list[Any] = []


def run_backward(root: Any, grad_output: Any = None, retain_graph: bool = False,
                 inputs: tuple[Any, ...] | None = None, create_graph: bool = False) -> list[Any] | None:
    """Propagate d(out)/d(root) = ``grad_output`` back through the graph that produced ``root``.

    With ``inputs=None`` leaf gradients are added to ``leaf.grad`` (and to ``t.grad`` of non-leaves that
    called ``retain_grad()``). With ``inputs`` given, nothing is written to ``.grad``: the gradients
    of those tensors are returned, in order (None where no gradient reaches one). ``create_graph``:
    gradients are Tensors, and recorded when recording is on (``autograd.grad`` turns it on).
    """
    wanted = None if inputs is None else {id(t) for t in inputs}
    found: dict[int, Any] = {}
    grads = {id(root): _seed(root, grad_output, create_graph)}  # the gradient each tensor has received so far
    leaves, owned = ({id(root): root}, {id(root): True}) if root._ctx is None else ({}, {})
    for t in reversed(topological_order(root)):  # each tensor after every tensor computed from it
        g = grads.pop(id(t), None)
        if g is None:                             # nothing reached t (e.g. only non-differentiable paths)
            continue
        g = run_hooks(t, g)
        if t._retains_grad or (wanted is not None and id(t) in wanted):
            _deliver(t, g, False, wanted, found)
        node = t._ctx
        in_grads = _call_backward(node, t, g, create_graph)
        for observe in OBSERVERS:
            observe(node, g, in_grads)
        for i, (parent, pg) in enumerate(zip(node.parents, in_grads)):
            if pg is None or not parent.requires_grad:
                continue
            fitted = _fit(pg, parent, node.name, i)
            old = grads.get(id(parent))
            grads[id(parent)] = fitted if old is None else _wrap(old + fitted)  # out of place
            if parent._ctx is None and (wanted is None or id(parent) in wanted):  # a leaf (for grad(): an
                leaves[id(parent)] = parent       # input): hooks and delivery once all of its gradient has arrived
                owned[id(parent)] = old is not None or fitted is not pg or _own_array(pg, g, node, in_grads)
        if not retain_graph:
            node.release()
    for key, leaf in leaves.items():
        g = run_hooks(leaf, grads[key])
        _deliver(leaf, g, owned[key] and g is grads[key], wanted, found)
    return None if inputs is None else [found.get(id(t)) for t in inputs]


def _wrap(v: Any) -> Any:
    """numpy arithmetic on 0-d arrays gives scalars: back to 0-d arrays (Tensors pass through)."""
    return np.asarray(v) if isinstance(v, np.generic) else v


def _call_backward(node: Any, t: Any, g: Any, create_graph: bool) -> tuple[Any, ...]:
    """``node.fn.backward(node, g)``, one gradient per input. Under create_graph it sees each saved input or
    output as its Tensor (other saved arrays are constants) and must return Tensors (an array cuts the graph)."""
    if not create_graph:
        in_grads = node.fn.backward(node, g)
    else:
        saved, by_id = node.saved_tensors, {id(p.data): p for p in (*node.parents, t)}
        node.saved_tensors = tuple(by_id.get(id(a), a) for a in saved)
        try:
            in_grads = node.fn.backward(node, g)
        except TypeError as err:  # e.g. np.exp(Tensor)
            err.add_note(f"{node.name}.backward received Tensors (create_graph=True): use operators and Op.apply")
            raise
        finally:
            node.saved_tensors = saved
    in_grads = in_grads if isinstance(in_grads, (tuple, list)) else (in_grads,)
    if len(in_grads) != len(node.parents):
        raise RuntimeError(f"{node.name}.backward returned {len(in_grads)} gradient(s) for "
                           f"{len(node.parents)} input(s); return one per input (None where there is none)")
    if create_graph and any(isinstance(x, (np.ndarray, np.generic)) for x in in_grads):
        raise RuntimeError(f"{node.name}.backward returned a numpy array under create_graph=True, so it cannot be "
                           "differentiated again: build its gradients with operators and Op.apply")
    return in_grads


def _seed(root: Any, grad_output: Any, create_graph: bool = False) -> Any:
    """The starting gradient: ones for a one-element output, else ``grad_output`` in root's dtype and shape.
    Under create_graph a Tensor (a ``grad_output`` that requires grad stays attached to its graph)."""
    if not root.requires_grad:
        raise RuntimeError("backward: the tensor does not require grad and has no grad_fn; did you forget "
                           "requires_grad=True on an input, or compute it under no_grad()?")
    if grad_output is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward: a gradient can be omitted only for one-element outputs, got shape "
                               f"{root.shape}; pass one of that shape (or reduce with .sum() or .mean() first)")
        grad_output = np.ones_like(root.data)
    if create_graph and isinstance(grad_output, tensor.Tensor):
        seed = grad_output.to(root.dtype)
    else:  # a copy, never the caller's array: owned by the pass (a Tensor gives its array)
        data = grad_output if isinstance(grad_output, np.ndarray) else getattr(grad_output, "data", grad_output)
        seed = np.array(data, dtype=root.dtype)
    if seed.shape != root.shape:
        raise ValueError(f"backward: grad has shape {seed.shape}, expected the output's shape {root.shape}")
    return tensor.Tensor._make(seed, False, None) if create_graph and isinstance(seed, np.ndarray) else seed


def _fit(g: Any, parent: Any, op: str, i: int) -> Any:
    """``g`` (a Tensor under create_graph, else an array) in the parent's shape (summed if it has the
    broadcast shape) and dtype."""
    g = g if isinstance(g, tensor.Tensor) else np.asarray(g)
    if g.shape != parent.shape:
        try:
            fits = len(g.shape) >= parent.ndim and np.broadcast_shapes(g.shape, parent.shape) == g.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}.backward: the gradient of input {i} has shape {g.shape}, which is neither "
                             f"the input's shape {parent.shape} nor a shape it broadcasts to")
        g = unbroadcast(g, parent.shape)
    if g.dtype == parent.dtype:
        return g
    return g.to(parent.dtype) if isinstance(g, tensor.Tensor) else g.astype(parent.dtype)


def _own_array(g: np.ndarray, grad_output: np.ndarray, node: Any, in_grads: tuple) -> bool:
    """Whether ``g``, as an op returned it, is an array nobody else holds, so it can become a ``.grad``
    without a copy: not a view, writeable, not the op's grad_output, not saved, not returned twice."""
    return isinstance(g, tensor.Tensor) or (g.base is None and g.flags.writeable and g is not grad_output and sum(
        x is g for x in in_grads) == 1 and all(s is not g for s in node.saved_tensors))


def _deliver(t: Any, g: Any, owned: bool, wanted: set[int] | None, found: dict[int, Any]) -> None:
    """Add a finished gradient to ``t.grad`` (in place once it exists), or to ``found`` for ``grad()``."""
    if wanted is not None:
        if id(t) in wanted:
            old = found.get(id(t))
            owned = owned or isinstance(g, tensor.Tensor)
            found[id(t)] = (g if owned else g.copy()) if old is None else _wrap(old + g)
    elif t.grad is None:
        t.grad = g if owned else g.copy()
    elif t.grad.flags.writeable:
        t.grad += g
    else:                                         # a read-only array the user set: replaced, not written
        t.grad = t.grad + g


from . import tensor  # noqa: E402  (Tensors only under create_graph; module object: tensor.py imports us)
