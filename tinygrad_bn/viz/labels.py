"""Labels, colours and the legend of the graph pictures drawn by :mod:`tinygrad_bn.viz`.

Every label is a Graphviz HTML-like label (``<...>``): the first line in bold, then small grey lines.
Colours (fill; documented with the legend in docs/visualization.md):

========== ========= ===========================================================
role       colour    what
========== ========= ===========================================================
parameter  #9ecae1   leaf that requires grad (named from ``params`` if given)
buffer     #dadaeb   state that is read but never differentiated (BN running stats)
input      #fdd0a2   any other leaf: data, targets, constants
op         #e5e5e5   a recorded op (rounded box): its name and non-tensor attributes
tensor     #ffffff   an intermediate result
output     #a1d99b   the tensor ``draw`` was called on
non-finite #fb6a4a   value or gradient contains NaN or Inf (thick dark-red border)
========== ========= ===========================================================

A tensor whose producing op is hidden by ``max_depth`` gets a dashed border.
"""

from __future__ import annotations

import functools
import html
import inspect
import math
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..engine.function import Node
    from ..engine.tensor import Tensor

#: Fill colour of each node role (ColorBrewer pastels: distinct in print and for common colour blindness).
COLORS: dict[str, str] = {
    "parameter": "#9ecae1",
    "buffer": "#dadaeb",
    "input": "#fdd0a2",
    "op": "#e5e5e5",
    "tensor": "#ffffff",
    "output": "#a1d99b",
    "nonfinite": "#fb6a4a",
}
NONFINITE_BORDER = "#a50f15"
#: ops whose inputs can be swapped; the edges into every other op with several inputs carry the input's position
COMMUTATIVE = frozenset({"Add", "Mul"})

_DESCRIPTIONS = {
    "parameter": "parameter (leaf, requires grad)",
    "buffer": "buffer (e.g. BN running stats)",
    "input": "input / constant (leaf)",
    "op": "op and its attributes",
    "tensor": "intermediate tensor",
    "output": "output (the root)",
    "nonfinite": "NaN or Inf in value or grad",
}


def esc(text: Any) -> str:
    """``text`` safe inside an HTML-like label."""
    return html.escape(str(text), quote=False)


def fmt_number(x: Any) -> str:
    """A number in 4 significant digits (``1e-05``, ``0.1``, ``-3.142``), nan/inf spelled out."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    return str(x) if not math.isfinite(x) else f"{x:.4g}"


def fmt_shape(shape: tuple[int, ...]) -> str:
    """``(64, 784)``; ``()`` for a scalar."""
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def fmt_attr(value: Any, limit: int = 40) -> str:
    """A short readable form of a non-tensor op attribute (numbers, tuples, arrays, slices, objects)."""
    if isinstance(value, (bool, int, float, np.number, np.bool_)):
        text = fmt_number(value)
    elif isinstance(value, str):
        text = value
    elif isinstance(value, np.ndarray):  # an index array: its values if few, else shape and dtype
        text = ("[" + ", ".join(fmt_number(v) for v in value.ravel()) + "]" if 0 < value.size <= 6 and value.ndim == 1
                else f"array{fmt_shape(value.shape)} {value.dtype}")
    elif isinstance(value, slice):
        text = ":".join("" if v is None else fmt_number(v) for v in (value.start, value.stop))
        text += "" if value.step is None else f":{fmt_number(value.step)}"
    elif isinstance(value, (tuple, list)):
        inner = ", ".join(fmt_attr(v, limit) for v in value)
        text = f"({inner}{',' if len(value) == 1 and isinstance(value, tuple) else ''})"
    elif value is None or value is Ellipsis:
        text = "..." if value is Ellipsis else "None"
    else:
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def html_label(title: str, lines: list[str], *, bold: bool = True) -> str:
    """``<<b>title</b><br/><font>line</font>...>``; ``title`` and ``lines`` are escaped here."""
    head = f"<b>{esc(title)}</b>" if bold else esc(title)
    body = "".join(f'<br/><font point-size="10" color="#333333">{esc(line)}</font>' for line in lines)
    return f"<{head}{body}>"


def grad_lines(g: np.ndarray) -> list[str]:
    """``grad norm ...`` (the 2-norm, nan if any element is) and ``min/mean/max`` of the non-NaN elements
    (so the range stays readable next to a few NaNs), computed in float64; one number for one element."""
    g64 = np.asarray(g, dtype=np.float64)
    if g64.size == 0:
        return ["grad: empty"]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: the stats are nan, which is what we show
        norm = float(np.sqrt(np.sum(g64 * g64)))
        stats = [float(np.nanmin(g64)), float(np.nanmean(g64)), float(np.nanmax(g64))]
    lines = [f"grad norm {fmt_number(norm)}"]
    if g64.size > 1:
        lines.append("min/mean/max " + " / ".join(fmt_number(v) for v in stats))
    else:
        lines[0] = f"grad {fmt_number(stats[0])}"
    return lines


def nonfinite(a: np.ndarray | None) -> str:
    """``''`` if ``a`` is finite (or not floating point, or None), else ``'NaN'``, ``'Inf'`` or ``'NaN, Inf'``."""
    if a is None or a.dtype.kind not in "fc" or np.isfinite(a).all():
        return ""
    found = (["NaN"] if np.isnan(a).any() else []) + (["Inf"] if np.isinf(a).any() else [])
    return ", ".join(found)


def legend_label() -> str:
    """One HTML table node: a coloured cell per role with its meaning."""
    rows = []
    for role, color in COLORS.items():
        border = f' color="{NONFINITE_BORDER}"' if role == "nonfinite" else ""
        rows.append(f'<tr><td bgcolor="{color}"{border} width="24"> </td>'
                    f'<td align="left">{esc(_DESCRIPTIONS[role])}</td></tr>')
    rows.append('<tr><td style="dashed" border="1"> </td><td align="left">producer hidden (max_depth)</td></tr>')
    return ('<<table border="0" cellborder="1" cellspacing="2" cellpadding="3">'
            '<tr><td colspan="2"><b>legend</b></td></tr>' + "".join(rows) + "</table>>")


def _role(t: Tensor, buffer_ids: set[int], root_ids: set[int]) -> str:
    if id(t) in root_ids:
        return "output"
    if t._ctx is not None:
        return "tensor"
    if id(t) in buffer_ids:
        return "buffer"
    return "parameter" if t.requires_grad else "input"


def tensor_node(t: Tensor, names: dict[int, str], buffer_ids: set[int], root_ids: set[int],
                 grads: dict[int, np.ndarray], show_grad: bool, truncated: bool) -> tuple[str, list[str], dict]:
    """(title, lines, style attributes) of a tensor node; the title may be empty."""
    role = _role(t, buffer_ids, root_ids)
    title = names.get(id(t)) or t.name or {"output": "output", "input": "input"}.get(role, "")
    lines = [f"{fmt_shape(t.shape)} {t.dtype}"]
    if role == "buffer":
        lines.append("buffer")
    if truncated:
        lines.append(f"from {t._ctx.name} (hidden)")
    g = grads.get(id(t))
    if show_grad and t.requires_grad:
        lines += grad_lines(g) if g is not None else ["grad: none" if t._ctx is None else "grad: not retained"]
    bad = [f"value has {v}" for v in [nonfinite(t.data)] if v] + [f"grad has {v}" for v in [nonfinite(g)] if v]
    style = {"fillcolor": COLORS[role], "style": "filled" + (",dashed" if truncated else "")}
    if bad:
        style.update(fillcolor=COLORS["nonfinite"], color=NONFINITE_BORDER, penwidth="3")
    return title, lines + bad, style


def tensor_label(title: str, lines: list[str]) -> str:
    return html_label(title, lines) if title else html_label(lines[0], lines[1:], bold=False)


def op_node(node: Node, folded: set[int], show_attrs: bool, show_saved: bool) -> tuple[str, list[str]]:
    """(title, lines) of an op node: ``Normalize (batch_norm)``, then attributes and saved arrays."""
    kind = node.attrs.get("kind")
    title = f"{node.name} ({kind})" if isinstance(kind, str) else node.name
    lines = []
    if show_attrs:
        lines += [f"{k}={fmt_attr(v)}" for k, v in node.attrs.items() if v is not None and k not in ("inputs", "kind")]
        lines += [f"{_slot(node, i)}={fmt_number(p.data.item())}" for i, p in enumerate(node.parents)
                  if id(p) in folded]
    if show_saved:
        saved = node.saved_shapes
        lines += [f"saved {fmt_shape(s)} {d}" for s, d in saved] or ["saved nothing"]
        if node.released and saved:
            lines.append("(freed by backward)")
    return title, lines


def _slot(node: Node, i: int) -> str:
    """The name of input ``i``: from the ``inputs`` attr (batch norm), else from ``forward``'s signature."""
    names = node.attrs.get("inputs")
    if isinstance(names, tuple) and len(names) == len(node.parents) and isinstance(names[i], str):
        return names[i]
    fixed, rest = _forward_inputs(node.fn)
    if i < len(fixed):
        return fixed[i]
    return f"{rest}[{i - len(fixed)}]" if rest else f"in{i}"


@functools.cache
def _forward_inputs(fn: type) -> tuple[tuple[str, ...], str]:
    """(names of the positional array parameters of ``fn.forward`` after ctx, name of ``*args`` or '')."""
    try:
        params = list(inspect.signature(fn.forward).parameters.values())[1:]
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return (), ""
    fixed = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    rest = next((p.name for p in params if p.kind == p.VAR_POSITIONAL), "")
    return fixed, rest


def edge_label(node: Node, i: int, folded: set[int]) -> dict[str, str]:
    live = sum(id(p) not in folded for p in node.parents)
    if "inputs" in node.attrs or (live >= 2 and node.name not in COMMUTATIVE):
        return {"label": _slot(node, i)}
    return {}
