"""``grad``: gradients returned as Tensors instead of added to ``.grad`` (``torch.autograd.grad``).

With ``create_graph=True`` the backward pass is itself recorded, so the returned gradients can be
differentiated again, to any order (docs/higher-order.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import grad_mode
from .backward import run_backward
from .tensor import Tensor, as_tensor


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _seeds(outputs: tuple[Tensor, ...], grad_outputs: Any, many: bool) -> list[Any]:
    """One seed per output: ``grad_outputs`` is a sequence of them when ``outputs`` is (or when it is a
    sequence of Tensors/arrays of the outputs' length), else the one seed of the one output."""
    if grad_outputs is None:
        return [None] * len(outputs)
    if isinstance(grad_outputs, (tuple, list)) and len(grad_outputs) == len(outputs) and (
            many or all(s is None or isinstance(s, (Tensor, np.ndarray)) for s in grad_outputs)):
        return list(grad_outputs)
    if many and len(outputs) > 1:
        raise ValueError(f"grad: expected one grad_output per output ({len(outputs)}), got {grad_outputs!r:.80}")
    return [grad_outputs]


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor], grad_outputs: Any = None,
         retain_graph: bool | None = None, create_graph: bool = False, allow_unused: bool = False, *,
         grad_output: Any = None) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned rather than added to ``.grad``.

    As ``torch.autograd.grad``: ``grad_outputs`` (one per output, of its shape; ``grad_output=`` is
    accepted too) is the seed, required unless an output has one element; several outputs add up
    (sum_k grad_outputs_k . d outputs_k). Returns a tuple with one Tensor per input, of its shape and
    dtype. ``create_graph=True`` records the backward pass, so these Tensors can be differentiated
    again; ``retain_graph`` defaults to ``create_graph``. An input that does not require grad, or that
    the outputs do not depend on, raises RuntimeError unless ``allow_unused=True`` (then its entry is None).
    """
    many = isinstance(outputs, (tuple, list))
    outs, ins = _as_tuple(outputs), _as_tuple(inputs)
    for what, items in (("outputs", outs), ("inputs", ins)):
        if not items or not all(isinstance(t, Tensor) for t in items):
            raise TypeError(f"grad: {what} must be a Tensor or a non-empty sequence of Tensors, "
                            f"got {[type(t).__name__ for t in items]}")
    seeds = _seeds(outs, grad_outputs if grad_output is None else grad_output, many)
    if len(outs) == 1:
        root, seed = outs[0], seeds[0]
    else:  # one root: sum_k (outputs_k * seed_k).sum(), whose gradient is the sum of the seeded gradients
        with grad_mode.enable_grad():
            terms = [(o * as_tensor(s)).sum() if s is not None else o.sum() if o.size == 1 else None
                     for o, s in zip(outs, seeds) if o.requires_grad]
            if any(t is None for t in terms):
                raise RuntimeError("grad: grad_outputs can be omitted only for one-element outputs")
            root, seed = (sum(terms[1:], terms[0]) if terms else outs[0]), None
    for k, t in enumerate(ins):
        if not t.requires_grad and not allow_unused:
            raise RuntimeError(f"grad: input {k} (shape {t.shape}) does not require grad; "
                               "pass allow_unused=True to get None for it")
    retain = create_graph if retain_graph is None else retain_graph
    with grad_mode.set_grad_enabled(create_graph):  # record the backward pass itself only for create_graph
        found = run_backward(root, seed, retain, ins, create_graph=create_graph)
    result = []
    for k, g in enumerate(found):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {k} (shape {ins[k].shape}) was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        result.append(g if g is None or isinstance(g, Tensor) else Tensor._make(g, False, None))
    return tuple(result)
