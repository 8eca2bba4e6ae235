"""Tensor behaviour a PyTorch user relies on: truth values, iteration, grad-mode decorators,
``requires_grad`` and ``.grad`` assignment, in-place operators, custom ``Function`` errors, dims.

Numerical edge cases (pow at 0, NaN in max/min, seeds, dtype promotion, 0-d reductions) live in
``test_tensor_numerics.py``.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.autograd import Function


@pytest.fixture(autouse=True)
def grad_mode_back_on():
    """A test that leaves grad mode off (the bug it reports) must not break the tests after it."""
    yield
    if not tg.is_grad_enabled():
        tg.enable_grad().__enter__()  # switched back on for good: no matching __exit__


ONE_ELEMENT = st.sampled_from([(), (1,), (1, 1)])
DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.bool_])


# ---- bool / float / int -----------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(ONE_ELEMENT, DTYPES, st.sampled_from([0.0, 1.0, -2.5, 3.0, 0.5]))
def test_one_element_tensors_convert_like_their_value(shape, dtype, value):
    arr = np.full(shape, value).astype(dtype)
    t = tg.Tensor(arr)
    v = arr.reshape(()).item()
    assert bool(t) is bool(v)
    assert float(t) == float(v) and type(float(t)) is float
    assert int(t) == int(v) and type(int(t)) is int


def test_truth_value_of_zero():
    assert bool(tg.Tensor([0.0])) is False
    assert bool(tg.Tensor(np.array(0.0))) is False
    assert bool(tg.Tensor(np.array(-0.25))) is True
    assert ("taken" if tg.Tensor([0.0]) else "skipped") == "skipped"


@pytest.mark.parametrize("shape", [(2,), (2, 3), (0,)])
def test_truth_value_of_several_or_no_elements_is_ambiguous(shape):
    t = tg.Tensor(np.ones(shape))
    with pytest.raises((RuntimeError, ValueError), match="(?i)ambiguous"):
        bool(t)
    for convert in (float, int):
        with pytest.raises((RuntimeError, ValueError, TypeError)):
            convert(t)


# ---- iteration and unpacking ----------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3))
def test_iteration_yields_rows_then_stops(shape):
    data = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    rows = list(tg.Tensor(data))
    assert len(rows) == shape[0]
    for row, expected in zip(rows, data):
        assert isinstance(row, tg.Tensor) and row.shape == expected.shape
        np.testing.assert_array_equal(row.data, expected)


def test_unpacking_rows_and_gradients_flow_back():
    a, b = tg.Tensor(np.ones((2, 3)))
    assert a.shape == (3,) and b.shape == (3,)
    x = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    r0, r1 = x
    (r0 * 2 + r1 * 3 + r0).sum().backward()
    np.testing.assert_array_equal(x.grad, [[3.0, 3.0, 3.0], [3.0, 3.0, 3.0]])


def test_iterating_a_zero_d_tensor_raises_type_error():
    with pytest.raises(TypeError):
        iter(tg.Tensor(np.array(1.0)))
    with pytest.raises(TypeError):
        list(tg.Tensor(np.array(1.0)))


# ---- grad mode as decorators and context managers -----------------------------------------------
@tg.no_grad()
def _no_grad_recursive(n: int, x: tg.Tensor) -> tg.Tensor:
    assert not tg.is_grad_enabled()
    return x * 2 if n == 0 else _no_grad_recursive(n - 1, x) + 1


@tg.enable_grad()
def _enable_grad_recursive(n: int, x: tg.Tensor) -> tg.Tensor:
    assert tg.is_grad_enabled()
    return x * 2 if n == 0 else _enable_grad_recursive(n - 1, x) + 1


def test_no_grad_decorator_on_a_recursive_function_restores_the_mode():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    assert tg.is_grad_enabled()
    y = _no_grad_recursive(3, x)
    assert tg.is_grad_enabled(), "grad mode left off after the outer call"
    assert not y.requires_grad
    assert (x * 2).requires_grad


def test_enable_grad_decorator_on_a_recursive_function_restores_the_mode():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with tg.no_grad():
        y = _enable_grad_recursive(3, x)
        assert not tg.is_grad_enabled(), "grad mode left on inside no_grad after the call"
        assert not (x * 2).requires_grad
    assert tg.is_grad_enabled()
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_decorator_restores_the_mode_when_the_function_raises():
    @tg.no_grad()
    def fails() -> None:
        raise KeyError("inside")

    with pytest.raises(KeyError):
        fails()
    assert tg.is_grad_enabled()


def test_nested_context_managers():
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            with tg.no_grad():
                assert not tg.is_grad_enabled()
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


# ---- requires_grad and .grad as attributes -------------------------------------------------------
def test_requires_grad_attribute_on_an_integer_tensor_raises():
    t = tg.Tensor(np.arange(3))
    with pytest.raises((TypeError, RuntimeError)):
        t.requires_grad = True
    assert not t.requires_grad


def test_requires_grad_attribute_on_a_non_leaf_raises():
    y = tg.Tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(RuntimeError):
        y.requires_grad = False


def test_requires_grad_attribute_on_a_float_leaf_works():
    t = tg.Tensor(np.ones(3))
    t.requires_grad = True
    (t * 3).sum().backward()
    np.testing.assert_array_equal(t.grad, [3.0, 3.0, 3.0])


@pytest.mark.parametrize("bad, word", [(np.zeros(2), "shape"), (np.zeros((3, 1)), "shape"),
                                       (np.zeros(3, dtype=np.float32), "dtype")])
def test_grad_of_the_wrong_shape_or_dtype_raises_on_assignment(bad, word):
    t = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises((ValueError, TypeError), match=word):
        t.grad = bad


def test_grad_assignment_of_none_and_of_the_right_shape_and_dtype():
    t = tg.Tensor(np.ones(3), requires_grad=True)
    t.grad = np.full(3, 0.5)
    (t * 2).sum().backward()
    np.testing.assert_array_equal(t.grad, [2.5, 2.5, 2.5])
    t.grad = None
    assert t.grad is None


# ---- in-place operators -----------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_inplace_operator_on_a_leaf_that_requires_grad_raises(op):
    x = tg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError):
        exec(f"x {op} 1", {}, {"x": x})
    np.testing.assert_array_equal(x.data, np.ones(3))


def test_inplace_add_on_a_non_leaf_works():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2
    y += 1
    y += x
    np.testing.assert_array_equal(y.data, [4.0, 7.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# ---- custom Function: wrong gradients and errors in forward --------------------------------------
class OneGradForTwoInputs(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output,)


def grad_of_wrong_shape(wrong_shape: tuple[int, ...]) -> type[Function]:
    class GradOfWrongShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, grad_output):
            return (np.ones(wrong_shape),)

    return GradOfWrongShape


class BroadcastAdd(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, grad_output  # both in the broadcast output shape


def test_backward_returning_the_wrong_number_of_gradients_raises_naming_the_op():
    a, b = (tg.Tensor(np.ones(3), requires_grad=True) for _ in range(2))
    with pytest.raises((RuntimeError, ValueError, TypeError), match="(?i)OneGradForTwoInputs"):
        OneGradForTwoInputs.apply(a, b).sum().backward()


@pytest.mark.parametrize("shape, wrong", [((3,), (4,)), ((2, 3), (6,)), ((2, 3), (3, 2)), ((3,), (3, 1))])
def test_backward_returning_a_gradient_of_a_wrong_shape_raises_naming_the_op(shape, wrong):
    a = tg.Tensor(np.ones(shape), requires_grad=True)
    with pytest.raises((RuntimeError, ValueError), match="(?i)GradOfWrongShape"):
        grad_of_wrong_shape(wrong).apply(a).sum().backward()


def test_backward_returning_the_broadcast_output_shape_is_reduced():
    a = tg.Tensor(np.ones(3), requires_grad=True)
    b = tg.Tensor(np.ones((2, 1)), requires_grad=True)
    BroadcastAdd.apply(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.grad, [[3.0], [3.0]])


class RaisesInForward(Function):
    @staticmethod
    def forward(ctx, a, kind):
        raise kind("the user's own message")

    @staticmethod
    def backward(ctx, grad_output):  # pragma: no cover
        return (grad_output,)


def _has_user_frame(exc: BaseException) -> bool:
    return any(f.name == "forward" and f.filename == __file__ for f in traceback.extract_tb(exc.__traceback__))


@pytest.mark.parametrize("kind", [ValueError, TypeError, RuntimeError, ZeroDivisionError])
def test_errors_in_a_user_forward_keep_their_traceback(kind):
    with pytest.raises(Exception) as info:
        RaisesInForward.apply(tg.Tensor(np.ones(2), requires_grad=True), kind=kind)
    err, cause = info.value, info.value.__cause__
    kept = (isinstance(err, kind) and _has_user_frame(err)) or (
        isinstance(cause, kind) and "the user's own message" in str(cause) and _has_user_frame(cause))
    assert kept, f"{type(err).__name__}: {err} (cause {cause!r}) lost the user's forward frame"


# ---- dims out of range -------------------------------------------------------------------------------
OUT_OF_RANGE = {"flatten(5)": lambda t: t.flatten(5), "flatten(0, 4)": lambda t: t.flatten(0, 4),
                "unsqueeze(5)": lambda t: t.unsqueeze(5), "unsqueeze(-4)": lambda t: t.unsqueeze(-4),
                "permute(0, 3)": lambda t: t.permute(0, 3), "permute(0, -3)": lambda t: t.permute(0, -3),
                "transpose(0, 2)": lambda t: t.transpose(0, 2)}


@pytest.mark.parametrize("call", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_out_of_range_dims_raise(call):
    with pytest.raises((ValueError, IndexError)):
        call(tg.Tensor(np.ones((2, 3))))


def test_expand_minus_one_only_keeps_existing_dims():
    with pytest.raises((ValueError, RuntimeError)):
        tg.Tensor(np.ones(3)).expand(-1, 3)
    assert tg.Tensor(np.ones((3, 1))).expand(-1, 4).shape == (3, 4)
    assert tg.Tensor(np.ones(3)).expand(2, -1).shape == (2, 3)
