"""Element-wise primitives. Each backward is the derivative applied element by element.

Shapes: inputs broadcast against each other as in numpy; every backward returns gradients in the
broadcast output shape and the engine reduces them to each input's shape (``autograd.unbroadcast``).
Dtypes: float32 in, float32 out; float64 in, float64 out. Backward rules never write into
``grad_output`` (other ops may hold it too), and are written with operators and ``Op.apply`` only, so
they run on numpy arrays (an ordinary backward) and on Tensors (``create_graph=True``, where they are
recorded and can be differentiated again); constants (masks) are saved as arrays.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node

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
    """z = x ** n for a constant exponent n (attribute ``exponent``).   dz/dx = n * x^(n-1).

    For n = 0, z = 1 everywhere and dz/dx = 0, also at x = 0 (where n * x^(n-1) would be 0 * inf = NaN).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, exponent: float) -> np.ndarray:
        ctx.save_for_backward(x)
        return x ** np.asarray(exponent, dtype=x.dtype) if x.dtype.kind == "f" else x ** exponent

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (x,) = ctx.saved_tensors
        n = ctx.attrs["exponent"]
        if n == 0:
            return (g * 0.0,)
        if n == 2:
            return (g * (2 * x),)
        return (g * (n * x ** (n - 1)),)


class Pow(Function):
    """z = a ** b, both tensors.   dz/da = b * a^(b-1);  dz/db = z * log(a) (defined for a > 0).

    As PyTorch: dz/da = 0 where b = 0 (z = 1 whatever a is), and dz/db = 0 where a = 0 and b >= 0
    (z = 0 or 1 there; the formula would give 0 * -inf = NaN). Both without a select, with two saved
    constant masks: where b = 0 the exponent b - 1 becomes b - 0 (b * a^0 = 0), and where a = 0, b >= 0
    the log's argument becomes a + 1 (log 1 = 0).
    """

    @staticmethod
    def forward(ctx: Node, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = a**b
        ctx.save_for_backward(a, b, out, b != 0, (a == 0) & (b >= 0))
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        a, b, out, b_nonzero, flat = ctx.saved_tensors
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                ga = g * b * a ** (b - b_nonzero)
            if ctx.needs_input_grad[1]:
                gb = g * out * Log.apply(a + flat)
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
        ctx.save_for_backward(np.sign(x))  # a constant: d sign(x)/dx = 0 away from 0
        return np.abs(x)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g * ctx.saved_tensors[0],)


class ReLU(Function):
    """z = max(x, 0).   dz/dx = 1 where x > 0, else 0 (a boolean mask times grad_output)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(x > 0)
        return np.maximum(x, 0)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
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


class Cast(Function):
    """z = x converted to ``dtype`` (attribute).   dz/dx = 1: the gradient is grad_output converted back
    to x's dtype (the engine does that conversion for every gradient)."""

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, dtype: np.dtype) -> np.ndarray:
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        return (g,)
