"""The cheap first-line checks added for speed (issue 8) must reject exactly what the full checks reject.

Each fast path accepts only the common case and falls through to the original checks otherwise; these
tests feed it the inputs a fast path could wrongly wave through (negative targets seen as unsigned,
a rate of exactly 1, a parameter replaced after the layer was built, a parameter whose array changed
shape under the optimizer's cached scratch views) and check the error or the result.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import nn, optim
from tinygrad_bn.random import record_noise

# ---- cross_entropy: the range check in one pass over an unsigned view ----------------------------------
_SIGNED, _UNSIGNED = (np.int8, np.int16, np.int32, np.int64), (np.uint8, np.uint32, np.uint64)
_CASES = [(d, bad) for d in _SIGNED for bad in (-1, 4, 100)] + [(d, bad) for d in _UNSIGNED for bad in (4, 100)]


@pytest.mark.parametrize("dtype, bad", _CASES)
def test_cross_entropy_rejects_every_out_of_range_target_for_every_integer_dtype(dtype, bad):
    targets = np.array([0, 3, bad, 1], dtype=dtype)
    with pytest.raises(ValueError, match=rf"cross_entropy: targets must be class indices in \[0, 4\), "
                                         rf"got values from {min(0, bad)} to {max(3, bad)}"):
        F.cross_entropy(tg.Tensor(np.zeros((4, 4), np.float32)), targets)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
def test_cross_entropy_accepts_the_full_range_and_strided_or_tensor_targets(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    wide = np.array([[0, 9], [3, 9], [1, 9], [2, 9], [0, 9], [3, 9]], dtype=dtype)
    targets = wide[:, 0]  # a strided view: the unsigned view of it must see the same values
    expected = -(x - np.log(np.exp(x).sum(1, keepdims=True)))[np.arange(6), targets.astype(np.int64)].mean()
    for t in (targets, tg.Tensor(targets), list(targets.tolist())):
        assert np.isclose(F.cross_entropy(tg.Tensor(x), t).item(), expected, rtol=1e-12)


def test_cross_entropy_empty_batch_and_bool_targets():
    out = F.cross_entropy(tg.Tensor(np.zeros((0, 3))), np.zeros(0, np.int64), reduction="sum")
    assert out.item() == 0.0
    with pytest.raises(TypeError, match="cross_entropy: expected integer class targets, got dtype bool"):
        F.cross_entropy(tg.Tensor(np.zeros((2, 3))), np.array([True, False]))


# ---- BatchNorm: one-line checks, parameters read from the layer's dicts ----------------------------------
def test_batchnorm_sees_a_replaced_parameter_and_checks_it():
    bn = nn.BatchNorm1d(3)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    bn.weight = nn.Parameter(np.full(3, 2.0, np.float32))  # replaced after construction: used from now on
    y = bn(x)
    xh = (x.data - x.data.mean(0)) / np.sqrt(x.data.var(0) + 1e-5)
    np.testing.assert_allclose(y.data, 2 * xh, rtol=1e-5, atol=1e-6)
    bn.weight = nn.Parameter(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected weight of shape \(3,\), got shape \(4,\)"):
        bn(x)
    bn.weight = nn.Parameter(np.ones(3, np.float32))
    bn.bias = nn.Parameter(np.ones(3, np.int64), requires_grad=False)
    with pytest.raises(TypeError, match=r"BatchNorm1d\(3\): expected a floating-point bias, got dtype int64"):
        bn(x)


def test_batchnorm_running_buffer_that_requires_grad_or_has_the_wrong_dtype_is_rejected():
    bn = nn.BatchNorm1d(3)
    x = tg.Tensor(np.random.default_rng(1).standard_normal((4, 3)))
    bn.running_mean = tg.Tensor(np.zeros(3), requires_grad=True)
    with pytest.raises(ValueError, match="running_mean must not require grad"):
        bn(x)
    bn.running_mean = tg.Tensor(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="expected a floating-point running_mean, got dtype int32"):
        bn(x)


def test_batchnorm_counts_batches_in_its_int64_buffer_and_the_cumulative_average_uses_it():
    bn = nn.BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(2)
    batches = [rng.standard_normal((6, 2)) for _ in range(3)]
    for b in batches:
        bn(tg.Tensor(b))
    assert bn.num_batches_tracked.dtype == np.int64 and bn.num_batches_tracked.item() == 3
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-6)
    bn.eval()
    bn(tg.Tensor(batches[0]))
    assert bn.num_batches_tracked.item() == 3  # not counted in evaluation


# ---- dropout: the rate and training fast checks ----------------------------------------------------------
@pytest.mark.parametrize("p, error, words", [
    (1.0000001, ValueError, "must be in [0, 1]"), (-0.0001, ValueError, "must be in [0, 1]"),
    (float("nan"), ValueError, "must be in [0, 1]"), (True, TypeError, "p must be a number"),
    ("0.2", TypeError, "p must be a number"),
])
def test_dropout_rate_checks(p, error, words):
    with pytest.raises(error) as info:
        F.dropout(tg.Tensor(np.ones(3)), p)
    assert "dropout" in str(info.value) and words in str(info.value)


def test_dropout_rate_one_and_numpy_rates_and_bools_still_work():
    x = tg.Tensor(np.ones((4, 5)), requires_grad=True)
    y = F.dropout(x, 1.0)  # exactly 1: past the fast path (which takes [0, 1)), all zeros
    assert np.all(y.data == 0)
    tg.manual_seed(0)
    a = F.dropout(x, np.float32(0.5), training=np.bool_(True))
    tg.manual_seed(0)
    b = F.dropout(x, 0.5)
    np.testing.assert_array_equal(a.data, b.data)
    assert F.dropout(x, 0.5, training=np.bool_(False)) is x
    with pytest.raises(TypeError, match="dropout: training must be a bool, got int 1"):
        F.dropout(x, 0.5, training=1)
    with pytest.raises(TypeError, match="dropout: generator must be a numpy.random.Generator"):
        F.dropout(x, 0.5, generator=np.random.RandomState(0))


def test_recorded_draws_are_named_with_their_shape():
    with record_noise() as noise:
        F.dropout(tg.Tensor(np.ones((2, 3))), 0.5)
        F.gaussian_dropout(tg.Tensor(np.ones(4)), 0.5)
        F.uout(tg.Tensor(np.ones((1, 2))), 0.1)
    assert [what for what, _ in noise.draws] == ["dropout mask (2, 3)", "gaussian dropout noise (4,)",
                                                 "uout noise (1, 2)"]


# ---- optimizer: per-parameter scratch views kept across steps --------------------------------------------
@pytest.mark.parametrize("kwargs", [{"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
                                    {"momentum": 0.5, "dampening": 0.3}, {}])
def test_sgd_stays_right_when_a_parameter_changes_shape_or_dtype_between_steps(kwargs):
    rng = np.random.default_rng(3)
    p = tg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    q = tg.Tensor(rng.standard_normal(7), requires_grad=True)  # shares the scratch with p
    opt = optim.SGD([p, q], lr=0.1, **kwargs)

    def expected(param: np.ndarray, grad: np.ndarray) -> np.ndarray:  # the first step: no momentum history
        d = grad + kwargs.get("weight_decay", 0.0) * param
        if kwargs.get("nesterov"):
            d = d + kwargs["momentum"] * d
        return param - 0.1 * d

    for shape, dtype in [((3, 4), np.float64), ((5, 2), np.float64), ((2, 3), np.float32)]:
        p.data = rng.standard_normal(shape).astype(dtype)
        p.grad, q.grad = rng.standard_normal(shape).astype(dtype), rng.standard_normal(7)
        opt.state.clear()  # each round a first step, so the expected update is the simple one above
        want_p, want_q = expected(p.data, p.grad), expected(q.data, q.grad)
        opt.step()
        assert p.data.shape == shape and p.data.dtype == dtype
        np.testing.assert_allclose(p.data, want_p, rtol=1e-6)
        np.testing.assert_allclose(q.data, want_q, rtol=1e-12)
