"""Primitive ops: each a ``Function`` with its forward and hand-derived backward side by side."""

from . import elementwise, loss, matmul, reduce, shape  # noqa: F401  (importing registers the ops)
