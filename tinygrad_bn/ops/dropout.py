"""Dropout and its relatives, as primitive ops: the input times noise drawn once per forward.

Every op here computes ``y = x * m`` (AlphaDropout: ``y = x * m + c``), where the noise ``m`` (and
``c``) is drawn *before* looking at the values of x, so it does not depend on them. Then
``dy_i/dx_j = m_i`` if i == j else 0, and the chain rule gives the one backward rule of this module::

    grad_x_j = sum_i grad_y_i * dy_i/dx_j = grad_y_j * m_j         i.e.   grad_x = grad_output * m

with the *saved* m, never a fresh draw (a new mask in backward would be the gradient of another
function). Channel dropout draws m with shape (N, C, 1, 1) or (N, C, 1); ``y = x * m`` broadcasts it,
and ``grad_output * m`` already has x's shape, so nothing needs summing.

The noise of each op, its mean and its variance:

- Dropout: m = keep / (1 - p), keep ~ Bernoulli(1 - p) per element; E[m] = 1, Var[m] = p / (1 - p).
- ChannelDropout: the same, one draw per (sample, channel).
- GaussianDropout: m ~ N(1, p / (1 - p)); E[m] = 1, Var[m] = p / (1 - p).
- Uout: m = 1 + r, r ~ U(-beta, beta); E[m] = 1, Var[m] = beta^2 / 3.
- AlphaDropout: m = a * keep and c = ALPHA * (m - a (1 - p)); output mean 0, variance 1 for N(0, 1) input.

Shapes and dtypes: y has x's shape and dtype; the noise is built in x's dtype (numpy 2 would turn
float32 * float64 into float64). Every draw goes through :func:`tinygrad_bn.random.draw`, so
``tg.manual_seed`` or ``generator=`` fixes it bit for bit and ``tg.gradcheck`` can replay it.
Users call these through ``F.dropout``, ``F.dropout1d``, ... and the ``nn`` layers, which share the
argument checks and the train/eval logic of :func:`apply_noise` below.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.function import Function, Node
from ..random import draw

Grads = tuple[np.ndarray | None, ...]

#: SELU's scale * alpha: the value a SELU unit saturates to is -ALPHA (PyTorch's alpha_dropout constant).
ALPHA = 1.7580993408473766


_FLOAT32 = np.dtype(np.float32)  # numpy's dtype objects are singletons: ``is`` compares them cheaply


def _draw_dtype(dtype: np.dtype) -> type:
    """numpy generators draw float32 or float64; float16 inputs get float32 noise cast down."""
    return np.float64 if dtype == np.float64 else np.float32


def bernoulli_mask(what: str, shape: tuple[int, ...], dtype: np.dtype, p: float,
                   generator: np.random.Generator | None, scale: float) -> np.ndarray:
    """``scale`` where an element is kept (probability 1 - p), 0 where dropped; ``dtype``, ``shape``.

    One float32 uniform per element (half the bytes of float64, and the same mask whatever x's
    dtype); u >= p keeps, so P(keep) = 1 - p. bool * scalar multiplies straight into ``dtype``.
    """
    s = dtype.type(scale)

    def sample(g: np.random.Generator) -> np.ndarray:
        u = g.random(shape, dtype=np.float32)
        if dtype is not _FLOAT32:
            return (u >= p) * s
        return np.multiply(u >= p, s, out=u)  # the mask takes the place of the uniforms

    return draw(generator, what, sample, shape=shape)


class _NoiseOp(Function):
    """Shared forward/backward: y = x * m with m from the subclass's ``noise``; grad_x = grad_output * m."""

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, **attrs: Any) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, **attrs: Any) -> np.ndarray:
        m = ctx.fn.noise(x.shape, x.dtype, **attrs)
        ctx.save_for_backward(m)
        return x * m

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g * ctx.saved_tensors[0],)


class Dropout(_NoiseOp):
    """Inverted dropout. x: any shape, float. Attrs: ``p`` in (0, 1] (the probability of *zeroing*).

    y = x * keep / (1 - p) with keep ~ Bernoulli(1 - p) per element, so E[y] = x: the expected
    activation in training equals the activation at test time, where dropout is the identity.
    Backward: grad_x = grad_output * keep / (1 - p) (the saved mask). p = 1: m = 0 everywhere
    (zeros out, zero gradient, no 1/0 and no draw, as PyTorch).
    """

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, *, p: float,
              generator: np.random.Generator | None = None) -> np.ndarray:
        if p == 1:
            return np.zeros((1,) * len(shape), dtype)
        return bernoulli_mask("dropout mask", shape, dtype, p, generator, 1.0 / (1.0 - p))


class ChannelDropout(_NoiseOp):
    """Dropout1d/Dropout2d: whole channels zeroed. x: (..., C, *spatial) with ``spatial_dims`` trailing axes.

    One keep ~ Bernoulli(1 - p) per (sample, channel): the mask has x's shape with the last
    ``spatial_dims`` axes set to 1, e.g. (N, C, 1, 1) for (N, C, H, W). y = x * m broadcasts it over
    the spatial positions; dy_nchw/dx_nchw = m_nc, so grad_x = grad_output * m (already x's shape).
    """

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, *, p: float, spatial_dims: int,
              generator: np.random.Generator | None = None) -> np.ndarray:
        mask_shape = shape[:len(shape) - spatial_dims] + (1,) * spatial_dims
        if p == 1:
            return np.zeros(mask_shape, dtype)
        return bernoulli_mask("channel dropout mask", mask_shape, dtype, p, generator, 1.0 / (1.0 - p))


class GaussianDropout(_NoiseOp):
    """Multiplicative Gaussian noise (Srivastava et al. 2014, sec. 10). x: any shape. Attrs: ``p`` in (0, 1).

    m ~ N(1, sigma^2) with sigma^2 = p / (1 - p): the mean and variance of Bernoulli dropout's
    keep / (1 - p), without exact zeros. Backward: grad_x = grad_output * m.
    """

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, *, p: float,
              generator: np.random.Generator | None = None) -> np.ndarray:
        sigma = float(np.sqrt(p / (1.0 - p)))

        def sample(g: np.random.Generator) -> np.ndarray:
            m = g.standard_normal(shape, dtype=_draw_dtype(dtype))
            m *= sigma
            m += 1
            return m.astype(dtype, copy=False)

        return draw(generator, "gaussian dropout noise", sample, shape=shape)


class Uout(_NoiseOp):
    """Uout (Li et al., CVPR 2019): y = x + x * r, r ~ U(-beta, beta). x: any shape. Attrs: ``beta`` in (0, 1].

    So m = 1 + r, E[m] = 1 and Var[m] = (2 beta)^2 / 12 = beta^2 / 3: a small, "variance-stable"
    perturbation. Backward: dy/dx = 1 + r, grad_x = grad_output * (1 + r).
    """

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, *, beta: float,
              generator: np.random.Generator | None = None) -> np.ndarray:
        def sample(g: np.random.Generator) -> np.ndarray:
            m = g.random(shape, dtype=_draw_dtype(dtype))  # u ~ U[0, 1); 1 + r = 1 - beta + 2 beta u
            m *= 2 * beta
            m += 1 - beta
            return m.astype(dtype, copy=False)

        return draw(generator, "uout noise", sample, shape=shape)


class AlphaDropout(_NoiseOp):
    """Alpha dropout for SELU networks (Klambauer et al. 2017), PyTorch's formula. Attrs: ``p`` in (0, 1].

    A dropped unit is set to SELU's saturation value -ALPHA (not 0), then an affine map a * (.) + b
    restores mean 0 and variance 1 for inputs with mean 0, variance 1. With keep ~ Bernoulli(q),
    q = 1 - p, a = 1 / sqrt((ALPHA^2 p + 1) q) and m = a * keep::

        y = a * (keep * x - ALPHA * (1 - keep)) + ALPHA * a * p  =  (x + ALPHA) * m - ALPHA * a * q

    (kept: a x + ALPHA a p; dropped: -ALPHA a q). Backward: dy/dx = m, grad_x = grad_output * m.
    p = 1 returns zeros (x * 0), as PyTorch does.
    """

    @staticmethod
    def noise(shape: tuple[int, ...], dtype: np.dtype, *, p: float,
              generator: np.random.Generator | None = None) -> np.ndarray:
        if p == 1:
            return np.zeros((1,) * len(shape), dtype)
        return bernoulli_mask("alpha dropout mask", shape, dtype, p, generator, AlphaDropout.scale(p))

    @staticmethod
    def scale(p: float) -> float:
        """a = 1 / sqrt((ALPHA^2 p + 1)(1 - p)), for 0 <= p < 1."""
        return 1.0 / np.sqrt((ALPHA * ALPHA * p + 1.0) * (1.0 - p))

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, p: float, generator: np.random.Generator | None = None) -> np.ndarray:
        y = _NoiseOp.forward(ctx, x, p=p, generator=generator)
        if p == 1:
            return y
        m = ctx.saved_tensors[0]
        y += m * x.dtype.type(ALPHA)                       # (x + ALPHA) * m, without touching x
        y -= x.dtype.type(ALPHA * AlphaDropout.scale(p) * (1.0 - p))
        return y
