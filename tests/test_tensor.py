"""Tensor basics: dtypes, properties, operators, shapes and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg


def test_python_floats_default_to_float32_and_numpy_keeps_dtype():
    assert tg.Tensor([1.0, 2.0]).dtype == np.float32
    assert tg.Tensor(3.5).dtype == np.float32
    assert tg.Tensor(np.zeros(3)).dtype == np.float64
    assert tg.Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert tg.Tensor([1, 2]).dtype.kind == "i"


def test_python_scalars_take_the_tensor_dtype():
    x = tg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for y in (x * 2.5, 2.5 * x, x + 1, 1 - x, x / 3.0, 3.0 / x, x**2, 2.0**x):
        assert y.dtype == np.float32, y
    y = (x * 0.5).sum()
    y.backward()
    assert x.grad.dtype == np.float32


def test_integer_tensors_never_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tg.Tensor([1, 2, 3], requires_grad=True)
    t = tg.Tensor([1, 2, 3])
    assert not (t * 2).requires_grad


def test_non_numeric_data_is_rejected():
    with pytest.raises(TypeError, match="numeric"):
        tg.Tensor(["a", "b"])


def test_properties_and_conversions():
    t = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.is_leaf and len(t) == 2
    assert t.numpy() is t.data
    assert tg.Tensor(np.array([4.0])).item() == 4.0
    with pytest.raises(ValueError, match="one-element"):
        t.item()
    d = (t * 2).detach()
    assert d.is_leaf and not d.requires_grad
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=<Mul>" in repr(t * 2)
    assert np.asarray(t).shape == (2, 3)


def test_tensor_constructor_copies_but_Tensor_shares():
    a = np.zeros(3)
    assert tg.Tensor(a).data is a
    c = tg.tensor(a)
    c.data[0] = 1
    assert a[0] == 0


def test_numpy_array_on_the_left_gives_a_tensor():
    x = tg.Tensor(np.ones((2, 2)), requires_grad=True)
    y = np.full((2, 2), 3.0) * x + np.ones(2)
    assert isinstance(y, tg.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 3.0))


def test_comparisons_and_argmax_are_outside_the_graph():
    x = tg.Tensor(np.array([[1.0, 5.0], [7.0, 2.0]]), requires_grad=True)
    assert not (x > 2).requires_grad
    np.testing.assert_array_equal((x > 2).data, [[False, True], [True, False]])
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    assert ((x.argmax(axis=1) == tg.Tensor([1, 0])).data).all()


@pytest.mark.parametrize("make, expected", [
    (lambda x: x.reshape(3, 2), (3, 2)),
    (lambda x: x.reshape(-1), (6,)),
    (lambda x: x.T, (3, 2)),
    (lambda x: x.transpose(0, 1), (3, 2)),
    (lambda x: x.permute(1, 0), (3, 2)),
    (lambda x: x.unsqueeze(0), (1, 2, 3)),
    (lambda x: x.unsqueeze(-1).squeeze(-1), (2, 3)),
    (lambda x: x.flatten(), (6,)),
    (lambda x: x[None].expand(4, 2, 3), (4, 2, 3)),
    (lambda x: x.sum(axis=0, keepdims=True), (1, 3)),
    (lambda x: x.mean(dim=1, keepdim=True), (2, 1)),
    (lambda x: x.max(axis=(0, 1)), ()),
    (lambda x: tg.stack([x, x], axis=1), (2, 2, 3)),
    (lambda x: tg.cat([x, x], axis=0), (4, 3)),
])
def test_shapes(make, expected):
    assert make(tg.Tensor(np.arange(6.0).reshape(2, 3))).shape == expected


def test_var_defaults_to_unbiased_like_pytorch():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert np.isclose(tg.Tensor(x).var().item(), x.var(ddof=1))
    assert np.isclose(tg.Tensor(x).var(correction=0).item(), x.var())


def test_getitem_matches_numpy():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tg.Tensor(a)
    for idx in [(1, slice(None), 2), (Ellipsis, 1), (np.array([1, 0]),), (slice(None), [0, 2]), (a > 10,)]:
        np.testing.assert_array_equal(t[idx].data, a[idx])
    np.testing.assert_array_equal(t[tg.Tensor([1, 1])].data, a[[1, 1]])


def test_matmul_with_vectors_matches_numpy():
    rng = np.random.default_rng(0)
    for sa, sb in [((3,), (3, 2)), ((4, 3), (3,)), ((3,), (3,)), ((2, 4, 3), (3, 5))]:
        a, b = rng.standard_normal(sa), rng.standard_normal(sb)
        np.testing.assert_allclose((tg.Tensor(a) @ tg.Tensor(b)).data, a @ b)


# ---- errors ---------------------------------------------------------------------------------------
def test_matmul_shape_error_names_op_and_both_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(4, 3\) and \(2, 2\)"):
        tg.Tensor(np.ones((4, 3))) @ tg.Tensor(np.ones((2, 2)))
    with pytest.raises(ValueError, match="matmul: both operands need at least 1 dimension"):
        tg.Tensor(np.ones(3)) @ tg.Tensor(2.0)


def test_broadcast_error_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"add: inputs with shapes \(4, 3\), \(2,\)"):
        tg.Tensor(np.ones((4, 3))) + tg.Tensor(np.ones(2))
    with pytest.raises(ValueError, match=r"mul: inputs with shapes \(3,\), \(4,\)"):
        tg.Tensor(np.ones(3)) * np.ones(4)


@pytest.mark.parametrize("call, message", [
    (lambda t: t.reshape(4, 2), r"reshape: cannot reshape a tensor of shape \(2, 3\)"),
    (lambda t: t.reshape(-1, -1), "reshape"),
    (lambda t: t.permute(0, 0), "permute"),
    (lambda t: t.expand(4, 3), r"expand: cannot expand shape \(2, 3\) to \(4, 3\)"),
    (lambda t: t.squeeze(0), r"squeeze: axis 0 of shape \(2, 3\) has length 2"),
    (lambda t: t.sum(axis=2), "sum: axis 2 is out of range"),
    (lambda t: t.mean(axis=(0, 0)), "repeated axis"),
    (lambda t: t.clip(2, 1), r"clip: min \(2\) must not be greater than max \(1\)"),
    (lambda t: t[:, :1].var(axis=1), "var: .*correction=1"),
    (lambda t: tg.cat([t, tg.Tensor(np.ones((3, 3)))], axis=1), "concatenate: shapes"),
    (lambda t: tg.stack([t, t.T]), "stack: all tensors must have the same shape"),
])
def test_shape_errors_are_clear(call, message):
    with pytest.raises(ValueError, match=message):
        call(tg.Tensor(np.ones((2, 3))))


def test_zero_dimensional_results_are_arrays_not_numpy_scalars():
    x = tg.Tensor(np.array(2.0), requires_grad=True)
    for y in (x.exp(), x * 3, x.sum(), -x, tg.F.dropout(x, 0.5, training=True)):
        assert type(y.data) is np.ndarray and y.shape == ()


def test_an_index_out_of_range_is_an_index_error_naming_the_shape():
    with pytest.raises(IndexError, match=r"getitem: index 5 is out of bounds.*shape \(2, 3\)"):
        tg.Tensor(np.ones((2, 3)))[5]
