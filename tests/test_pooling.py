"""Max, average and global average pooling: forward against naive loops, gradients, ties, dtypes, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.ops.pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d


def max_pool(x, kernel, stride=None, padding=(0, 0)):
    return MaxPool2d.apply(x, kernel_size=kernel, stride=stride or kernel, padding=padding)


def avg_pool(x, kernel, stride=None, padding=(0, 0)):
    return AvgPool2d.apply(x, kernel_size=kernel, stride=stride or kernel, padding=padding)


def global_avg_pool(x):
    return GlobalAvgPool2d.apply(x)


def naive_pool(x, kernel, stride, padding, kind):
    """Forward and the gradient of sum(y * g) by the definition, one window at a time."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    fill = -np.inf if kind == "max" else 0.0
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    y = np.zeros((n, c, oh, ow))
    g = np.random.default_rng(9).standard_normal(y.shape)
    dxp = np.zeros_like(xp)
    for a in range(n):
        for b in range(c):
            for r in range(oh):
                for s in range(ow):
                    win = xp[a, b, r * sh:r * sh + kh, s * sw:s * sw + kw]
                    if kind == "max":
                        i, j = np.unravel_index(np.argmax(win), win.shape)  # first maximum, row-major
                        y[a, b, r, s] = win[i, j]
                        dxp[a, b, r * sh + i, s * sw + j] += g[a, b, r, s]
                    else:
                        y[a, b, r, s] = win.sum() / (kh * kw)
                        dxp[a, b, r * sh:r * sh + kh, s * sw:s * sw + kw] += g[a, b, r, s] / (kh * kw)
    return y, g, dxp[:, :, ph:ph + h, pw:pw + w]


POOL = {"max": max_pool, "avg": avg_pool}
CONFIGS = [  # (shape, kernel, stride, padding)
    ((2, 3, 4, 4), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 7, 6), (3, 2), (2, 1), (1, 1)),       # overlapping rows and columns, padded
    ((2, 2, 9, 8), (3, 3), (1, 2), (1, 0)),
    ((1, 1, 5, 5), (2, 2), (3, 3), (0, 0)),       # stride > kernel: some pixels in no window
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0)),       # one element
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_and_backward_match_naive_loop(kind, cfg):
    shape, k, s, p = cfg
    x = np.random.default_rng(0).standard_normal(shape)
    want_y, g, want_dx = naive_pool(x, k, s, p, kind)
    t = tg.Tensor(x, requires_grad=True)
    y = POOL[kind](t, k, s, p)
    y.backward(g)
    np.testing.assert_allclose(y.data, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad, want_dx, rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 4), sw=st.integers(1, 4), ph=st.integers(0, 2), pw=st.integers(0, 2),
       kind=st.sampled_from(["max", "avg"]), ties=st.booleans())
def test_random_configs_match_naive_loop(h, w, kh, kw, sh, sw, ph, pw, kind, ties):
    """Output size (PyTorch's rule), values and gradients, including many tied maxima (integer values)."""
    if 2 * ph > kh or 2 * pw > kw or kh > h + 2 * ph or kw > w + 2 * pw:
        return  # rejected configurations (see the argument-check tests)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 2, h, w)).astype(float) if ties else rng.standard_normal((2, 2, h, w))
    want_y, g, want_dx = naive_pool(x, (kh, kw), (sh, sw), (ph, pw), kind)
    t = tg.Tensor(x, requires_grad=True)
    y = POOL[kind](t, (kh, kw), (sh, sw), (ph, pw))
    assert y.shape == (2, 2, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)
    y.backward(g)
    np.testing.assert_allclose(y.data, want_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad, want_dx, rtol=1e-12, atol=1e-12)


def test_max_pool_ties_send_the_gradient_to_the_first_maximum_only():
    x = tg.Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    max_pool(x, (2, 2)).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[1.0, 0.0], [0.0, 0.0]]]])


def test_max_pool_overlapping_windows_add():
    x = tg.Tensor(np.array([[[[0.0, 5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]]), requires_grad=True)
    y = max_pool(x, (2, 2), (1, 1))       # the 5 wins the two top windows
    y.backward(np.array([[[[1.0, 10.0], [100.0, 1000.0]]]]))
    assert x.grad[0, 0, 0, 1] == 11.0


def test_max_pool_padding_is_minus_infinity():
    x = tg.Tensor(-np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(max_pool(x, (2, 2), (1, 1), (1, 1)).data, -np.ones((1, 1, 3, 3)))


def test_avg_pool_counts_padding_in_the_divisor():
    y = avg_pool(tg.Tensor(np.ones((1, 1, 2, 2))), (2, 2), (1, 1), (1, 1))
    np.testing.assert_allclose(y.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_global_avg_pool():
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 2))
    t = tg.Tensor(x, requires_grad=True)
    y = global_avg_pool(t)
    assert y.shape == (3, 4, 1, 1)
    np.testing.assert_allclose(y.data, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)
    assert tg.gradcheck(global_avg_pool, [t])


@pytest.mark.parametrize("cfg", CONFIGS)
def test_gradcheck(cfg):
    shape, k, s, p = cfg
    x = np.random.default_rng(3).standard_normal(shape)
    assert tg.gradcheck(lambda t: max_pool(t, k, s, p), [x])
    assert tg.gradcheck(lambda t: avg_pool(t, k, s, p), [x])


def test_tensor_used_twice_accumulates():
    x = tg.Tensor(np.random.default_rng(4).standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert tg.gradcheck(lambda t: max_pool(t, (2, 2)) * avg_pool(t, (2, 2)) + global_avg_pool(t), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [lambda t: max_pool(t, (2, 2), (1, 1), (1, 1)),
                                lambda t: avg_pool(t, (3, 3), (2, 2), (1, 1)), global_avg_pool])
def test_dtype_is_kept(dtype, op):
    t = tg.Tensor(np.random.default_rng(5).standard_normal((2, 3, 5, 5)).astype(dtype), requires_grad=True)
    y = op(t)
    y.sum().backward()
    assert y.dtype == dtype and t.grad.dtype == dtype


def test_nan_propagates_through_max_pool():
    x = np.zeros((1, 1, 2, 2))
    x[0, 0, 1, 0] = np.nan
    assert np.isnan(max_pool(tg.Tensor(x), (2, 2)).data).all()


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch_forward_and_backward(cfg, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, k, s, p = cfg
    rng = np.random.default_rng(6)
    x = rng.integers(-2, 3, shape).astype(dtype)  # small integers: many ties
    for ours, theirs in [(lambda t: max_pool(t, k, s, p), lambda t: F.max_pool2d(t, k, s, p)),
                         (lambda t: avg_pool(t, k, s, p), lambda t: F.avg_pool2d(t, k, s, p)),
                         (global_avg_pool, lambda t: F.adaptive_avg_pool2d(t, 1))]:
        t, tt = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, ty = ours(t), theirs(tt)
        g = rng.standard_normal(y.shape).astype(dtype)
        y.backward(g)
        ty.backward(torch.tensor(g))
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol)
        np.testing.assert_allclose(t.grad, tt.grad.numpy(), **tol)
