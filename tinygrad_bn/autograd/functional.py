"""``tg.autograd.functional``: derivatives of whole functions, as ``torch.autograd.functional``.

``vjp`` (v^T J), ``jvp`` (J v), ``jacobian``, ``hessian`` and ``hvp`` (H v) of a function ``func`` of
Tensors. Each takes ``inputs`` as one Tensor or a tuple of Tensors and answers in the same structure.
The inputs are differentiated as fresh leaves (their own graph is not extended) unless
``create_graph=True``, in which case the results stay attached to the graph, so they can be
differentiated again. ``strict=True`` raises RuntimeError when an output does not depend on an
input (by default its derivative is zeros, as PyTorch); ``vectorize`` is accepted and has no effect.
All of them are built on ``tg.autograd.grad``: reverse mode only.

``jvp`` uses the double-vjp trick: for a dummy cotangent u, ``g(u) = J^T u`` is linear in u, so its
own vjp with v is ``d(v . J^T u)/du = J v``: two reverse passes, the first recorded (docs/higher-order.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import grad_mode
from ..engine.gradient import grad
from ..engine.tensor import Tensor, as_tensor


def _tuple(x: Any, what: str, fn: str) -> tuple[tuple[Any, ...], bool]:
    """``x`` as a tuple, and whether it was one; TypeError unless every entry is a Tensor."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    if not all(isinstance(t, Tensor) for t in items):
        raise TypeError(f"{fn}: {what} must be a Tensor or a tuple of Tensors, got "
                        f"{[type(t).__name__ for t in items]}")
    return items, is_tuple


def _leaves(inputs: tuple[Tensor, ...], create_graph: bool) -> tuple[Tensor, ...]:
    """The tensors to differentiate: the inputs themselves when create_graph and they require grad (so
    the result stays attached to their graph), else fresh leaves sharing their data."""
    for t in inputs:
        if t.dtype.kind != "f":
            raise TypeError(f"autograd.functional: inputs must be floating point, got dtype {t.dtype}")
    return tuple(t if create_graph and t.requires_grad else Tensor._make(t.data, True, None) for t in inputs)


def _vectors(v: Any, like: tuple[Tensor, ...], what: str, fn: str) -> tuple[Tensor, ...]:
    """``v`` (a Tensor or tuple, matching ``like``'s shapes); None only when ``like`` is one one-element tensor."""
    if v is None:
        if len(like) != 1 or like[0].size != 1:
            raise ValueError(f"{fn}: {what} can be omitted only when there is one one-element tensor, got shapes "
                             f"{[t.shape for t in like]}")
        return (Tensor._make(np.ones_like(like[0].data), False, None),)
    vs = tuple(as_tensor(x) for x in (v if isinstance(v, (tuple, list)) else (v,)))
    if len(vs) != len(like) or any(a.shape != b.shape for a, b in zip(vs, like)):
        raise ValueError(f"{fn}: {what} must match shapes {[t.shape for t in like]}, got {[t.shape for t in vs]}")
    return vs


def _grads(outs: tuple[Tensor, ...], ins: tuple[Tensor, ...], seeds: Any, create_graph: bool,
           retain_graph: bool | None = None, strict: str = "") -> tuple[Tensor, ...]:
    """d(sum_k seeds_k . outs_k)/d ins, zeros where an input is unused (PyTorch's default); ``strict``
    (the caller's name) makes that a RuntimeError, as PyTorch's ``strict=True``."""
    live = [k for k, o in enumerate(outs) if o.requires_grad]
    if strict and len(live) < len(outs):
        raise RuntimeError(f"{strict}: output {len(live)} does not depend on the inputs (strict=True)")
    if not live:
        return tuple(Tensor._make(np.zeros_like(t.data), False, None) for t in ins)
    seeds = None if seeds is None else [seeds[k] for k in live]
    retain = create_graph if retain_graph is None else retain_graph
    found = grad([outs[k] for k in live], ins, seeds, retain_graph=retain, create_graph=create_graph, allow_unused=True)
    unused = [k for k, g in enumerate(found) if g is None]
    if strict and unused:
        raise RuntimeError(f"{strict}: the outputs do not depend on input {unused[0]} (strict=True)")
    return tuple(Tensor._make(np.zeros_like(t.data), False, None) if g is None else g for g, t in zip(found, ins))


def _finish(items: tuple[Any, ...], is_tuple: bool, create_graph: bool) -> Any:
    """Detached unless create_graph, and in the caller's structure (a tuple, or one Tensor)."""
    out = tuple(t if create_graph or not isinstance(t, Tensor) else t.detach() for t in items)
    return out if is_tuple else out[0]


def _call(func: Callable[..., Any], inputs: tuple[Tensor, ...], fn: str) -> tuple[tuple[Tensor, ...], bool]:
    with grad_mode.enable_grad():
        return _tuple(func(*inputs), "func's output", fn)


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), v^T J): the vector-Jacobian product, one reverse pass. ``v`` has the outputs' shapes."""
    ins, in_tuple = _tuple(inputs, "inputs", "vjp")
    leaves = _leaves(ins, create_graph)
    outs, out_tuple = _call(func, leaves, "vjp")
    result = _grads(outs, leaves, _vectors(v, outs, "v", "vjp"), create_graph, strict="vjp" if strict else "")
    return _finish(outs, out_tuple, create_graph), _finish(result, in_tuple, create_graph)


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), J v): the Jacobian-vector product by the double-vjp trick. ``v`` has the inputs' shapes."""
    ins, in_tuple = _tuple(inputs, "inputs", "jvp")
    leaves = _leaves(ins, create_graph)
    vs = _vectors(v, ins, "v", "jvp")
    outs, out_tuple = _call(func, leaves, "jvp")
    dummies = tuple(Tensor._make(np.zeros_like(o.data), True, None) for o in outs)  # u: J^T u is linear in u
    with grad_mode.enable_grad():
        g = _grads(outs, leaves, dummies, True, strict="jvp" if strict else "")  # J^T u, recorded
        live = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
    if not live:
        result = tuple(Tensor._make(np.zeros_like(o.data), False, None) for o in outs)
    else:
        result = _grads(tuple(gi for gi, _ in live), dummies, tuple(vi for _, vi in live), create_graph, True)
    return _finish(outs, out_tuple, create_graph), _finish(result, out_tuple, create_graph)


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """d func / d inputs: for output i of shape O and input j of shape I, a Tensor of shape O + I, one
    reverse pass per output element. Nested as PyTorch: a Tensor for one input and one output, a
    tuple over inputs (or outputs) when only they are a tuple, a tuple of tuples [output][input]."""
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: only strategy='reverse-mode' is implemented, got {strategy!r}")
    ins, in_tuple = _tuple(inputs, "inputs", "jacobian")
    leaves = _leaves(ins, create_graph)
    outs, out_tuple = _call(func, leaves, "jacobian")
    rows = []
    for i, o in enumerate(outs):
        per_input: list[list[Tensor]] = [[] for _ in leaves]
        for k in range(o.size):
            onehot = np.zeros(o.shape, dtype=o.dtype)
            onehot.flat[k] = 1
            seeds = tuple(onehot if j == i else np.zeros_like(p.data) for j, p in enumerate(outs))
            for j, g in enumerate(_grads(outs, leaves, seeds, create_graph, True, "jacobian" if strict else "")):
                per_input[j].append(g)
        blocks = tuple(_stack(gs, (*o.shape, *t.shape), t, create_graph) for gs, t in zip(per_input, leaves))
        rows.append(_finish(blocks, in_tuple, create_graph))
    return tuple(rows) if out_tuple else rows[0]


def _stack(rows: list[Tensor], shape: tuple[int, ...], like: Tensor, create_graph: bool) -> Tensor:
    """The gradients ``rows`` (one per output element) as one Tensor of ``shape``. Under create_graph
    each row is placed by a constant one-hot factor, so the result stays differentiable."""
    if not rows:
        return Tensor._make(np.zeros(shape, like.dtype), False, None)
    if not create_graph:
        return Tensor._make(np.stack([r.data for r in rows]).reshape(shape), False, None)
    with grad_mode.enable_grad():
        total = None
        for k, r in enumerate(rows):
            place = np.zeros((len(rows),) + (1,) * r.ndim, dtype=like.dtype)
            place[k] = 1
            term = r.reshape(1, *r.shape) * place
            total = term if total is None else total + term
    return total.reshape(*shape)


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """Second derivatives of a function with one one-element output: for inputs i, j of shapes I, J a
    Tensor of shape I + J (a tuple of tuples [i][j] when inputs is a tuple): the jacobian of the gradient."""
    ins, in_tuple = _tuple(inputs, "inputs", "hessian")

    def gradient(*xs: Tensor) -> tuple[Tensor, ...]:
        outs, _ = _call(func, xs, "hessian")
        if len(outs) != 1 or outs[0].size != 1:
            raise ValueError(f"hessian: func must return one one-element Tensor, got shapes {[o.shape for o in outs]}")
        return _grads(outs, xs, None, True, strict="hessian" if strict else "")

    result = jacobian(gradient, tuple(ins), create_graph=create_graph, strategy=outer_jacobian_strategy)
    return result if in_tuple else result[0][0]


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """(func(inputs), H v) for a function with one one-element output: grad with create_graph, then the
    gradient of (grad . v), two reverse passes whatever the number of inputs."""
    ins, in_tuple = _tuple(inputs, "inputs", "hvp")
    leaves = _leaves(ins, create_graph)
    vs = _vectors(v, ins, "v", "hvp")
    outs, _ = _call(func, leaves, "hvp")
    if len(outs) != 1 or outs[0].size != 1:
        raise ValueError(f"hvp: func must return one one-element Tensor, got shapes {[o.shape for o in outs]}")
    with grad_mode.enable_grad():
        g = _grads(outs, leaves, None, True, strict="hvp" if strict else "")
        live = [(gi, vi) for gi, vi in zip(g, vs) if gi.requires_grad]
    if live:
        found = grad([gi for gi, _ in live], leaves, [vi for _, vi in live], retain_graph=create_graph,
                     create_graph=create_graph, allow_unused=True)
        result = tuple(Tensor._make(np.zeros_like(t.data), False, None) if h is None else h
                       for h, t in zip(found, leaves))
    else:
        result = tuple(Tensor._make(np.zeros_like(t.data), False, None) for t in leaves)
    return _finish(outs, False, create_graph), _finish(result, in_tuple, create_graph)
