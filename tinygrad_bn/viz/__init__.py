"""Pictures of the computation graph: ``draw`` (a graphviz Digraph) and ``render`` (a file).

``graph.py`` walks the tape and builds the picture, ``labels.py`` words and colours its nodes,
``modules.py`` groups the ops of each ``nn.Module`` into a box.
"""

from .graph import COLORS, GraphvizNotFoundError, draw, render, retain_grads, trace_modules

__all__ = ["draw", "render", "retain_grads", "trace_modules", "GraphvizNotFoundError", "COLORS"]
