"""Anomaly mode: the first op that makes a NaN/Inf (forward or backward) is named, with the user's line."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn
from tinygrad_bn.autograd import Function
from tinygrad_bn.engine import backward, function

pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")


def here() -> int:
    """The caller's line number."""
    return inspect.currentframe().f_back.f_lineno


def where(line: int) -> str:
    return f'File "{__file__}", line {line}'


@pytest.fixture(autouse=True)
def anomaly_mode_is_off_around_each_test():
    assert not tg.autograd.is_anomaly_enabled()
    yield
    assert not tg.autograd.is_anomaly_enabled()
    assert function.ON_APPLY == [] and backward.OBSERVERS == []     # nothing left behind in the engine


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_inf_from_finite_inputs_names_the_op_the_input_and_the_line(dtype):
    x = tg.Tensor(np.array([0.0, 4.0], dtype), requires_grad=True)
    with tg.autograd.detect_anomaly():
        line = here() + 1
        y = x.sqrt()                                   # finite forward: sqrt(0) = 0
        with pytest.raises(RuntimeError) as err:
            y.sum().backward()                         # d sqrt(x)/dx = 1 / (2 sqrt(x)) = Inf at 0
    msg = str(err.value)
    assert "Sqrt.backward returned Inf in the gradient of input 0" in msg
    assert where(line) in msg and "y = x.sqrt()" in msg
    assert x.grad is None


def test_the_input_index_is_the_one_whose_gradient_went_bad():
    class SecondGoesBad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g * np.nan

    a = tg.Tensor(np.ones(3), requires_grad=True)
    b = tg.Tensor(np.ones(3), requires_grad=True)
    with tg.autograd.detect_anomaly():
        line = here() + 1
        out = SecondGoesBad.apply(a, b)
        with pytest.raises(RuntimeError, match="SecondGoesBad.backward returned NaN in the gradient of input 1") as err:
            out.sum().backward()
    assert where(line) in str(err.value)


def test_forward_nan_from_finite_inputs_is_reported_with_the_line():
    x = tg.Tensor(np.array([-1.0, 1.0]), requires_grad=True)
    with tg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"Log.forward produced NaN in its result \(shape \(2,\)\)") as err:
            line = here() + 1
            x.log()
    assert where(line) in str(err.value) and "x.log()" in str(err.value)


def test_forward_inf_is_reported_even_when_nothing_requires_grad():
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="Div.forward produced Inf"):
        tg.Tensor(np.array([1.0])) / tg.Tensor(np.array([0.0]))


def test_values_that_were_already_nan_pass_silently():
    x = tg.Tensor(np.array([np.nan, 4.0]), requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = x.sqrt() * 2.0                             # NaN in, NaN out: not this op's doing
        y.sum().backward()                             # backward sees a NaN input: not reported either
    assert np.isnan(x.grad[0]) and x.grad[1] == 0.5      # 2 / (2 sqrt(4))


def test_a_nan_grad_output_is_not_blamed_on_the_op_that_receives_it():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with tg.autograd.detect_anomaly():
        (x * 3.0).backward(np.array([np.nan, 1.0]))
    assert np.isnan(x.grad[0]) and x.grad[1] == 3.0


def test_the_line_is_the_users_even_for_ops_made_inside_the_library():
    layer = nn.Linear(2, 3)
    with tg.autograd.detect_anomaly():
        line = here() + 1
        out = layer(tg.Tensor(np.ones((1, 2), np.float32)))
        loss = tg.F.mse_loss(out, tg.zeros(1, 3))
    assert (out.grad_fn.created_at.filename, out.grad_fn.created_at.lineno) == (__file__, line)
    assert loss.grad_fn.created_at.lineno == line + 1
    assert loss.grad_fn.created_at.function == "test_the_line_is_the_users_even_for_ops_made_inside_the_library"


def test_off_means_no_sites_and_no_errors():
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    y = x.sqrt()
    assert not hasattr(y.grad_fn, "created_at")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y.sum().backward()
    assert np.isinf(x.grad[0])


def test_an_op_recorded_before_anomaly_mode_says_so():
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    y = x.sqrt()
    with tg.autograd.detect_anomaly(), pytest.raises(RuntimeError, match="created outside anomaly mode"):
        y.sum().backward()


def test_check_nan_false_records_sites_but_raises_nothing():
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    with tg.autograd.detect_anomaly(check_nan=False):
        line = here() + 1
        y = x.sqrt()
        y.sum().backward()
        x.log()
    assert y.grad_fn.created_at.lineno == line and np.isinf(x.grad[0])


def test_set_detect_anomaly_as_a_call_and_as_a_context_manager():
    tg.autograd.set_detect_anomaly(True)
    try:
        assert tg.autograd.is_anomaly_enabled()
        with tg.autograd.set_detect_anomaly(False):
            assert not tg.autograd.is_anomaly_enabled()
            tg.Tensor(np.array([-1.0])).log()          # no error: off
        assert tg.autograd.is_anomaly_enabled()         # the previous setting is back
        with pytest.raises(RuntimeError, match="Log.forward produced NaN"):
            tg.Tensor(np.array([-1.0])).log()
    finally:
        tg.autograd.set_detect_anomaly(False)


def test_detect_anomaly_as_a_decorator_and_nested():
    @tg.autograd.detect_anomaly()
    def step():
        assert tg.autograd.is_anomaly_enabled()
        with tg.autograd.detect_anomaly():
            pass
        assert tg.autograd.is_anomaly_enabled()         # the inner block restored "on", not "off"
        return tg.Tensor(np.array([-1.0])).log()

    with pytest.raises(RuntimeError, match="Log.forward"):
        step()
    assert not tg.autograd.is_anomaly_enabled()


def test_bad_arguments():
    with pytest.raises(TypeError, match="set_detect_anomaly: mode and check_nan must be bools"):
        tg.autograd.set_detect_anomaly(1)
    with pytest.raises(TypeError, match="detect_anomaly: check_nan must be a bool"):
        tg.autograd.detect_anomaly(check_nan="yes")


def test_the_observer_accepts_tensor_gradients_as_a_recorded_backward_hands_them():
    x = tg.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with tg.autograd.detect_anomaly():
        y = x.sqrt()
        (observe,) = backward.OBSERVERS
        observe(y.grad_fn, tg.Tensor(np.ones(2)), (tg.Tensor(np.array([1.0, 2.0])),))      # finite: nothing
        with pytest.raises(RuntimeError, match="Sqrt.backward returned Inf in the gradient of input 0"):
            observe(y.grad_fn, tg.Tensor(np.ones(2)), (tg.Tensor(np.array([np.inf, 1.0])),))


def test_an_op_run_inside_a_backward_is_reported_with_the_node_whose_backward_ran():
    class SqrtWithOps(Function):
        """sqrt, whose backward is written with tensor ops (as backward rules are when a backward pass is
        itself recorded): the Inf then appears in an op's forward, inside this backward."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(np.sqrt(x))
            return np.sqrt(x)

        @staticmethod
        def backward(ctx, g):
            (r,) = ctx.saved_tensors
            return (tg.Tensor(g) / (tg.Tensor(r) * 2.0)).data

    x = tg.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.autograd.detect_anomaly():
        line = here() + 1
        y = SqrtWithOps.apply(x)
        with pytest.raises(RuntimeError) as err:
            y.sum().backward()
    msg = str(err.value)
    assert msg.startswith("anomaly mode: Div.forward produced Inf in its result (shape (2,)) from finite inputs. "
                          "It ran inside SqrtWithOps.backward. The SqrtWithOps was created at")
    assert where(line) in msg
