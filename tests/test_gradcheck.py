"""gradcheck itself: it must pass correct rules, catch wrong ones, and say where they are wrong."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.autograd import Function
from tinygrad_bn.random import draw


class WrongSquare(Function):
    """x**2 with a backward that is wrong in exactly one element (index 2), by 10%."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        gx = 2 * x * g
        gx = gx.copy()
        gx.flat[2] *= 1.1
        return (gx,)


class NoisyScale(Function):
    """y = x * noise with noise drawn in forward: checkable only if the draw is replayed."""

    @staticmethod
    def forward(ctx, x, *, generator=None):
        noise = draw(generator, "noisy scale", lambda g: g.standard_normal(x.shape))
        ctx.save_for_backward(noise)
        return x * noise

    @staticmethod
    def backward(ctx, g):
        return (g * ctx.saved_tensors[0],)


def x64(*shape, seed=0):
    return tg.Tensor(np.random.default_rng(seed).uniform(0.5, 1.5, shape), requires_grad=True)


def test_passes_correct_rules_with_several_inputs_and_outputs():
    a, b = x64(3, 2), x64(2, seed=1)
    assert tg.gradcheck(lambda a, b: ((a * b).exp(), (a - b).sum(axis=0)), (a, b))
    assert tg.gradcheck(lambda a, b: (a @ b).tanh(), (a, b), fast_mode=True)


def test_accepts_float_numpy_arrays_and_passes_other_arguments_through():
    assert tg.gradcheck(lambda x, k: x * k, (np.ones(3), 4.0))


def test_catches_a_wrong_element_and_names_it():
    other = x64(3, seed=3)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda c, x: c * WrongSquare.apply(x), (other, x64(2, 3)))
    msg = str(info.value)
    assert "input 1 (shape (2, 3), float64)" in msg
    assert "at element (0, 2)" in msg
    assert "analytic" in msg and "numerical" in msg and "|difference|" in msg


def test_error_values_are_the_real_ones():
    x = x64(4)
    with pytest.raises(tg.GradcheckError) as info:
        tg.gradcheck(lambda x: WrongSquare.apply(x).sum(), (x,))
    expected_analytic = float(2 * x.data[2] * 1.1)
    assert f"analytic  = {expected_analytic!r}" in str(info.value)


def test_fast_mode_catches_it_too():
    with pytest.raises(tg.GradcheckError, match="fast mode.*input 0"):
        tg.gradcheck(lambda x: WrongSquare.apply(x), (x64(5),), fast_mode=True)


def test_raise_exception_false_returns_false():
    assert tg.gradcheck(lambda x: WrongSquare.apply(x), (x64(3),), raise_exception=False) is False


def test_warns_on_float32_inputs():
    x = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.warns(UserWarning, match="input 0 has dtype float32, not float64"):
        tg.gradcheck(lambda x: x * 2, (x,), eps=1e-2, atol=1e-3)


def test_no_warning_for_float64():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.gradcheck(lambda x: x * 2, (x64(3),))


def test_bad_arguments():
    with pytest.raises(ValueError, match="no input requires grad"):
        tg.gradcheck(lambda x: x, (tg.Tensor(np.ones(2)),))
    with pytest.raises(TypeError, match="must return a Tensor"):
        tg.gradcheck(lambda x: x.data, (x64(2),))


def test_stochastic_op_is_checkable_because_noise_is_replayed():
    # a fresh generator per call would give a new draw per evaluation without replay
    f = lambda x: NoisyScale.apply(x, generator=np.random.default_rng())  # noqa: E731
    assert tg.gradcheck(f, (x64(2, 3),))
    assert tg.gradcheck(f, (x64(2, 3),), fast_mode=True)


def test_without_replay_the_stochastic_op_would_fail():
    """Shows the replay is what makes it pass: evaluating outside record/replay gives new noise."""
    x = x64(3)
    f = lambda x: NoisyScale.apply(x, generator=np.random.default_rng())  # noqa: E731
    assert not np.allclose(f(x).data, f(x).data)


def test_user_registered_op_runs_through_the_registry():
    from tinygrad_bn.testing.registry import OPS, Sample, register_op

    info = register_op("test_softplus", lambda x: (x.exp() + 1).log(),
                       lambda rng: [Sample((rng.standard_normal((2, 2)),))])
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_op("test_softplus", info.fn, info.samples)
        sample = next(iter(info.samples(np.random.default_rng(0))))
        assert tg.gradcheck(info.fn, sample.args)
    finally:
        del OPS["test_softplus"]
