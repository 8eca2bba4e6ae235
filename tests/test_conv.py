"""Conv2d: output-size rule, forward against a naive loop, gradients (gradcheck, PyTorch), dtypes, errors, layer."""

from __future__ import annotations

import doctest
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.ops import conv as conv_op


def conv(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    return F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


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
    """Output size (PyTorch's rule) and values; a ValueError when the kernel does not fit the padded input."""
    rng = np.random.default_rng(2)
    c, o = cg * groups, og * groups
    x, wt, b = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, cg, kh, kw)), rng.standard_normal(o)
    args = ((sh, sw), (ph, pw), (dh, dw), groups)
    if dh * (kh - 1) + 1 > h + 2 * ph or dw * (kw - 1) + 1 > w + 2 * pw:  # the kernel does not fit: an error
        with pytest.raises(ValueError, match="conv2d: kernel .* is larger than the padded input"):
            conv(tg.Tensor(x), tg.Tensor(wt), None, *args)
        return
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


def test_batch_chunks_give_the_same_result_as_one_chunk(monkeypatch):
    """Forward and backward run over the batch in chunks; tiny chunks (one sample, then two) change nothing."""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((5, 4, 6, 5)), rng.standard_normal((6, 2, 3, 2)), rng.standard_normal(6)
    g = rng.standard_normal((5, 6, 3, 6))

    def run():
        ts = [tg.Tensor(a, requires_grad=True) for a in (x, w, b)]
        y = conv(*ts, stride=(2, 1), padding=(1, 1), groups=2)
        y.backward(g)
        return [y.data] + [t.grad for t in ts]

    whole = run()
    per_sample = 2 * (2 * 3 * 2) * (3 * 6)  # groups * (C/groups KH KW) * (OH OW): one sample's columns
    for values, chunks in ((1, 5), (2 * per_sample, 3)):  # one sample per chunk; two samples per chunk
        monkeypatch.setattr(conv_op, "CHUNK_VALUES", values)
        assert len(conv_op.batch_chunks(5, per_sample)) == chunks
        for got, want in zip(run(), whole):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_int_arguments_mean_both_axes():
    rng = np.random.default_rng(8)
    x, w = tg.Tensor(rng.standard_normal((1, 2, 7, 7))), tg.Tensor(rng.standard_normal((2, 2, 3, 3)))
    np.testing.assert_array_equal(F.conv2d(x, w, stride=2, padding=1, dilation=2).data,
                                  F.conv2d(x, w, stride=(2, 2), padding=(1, 1), dilation=(2, 2)).data)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x=(2, 3, 5)), ValueError, r"conv2d: expected input of shape \(N, C, H, W\), got shape \(2, 3, 5\)"),
    (dict(x=(3, 5, 5)), ValueError, r"unsqueeze\(0\)"),
    (dict(w=(4, 3, 3)), ValueError, r"conv2d: expected weight of shape \(out_channels, in_channels/groups"),
    (dict(w=(4, 2, 3, 3)), ValueError, r"input \(2, 3, 5, 5\) has 3 channel\(s\), but weight \(4, 2, 3, 3\)"),
    (dict(groups=2), ValueError, r"in_channels \(3\) and out_channels \(4\) must both be divisible by groups"),
    (dict(x=(2, 4, 5, 5), w=(3, 2, 3, 3), groups=2), ValueError, r"out_channels \(3\)"),
    (dict(groups=0), ValueError, r"conv2d: groups must be a positive integer, got 0"),
    (dict(groups=1.0), TypeError, r"conv2d: groups must be an integer"),
    (dict(stride=0), ValueError, r"conv2d: stride must be positive"),
    (dict(dilation=(1, -1)), ValueError, r"conv2d: dilation must be positive"),
    (dict(padding=-1), ValueError, r"conv2d: padding must be non-negative"),
    (dict(padding=(1, 2, 3)), TypeError, r"conv2d: padding must be an integer or a pair of integers"),
    (dict(stride="2"), TypeError, r"conv2d: stride must be an integer or a pair"),
    (dict(w=(4, 3, 6, 3)), ValueError, r"kernel 6x3 is larger than the padded input 5x5"),
    (dict(w=(4, 3, 3, 3), dilation=3), ValueError, r"kernel 3x3 \(dilated to 7x7\) is larger"),
    (dict(b=(3,)), ValueError, r"conv2d: expected bias of shape \(4,\)"),
    (dict(x_dtype=np.float32), TypeError, r"conv2d: expected weight of the input's dtype float32, got dtype float64"),
    (dict(x_dtype=np.int64), TypeError, r"conv2d: expected a floating-point input, got dtype int64"),
])
def test_errors_name_the_op_and_the_shapes(kwargs, error, match):
    x = np.zeros(kwargs.pop("x", (2, 3, 5, 5)), dtype=kwargs.pop("x_dtype", np.float64))
    w, b = np.zeros(kwargs.pop("w", (4, 3, 3, 3))), np.zeros(kwargs.pop("b", (4,)))
    with pytest.raises(error, match=match):
        F.conv2d(tg.Tensor(x), tg.Tensor(w), tg.Tensor(b), **kwargs)


# ---- the layer --------------------------------------------------------------------------------------
def test_layer_init_follows_pytorch():
    """weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * KH * KW."""
    layer = tg.nn.Conv2d(8, 16, (3, 5), groups=2, generator=np.random.default_rng(0))
    bound = 1 / np.sqrt(8 // 2 * 3 * 5)
    assert layer.weight.shape == (16, 4, 3, 5) and layer.bias.shape == (16,)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound  # spread over the whole interval (960 draws)
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.1 * bound  # the std of U(-b, b)


def test_layer_generator_makes_init_reproducible_and_dtype_is_kept():
    a = tg.nn.Conv2d(2, 3, 3, generator=np.random.default_rng(5), dtype=np.float64)
    b = tg.nn.Conv2d(2, 3, 3, generator=np.random.default_rng(5), dtype=np.float64)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.dtype == np.float64 and a(tg.Tensor(np.ones((1, 2, 4, 4)))).dtype == np.float64


def test_layer_state_dict_and_repr_match_pytorch():
    layer = tg.nn.Conv2d(1, 32, 3, padding=1)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert repr(layer) == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert list(tg.nn.Conv2d(4, 8, (1, 2), stride=2, dilation=(2, 1), groups=4, bias=False).state_dict()) == ["weight"]
    assert repr(tg.nn.Conv2d(4, 8, (1, 2), stride=2, dilation=(2, 1), groups=4, bias=False)) == \
        "Conv2d(4, 8, kernel_size=(1, 2), stride=(2, 2), dilation=(2, 1), groups=4, bias=False)"


def test_layer_forward_is_F_conv2d_with_its_parameters():
    layer = tg.nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=np.float64)
    x = tg.Tensor(np.random.default_rng(6).standard_normal((2, 3, 7, 7)), requires_grad=True)
    np.testing.assert_array_equal(layer(x).data, F.conv2d(x, layer.weight, layer.bias, 2, 1).data)
    layer(x).sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape and layer.bias.grad.shape == (4,)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((3, 4, 3), {"groups": 2}, ValueError, r"Conv2d: in_channels \(3\) and out_channels \(4\) must both be divisible"),
    ((0, 4, 3), {}, ValueError, r"Conv2d: in_channels must be a positive integer, got 0"),
    ((3, 4, 0), {}, ValueError, r"Conv2d: kernel_size must be positive"),
    ((3, 4, 3), {"padding": -1}, ValueError, r"Conv2d: padding must be non-negative"),
    ((3, 4, 3), {"dtype": np.int32}, TypeError, r"Conv2d: dtype must be a floating-point type"),
])
def test_layer_errors(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        tg.nn.Conv2d(*args, **kwargs)


def test_layer_rejects_wrong_channels_naming_the_shapes():
    with pytest.raises(ValueError, match=r"conv2d: input \(1, 2, 5, 5\) has 2 channel\(s\), but weight \(4, 3, 3, 3\)"):
        tg.nn.Conv2d(3, 4, 3)(tg.Tensor(np.zeros((1, 2, 5, 5), np.float32)))


def test_docs_cnn_examples_run():
    path = pathlib.Path(__file__).parents[1] / "docs" / "cnn.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_non_contiguous_inputs():
    """Transposed, reversed and sliced inputs (strided views) give the same result as contiguous copies."""
    rng = np.random.default_rng(9)
    base, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    for view in (base.transpose(0, 1, 3, 2), base[:, :, ::-1, ::2], base[:, ::-1]):
        got = conv(tg.Tensor(view), tg.Tensor(w[:, :view.shape[1]]), padding=(1, 0))
        want = conv(tg.Tensor(np.ascontiguousarray(view)), tg.Tensor(w[:, :view.shape[1]]), padding=(1, 0))
        np.testing.assert_array_equal(got.data, want.data)
        for pool in (F.max_pool2d, F.avg_pool2d):
            np.testing.assert_array_equal(pool(tg.Tensor(view), 2).data, pool(tg.Tensor(view.copy()), 2).data)
    # a non-contiguous grad_output: the output is transposed before it is used
    x = tg.Tensor(rng.standard_normal((2, 3, 5, 4)), requires_grad=True)
    assert tg.gradcheck(lambda t: (conv(t, tg.Tensor(w), padding=(1, 1)).permute(0, 3, 2, 1) * np.arange(4.0)).sum(),
                        [x])
    assert tg.gradcheck(lambda t: (F.max_pool2d(t, 2, 1).permute(3, 2, 1, 0) * np.arange(2.0)).sum(), [x])
