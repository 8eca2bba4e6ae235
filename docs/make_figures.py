"""Regenerate the pictures of docs/visualization.md: ``python docs/make_figures.py`` (needs Graphviz's ``dot``).

Everything is seeded, so the output is the same on every run (for one Graphviz version):

- ``docs/figures/graph_small.svg``: the ten-line example of the README after ``backward()``, with
  gradients (intermediate ones retained), saved arrays and the legend.
- ``docs/figures/graph_nan.svg``: sqrt at 0 times a zero weight: finite values, a NaN gradient, in red.
- ``docs/figures/mlp_step.svg``: one training step of ``models.mlp()`` (``tinygrad-bn graph --compact
  --show-grad``), one cluster per layer.
- ``docs/figures/create_graph.svg`` (docs/higher-order.md): the gradient dL/dx of L = sum(tanh(x * w)),
  computed with ``create_graph=True``: the forward ops and, below them, the ops its backward recorded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import graphviz
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's tinygrad_bn

import tinygrad_bn as tg  # noqa: E402
from tinygrad_bn import viz  # noqa: E402
from tinygrad_bn.cli.commands.graph import draw_mlp_step  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"


def small() -> graphviz.Digraph:
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    b = tg.Tensor(np.zeros(2), requires_grad=True)
    loss = ((x @ w + b).relu() ** 2).mean()
    viz.retain_grads(loss)
    loss.backward()
    return viz.draw(loss, params={"x": x, "w": w, "b": b}, show_grad=True, show_saved=True, legend=True)


def nan() -> graphviz.Digraph:
    x = tg.Tensor(np.array([0.0, 1.0, 4.0]), requires_grad=True)
    w = tg.Tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    loss = (x.sqrt() * w).sum()      # every value is finite...
    viz.retain_grads(loss)
    with np.errstate(all="ignore"):
        loss.backward()              # ...but d/dx = w / (2 sqrt(x)) is 0 / 0 = NaN at x = 0
    return viz.draw(loss, params={"x": x, "w": w}, show_grad=True)


def create_graph() -> graphviz.Digraph:
    x = tg.Tensor(np.array([0.5, -1.0]), requires_grad=True)
    w = tg.Tensor(np.array([2.0, 0.25]), requires_grad=True)
    loss = (x * w).tanh().sum()
    (gx,) = tg.autograd.grad(loss, x, create_graph=True)   # gx = (1 - tanh(x w)^2) * w, a recorded graph
    return viz.draw(gx, params={"x": x, "w": w}, show_attrs=True)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    figures = {"graph_small.svg": small(), "graph_nan.svg": nan(),
               "mlp_step.svg": draw_mlp_step(batch_size=32, seed=0, show_grad=True, compact=True, legend=True),
               "create_graph.svg": create_graph()}
    for name, dot in figures.items():
        print("wrote", viz.render(dot, OUT / name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
