"""Gradient checking: compare backward rules with central finite differences.

``tg.gradcheck(fn, inputs)`` is meant to be called from your own pytest suite::

    def test_my_op():
        x = tg.Tensor(np.random.randn(4, 3), requires_grad=True)   # float64
        assert tg.gradcheck(lambda x: my_op(x).sum(), (x,))

For every input that requires grad it builds the numerical Jacobian column by column,
``(f(x + eps e_j) - f(x - eps e_j)) / (2 eps)``, and the analytic one row by row (one backward per
output element), and requires ``|analytic - numerical| <= atol + rtol * |numerical|`` element-wise.
On failure :class:`GradcheckError` names the input, the element, both values and the error.
``fast_mode=True`` compares one random projection ``u^T J v`` per input instead (two evaluations and
one backward per output, whatever the sizes).

Random ops draw their noise once: the first forward records it and every finite-difference
evaluation replays it (see ``tinygrad_bn.random``), so dropout is checkable like any other op.

``tg.gradgradcheck(fn, inputs)`` does the same one order up: it gradchecks the first derivatives
(computed with ``create_graph=True``) as functions of the inputs and of the output seeds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..engine import backward, grad_mode, gradient
from ..engine.tensor import Tensor
from ..random import NoiseTape, record_noise


class GradcheckError(AssertionError):
    """A backward rule disagrees with finite differences; the message says where and by how much."""


def _outputs(result: Any) -> list[Tensor]:
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: fn must return a Tensor or a tuple of Tensors, "
                            f"output {k} is {type(o).__name__}")
    return outs


def _evaluate(fn: Callable[..., Any], tensors: list[Any], noise: NoiseTape) -> list[np.ndarray]:
    with noise.replay(), grad_mode.no_grad():
        return [np.array(o.data, dtype=np.float64) for o in _outputs(fn(*tensors))]


def _numerical_column(fn: Callable[..., Any], tensors: list[Any], x: np.ndarray, j: int, step: float,
                      noise: NoiseTape, direction: np.ndarray | None = None) -> list[np.ndarray]:
    """d outputs / d x along element ``j`` (or along ``direction``), by central differences."""
    orig = x.copy() if direction is not None else x.flat[j]
    if direction is None:
        x.flat[j] = orig + step
    else:
        x += step * direction
    plus = _evaluate(fn, tensors, noise)
    if direction is None:
        x.flat[j] = orig - step
    else:
        x[...] = orig - step * direction
    minus = _evaluate(fn, tensors, noise)
    if direction is None:
        x.flat[j] = orig
    else:
        x[...] = orig
    return [(p - m) / (2 * step) for p, m in zip(plus, minus)]


def _as_inputs(inputs: Any) -> list[Any]:
    items = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    out = []
    for v in items:
        if isinstance(v, np.ndarray) and v.dtype.kind == "f":
            v = Tensor(v, requires_grad=True)
        out.append(v)
    return out


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any] | Tensor, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, fast_mode: bool = False, seed: int = 0) -> bool:
    """Check the gradients of ``fn(*inputs)`` against central finite differences.

    ``inputs``: Tensors (those with ``requires_grad=True`` are checked; use float64), float numpy
    arrays (checked, wrapped as tensors that require grad) or anything else (passed unchanged).
    ``fn`` returns a Tensor or a tuple of Tensors of any shape. Returns True, or raises
    :class:`GradcheckError` (returns False if ``raise_exception=False``). ``seed`` fixes the random
    projections of ``fast_mode``.
    """
    tensors = _as_inputs(inputs)
    checked = [i for i, t in enumerate(tensors) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; pass float64 tensors with requires_grad=True")
    for i in checked:
        if tensors[i].dtype != np.float64:
            warnings.warn(f"gradcheck: input {i} has dtype {tensors[i].dtype}, not float64; finite differences "
                          "in lower precision are unreliable and may fail on correct code", stacklevel=2)
        if not tensors[i].data.flags.writeable:
            tensors[i].data = tensors[i].data.copy()
    with record_noise() as noise:
        outputs = _outputs(fn(*tensors))
    check = _check_fast if fast_mode else _check_full
    for i in checked:
        message = check(fn, tensors, outputs, i, noise, eps, atol, rtol, seed)
        if message:
            return _fail(message, raise_exception)
    return True


def _analytic(output: Tensor, t: Tensor, seed_grad: np.ndarray) -> np.ndarray:
    if not output.requires_grad:
        return np.zeros(t.shape)
    (g,) = backward.run_backward(output, seed_grad, True, (t,))
    if g is None:
        return np.zeros(t.shape)
    if g.shape != t.shape:
        raise GradcheckError(f"gradcheck: backward produced a gradient of shape {g.shape} "
                             f"for an input of shape {t.shape}")
    return np.asarray(g, dtype=np.float64)


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _describe(tensors: list[Any], i: int) -> str:
    return f"input {i} (shape {tensors[i].shape}, {tensors[i].dtype})"


def _check_full(fn: Callable[..., Any], tensors: list[Any], outputs: list[Tensor], i: int, noise: NoiseTape,
                eps: float, atol: float, rtol: float, seed: int) -> str | None:
    x = tensors[i].data
    # analytic rows: one backward per output element
    analytic = []
    for o in outputs:
        rows = np.zeros((o.size, x.size))
        for k in range(o.size):
            onehot = np.zeros(o.shape, dtype=o.dtype)
            onehot.flat[k] = 1
            rows[k] = _analytic(o, tensors[i], onehot).ravel()
        analytic.append(rows)
    # numerical columns: two evaluations per input element
    numerical = [np.zeros((o.size, x.size)) for o in outputs]
    for j in range(x.size):
        for num, col in zip(numerical, _numerical_column(fn, tensors, x, j, eps, noise)):
            num[:, j] = col.ravel()
    for oi, (a, n) in enumerate(zip(analytic, numerical)):
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        bad = np.isnan(a) | np.isnan(n) | (excess > 0)
        if not bad.any():
            continue
        k, j = np.unravel_index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), a.shape)
        av, nv = float(a[k, j]), float(n[k, j])
        return (f"gradcheck: Jacobian mismatch for {_describe(tensors, i)} at element {_index(j, x.shape)}, "
                f"output {oi} element {_index(k, outputs[oi].shape)}:\n"
                f"  analytic  = {av!r}\n  numerical = {nv!r}\n"
                f"  |difference| = {abs(av - nv):.3e} > atol + rtol*|numerical| = {atol + rtol * abs(nv):.3e}\n"
                f"  {int(bad.sum())} of {bad.size} Jacobian entries for this input are off")
    return None


def _check_fast(fn: Callable[..., Any], tensors: list[Any], outputs: list[Tensor], i: int, noise: NoiseTape,
                eps: float, atol: float, rtol: float, seed: int) -> str | None:
    rng = np.random.default_rng([seed, i])
    x = tensors[i].data
    v = rng.standard_normal(x.shape)
    v /= max(np.linalg.norm(v), 1e-12)
    us = [rng.standard_normal(o.shape) for o in outputs]
    analytic = sum(float(np.vdot(_analytic(o, tensors[i], u.astype(o.dtype)), v)) for o, u in zip(outputs, us))
    cols = _numerical_column(fn, tensors, x, -1, eps, noise, direction=v.astype(x.dtype))
    numerical = sum(float(np.vdot(u, c)) for u, c in zip(us, cols))
    if abs(analytic - numerical) <= atol + rtol * abs(numerical):
        return None
    return (f"gradcheck (fast mode): projection u^T J v mismatch for {_describe(tensors, i)}:\n"
            f"  analytic  = {analytic!r}\n  numerical = {numerical!r}\n"
            f"  |difference| = {abs(analytic - numerical):.3e} > atol + rtol*|numerical| = "
            f"{atol + rtol * abs(numerical):.3e}\n"
            "  run with fast_mode=False to find the element")


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Any] | Tensor, grad_outputs: Sequence[Any] | None = None,
                  *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  fast_mode: bool = False, seed: int = 0) -> bool:
    """Check second derivatives of ``fn(*inputs)`` against central differences of first derivatives.

    As ``torch.autograd.gradgradcheck``: the first derivatives g(x, v) = v^T J(x), computed with
    ``tg.autograd.grad(..., create_graph=True)``, are themselves gradchecked as a function of the inputs
    and of the seeds v (``grad_outputs``: one per output of ``fn``, random float64 normals by default),
    so both d g / d x (the second derivatives) and d g / d v (the first ones, again) are compared with
    finite differences. Same arguments, report and :class:`GradcheckError` as :func:`gradcheck`; random
    ops draw their noise once, and every evaluation at every order replays it (the same dropout mask).
    """
    tensors = _as_inputs(inputs)
    checked = [i for i, t in enumerate(tensors) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradgradcheck: no input requires grad; pass float64 tensors with requires_grad=True")
    with record_noise() as noise:
        outputs = _outputs(fn(*tensors))
    live = [k for k, o in enumerate(outputs) if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        seeds = [Tensor(rng.standard_normal(outputs[k].shape).astype(outputs[k].dtype), requires_grad=True)
                 for k in live]
    else:
        given = list(grad_outputs) if isinstance(grad_outputs, (tuple, list)) else [grad_outputs]
        if len(given) != len(outputs):
            raise ValueError(f"gradgradcheck: expected one grad_output per output ({len(outputs)}), got {len(given)}")
        seeds = [_as_inputs([given[k]])[0] for k in live]
    n = len(tensors)

    def first_derivatives(*args: Any) -> tuple[Tensor, ...]:
        xs, vs = list(args[:n]), args[n:]
        with noise.replay(), grad_mode.enable_grad():  # gradcheck evaluates under no_grad; we need the graph
            outs = _outputs(fn(*xs))
            grads = gradient.grad([outs[k] for k in live], [xs[i] for i in checked], list(vs), create_graph=True,
                                  allow_unused=True) if live else [None] * len(checked)
        return tuple(Tensor(np.zeros(xs[i].shape, dtype=xs[i].dtype)) if g is None else g
                     for g, i in zip(grads, checked))

    return gradcheck(first_derivatives, [*tensors, *seeds], eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, fast_mode=fast_mode, seed=seed)
