"""One parametrized gradcheck over every registered op and sample (PyTorch OpInfo style)."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.autograd import FUNCTIONS
from tinygrad_bn.testing.registry import OPS, all_samples

SAMPLES = all_samples()


def _tensors(sample):
    return [tg.Tensor(a, requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in sample.args]


def _functions_in_graph(out):
    seen, stack, found = set(), list(out if isinstance(out, (tuple, list)) else [out]), set()
    while stack:
        t = stack.pop()
        if id(t) in seen or t._ctx is None:
            continue
        seen.add(id(t))
        found.add(t._ctx.fn)
        stack.extend(t._ctx.parents)
    return found


@pytest.mark.parametrize("op, sample", SAMPLES, ids=[f"{o.name}-{i}" for i, (o, _) in enumerate(SAMPLES)])
def test_gradcheck_registered_op(op, sample):
    tensors = _tensors(sample)
    assert tg.gradcheck(lambda *xs: op.fn(*xs, **sample.kwargs), tensors, **op.gradcheck_kwargs)


@pytest.mark.parametrize("op, sample", SAMPLES, ids=[f"{o.name}-{i}" for i, (o, _) in enumerate(SAMPLES)])
def test_gradgradcheck_registered_op(op, sample):
    """Second derivatives (create_graph=True) against finite differences of first derivatives."""
    if op.skip_gradgrad:
        pytest.skip(op.skip_gradgrad)
    tensors = _tensors(sample)
    assert tg.gradgradcheck(lambda *xs: op.fn(*xs, **sample.kwargs), tensors, **op.gradcheck_kwargs)


def _derivatives(op, sample):
    """The outputs of a sample and its first and second create_graph gradients (whose graphs hold the
    ops that backward rules apply, e.g. an op's gradient primitive and that primitive's adjoint)."""
    tensors = _tensors(sample)
    out = op.fn(*tensors, **sample.kwargs)
    inputs = [t for t in tensors if isinstance(t, tg.Tensor) and t.requires_grad]
    found, level = [out], [out]
    for _ in range(2):
        seeds = [tg.Tensor(np.ones(o.shape), requires_grad=True) for o in level]
        level = [g for o, s in zip(level, seeds) if o.requires_grad
                 for g in tg.autograd.grad(o, inputs, s, create_graph=True, allow_unused=True) if g is not None]
        found, inputs = found + level, inputs + seeds     # second level: d/d seed reaches the adjoints too
    return found


@pytest.mark.parametrize("op, sample", SAMPLES, ids=[f"{o.name}-{i}" for i, (o, _) in enumerate(SAMPLES)])
def test_independent_finite_differences(op, sample):
    """Second opinion, independent of tg.gradcheck: a five-point stencil (error O(h^4)) on the scalar
    sum(w * f(x)) with random weights w, compared to one backward, to 1e-6 relative."""
    tensors = _tensors(sample)
    rng = np.random.default_rng(1)
    with tg.random.record_noise() as noise:
        out = op.fn(*tensors, **sample.kwargs)
    w = rng.standard_normal(out.shape)
    (out * tg.Tensor(w)).sum().backward()

    def scalar() -> float:
        with noise.replay(), tg.no_grad():
            return float((op.fn(*tensors, **sample.kwargs).data * w).sum())

    h = 1e-3
    for t in tensors:
        if not (isinstance(t, tg.Tensor) and t.requires_grad):
            continue
        numeric = np.zeros(t.shape)
        for j in range(t.size):
            orig = t.data.flat[j]
            vals = []
            for k in (2, 1, -1, -2):
                t.data.flat[j] = orig + k * h
                vals.append(scalar())
            t.data.flat[j] = orig
            numeric.flat[j] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        analytic = t.grad if t.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_every_function_in_the_package_has_samples():
    reached = set()
    for op, sample in SAMPLES:  # forward graphs, and the graphs of create_graph gradients (backward-only ops)
        reached |= _functions_in_graph(_derivatives(op, sample))
    ours = {f for f in FUNCTIONS if f.__module__.startswith("tinygrad_bn.") and not f.__name__.startswith("_")}
    missing = sorted(f.__name__ for f in ours - reached)
    assert not missing, f"differentiable ops with no registered sample reaching them: {missing}"


def test_every_registered_op_has_samples():
    counts = {name: 0 for name in OPS}
    for op, _ in SAMPLES:
        counts[op.name] += 1
    assert all(counts.values()), [n for n, c in counts.items() if not c]
