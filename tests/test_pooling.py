"""Max, average and global average pooling: forward against naive loops, gradients, ties, dtypes, PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
import tinygrad_bn.functional as F


def max_pool(x, kernel, stride=None, padding=(0, 0)):
    return F.max_pool2d(x, kernel, stride, padding)


def avg_pool(x, kernel, stride=None, padding=(0, 0)):
    return F.avg_pool2d(x, kernel, stride, padding)


def global_avg_pool(x):
    return F.adaptive_avg_pool2d(x, 1)


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
    """Output size (PyTorch's rule), values and gradients, including many tied maxima (integer values);
    a ValueError for the configurations PyTorch rejects."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 2, h, w)).astype(float) if ties else rng.standard_normal((2, 2, h, w))
    if 2 * ph > kh or 2 * pw > kw or kh > h + 2 * ph or kw > w + 2 * pw:  # PyTorch's rules: an error
        with pytest.raises(ValueError, match=f"{kind}_pool2d: .*(at most half of kernel_size|larger than the padded)"):
            POOL[kind](tg.Tensor(x), (kh, kw), (sh, sw), (ph, pw))
        return
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


def test_nan_propagates_through_max_pool_and_its_first_nan_wins():
    x = np.zeros((1, 1, 2, 4))
    x[0, 0, 1, 0] = x[0, 0, 1, 1] = np.nan   # left window: two NaNs; right window: no NaN
    x[0, 0, 0, 3] = 1.0
    t = tg.Tensor(x, requires_grad=True)
    y = max_pool(t, (2, 2))
    np.testing.assert_array_equal(y.data, [[[[np.nan, 1.0]]]])
    y.backward(np.array([[[[2.0, 3.0]]]]))
    np.testing.assert_array_equal(t.grad, [[[[0.0, 0.0, 0.0, 3.0], [2.0, 0.0, 0.0, 0.0]]]])


def test_max_pool_infinite_gradient_reaches_only_the_winner():
    t = tg.Tensor(np.array([[[[1.0, 2.0], [3.0, 0.0]]]]), requires_grad=True)
    max_pool(t, (2, 2)).backward(np.array([[[[np.inf]]]]))
    np.testing.assert_array_equal(t.grad, [[[[0.0, 0.0], [np.inf, 0.0]]]])


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


def test_stride_defaults_to_kernel_size():
    x = tg.Tensor(np.arange(36.0).reshape(1, 1, 6, 6))
    np.testing.assert_array_equal(F.max_pool2d(x, 3).data, [[[[14.0, 17.0], [32.0, 35.0]]]])
    np.testing.assert_array_equal(F.avg_pool2d(x, (2, 3)).data, F.avg_pool2d(x, (2, 3), (2, 3)).data)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("args, kwargs, error, match", [
    (((2, 3, 5),), {"kernel_size": 2}, ValueError, r"expected input of shape \(N, C, H, W\), got shape \(2, 3, 5\)"),
    (((1, 1, 4, 4),), {"kernel_size": 0}, ValueError, r"kernel_size must be positive"),
    (((1, 1, 4, 4),), {"kernel_size": (2, 2, 2)}, TypeError, r"kernel_size must be an integer or a pair"),
    (((1, 1, 4, 4),), {"kernel_size": 2, "stride": 0}, ValueError, r"stride must be positive"),
    (((1, 1, 4, 4),), {"kernel_size": 2, "padding": -1}, ValueError, r"padding must be non-negative"),
    (((1, 1, 4, 4),), {"kernel_size": 2, "padding": 2}, ValueError,
     r"padding \(2, 2\) must be at most half of kernel_size \(2, 2\)"),
    (((1, 1, 4, 4),), {"kernel_size": (3, 1), "padding": (1, 1)}, ValueError, r"at most half of kernel_size"),
    (((1, 1, 3, 4),), {"kernel_size": 4}, ValueError, r"kernel 4x4 is larger than the padded input 3x4"),
])
def test_pool_errors_name_the_op(op, args, kwargs, error, match):
    with pytest.raises(error, match=f"{op}: .*{match}"):
        getattr(F, op)(tg.Tensor(np.zeros(args[0])), **kwargs)


def test_pool_rejects_integer_input():
    with pytest.raises(TypeError, match=r"max_pool2d: expected a floating-point input, got dtype int64"):
        F.max_pool2d(tg.Tensor(np.zeros((1, 1, 2, 2), dtype=np.int64)), 2)


@pytest.mark.parametrize("size, error, match", [
    (2, ValueError, r"only output_size 1 or \(1, 1\) .* got 2"), ((1, 2), ValueError, r"got \(1, 2\)"),
    (0, ValueError, r"output_size must be positive"), ("1", TypeError, r"output_size must be an integer or a pair"),
])
def test_adaptive_avg_pool_errors(size, error, match):
    with pytest.raises(error, match=f"adaptive_avg_pool2d: .*{match}"):
        F.adaptive_avg_pool2d(tg.Tensor(np.zeros((1, 1, 4, 4))), size)


def test_adaptive_avg_pool_rejects_an_empty_plane():
    with pytest.raises(ValueError, match=r"adaptive_avg_pool2d: cannot average over an empty plane"):
        F.adaptive_avg_pool2d(tg.Tensor(np.zeros((1, 1, 0, 4))), 1)


# ---- the layers -------------------------------------------------------------------------------------
def test_layers_call_the_functions_and_print_like_pytorch():
    x = tg.Tensor(np.random.default_rng(7).standard_normal((2, 3, 6, 6)))
    cases = [(tg.nn.MaxPool2d(2), F.max_pool2d(x, 2), "MaxPool2d(kernel_size=2, stride=2, padding=0)"),
             (tg.nn.MaxPool2d(3, 1, 1), F.max_pool2d(x, 3, 1, 1), "MaxPool2d(kernel_size=3, stride=1, padding=1)"),
             (tg.nn.AvgPool2d((2, 3), padding=(1, 0)), F.avg_pool2d(x, (2, 3), padding=(1, 0)),
              "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=(1, 0))"),
             (tg.nn.AdaptiveAvgPool2d((1, 1)), F.adaptive_avg_pool2d(x, 1), "AdaptiveAvgPool2d(output_size=(1, 1))")]
    for layer, want, text in cases:
        np.testing.assert_array_equal(layer(x).data, want.data)
        assert repr(layer) == text and list(layer.state_dict()) == []


@pytest.mark.parametrize("make, error, match", [
    (lambda: tg.nn.MaxPool2d(2, padding=2), ValueError, r"MaxPool2d: padding 2 must be at most half of kernel_size 2"),
    (lambda: tg.nn.AvgPool2d(0), ValueError, r"AvgPool2d: kernel_size must be positive"),
    (lambda: tg.nn.MaxPool2d(2, stride=(1, 0)), ValueError, r"MaxPool2d: stride must be positive"),
    (lambda: tg.nn.AdaptiveAvgPool2d(7), ValueError, r"AdaptiveAvgPool2d: only output_size 1 or \(1, 1\)"),
])
def test_layer_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_max_pool_saves_its_winners_only_when_a_backward_can_come():
    x = tg.Tensor(np.random.default_rng(8).standard_normal((1, 2, 4, 4)), requires_grad=True)
    assert F.max_pool2d(x, 2)._ctx.saved_shapes == (((1, 2, 2, 2), "uint8"),)
    with tg.no_grad():
        y = F.max_pool2d(x, 2)
    assert y._ctx is None and not y.requires_grad
    np.testing.assert_array_equal(y.data, F.max_pool2d(x, 2).data)
