"""Numerical edge cases of tensor ops a PyTorch user relies on: pow at 0, NaN in max/min, Python
numbers and lists as gradient seeds, dtype promotion, 0-d and one-element tensors through reductions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg


def leaf(values, dtype=np.float64) -> tg.Tensor:
    return tg.Tensor(np.array(values, dtype=dtype), requires_grad=True)


def assert_grad(t: tg.Tensor, expected) -> None:
    """``t.grad`` is an ndarray of t's shape and dtype, equal to ``expected`` (NaN nowhere unless expected)."""
    assert type(t.grad) is np.ndarray and t.grad.shape == t.shape and t.grad.dtype == t.dtype, (
        type(t.grad), getattr(t.grad, "shape", None), getattr(t.grad, "dtype", None))
    np.testing.assert_allclose(t.grad, np.asarray(expected, dtype=np.float64), rtol=1e-12, atol=1e-12)


# ---- pow at 0 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("exponent", [0, 0.0])
def test_x_to_the_zero_has_gradient_zero_at_zero(exponent):
    x = leaf([0.0, 1.0, -2.0])
    (x**exponent).sum().backward()
    assert_grad(x, [0.0, 0.0, 0.0])


def test_zero_to_a_positive_tensor_power_has_gradient_zero_wrt_the_exponent():
    base = tg.Tensor(np.zeros(3))
    y = leaf([0.5, 2.0, 3.0])
    out = base**y
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 0.0])
    out.sum().backward()
    assert_grad(y, [0.0, 0.0, 0.0])


def test_zero_to_a_power_of_at_least_one_has_the_power_rule_gradient_wrt_the_base():
    base, y = leaf([0.0, 0.0, 0.0]), leaf([1.0, 2.0, 3.0])
    (base**y).sum().backward()
    assert_grad(base, [1.0, 0.0, 0.0])  # y * 0**(y - 1)
    assert_grad(y, [0.0, 0.0, 0.0])


# ---- NaN in max / min ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_over_nan_return_nan_and_send_the_gradient_to_it(name):
    x = leaf([1.0, np.nan, 3.0])
    out = getattr(x, name)()
    assert np.isnan(out.item())
    out.backward()
    assert_grad(x, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("name, where", [("max", 1), ("min", 2)])
def test_max_min_along_an_axis_with_nan_in_one_row(name, where):
    x = leaf([[1.0, np.nan, 3.0], [4.0, 5.0, -6.0]])
    out = getattr(x, name)(axis=1)
    assert np.isnan(out.data[0]) and out.data[1] == x.data[1, where]
    out.sum().backward()
    expected = np.zeros((2, 3))
    expected[0, 1] = expected[1, where] = 1.0
    assert_grad(x, expected)


# ---- Python numbers and lists as seeds and operands ----------------------------------------------
def test_list_seed_for_backward_is_not_rounded_to_float32():
    x = leaf([1.0, 2.0])
    (x * 1.0).backward([0.1, 0.2])
    assert abs(x.grad[0] - np.float64(0.1)) < 1e-15 and abs(x.grad[1] - np.float64(0.2)) < 1e-15, x.grad - [0.1, 0.2]


def test_number_seed_for_backward_of_a_zero_d_output_is_not_rounded():
    x = leaf(3.0)
    (x * 1.0).backward(0.1)
    assert abs(float(x.grad) - np.float64(0.1)) < 1e-15


def test_list_grad_output_for_autograd_grad_is_not_rounded():
    x = leaf([1.0, 2.0])
    (gx,) = tg.autograd.grad(x * 1.0, [x], grad_output=[0.1, 0.2])
    assert np.max(np.abs(gx.data - np.array([0.1, 0.2]))) < 1e-15, gx.data - [0.1, 0.2]


@settings(max_examples=30, deadline=None)
@given(st.floats(-1e3, 1e3, allow_subnormal=False), st.floats(-10, 10))
def test_python_numbers_as_operands_keep_float64_precision(value, number):
    x = tg.Tensor(np.array([value, 1.0 / 3.0]))
    for got, expected in [(x * number, x.data * number), (x + number, x.data + number),
                          (number - x, number - x.data)]:
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got.data, expected)


# ---- dtype promotion (PyTorch's rules) ---------------------------------------------------------------
OPS = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}


@pytest.mark.parametrize("op", OPS)
def test_zero_d_float64_tensor_does_not_promote_an_nd_float32_tensor(op):
    a = leaf([1.0, 2.0, 3.0], np.float32)
    s = leaf(2.0, np.float64)
    for out in (OPS[op](a, s), OPS[op](s, a)):
        assert out.dtype == np.float32, (op, out.dtype)
    OPS[op](a, s).sum().backward()
    assert type(a.grad) is np.ndarray and a.grad.dtype == np.float32 and a.grad.shape == (3,)
    assert type(s.grad) is np.ndarray and s.grad.dtype == np.float64 and s.grad.shape == ()


def test_integer_tensor_times_python_float_is_float32():
    assert (tg.Tensor(np.arange(3)) * 0.5).dtype == np.float32
    assert (0.5 * tg.Tensor(np.arange(3))).dtype == np.float32
    assert (tg.Tensor(np.arange(3)) * 2).dtype == np.int64


def test_python_numbers_keep_the_tensor_float_dtype():
    assert (tg.Tensor(np.ones(3, dtype=np.float32)) * 0.1).dtype == np.float32
    assert (tg.Tensor(np.ones(3)) * 2).dtype == np.float64


def test_float32_and_float64_nd_tensors_promote_to_float64_with_own_dtype_grads():
    a, b = leaf([1.0, 2.0], np.float32), leaf([3.0, 4.0], np.float64)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, np.array([3.0, 4.0], dtype=np.float32))


# ---- 0-d and one-element tensors through every reduction ------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.sampled_from([(), (1,), (1, 1)]), st.sampled_from([np.float32, np.float64]), st.floats(-5, 5))
def test_reductions_of_one_element_tensors(shape, dtype, value):
    for name in ("sum", "mean", "max", "min"):
        x = tg.Tensor(np.full(shape, value, dtype=dtype), requires_grad=True)
        out = getattr(x, name)()
        assert out.shape == () and out.dtype == dtype
        assert out.item() == np.float64(dtype(value)) and type(out.item()) is float
        out.backward()
        assert_grad(x, np.ones(shape))
    x = tg.Tensor(np.full(shape, value, dtype=dtype), requires_grad=True)
    v = x.var(correction=0)
    assert v.shape == () and v.item() == 0.0
    v.backward()
    assert_grad(x, np.zeros(shape))


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reductions_over_an_axis_of_length_one(shape, name):
    x = leaf(np.full(shape, 2.5))
    out = getattr(x, name)(axis=0)
    assert out.shape == shape[1:]
    (out * 3).sum().backward()
    assert_grad(x, np.full(shape, 3.0))


def test_item_of_zero_d_and_one_element_tensors():
    assert tg.Tensor(np.array(2.5)).item() == 2.5 and type(tg.Tensor(np.array(2.5)).item()) is float
    assert tg.Tensor(np.array([[7]])).item() == 7 and type(tg.Tensor(np.array([[7]])).item()) is int
    with pytest.raises((ValueError, RuntimeError)):
        tg.Tensor(np.ones(2)).item()
