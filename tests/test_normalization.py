"""BatchNorm1d/2d, LayerNorm, GroupNorm and F.batch_norm/layer_norm/group_norm.

Gradients of the ``Normalize`` primitive are gradchecked through the op registry (tests/test_registry.py);
here: the fused backward against the staged Ioffe & Szegedy reference, running statistics against plain
numpy, evaluation's closed form, buffers, dtypes, constant channels and every bad-input error.
"""

from __future__ import annotations

import numpy as np
import pytest
from bn_reference import staged_backward, staged_forward

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.ops.normalization import Normalize

nn = tg.nn
rng = np.random.default_rng(0)
SHAPES = [(16, 5), (8, 4, 3), (4, 3, 5, 2)]  # BatchNorm1d (N, C), BatchNorm1d (N, C, L), BatchNorm2d


def _layer(shape, **kw):
    return (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], **kw)


def _activations(shape, dtype=np.float64):
    """Per-channel offsets and scales, like real pre-activations."""
    c = (1, shape[1]) + (1,) * (len(shape) - 2)
    return (rng.standard_normal(shape) * rng.uniform(0.5, 3, c) + rng.standard_normal(c) * 2).astype(dtype)


def _axes(shape):
    return (0, *range(2, len(shape)))


def _set(layer, **arrays):
    for k, v in arrays.items():
        getattr(layer, k).data[...] = v


# ---- training-mode math --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_fused_backward_equals_staged_ioffe_szegedy(shape):
    x, g = _activations(shape), rng.standard_normal(shape)
    gamma, beta = rng.uniform(0.5, 2, shape[1]), rng.standard_normal(shape[1])
    bn = _layer(shape, dtype=np.float64)
    _set(bn, weight=gamma, bias=beta)
    xt = tg.Tensor(x, requires_grad=True)
    out = bn(xt)
    out.backward(g)
    ref_out, cache = staged_forward(x, gamma, beta)
    dx, dgamma, dbeta = staged_backward(g, cache)
    np.testing.assert_allclose(out.data, ref_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, dx, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, dgamma, rtol=1e-10)
    np.testing.assert_allclose(bn.bias.grad, dbeta, rtol=1e-10)
    # the batch statistics make dx sum to zero in every channel
    np.testing.assert_allclose(xt.grad.sum(axis=_axes(shape)), 0, atol=1e-10)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_follow_the_update_rule(shape, momentum):
    bn = _layer(shape, momentum=momentum, dtype=np.float64)
    rm, rv = np.zeros(shape[1]), np.ones(shape[1])
    means, variances = [], []
    mean_buffer = bn.running_mean.data
    for step in range(1, 5):
        x = _activations(shape)
        bn(tg.Tensor(x, requires_grad=True))
        mean, var = x.mean(axis=_axes(shape)), x.var(axis=_axes(shape), ddof=1)  # unbiased for the buffer
        means.append(mean)
        variances.append(var)
        f = 1 / step if momentum is None else momentum
        rm, rv = (1 - f) * rm + f * mean, (1 - f) * rv + f * var
        np.testing.assert_allclose(bn.running_mean.data, rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.data, rv, rtol=1e-12)
        assert bn.num_batches_tracked.item() == step
    if momentum is None:  # the cumulative average is the plain average of the batch statistics
        np.testing.assert_allclose(bn.running_mean.data, np.mean(means, axis=0), rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.data, np.mean(variances, axis=0), rtol=1e-12)
    assert bn.running_mean.data is mean_buffer  # updated in place, not replaced


def test_running_statistics_update_under_no_grad_and_stay_off_the_tape():
    bn = nn.BatchNorm1d(3)
    x = tg.Tensor(_activations((6, 3), np.float32), requires_grad=True)
    with tg.no_grad():
        bn(x)
    assert bn.num_batches_tracked.item() == 1 and np.abs(bn.running_mean.data).sum() > 0
    out = bn(x)
    assert out.grad_fn.fn is Normalize and all(p.is_leaf for p in out.grad_fn.parents)
    assert not bn.running_mean.requires_grad and bn.running_mean.grad_fn is None
    out.sum().backward()
    assert bn.running_mean.grad is None and bn.running_var.grad is None and bn.num_batches_tracked.grad is None


def test_node_attrs_describe_the_op_without_arrays():
    bn = nn.BatchNorm2d(3, momentum=0.2, eps=1e-3)
    attrs = bn(tg.Tensor(_activations((2, 3, 2, 2), np.float32), requires_grad=True)).grad_fn.attrs
    assert attrs["kind"] == "batch_norm" and attrs["axes"] == (0, 2, 3) and attrs["training"] is True
    assert attrs["eps"] == 1e-3 and attrs["momentum"] == 0.2
    assert attrs["inputs"] == ("x", "weight", "bias", "running_mean", "running_var")
    assert not any(isinstance(v, np.ndarray) for v in attrs.values())


def test_backward_leaves_grad_output_untouched():
    for layer, shape in [(nn.BatchNorm1d(4), (6, 4)), (nn.LayerNorm(4), (6, 4)), (nn.GroupNorm(2, 4), (6, 4))]:
        x = tg.Tensor(_activations(shape, np.float32), requires_grad=True)
        seed = rng.standard_normal(shape).astype(np.float32)
        kept = seed.copy()
        tg.autograd.grad(layer(x), [x, layer.weight], grad_output=seed)
        np.testing.assert_array_equal(seed, kept)


# ---- evaluation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
def test_eval_uses_running_statistics_in_closed_form(shape):
    c = shape[1]
    bn = _layer(shape, dtype=np.float64).eval()
    rm, rv, w, b = rng.standard_normal(c), rng.uniform(0.5, 2, c), rng.standard_normal(c), rng.standard_normal(c)
    _set(bn, running_mean=rm, running_var=rv, weight=w, bias=b)
    x, g = _activations(shape), rng.standard_normal(shape)
    xt = tg.Tensor(x, requires_grad=True)
    out = bn(xt)
    out.backward(g)
    per_c = (1, c) + (1,) * (len(shape) - 2)
    r = 1 / np.sqrt(rv + 1e-5)
    x_hat = (x - rm.reshape(per_c)) * r.reshape(per_c)
    np.testing.assert_allclose(out.data, x_hat * w.reshape(per_c) + b.reshape(per_c), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, g * (w * r).reshape(per_c), rtol=1e-12)   # statistics are constants
    np.testing.assert_allclose(bn.weight.grad, (g * x_hat).sum(axis=_axes(shape)), rtol=1e-10)
    np.testing.assert_allclose(bn.bias.grad, g.sum(axis=_axes(shape)), rtol=1e-10)
    np.testing.assert_array_equal(bn.running_mean.data, rm)  # evaluation never updates the buffers
    np.testing.assert_array_equal(bn.running_var.data, rv)
    assert bn.num_batches_tracked.item() == 0


def test_eval_accepts_a_single_sample():
    bn = nn.BatchNorm1d(3).eval()
    out = bn(tg.Tensor(np.ones((1, 3), np.float32)))
    np.testing.assert_allclose(out.data, np.ones((1, 3)) / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_without_running_stats_batch_statistics_are_used_in_eval_too():
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    assert bn.running_mean is None and bn.running_var is None and bn.num_batches_tracked is None
    assert list(bn.state_dict()) == ["weight", "bias"]
    x = tg.Tensor(_activations((5, 3)))
    train_out = bn(x).data
    np.testing.assert_array_equal(bn.eval()(x).data, train_out)
    np.testing.assert_allclose(train_out.mean(axis=0), 0, atol=1e-12)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(tg.Tensor(np.ones((1, 3))))  # batch statistics need two values, even in eval


# ---- buffers, parameters, state -----------------------------------------------------------------------
def test_buffers_are_state_but_not_parameters():
    bn = nn.BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(state["running_var"], np.ones(4))
    assert state["num_batches_tracked"].dtype == np.int64
    bn(tg.Tensor(_activations((3, 4, 2, 2), np.float32)))
    fresh = nn.BatchNorm2d(4)
    fresh.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(fresh.running_mean.data, bn.running_mean.data)
    assert fresh.num_batches_tracked.item() == 1
    fresh.reset_parameters()
    np.testing.assert_array_equal(fresh.running_mean.data, 0)
    assert fresh.num_batches_tracked.item() == 0


def test_affine_off_has_no_parameters():
    for layer in [nn.BatchNorm1d(3, affine=False), nn.LayerNorm(3, elementwise_affine=False),
                  nn.GroupNorm(1, 3, affine=False)]:
        assert list(layer.parameters()) == [] and layer.weight is None and layer.bias is None
    assert nn.LayerNorm(3, bias=False).bias is None


def test_repr_shows_the_options():
    assert repr(nn.BatchNorm1d(8, momentum=None)) == \
        "BatchNorm1d(8, eps=1e-05, momentum=None, affine=True, track_running_stats=True)"
    assert repr(nn.LayerNorm((2, 3))) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True)"


def test_modules_gradcheck_through_parameters():
    for layer, shape in [(nn.BatchNorm2d(3, dtype=np.float64), (3, 3, 2, 2)),
                         (nn.BatchNorm1d(3, dtype=np.float64).eval(), (4, 3)),
                         (nn.LayerNorm((2, 3), dtype=np.float64), (3, 2, 3)),
                         (nn.GroupNorm(2, 4, dtype=np.float64), (2, 4, 3))]:
        for p in layer.parameters():
            p.data[...] = rng.uniform(0.5, 1.5, p.shape)
        assert tg.gradcheck(lambda x, w, b, layer=layer: layer(x), (_activations(shape), layer.weight, layer.bias))


# ---- LayerNorm and GroupNorm against plain numpy -------------------------------------------------------
def _normalize(v, axes, eps=1e-5):
    return (v - v.mean(axis=axes, keepdims=True)) / np.sqrt(v.var(axis=axes, keepdims=True) + eps)


@pytest.mark.parametrize("shape, normalized_shape", [((6, 5), 5), ((3, 4, 5), (4, 5)), ((2, 3, 4), (4,))])
def test_layer_norm_matches_numpy(shape, normalized_shape):
    ln = nn.LayerNorm(normalized_shape, dtype=np.float64)
    _set(ln, weight=rng.standard_normal(ln.weight.shape), bias=rng.standard_normal(ln.bias.shape))
    x = _activations(shape)
    axes = tuple(range(len(shape) - len(ln.normalized_shape), len(shape)))
    expected = _normalize(x, axes) * ln.weight.data + ln.bias.data
    np.testing.assert_allclose(ln(tg.Tensor(x)).data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ln.eval()(tg.Tensor(x)).data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, groups", [((4, 6), 3), ((2, 6, 5), 2), ((2, 4, 3, 2), 4), ((3, 4, 5), 1)])
def test_group_norm_matches_numpy(shape, groups):
    gn = nn.GroupNorm(groups, shape[1], dtype=np.float64)
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    _set(gn, weight=w, bias=b)
    x = _activations(shape)
    grouped = _normalize(x.reshape(shape[0], groups, -1), (2,)).reshape(shape)
    per_c = (1, shape[1]) + (1,) * (len(shape) - 2)
    np.testing.assert_allclose(gn(tg.Tensor(x)).data, grouped * w.reshape(per_c) + b.reshape(per_c),
                               rtol=1e-12, atol=1e-12)


# ---- dtypes and constant channels -----------------------------------------------------------------
LAYERS = [(lambda: nn.BatchNorm1d(4), (6, 4)), (lambda: nn.BatchNorm1d(4), (6, 4, 3)),
          (lambda: nn.BatchNorm2d(4), (3, 4, 2, 2)), (lambda: nn.LayerNorm((4, 3)), (5, 4, 3)),
          (lambda: nn.GroupNorm(2, 4), (3, 4, 5))]


@pytest.mark.parametrize("make, shape", LAYERS)
@pytest.mark.parametrize("training", [True, False])
def test_float32_stays_float32(make, shape, training):
    layer = make().train(training)
    x = tg.Tensor(_activations(shape, np.float32), requires_grad=True)
    out = layer(x)
    out.backward(np.ones(shape, np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())
    assert all(b.dtype == (np.int64 if n == "num_batches_tracked" else np.float32) for n, b in layer.named_buffers())


def test_float64_input_computes_in_float64_and_parameter_grads_keep_their_dtype():
    bn = nn.BatchNorm1d(3)  # float32 parameters and buffers
    x = tg.Tensor(_activations((5, 3)), requires_grad=True)
    out = bn(x)
    out.sum().backward()
    assert out.dtype == np.float64 and x.grad.dtype == np.float64
    assert bn.weight.grad.dtype == np.float32 and bn.running_var.dtype == np.float32


@pytest.mark.parametrize("make, shape", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_groups_give_finite_outputs_and_gradients(make, shape, dtype):
    layer = make()
    x = tg.Tensor(np.full(shape, 3.7, dtype), requires_grad=True)
    g = rng.standard_normal(shape).astype(dtype)
    out = layer(x)
    out.backward(g)
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
    assert all(np.isfinite(p.grad).all() for p in layer.parameters())
    # bias is 0 and x - mean is 0 up to rounding: the mean (a rounded sum times a rounded 1/m) is within a
    # few ulps of 3.7, and x_hat magnifies that by 1/sqrt(eps); 8 ulps leaves room, float32 or float64
    bound = 8 * np.spacing(dtype(3.7)) / np.sqrt(1e-5)
    np.testing.assert_array_less(np.abs(out.data), bound)


def test_constant_channel_gradient_is_the_compact_formula_with_zero_variance():
    x = _activations((8, 3))
    x[:, 1] = 0.25
    g = rng.standard_normal((8, 3))
    xt = tg.Tensor(x, requires_grad=True)
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    bn(xt).backward(g)
    # x_hat = 0 in that channel, so dx = gamma / sqrt(eps) * (g - mean(g))
    np.testing.assert_allclose(xt.grad[:, 1], (g[:, 1] - g[:, 1].mean()) / np.sqrt(1e-5), rtol=1e-10)
    assert bn.weight.grad[1] == 0 and bn.running_var.data[1] == pytest.approx(0.9)


# ---- bad input -----------------------------------------------------------------------------------------
def _t(*shape, dtype=np.float32):
    return tg.Tensor(np.arange(np.prod(shape), dtype=dtype).reshape(shape))


RM, RV = tg.Tensor(np.zeros(4, np.float32)), tg.Tensor(np.ones(4, np.float32))
BAD = [
    (lambda: nn.BatchNorm1d(4)(_t(1, 4)), ValueError, ["BatchNorm1d(4)", "more than 1 value per channel", "(1, 4)"]),
    (lambda: nn.BatchNorm1d(4)(_t(1, 4, 1)), ValueError, ["BatchNorm1d(4)", "more than 1 value", "(1, 4, 1)"]),
    (lambda: nn.BatchNorm2d(4)(_t(1, 4, 1, 1)), ValueError, ["BatchNorm2d(4)", "more than 1 value", "(1, 4, 1, 1)"]),
    (lambda: nn.BatchNorm1d(4)(_t(3, 5)), ValueError, ["BatchNorm1d(4)", "(N, 4) or (N, 4, L)", "(3, 5)"]),
    (lambda: nn.BatchNorm1d(4)(_t(2, 4, 3, 3)), ValueError, ["BatchNorm1d(4)", "(N, 4, L)", "(2, 4, 3, 3)"]),
    (lambda: nn.BatchNorm1d(4)(_t(4)), ValueError, ["BatchNorm1d(4)", "(N, 4)", "(4,)"]),
    (lambda: nn.BatchNorm2d(3)(_t(2, 3, 4)), ValueError, ["BatchNorm2d(3)", "(N, 3, H, W)", "(2, 3, 4)"]),
    (lambda: nn.BatchNorm2d(3)(_t(2, 4, 2, 2)), ValueError, ["BatchNorm2d(3)", "(N, 3, H, W)", "(2, 4, 2, 2)"]),
    (lambda: nn.BatchNorm1d(3)(_t(4, 3, dtype=np.int64)), TypeError, ["BatchNorm1d(3)", "floating-point", "int64"]),
    (lambda: nn.BatchNorm1d(0), ValueError, ["BatchNorm1d", "num_features", "0"]),
    (lambda: nn.BatchNorm1d(2.5), TypeError, ["BatchNorm1d", "num_features", "2.5"]),
    (lambda: nn.BatchNorm1d(3, eps=-1e-5), ValueError, ["BatchNorm1d", "eps", "-1e-05"]),
    (lambda: nn.BatchNorm1d(3, momentum=1.5), ValueError, ["BatchNorm1d", "momentum", "[0, 1]", "1.5"]),
    (lambda: nn.BatchNorm1d(3, momentum="0.1"), TypeError, ["BatchNorm1d", "momentum", "'0.1'"]),
    (lambda: nn.BatchNorm1d(3, dtype=np.int32), TypeError, ["BatchNorm1d", "dtype", "int32"]),
    (lambda: F.batch_norm(_t(4), None, None, training=True), ValueError, ["batch_norm", "(N, C, *)", "(4,)"]),
    (lambda: F.batch_norm(_t(3, 4), None, None), ValueError, ["batch_norm", "evaluation", "training=True"]),
    (lambda: F.batch_norm(_t(3, 4), RM, None, training=True), ValueError, ["batch_norm", "both", "neither"]),
    (lambda: F.batch_norm(_t(3, 4), np.zeros(4), RV, training=True), TypeError,
     ["batch_norm", "running_mean must be a Tensor", "ndarray"]),
    (lambda: F.batch_norm(_t(3, 4), tg.Tensor(np.zeros(4), requires_grad=True), RV, training=True), ValueError,
     ["batch_norm", "running_mean must not require grad"]),
    (lambda: F.batch_norm(_t(3, 4), RM[:3], RV[:3], training=True), ValueError,
     ["batch_norm", "running_mean of shape (4,)", "(3,)"]),
    (lambda: F.batch_norm(_t(3, 4), RM, RV, _t(3)), ValueError, ["batch_norm", "weight of shape (4,)", "(3,)"]),
    (lambda: F.batch_norm(_t(3, 4), RM, RV, bias=_t(4, 1)), ValueError, ["batch_norm", "bias of shape (4,)", "(4, 1)"]),
    (lambda: F.batch_norm(_t(3, 4), RM, RV, training=True, momentum=None), TypeError,
     ["batch_norm", "momentum", "None", "BatchNorm layers"]),
    (lambda: F.batch_norm(_t(1, 4), None, None, training=True), ValueError, ["batch_norm", "more than 1 value"]),
    (lambda: nn.LayerNorm(5)(_t(3, 4)), ValueError, ["LayerNorm((5,))", "(*, 5)", "(3, 4)"]),
    (lambda: nn.LayerNorm((2, 3))(_t(3)), ValueError, ["LayerNorm((2, 3))", "(*, 2, 3)", "(3,)"]),
    (lambda: nn.LayerNorm(()), TypeError, ["LayerNorm", "normalized_shape", "()"]),
    (lambda: nn.LayerNorm(0), ValueError, ["LayerNorm", "normalized_shape", "0"]),
    (lambda: F.layer_norm(_t(3, 4), 4, weight=_t(3)), ValueError, ["layer_norm", "weight of shape (4,)", "(3,)"]),
    (lambda: nn.GroupNorm(3, 4), ValueError, ["GroupNorm", "divisible", "4", "3"]),
    (lambda: nn.GroupNorm(0, 4), ValueError, ["GroupNorm", "num_groups"]),
    (lambda: nn.GroupNorm(2, 4)(_t(2, 6, 3)), ValueError, ["GroupNorm(2, 4)", "(N, 4, *)", "(2, 6, 3)"]),
    (lambda: nn.GroupNorm(2, 4)(_t(4)), ValueError, ["GroupNorm(2, 4)", "(N, 4, *)", "(4,)"]),
    (lambda: F.group_norm(_t(2, 6), 4), ValueError, ["group_norm", "6 channels", "(2, 6)", "4 groups"]),
    (lambda: F.group_norm(_t(2, 6), 2, bias=_t(3)), ValueError, ["group_norm", "bias of shape (6,)", "(3,)"]),
]


@pytest.mark.parametrize("call, error, words", BAD, ids=[f"bad-{i}" for i in range(len(BAD))])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} missing from: {info.value}"


def test_rejected_batch_changes_no_state():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError):
        bn(_t(1, 4))
    assert bn.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(bn.running_mean.data, 0)


# ---- PyTorch, when it happens to be installed (never a dependency) --------------------------------------
TORCH_CASES = [("BatchNorm1d", (4,), {}, (6, 4)), ("BatchNorm1d", (4,), {"momentum": None}, (6, 4, 3)),
               ("BatchNorm2d", (3,), {"momentum": 0.3}, (4, 3, 2, 5)),
               ("BatchNorm1d", (4,), {"track_running_stats": False, "affine": False}, (5, 4)),
               ("LayerNorm", ((3, 4),), {}, (2, 5, 3, 4)), ("GroupNorm", (2, 6), {}, (3, 6, 4))]


@pytest.mark.parametrize("layer, args, kwargs, shape", TORCH_CASES, ids=[c[0] + str(c[3]) for c in TORCH_CASES])
def test_matches_pytorch_number_for_number(layer, args, kwargs, shape):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the cross-check is optional")
    ours, theirs = getattr(nn, layer)(*args, **kwargs, dtype=np.float64), getattr(torch.nn, layer)(*args, **kwargs)
    theirs = theirs.double()
    for p, q in zip(ours.parameters(), theirs.parameters()):
        p.data[...] = rng.uniform(0.5, 1.5, p.shape)
        q.data.copy_(torch.from_numpy(p.data))
    for mode in (True, True, False, True):  # two training steps, evaluation, training again
        ours.train(mode), theirs.train(mode)
        x, g = _activations(shape), rng.standard_normal(shape)
        xt, tx = tg.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ours.zero_grad(), theirs.zero_grad()
        out, tout = ours(xt), theirs(tx)
        out.backward(g)
        tout.backward(torch.from_numpy(g))
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-8, atol=1e-10)
        for p, q in zip(ours.parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-8, atol=1e-10)
        ours_state, their_state = ours.state_dict(), theirs.state_dict()
        assert list(ours_state) == list(their_state)
        for k in ours_state:
            np.testing.assert_allclose(ours_state[k], their_state[k].numpy(), rtol=1e-12, err_msg=k)
