"""micrograd's own engine tests, on 0-d float64 tensors (reference values computed with PyTorch), and
small hand-checked graphs: a 0-d intermediate used twice, the same tensor twice in one op, a diamond.

micrograd's expressions reuse 0-d intermediates several times and rebind names with ``+=`` on
non-leaf tensors, so they check that every contribution reaches the leaves.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg

SHAPES = [(), (1,), (3,), (2, 1), (1, 3), (2, 3, 4)]


def scalar(v) -> tg.Tensor:
    """A float64 leaf that requires grad (0-d for a Python number)."""
    return tg.Tensor(np.array(v, dtype=np.float64), requires_grad=True)


def test_sanity_check():
    x = scalar(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.shape == () and y.dtype == np.float64
    assert abs(y.item() - (-20.0)) < 1e-12
    assert abs(float(x.grad) - 46.0) < 1e-9, float(x.grad)
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad.dtype == np.float64


def test_more_ops():
    a, b = scalar(-4.0), scalar(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert abs(g.item() - 24.70408163265306) < 1e-6
    for t, expected in ((a, 138.83381924198252), (b, 645.5772594752186)):
        assert abs(float(t.grad) - expected) < 1e-6, (float(t.grad), expected)
        assert type(t.grad) is np.ndarray and t.grad.shape == () and t.grad.dtype == np.float64


def test_inplace_add_on_a_non_leaf_rebinds_to_a_new_node():
    a = scalar(3.0)
    c = a * 2
    before = c
    c += 1
    assert c is not before and before.item() == 6.0 and c.item() == 7.0
    c.backward()
    assert float(a.grad) == 2.0


# ---- small hand-checked structures: a 0-d node used twice, the same tensor twice, a diamond ---------
@settings(max_examples=20, deadline=None)
@given(st.floats(-3, 3), st.sampled_from(SHAPES))
def test_zero_d_intermediate_used_twice_gets_both_contributions(x0, shape):
    x = scalar(x0)
    y = 2 * x + 2
    (y * y).backward()
    np.testing.assert_allclose(x.grad, 4 * (2 * x0 + 2), rtol=1e-12, atol=1e-12)  # d/dx (2x+2)^2
    assert type(x.grad) is np.ndarray and x.grad.shape == () and x.grad.dtype == np.float64
    v = scalar(np.random.default_rng(0).uniform(-1, 1, shape))
    s = v.sum()
    (s * s).backward()
    np.testing.assert_allclose(v.grad, np.full(shape, 2 * v.data.sum()), rtol=1e-12, atol=1e-12)  # 2 sum(v)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(SHAPES), st.integers(0, 2**16))
def test_same_tensor_twice_and_diamonds(shape, seed):
    x = scalar(np.random.default_rng(seed).uniform(-2, 2, shape))
    ((x * x).sum() + (x + x).sum()).backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 2, rtol=1e-12)
    x.grad = None
    a = x.tanh()  # a diamond: a feeds both factors of the product
    (a * 3 * a.exp()).sum().backward()
    t = np.tanh(x.data)
    np.testing.assert_allclose(x.grad, 3 * (1 + t) * np.exp(t) * (1 - t * t), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_grad_is_an_ndarray_of_the_leaf_shape_and_dtype(shape, dtype):
    t = tg.Tensor(np.ones(shape, dtype=dtype), requires_grad=True)
    (t * 2).sum().backward()
    assert type(t.grad) is np.ndarray, type(t.grad)
    assert t.grad.shape == shape and t.grad.dtype == dtype
