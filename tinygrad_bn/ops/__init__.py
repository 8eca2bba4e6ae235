"""Primitive ops: each a ``Function`` with its forward and hand-derived backward side by side.

numpy in, numpy out: no argument checks here (``tinygrad_bn.functional`` checks, then calls ``Op.apply``).
"""

from . import conv, dropout, elementwise, linear, loss, matmul, normalization, pool, reduce, shape, windows  # noqa: F401
