"""Pictures of the computation graph that autograd recorded: ``tg.viz.draw(loss, params=...)``.

``draw`` reads the tape backwards from the tensor it is given (each tensor's ``grad_fn`` node: op class,
input tensors, non-tensor attributes, saved-array shapes) and returns a ``graphviz.Digraph``; nothing
is recorded during the forward pass for it, and drawing never changes the graph or any ``.grad``.
Building the Digraph (and its DOT text, ``dot.source``) needs only the ``graphviz`` Python package;
turning it into SVG/PNG needs Graphviz's ``dot`` program, see :func:`render`.

The picture, top to bottom in data-flow direction: tensor nodes (boxes: name, shape, dtype) feed op
nodes (rounded grey boxes: op name, attributes such as ``p``, ``eps``, ``momentum``, ``training``), which
produce tensor nodes, down to the output. Colours are listed in :mod:`tinygrad_bn.viz.labels` and in
docs/visualization.md. Clusters group the ops of each ``nn.Module`` (see :mod:`tinygrad_bn.viz.modules`).
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import backward
from ..engine.tensor import Tensor
from .labels import COLORS, edge_label, html_label, legend_label, op_node, tensor_label, tensor_node
from .modules import ModuleTrace, guess_modules, module_of, trace_modules

if TYPE_CHECKING:
    import graphviz

    from ..nn.module import Module

__all__ = ["draw", "render", "retain_grads", "trace_modules", "GraphvizNotFoundError", "COLORS"]

_FONT = "Helvetica"


class GraphvizNotFoundError(RuntimeError):
    """Rendering needs Graphviz's ``dot`` program, which is not installed (or not on PATH)."""


def draw(root: Tensor | Iterable[Tensor], params: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None,
         *, buffers: Mapping[str, Tensor] | Iterable[tuple[str, Tensor]] | None = None, model: Module | None = None,
         modules: ModuleTrace | None = None, show_grad: bool = False, show_saved: bool = False,
         show_attrs: bool = True, max_depth: int | None = None, cluster_modules: bool = True,
         compact: bool = False, legend: bool = False, rankdir: str = "TB") -> graphviz.Digraph:
    """The graph that produced ``root`` (a Tensor, or several) as a ``graphviz.Digraph``.

    - ``params``: name -> Tensor (``dict(model.named_parameters())`` or the iterator itself): leaf labels.
    - ``buffers``: name -> Tensor, marked as buffers (BN running statistics passed to batch norm are
      recognized without it). ``model``: an ``nn.Module`` whose parameters, buffers and sub-module
      class names are used (``params``/``buffers`` given explicitly take precedence).
    - ``modules``: a :class:`ModuleTrace` from ``with trace_modules(model) as trace:`` around the forward
      pass, for exact per-module clusters; without it clusters are guessed from parameter names.
    - ``show_grad``: each tensor that requires grad shows its gradient's norm and min/mean/max. The
      gradient is ``t.grad`` when set (leaves after ``backward()``, or tensors that called
      ``retain_grad()``, e.g. via :func:`retain_grads`); otherwise, while the graph is still alive and
      ``root`` is a single one-element tensor, d root / d t is computed with ``tg.autograd.grad`` (which
      writes no ``.grad`` and keeps the graph). Tensors whose value or gradient holds NaN/Inf are red.
    - ``show_saved``: each op lists the shapes and dtypes it saved for backward (known after backward too).
    - ``show_attrs``: op attributes (``p``, ``eps``, ``axis``...) in the op nodes.
    - ``max_depth``: draw only ops at most this many ops above the root; cut inputs get a dashed border.
    - ``cluster_modules``: group the ops of each module in a labelled box. ``legend``: add a colour key.
    - ``compact``: no separate node for intermediate tensors; each op node also shows its result's
      shape, dtype and gradient (about half the nodes: for big graphs).
    - ``rankdir``: Graphviz layout direction, ``"TB"`` (inputs at the top) or ``"LR"``.
    """
    import graphviz

    roots = _roots(root)
    if max_depth is not None and (isinstance(max_depth, bool) or not isinstance(max_depth, numbers.Integral)):
        raise TypeError(f"draw: max_depth must be an int >= 0 or None, got {max_depth!r}")
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"draw: max_depth must be an int >= 0 or None, got {max_depth}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"draw: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    names, buffer_ids, kinds = _names(params, buffers, model)
    order = _topological(roots)
    ops = _visible_ops(roots, max_depth)
    _recognize_buffers(order, ops, names, buffer_ids)
    shown = _shown_tensors(roots, order, ops)
    folded = {id(t) for t in shown if _is_constant(t, names, roots)}
    grads = _gradients(roots, shown, order) if show_grad else {}
    root_ids = {id(r) for r in roots}

    merged = {id(t) for t in shown if compact and id(t._ctx) in ops and id(t) not in root_ids}
    op_id = {id(t._ctx): f"op{i}" for i, t in enumerate(t for t in order if id(t._ctx) in ops)}
    node_id = {id(t): op_id[id(t._ctx)] if id(t) in merged else f"t{i}" for i, t in enumerate(shown)}
    node_module = {} if not cluster_modules else modules.ops if modules is not None else guess_modules(order, names)
    kinds = {**kinds, **modules.kinds} if modules is not None else kinds

    dot = graphviz.Digraph("graph", graph_attr={"rankdir": rankdir, "fontname": _FONT, "nodesep": "0.25",
                                                 "ranksep": "0.3", "newrank": "true"},
                           node_attr={"fontname": _FONT, "fontsize": "11"},
                           edge_attr={"fontname": _FONT, "fontsize": "9"})
    bodies: dict[str, list[tuple[str, dict[str, str]]]] = {"": []}
    for t in shown:
        if id(t) in folded:
            continue
        node, drawn = t._ctx, id(t._ctx) in ops
        title, lines, style = tensor_node(t, names, buffer_ids, root_ids, grads, show_grad,
                                           truncated=node is not None and not drawn)
        mod = node_module.get(id(node), "") if drawn else module_of(names.get(id(t), "")) if cluster_modules else ""
        body = bodies.setdefault(mod, [])
        if drawn:
            op_title, op_lines = op_node(node, folded, show_attrs, show_saved)
            op_style = {"shape": "box", "style": "rounded,filled", "fillcolor": COLORS["op"]}
            if id(t) in merged:  # compact: the op node also describes its result
                op_lines += ["-> " + lines[0], *lines[1:]]
                if "penwidth" in style:  # NaN/Inf in the result: the op node turns red
                    op_style.update(fillcolor=style["fillcolor"], color=style["color"], penwidth=style["penwidth"])
            body.append((op_id[id(node)], {"label": html_label(op_title, op_lines), **op_style}))
        if id(t) not in merged:
            body.append((node_id[id(t)], {"label": tensor_label(title, lines), "shape": "box", **style}))
    for name, attrs in bodies.pop(""):
        dot.node(name, **attrs)
    _add_clusters(dot, bodies, kinds)
    for t in shown:
        if id(t._ctx) not in ops:
            continue
        node = t._ctx
        for i, p in enumerate(node.parents):
            if id(p) not in folded:
                dot.edge(node_id[id(p)], op_id[id(node)], **edge_label(node, i, folded))
        if id(t) not in merged:
            dot.edge(op_id[id(node)], node_id[id(t)])
    if legend:
        dot.node("legend", label=legend_label(), shape="plaintext")
    return dot


def render(dot: graphviz.Digraph, path: str | Path, format: str | None = None) -> Path:
    """Write ``dot`` to ``path`` as ``format`` (default: the file's suffix, e.g. ``.svg``, ``.png``).

    ``format="dot"`` (or a ``.dot``/``.gv`` suffix) writes the DOT text and needs nothing else; every
    other format runs Graphviz's ``dot`` program and raises :class:`GraphvizNotFoundError` (a
    RuntimeError) with installation instructions if it is missing. Returns the path written.
    """
    import graphviz

    path = Path(path)
    fmt = (format or path.suffix.lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        path.write_text(dot.source, encoding="utf-8")
        return path
    if fmt not in graphviz.FORMATS:
        raise ValueError(f"render: unknown format {fmt!r}; use svg, png, pdf or dot (Graphviz knows "
                         f"{', '.join(sorted(graphviz.FORMATS))})")
    try:
        data = dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFoundError(
            f"render: Graphviz's 'dot' program was not found, so {path.name!r} cannot be drawn as {fmt}. "
            "Install Graphviz (the program, not only the Python package): 'apt install graphviz' on "
            "Debian/Ubuntu, 'brew install graphviz' on macOS, 'conda install -c conda-forge graphviz', or "
            "https://graphviz.org/download/. Without it, save the DOT text with format='dot'."
        ) from err
    path.write_bytes(data)
    return path


def retain_grads(root: Tensor) -> list[Tensor]:
    """Call ``retain_grad()`` on every intermediate tensor of ``root``'s graph (before ``backward()``),
    so that ``draw(..., show_grad=True)`` can show their gradients after the graph has been freed.
    Returns those tensors."""
    inner = [t for t in _topological(_roots(root)) if t._ctx is not None and t.requires_grad]
    for t in inner:
        t.retain_grad()
    return inner


# ---- reading the graph --------------------------------------------------------------------------
def _roots(root: Any) -> list[Tensor]:
    roots = [root] if isinstance(root, Tensor) else list(root) if isinstance(root, (list, tuple)) else None
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise TypeError(f"draw: expected a Tensor or a non-empty list of Tensors, got {type(root).__name__}")
    return roots


def _pairs(what: str, value: Any) -> dict[int, tuple[str, Tensor]]:
    if value is None:
        return {}
    items = value.items() if isinstance(value, Mapping) else value
    out = {}
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], Tensor)):
            raise TypeError(f"draw: {what} must map names (str) to Tensors, got an entry {item!r:.60}")
        out.setdefault(id(item[1]), item)
    return out


def _names(params: Any, buffers: Any, model: Module | None) -> tuple[dict[int, str], set[int], dict[str, str]]:
    """id(tensor) -> name; ids of buffers; module name -> class name."""
    kinds: dict[str, str] = {}
    if model is not None:
        kinds = {n: type(m).__name__ for n, m in model.named_modules() if n}
        params = model.named_parameters() if params is None else params
        buffers = model.named_buffers() if buffers is None else buffers
    p, b = _pairs("params", params), _pairs("buffers", buffers)
    names = {k: name for k, (name, _) in b.items()}
    names.update({k: name for k, (name, _) in p.items()})
    return names, set(b) - set(p), kinds


def _topological(roots: list[Tensor]) -> list[Tensor]:
    """Every tensor reachable from ``roots`` (leaves too), each after its inputs; deterministic order."""
    order: list[Tensor] = []
    seen: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        if t._ctx is not None:
            stack.extend((p, False) for p in reversed(t._ctx.parents) if id(p) not in seen)
    return order


def _visible_ops(roots: list[Tensor], max_depth: int | None) -> set[int]:
    """ids of the nodes within ``max_depth`` ops of a root (breadth first: the shortest distance counts)."""
    visible: set[int] = set()
    queue = deque((r, 0) for r in roots)
    while queue:
        t, d = queue.popleft()
        node = t._ctx
        if node is None or id(node) in visible or (max_depth is not None and d >= max_depth):
            continue
        visible.add(id(node))
        queue.extend((p, d + 1) for p in node.parents)
    return visible


def _shown_tensors(roots: list[Tensor], order: list[Tensor], ops: set[int]) -> list[Tensor]:
    ids = {id(r) for r in roots}
    for t in order:
        if id(t._ctx) in ops:
            ids.update(id(p) for p in t._ctx.parents)
    return [t for t in order if id(t) in ids]


def _recognize_buffers(order: list[Tensor], ops: set[int], names: dict[int, str], buffer_ids: set[int]) -> None:
    """Leaves passed to an op as ``running_*`` (batch norm's ``inputs`` attr) are buffers, named so if unnamed."""
    for t in order:
        node = t._ctx
        if id(node) not in ops or not isinstance(node.attrs.get("inputs"), tuple):
            continue
        for slot, p in zip(node.attrs["inputs"], node.parents):
            if isinstance(slot, str) and slot.startswith("running_") and p._ctx is None and not p.requires_grad:
                buffer_ids.add(id(p))
                names.setdefault(id(p), slot)


def _is_constant(t: Tensor, names: dict[int, str], roots: list[Tensor]) -> bool:
    """0-d leaves that need no grad and have no name (``x * 2``'s 2) are written into their op's label."""
    return t._ctx is None and t.ndim == 0 and not t.requires_grad and id(t) not in names and t.name is None \
        and all(t is not r for r in roots)


def _gradients(roots: list[Tensor], shown: list[Tensor], order: list[Tensor]) -> dict[int, np.ndarray]:
    """``.grad`` where set; else d root / d t by ``autograd.grad`` while the graph lives (no ``.grad`` written)."""
    grads = {id(t): t.grad for t in shown if t.grad is not None}
    missing = [t for t in shown if t.requires_grad and id(t) not in grads]
    r = roots[0]
    alive = not any(t._ctx is not None and t._ctx.released for t in order)
    if missing and alive and len(roots) == 1 and r.requires_grad and r.size == 1:
        for t, g in zip(missing, backward.run_backward(r, None, True, tuple(missing))):
            if g is not None:
                grads[id(t)] = g
    return grads


# ---- node and edge attributes --------------------------------------------------------------------
def _add_clusters(dot: graphviz.Digraph, bodies: dict[str, list[tuple[str, dict[str, str]]]],
                  kinds: dict[str, str]) -> None:
    """One ``cluster_<module>`` subgraph per module, nested by dotted name (``a.b`` inside ``a`` if drawn)."""
    import graphviz

    mods = [m for m in bodies if m]
    # every proper dotted prefix of a drawn module that is itself a module becomes an (outer) cluster
    for m in list(mods):
        parts = m.split(".")
        for k in range(1, len(parts)):
            prefix = ".".join(parts[:k])
            if prefix in kinds and prefix not in mods:
                mods.append(prefix)
    parent = {m: max((p for p in mods if m.startswith(p + ".")), key=len, default="") for m in mods}
    subs = {}
    for m in mods:
        label = f"{m}: {kinds[m]}" if m in kinds else m
        subs[m] = graphviz.Digraph(name=f"cluster_{m}", graph_attr={
            "label": label, "style": "rounded,dashed", "color": "#777777", "fontsize": "11", "labeljust": "l"})
        for name, attrs in bodies.get(m, []):
            subs[m].node(name, **attrs)
    for m in sorted(mods, key=lambda m: -m.count(".")):  # innermost first: subgraph() copies the body
        (subs[parent[m]] if parent[m] else dot).subgraph(subs[m])
