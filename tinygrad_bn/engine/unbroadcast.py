"""``unbroadcast``: the gradient of broadcasting, the one helper that sums a gradient back to an input's shape.

Every op may return an input's gradient in the broadcast output shape; ``backward.py`` calls this for it.
"""

from __future__ import annotations

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` (the gradient of a broadcast result) back down to ``shape``.

    Broadcasting copies an input along new leading axes and along its axes of length 1; the gradient
    of a copied value is the sum of its copies' gradients, so we sum over exactly those axes.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    return np.asarray(grad.sum(axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape))
