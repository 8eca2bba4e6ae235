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

from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import Function, Node
from ..random import draw, get_generator
from ..registry import Sample, register_op

if TYPE_CHECKING:
    from ..tensor import Tensor

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
        m = ctx.saved_tensors[0]
        if ctx.may_overwrite_grad_output and (m.shape == g.shape or g.shape == np.broadcast_shapes(g.shape, m.shape)):
            g *= m  # the engine owns g and hands it on: no new array
            return (g,)
        return (g * m,)


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


# ----------------------------------------------------------------------------------------------
# Argument checks and the train/eval switch, shared by F.dropout* and the nn layers.
_MEANING = {"p": "the probability of zeroing an element", "beta": "the half-width of the noise U(-beta, beta)"}


def check_rate(name: str, value: Any, param: str = "p", *, allow_one: bool = True) -> float:
    """``value`` as a float in [0, 1] (or [0, 1) if not ``allow_one``); else TypeError/ValueError naming ``name``."""
    if type(value) is float and 0.0 <= value < 1.0:  # the common case first (this runs on every call)
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {param} must be a number in [0, 1], got {type(value).__name__} {value!r}")
    value = float(value)
    if allow_one and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: {param} ({_MEANING[param]}) must be in [0, 1], got {value!r}")
    if not allow_one and not 0.0 <= value < 1.0:
        raise ValueError(f"{name}: {param} (the dropout rate whose noise variance p / (1 - p) is used) must be in "
                         f"[0, 1), since at p = 1 the variance is infinite; got {value!r}")
    return value


def check_input(name: str, x: Any, ranks: tuple[int, ...] | None = None, layout: str = "", hint: str = "") -> Tensor:
    """``x`` as a Tensor; TypeError unless it is floating point, ValueError if its rank is not in ``ranks``."""
    from ..tensor import as_tensor

    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}; "
                        "convert first, e.g. tg.Tensor(x.data.astype(np.float32))")
    if ranks is not None and x.ndim not in ranks:
        raise ValueError(f"{name}: expected {layout}, got a {x.ndim}-D input of shape {x.shape}"
                         + (f"; {hint}" if hint else ""))
    return x


def apply_noise(op: type[_NoiseOp], name: str, x: Any, training: Any, generator: Any, *,
                ranks: tuple[int, ...] | None = None, layout: str = "", hint: str = "", **attrs: Any) -> Tensor:
    """Check the arguments, then ``x`` itself (eval, or rate 0) or ``op.apply(x, **attrs, generator=...)``.

    The identity returns the input Tensor itself, as PyTorch does: no copy, no graph node, and the
    gradient reaches x unchanged because y *is* x. (So ``y.data[...] = 0`` would also change x.)
    """
    x = check_input(name, x, ranks, layout, hint)
    param = "beta" if op is Uout else "p"
    attrs[param] = check_rate(name, attrs[param], param, allow_one=op is not GaussianDropout)
    if training is not True and training is not False and not isinstance(training, np.bool_):
        raise TypeError(f"{name}: training must be a bool, got {type(training).__name__} {training!r}")
    if generator is not None:
        get_generator(generator, name)  # type check now, not only when a mask is drawn
    if not training or attrs[param] == 0.0:
        return x
    return op.apply(x, generator=generator, **attrs)


# ----------------------------------------------------------------------------------------------
# Registry samples (gradchecked in float64): every op in training and eval, p at 0 and 1, a few shapes.
def _functional() -> Any:
    from .. import functional

    return functional


def _samples(shapes: list[tuple[int, ...]], settings: list[dict[str, Any]]) -> Any:
    def make(rng: np.random.Generator) -> list[Sample]:
        out = []
        for kw in settings:
            for shape in shapes:
                kwargs = dict(kw)
                if kwargs.pop("own_generator", False):
                    kwargs["generator"] = np.random.default_rng(int(rng.integers(2**31)))
                out.append(Sample((rng.standard_normal(shape),), kwargs, note=f"{shape} {kw}"))
        return out

    return make


def _settings(param: str, values: list[float]) -> list[dict[str, Any]]:
    """Training at each value, once with its own generator, and eval (where the value is irrelevant)."""
    return ([{param: v, "training": True} for v in values] + [{param: values[-1], "own_generator": True}]
            + [{param: values[-1], "training": False}])


_ANY = [(3, 4), (2, 3, 2), (5,), ()]
register_op("dropout", lambda x, **kw: _functional().dropout(x, **kw), _samples(_ANY, _settings("p", [0.0, 1.0, 0.5])))
register_op("dropout1d", lambda x, **kw: _functional().dropout1d(x, **kw),
            _samples([(2, 3, 4), (3, 5)], _settings("p", [0.0, 1.0, 0.5])))
register_op("dropout2d", lambda x, **kw: _functional().dropout2d(x, **kw),
            _samples([(2, 3, 2, 2), (1, 4, 3, 1)], _settings("p", [0.0, 1.0, 0.5])))
register_op("gaussian_dropout", lambda x, **kw: _functional().gaussian_dropout(x, **kw),
            _samples(_ANY, _settings("p", [0.0, 0.9, 0.3])))
register_op("uout", lambda x, **kw: _functional().uout(x, **kw), _samples(_ANY, _settings("beta", [0.0, 1.0, 0.2])))
register_op("alpha_dropout", lambda x, **kw: _functional().alpha_dropout(x, **kw),
            _samples(_ANY, _settings("p", [0.0, 1.0, 0.5])))
