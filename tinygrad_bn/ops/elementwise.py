"""Element-wise primitives. Each backward is the derivative applied element by element.

Shapes: inputs broadcast against each other as in numpy; every backward returns gradients in the
broadcast output shape and the engine reduces them to each input's shape (``autograd.unbroadcast``).
Dtypes: float32 in, float32 out; float64 in, float64 out. Backward rules never write into
``grad_output`` (it may be shared with other ops).
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Node
from ..registry import Sample, away_from, register_op, samples_of

Grads = tuple[np.ndarray | None, ...]


class Add(Function):
    """z = a + b.   dz/da = 1, dz/db = 1, so both inputs receive grad_output unchanged."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return g, g


class Sub(Function):
    """z = a - b.   dz/da = 1, dz/db = -1."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    """z = a * b.   dz/da = b, dz/db = a."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    """z = a / b.   dz/da = 1/b, dz/db = -a/b^2 = -z/b."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a / b
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        b, out = ctx.saved_tensors
        ga = g / b
        return (ga if ctx.needs_input_grad[0] else None), (-ga * out if ctx.needs_input_grad[1] else None)


class Neg(Function):
    """z = -x.   dz/dx = -1."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        return -x

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (-g,)


class PowScalar(Function):
    """z = x ** n for a constant exponent n (attribute ``exponent``).   dz/dx = n * x^(n-1)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, exponent: float) -> np.ndarray:
        ctx.save_for_backward(x)
        return x ** np.asarray(exponent, dtype=x.dtype) if x.dtype.kind == "f" else x ** exponent

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        n = ctx.attrs["exponent"]
        if n == 2:
            return (g * (2 * x),)
        return (g * (n * x ** (n - 1)),)


class Pow(Function):
    """z = a ** b, both tensors.   dz/da = b * a^(b-1);  dz/db = z * log(a) (defined for a > 0)."""

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        a, b, out = ctx.saved_tensors
        ga = g * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        gb = g * out * np.log(a) if ctx.needs_input_grad[1] else None
        return ga, gb


class Exp(Function):
    """z = exp(x).   dz/dx = exp(x) = z (saved output, no recomputation)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g * ctx.saved_tensors[0],)


class Log(Function):
    """z = log(x).   dz/dx = 1/x."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g / ctx.saved_tensors[0],)


class Sqrt(Function):
    """z = sqrt(x).   dz/dx = 1 / (2 sqrt(x)) = 1 / (2 z)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        out = np.sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g / (2 * ctx.saved_tensors[0]),)


class Abs(Function):
    """z = |x|.   dz/dx = sign(x) (0 at x = 0, as PyTorch)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g * np.sign(ctx.saved_tensors[0]),)


class ReLU(Function):
    """z = max(x, 0).   dz/dx = 1 where x > 0, else 0 (a boolean mask times grad_output)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x > 0)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        if ctx.may_overwrite_grad_output:
            g *= ctx.saved_tensors[0]  # the engine owns g and hands it on: no new array
            return (g,)
        return (g * ctx.saved_tensors[0],)


class Sigmoid(Function):
    """z = 1 / (1 + exp(-x)).   dz/dx = z (1 - z). Computed stably for large |x|."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))  # never overflows
        out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        out = ctx.saved_tensors[0]
        return (g * out * (1 - out),)


class Tanh(Function):
    """z = tanh(x).   dz/dx = 1 - z^2."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        out = ctx.saved_tensors[0]
        return (g * (1 - out * out),)


class Clip(Function):
    """z = min(max(x, min), max).   dz/dx = 1 where min <= x <= max, else 0 (PyTorch's clamp rule)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, min: float | None = None, max: float | None = None) -> np.ndarray:
        lo = -np.inf if min is None else min
        hi = np.inf if max is None else max
        ctx.save_for_backward((x >= lo) & (x <= hi))
        return np.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g * ctx.saved_tensors[0],)


# ----------------------------------------------------------------------------------------------
# Sample inputs for the op registry (every op above is gradchecked in float64 over these).
_PAIRS = [((3, 4), (3, 4)), ((4, 1, 3), (2, 3)), ((3,), ()), ((), (2, 3)), ((0, 3), (3,))]
_UNARY = [(3, 4), (2, 1, 3), (), (5,)]


def _pairs(rng: np.random.Generator, positive_b: bool = False) -> list[Sample]:
    out = []
    for sa, sb in _PAIRS:
        b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1, 1], sb) if not positive_b else rng.uniform(0.5, 2.0, sb)
        out.append(Sample((rng.standard_normal(sa), b), note=f"{sa} with {sb}"))
    return out


register_op("add", lambda a, b: a + b, _pairs)
register_op("sub", lambda a, b: a - b, _pairs)
register_op("mul", lambda a, b: a * b, _pairs)
register_op("div", lambda a, b: a / b, _pairs)
register_op("neg", lambda x: -x, samples_of(_UNARY))
register_op("pow_scalar", lambda x: x**3, samples_of(_UNARY))
register_op("pow_scalar_half", lambda x: x**0.5, samples_of(_UNARY, low=0.5, high=2.0))
register_op("pow_scalar_square", lambda x: x**2, samples_of(_UNARY))
register_op("pow", lambda a, b: a**b, lambda rng: [Sample((rng.uniform(0.5, 2, s), rng.standard_normal(t)),
                                                           note=f"{s} ** {t}") for s, t in _PAIRS])
register_op("rpow", lambda x: 2.0**x, samples_of(_UNARY))
register_op("exp", lambda x: x.exp(), samples_of(_UNARY))
register_op("log", lambda x: x.log(), samples_of(_UNARY, low=0.2, high=3.0))
register_op("sqrt", lambda x: x.sqrt(), samples_of(_UNARY, low=0.2, high=3.0))
register_op("abs", lambda x: x.abs(), samples_of(_UNARY, transform=lambda x: away_from(x, 0.0)))
register_op("relu", lambda x: x.relu(), samples_of(_UNARY, transform=lambda x: away_from(x, 0.0)))
register_op("sigmoid", lambda x: x.sigmoid(), samples_of(_UNARY, scale=4.0))
register_op("tanh", lambda x: x.tanh(), samples_of(_UNARY, scale=2.0))
register_op("clip", lambda x: x.clip(-0.5, 0.7), samples_of(_UNARY, transform=lambda x: away_from(x, (-0.5, 0.7))))
register_op("clip_min_only", lambda x: x.clip(min=0.1), samples_of(_UNARY, transform=lambda x: away_from(x, 0.1)))
