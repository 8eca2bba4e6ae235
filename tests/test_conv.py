"""Conv2d: output-size rule, forward against a naive loop, gradients (gradcheck, PyTorch), dtypes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.ops.conv import Conv2d


def conv(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    args = (x, w) if b is None else (x, w, b)
    return Conv2d.apply(*args, stride=stride, padding=padding, dilation=dilation, groups=groups)


def naive_conv(x, w, b, stride, padding, dilation, groups):
    """The definition, one output pixel at a time (small sizes only)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for r in range(oh):
                for s in range(ow):
                    acc = 0.0
                    for ci in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                acc += w[oi, ci, i, j] * xp[ni, g * cg + ci, r * sh + i * dh, s * sw + j * dw]
                    y[ni, oi, r, s] = acc + (0.0 if b is None else b[oi])
    return y


CONFIGS = [  # (N, C, H, W, O, groups, kernel, stride, padding, dilation, bias)
    (2, 3, 5, 5, 4, 1, (3, 3), (1, 1), (0, 0), (1, 1), True),
    (1, 2, 6, 7, 3, 1, (3, 2), (2, 1), (1, 2), (1, 1), False),
    (2, 4, 7, 6, 6, 2, (3, 2), (2, 1), (1, 0), (1, 2), True),
    (1, 4, 8, 8, 4, 4, (3, 3), (1, 1), (2, 2), (2, 2), True),      # depthwise, dilated
    (3, 1, 5, 4, 2, 1, (1, 1), (2, 3), (0, 0), (1, 1), True),      # 1x1, stride skips pixels
    (1, 2, 3, 3, 2, 1, (3, 3), (1, 1), (0, 0), (1, 1), False),     # one output pixel
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_matches_naive_loop(cfg):
    n, c, h, w, o, g, k, s, p, d, bias = cfg
    rng = np.random.default_rng(0)
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // g, *k)), rng.standard_normal(o)
    y = conv(tg.Tensor(x), tg.Tensor(wt), tg.Tensor(b) if bias else None, s, p, d, g)
    np.testing.assert_allclose(y.data, naive_conv(x, wt, b if bias else None, s, p, d, g), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_gradcheck(cfg):
    n, c, h, w, o, g, k, s, p, d, bias = cfg
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // g, *k))]
    arrays += [rng.standard_normal(o)] if bias else []
    assert tg.gradcheck(lambda *t: conv(*t, stride=s, padding=p, dilation=d, groups=g), arrays)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2), groups=st.integers(1, 2),
       h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 2), dw=st.integers(1, 2), bias=st.booleans())
def test_random_configs_match_naive_loop(n, cg, og, groups, h, w, kh, kw, sh, sw, ph, pw, dh, dw, bias):
    """Output size (PyTorch's rule) and values, for every configuration whose kernel fits the padded input."""
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:
        return
    rng = np.random.default_rng(2)
    c, o = cg * groups, og * groups
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, cg, kh, kw)), rng.standard_normal(o)
    args = ((sh, sw), (ph, pw), (dh, dw), groups)
    y = conv(tg.Tensor(x), tg.Tensor(wt), tg.Tensor(b) if bias else None, *args)
    assert y.shape == (n, o, (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
    np.testing.assert_allclose(y.data, naive_conv(x, wt, b if bias else None, *args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_in_forward_and_backward(dtype):
    rng = np.random.default_rng(3)
    x = tg.Tensor(rng.standard_normal((2, 3, 6, 6)).astype(dtype), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(dtype), requires_grad=True)
    b = tg.Tensor(rng.standard_normal(4).astype(dtype), requires_grad=True)
    y = conv(x, w, b, padding=(1, 1))
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype and w.grad.dtype == dtype and b.grad.dtype == dtype


def test_tensor_used_twice_accumulates():
    rng = np.random.default_rng(4)
    x = tg.Tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    assert tg.gradcheck(lambda t: conv(t, t[:3, :, :3, :3], padding=(1, 1)), [x])  # x is input and weight
    uses = [{}, {"stride": (2, 2), "padding": (1, 1)}]
    (conv(x, w, **uses[0]).sum() + conv(x, w, **uses[1]).sum()).backward()
    both = x.grad.copy(), w.grad.copy()
    apart = []
    for kw in uses:
        x.grad = w.grad = None
        conv(x, w, **kw).sum().backward()
        apart.append((x.grad.copy(), w.grad.copy()))
    np.testing.assert_allclose(both[0], apart[0][0] + apart[1][0], rtol=1e-12)
    np.testing.assert_allclose(both[1], apart[0][1] + apart[1][1], rtol=1e-12)


def test_backward_does_not_write_into_grad_output_or_inputs():
    rng = np.random.default_rng(5)
    x, w, g = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3, 5, 5))
    tx, tw, tg_out = tg.Tensor(x.copy(), requires_grad=True), tg.Tensor(w.copy(), requires_grad=True), g.copy()
    conv(tx, tw, padding=(1, 1)).backward(tg_out)
    np.testing.assert_array_equal(tx.data, x)
    np.testing.assert_array_equal(tw.data, w)
    np.testing.assert_array_equal(tg_out, g)


def test_empty_batch():
    y = conv(tg.Tensor(np.zeros((0, 2, 5, 5))), tg.Tensor(np.ones((3, 2, 3, 3))))
    assert y.shape == (0, 3, 3, 3)


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_pytorch_forward_and_backward(cfg, dtype):
    torch = pytest.importorskip("torch")
    n, c, h, w, o, g, k, s, p, d, bias = cfg
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // g, *k)), rng.standard_normal(o)]
    arrays = [a.astype(dtype) for a in arrays[:3 if bias else 2]]
    ours = [tg.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = conv(*ours, stride=s, padding=p, dilation=d, groups=g)
    ty = torch.nn.functional.conv2d(*theirs, stride=s, padding=p, dilation=d, groups=g)
    gy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    ty.backward(torch.tensor(gy))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol)
    for a, b in zip(ours, theirs):
        assert a.grad.dtype == dtype
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **tol)
