"""A backward pass, step by step: ``with tg.autograd.trace() as t: loss.backward()`` then ``print(t)``.

Inside the block, every node the engine visits is recorded in the engine's order (an observer in
``engine.backward.OBSERVERS``): its op, the gradient it received (``grad_output``: shape, norm) and
what its backward sent to each input (shape, norm; the engine then sums a broadcast gradient down to
the input's shape). Gradients with at most ``max_values`` elements are shown in full as well.
``str(t)`` (or ``t.to_markdown()``) is a Markdown table; ``t.steps`` holds the same as data.

An input is named by ``params`` (name -> tensor, e.g. ``model.named_parameters()``) or the tensor's
``name``, else by the op that produced it and the step at which the trace visits that op
(``ReLU (step 2)``), else ``leaf`` (requires grad) or ``constant`` (does not). Several backward passes in
one block are numbered on (the ``step`` column keeps counting).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import backward
from ..tables import markdown_table


@dataclass
class Sent:
    """What one node's backward sent to one input: ``None`` fields if it sent nothing (no gradient needed)."""

    input: int
    to: str
    shape: tuple[int, ...] | None
    norm: float | None
    values: np.ndarray | None = None


@dataclass
class Step:
    """One node of a backward pass: its op, the gradient it received, what it sent to each input."""

    step: int
    op: str
    grad_shape: tuple[int, ...]
    grad_norm: float
    grad_values: np.ndarray | None
    sent: list[Sent] = field(default_factory=list)


class trace:
    """Context manager recording each node of the backward passes run inside it (see the module doc).

    ``max_values``: gradients with at most this many elements are listed in full (default 4; 0 never).
    ``params``: name -> tensor (a dict or ``model.named_parameters()``), the names used for inputs.
    """

    def __init__(self, max_values: int = 4, params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None):
        if isinstance(max_values, bool) or not isinstance(max_values, int) or max_values < 0:
            raise ValueError(f"trace: max_values must be an int >= 0, got {max_values!r}")
        self.max_values = max_values
        pairs = params.items() if isinstance(params, Mapping) else (params or ())
        self._names = {id(t): name for name, t in pairs}
        self.steps: list[Step] = []
        self._step_of: dict[int, int] = {}   # id(node) -> step, to name inputs made by a traced op
        self._visited: list[Any] = []        # those nodes, kept alive so that their ids stay theirs
        self._producers: list[list[Any]] = []  # per step, per input: the node that made it (or None)

    def __enter__(self) -> trace:
        backward.OBSERVERS.append(self._observe)
        return self

    def __exit__(self, *exc: object) -> None:
        backward.OBSERVERS.remove(self._observe)

    def _values(self, g: np.ndarray) -> np.ndarray | None:
        return g.copy() if g.size <= self.max_values else None

    def _observe(self, node: Any, grad_output: Any, in_grads: tuple) -> None:
        grad_output = np.asarray(grad_output)  # an array, or a Tensor when the backward pass is recorded
        step = len(self.steps) + 1
        self._step_of[id(node)] = step
        self._visited.append(node)
        self._producers.append([p._ctx for p in node.parents])
        sent = []
        for i, (parent, g) in enumerate(zip(node.parents, in_grads)):
            to = self._names.get(id(parent)) or parent.name or ("" if parent.requires_grad else "constant")
            if g is None or not parent.requires_grad:
                sent.append(Sent(i, to, None, None))
                continue
            g = np.asarray(g)
            sent.append(Sent(i, to, g.shape, _norm(g), self._values(g)))
        self.steps.append(Step(step, node.name, grad_output.shape, _norm(grad_output), self._values(grad_output),
                               sent))

    def _label(self, step: Step, s: Sent) -> str:
        if s.to:
            return s.to
        producer = self._producers[step.step - 1][s.input]
        if producer is None:
            return "leaf"
        at = self._step_of.get(id(producer))
        return producer.name + (f" (step {at})" if at is not None else "")

    def rows(self) -> list[dict[str, Any]]:
        """One dict per step: ``step``, ``op``, ``grad_output`` (shape and values), ``norm``, ``sends``."""
        out = []
        for st in self.steps:
            sends = [f"{self._label(st, s)}: {_describe(s.shape, s.norm, s.values)}" for s in st.sent]
            out.append({"step": st.step, "op": st.op, "grad_output": _describe(st.grad_shape, None, st.grad_values),
                        "norm": st.grad_norm, "sends": "; ".join(sends)})
        return out

    def to_markdown(self) -> str:
        """The steps as a Markdown table (header only if no backward ran inside the block)."""
        return markdown_table(self.rows(), ["step", "op", "grad_output", "norm", "sends"])

    __str__ = to_markdown

    def __repr__(self) -> str:
        return f"<trace of {len(self.steps)} backward step(s)>"


def _norm(g: np.ndarray) -> float:
    """The Euclidean norm of all elements (computed in float64)."""
    return float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))


def _number(x: Any) -> str:
    return format(float(x), ".4g")


def _describe(shape: tuple[int, ...] | None, norm: float | None, values: np.ndarray | None) -> str:
    """``shape (2,)``, then ``[3, 0]`` for small arrays, then ``norm 3`` if given; ``nothing`` without a shape."""
    if shape is None:
        return "nothing"
    parts = [f"shape {shape}"]
    if values is not None:
        parts.append(_number(values) if values.ndim == 0 else "[" + ", ".join(map(_number, values.ravel())) + "]")
    if norm is not None:
        parts.append(f"norm {_number(norm)}")
    return ", ".join(parts)
