"""Which ``nn.Module`` each op of a graph belongs to: the clusters of :func:`tinygrad_bn.viz.draw`.

Two sources, the first exact, the second a guess from the tape alone:

- :func:`trace_modules` (a context manager around the forward pass) wraps ``forward`` of every
  sub-module *instance* for the duration of the ``with`` block and records which graph nodes each call
  created. Nothing is added to the forward path outside the block, and nothing in the graph changes.
- Without a trace, :func:`guess_modules` uses parameter names: ``"0.weight"`` belongs to module ``"0"``.
  An op goes to module M if its inputs are parameters/buffers of M, or tensors computed from those
  alone (``W.T``), possibly next to tensors of no module (the data). Parameter-free layers (ReLU,
  Dropout) cannot be told apart from the tape, so their ops stay outside any cluster.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..engine.tensor import Tensor

if TYPE_CHECKING:
    from ..engine.function import Node
    from ..nn.module import Module


def module_of(name: str) -> str:
    """``"layers.0.weight"`` -> ``"layers.0"``; a top-level name -> ``""`` (no module)."""
    return name.rpartition(".")[0]


class ModuleTrace:
    """What :func:`trace_modules` recorded: ``ops`` (id of a graph node -> dotted module name) and
    ``kinds`` (module name -> class name). Keeps the recorded nodes alive so their ids stay valid."""

    def __init__(self) -> None:
        self.ops: dict[int, str] = {}
        self.kinds: dict[str, str] = {}
        self._nodes: list[Node] = []

    def record(self, name: str, inputs: tuple[Any, ...], output: Any) -> None:
        """Claim for ``name`` every node between ``output`` and ``inputs`` not claimed by an inner module."""
        stop = {id(a) for a in inputs if isinstance(a, Tensor)}
        outs = output if isinstance(output, (tuple, list)) else (output,)
        stack = [t for t in outs if isinstance(t, Tensor)]
        seen: set[int] = set()
        while stack:
            t = stack.pop()
            node = t._ctx
            if node is None or id(t) in stop or id(t) in seen:
                continue
            seen.add(id(t))
            if id(node) not in self.ops:
                self.ops[id(node)] = name
                self._nodes.append(node)
            stack.extend(node.parents)


@contextlib.contextmanager
def trace_modules(model: Module) -> Iterator[ModuleTrace]:
    """Record which sub-module of ``model`` created each op during the ``with`` block.

    >>> with tg.viz.trace_modules(model) as trace:
    ...     loss = F.cross_entropy(model(x), y)
    >>> tg.viz.draw(loss, model=model, modules=trace)

    The model itself (name ``""``) gets no cluster; ops outside every sub-module (the loss) neither.
    """
    trace = ModuleTrace()
    patched = []
    for name, m in model.named_modules():
        if not name:
            continue
        trace.kinds[name] = type(m).__name__
        original = m.forward

        def wrapper(*args: Any, _f: Any = original, _n: str = name, **kwargs: Any) -> Any:
            out = _f(*args, **kwargs)
            trace.record(_n, args + tuple(kwargs.values()), out)
            return out

        patched.append((m, "forward" in m.__dict__, m.__dict__.get("forward")))
        object.__setattr__(m, "forward", wrapper)
    try:
        yield trace
    finally:
        for m, had, old in patched:
            if had:
                object.__setattr__(m, "forward", old)
            else:
                del m.__dict__["forward"]


def guess_modules(order: list[Tensor], names: Mapping[int, str]) -> dict[int, str]:
    """id(node) -> module name for ops whose inputs point at exactly one module (see the module docstring).

    ``order``: tensors, each after its inputs; ``names``: id(tensor) -> dotted parameter/buffer name.
    """
    owner: dict[int, str] = {k: module_of(v) for k, v in names.items() if module_of(v)}
    pure: dict[int, str] = dict(owner)  # tensors computed from one module's parameters only
    ops: dict[int, str] = {}
    for t in order:
        node = t._ctx
        if node is None:
            continue
        mods = {pure[id(p)] for p in node.parents if id(p) in pure}
        if len(mods) == 1:
            (mod,) = mods
            ops[id(node)] = mod
            if all(id(p) in pure for p in node.parents):
                pure[id(t)] = mod
    return ops
