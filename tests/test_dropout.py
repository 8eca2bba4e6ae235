"""Dropout family: statistics, backward with the saved noise, edge cases, reproducibility, replay, errors.

Gradchecks of every op (train and eval, p at 0 and 1, several shapes) run from the op registry in
tests/test_registry.py; here we check what finite differences cannot: that the noise has the right
distribution. Every statistical test uses a fixed seed and a bound of 5 standard deviations of the
statistic, derived in a comment from the distribution it should have. A correct implementation
fails such a test with probability ~6e-7 for a fresh seed, and the seeds are fixed; each test also
asserts that the usual mistake (keep-prob for drop-prob, no scaling) would land far outside it.
"""

from __future__ import annotations

import doctest
import math
import pathlib
import re
import warnings

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.ops.dropout import ALPHA, AlphaDropout

N = 200_000  # elements per statistical test
SIGMAS = 5.0

# name -> (functional, rate keyword, a valid rate); SHAPE_FOR: an accepted input shape where not any
OPS = {
    "dropout": (F.dropout, "p", 0.3),
    "dropout1d": (F.dropout1d, "p", 0.3),
    "dropout2d": (F.dropout2d, "p", 0.3),
    "gaussian_dropout": (F.gaussian_dropout, "p", 0.3),
    "uout": (F.uout, "beta", 0.3),
    "alpha_dropout": (F.alpha_dropout, "p", 0.3),
}
SHAPE_FOR = {"dropout1d": (4, 5, 6), "dropout2d": (4, 5, 3, 2)}
LAYERS = {"dropout": tg.nn.Dropout, "dropout1d": tg.nn.Dropout1d, "dropout2d": tg.nn.Dropout2d,
          "gaussian_dropout": tg.nn.GaussianDropout, "uout": tg.nn.Uout, "alpha_dropout": tg.nn.AlphaDropout}


def _x(name: str, rng: np.random.Generator, dtype=np.float64, requires_grad: bool = False) -> tg.Tensor:
    shape = SHAPE_FOR.get(name, (6, 7))
    return tg.Tensor(rng.uniform(1.0, 2.0, shape).astype(dtype), requires_grad=requires_grad)


def _call(name: str, x, **kw):
    fn, param, rate = OPS[name]
    return fn(x, **{param: rate, **kw})


# ---- distributions ------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_keeps_a_fraction_one_minus_p_and_scales_by_one_over_one_minus_p(p):
    x = tg.Tensor(np.random.default_rng(1).uniform(1.0, 2.0, N))  # nonzero, so y == 0 only where dropped
    y = F.dropout(x, p, generator=np.random.default_rng(2)).data
    kept = y != 0
    # kept count ~ Binomial(N, 1-p): the kept fraction has mean 1-p and sd sqrt(p(1-p)/N).
    sd = math.sqrt(p * (1 - p) / N)
    assert abs(kept.mean() - (1 - p)) <= SIGMAS * sd
    if p != 0.5:  # keeping with probability p instead of 1-p would land > 100 sd away
        assert abs((1 - p) - p) > 100 * sd
    np.testing.assert_array_equal(y[kept], x.data[kept] * (1 / (1 - p)))
    assert not y[~kept].any()


@pytest.mark.parametrize("p", [0.2, 0.7])
def test_inverted_dropout_preserves_the_mean(p):
    rng = np.random.default_rng(3)
    x = rng.uniform(1.0, 2.0, N)
    y = F.dropout(tg.Tensor(x), p, generator=np.random.default_rng(4)).data
    # Given x, y_i = x_i m_i with m_i independent, E[m_i] = 1, Var[m_i] = p/(1-p). So mean(y) - mean(x)
    # has mean 0 and sd sqrt(p/(1-p) * sum(x_i^2)) / N.
    sd = math.sqrt(p / (1 - p) * np.sum(x * x)) / N
    assert abs(y.mean() - x.mean()) <= SIGMAS * sd
    # without the 1/(1-p) scaling the mean would be off by p*mean(x), hundreds of sd away
    assert p * x.mean() > 100 * sd


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_gaussian_dropout_noise_has_mean_one_and_variance_p_over_one_minus_p(p, dtype):
    m = F.gaussian_dropout(tg.Tensor(np.ones(N, dtype)), p, generator=np.random.default_rng(5)).data
    assert m.dtype == dtype
    var = p / (1 - p)
    # m ~ N(1, var): the sample mean has sd sqrt(var/N); the sample variance s^2 of normal data has
    # sd var * sqrt(2/(N-1)).
    assert abs(m.mean() - 1) <= SIGMAS * math.sqrt(var / N)
    assert abs(m.var(ddof=1) - var) <= SIGMAS * var * math.sqrt(2 / (N - 1))


@pytest.mark.parametrize("beta", [0.1, 0.5, 1.0])
def test_uout_noise_is_uniform_with_mean_one_and_variance_beta_squared_over_three(beta):
    m = F.uout(tg.Tensor(np.ones(N)), beta, generator=np.random.default_rng(6)).data  # m = 1 + r
    r = m - 1
    assert r.min() >= -beta and r.max() <= beta
    # r ~ U(-beta, beta): E r = 0, Var r = beta^2/3, E r^4 = beta^4/5. The sample mean has sd
    # sqrt(beta^2/(3N)); the sample variance has sd sqrt((E r^4 - Var^2)/N) = beta^2 sqrt((1/5 - 1/9)/N).
    assert abs(r.mean()) <= SIGMAS * beta / math.sqrt(3 * N)
    assert abs(r.var(ddof=1) - beta**2 / 3) <= SIGMAS * beta**2 * math.sqrt((1 / 5 - 1 / 9) / N)
    # it really spreads over the whole interval: each tenth of it holds ~N/10 draws
    counts = np.histogram(r, bins=10, range=(-beta, beta))[0]
    # each count ~ Binomial(N, 1/10): sd sqrt(N * 0.1 * 0.9)
    assert np.all(np.abs(counts - N / 10) <= SIGMAS * math.sqrt(N * 0.09))


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_standardized_inputs_standardized(p):
    x = np.random.default_rng(7).standard_normal(N)
    y = F.alpha_dropout(tg.Tensor(x), p, generator=np.random.default_rng(8)).data
    q, a = 1 - p, AlphaDropout.scale(p)
    kept = np.isclose(y, a * x + ALPHA * a * p, rtol=0, atol=1e-12)
    # structure (PyTorch's formula): kept -> a x + ALPHA a p, dropped -> -ALPHA a q exactly
    np.testing.assert_allclose(y[~kept], -ALPHA * a * q, rtol=1e-15)
    assert abs(kept.mean() - q) <= SIGMAS * math.sqrt(p * q / N)  # Binomial(N, q), as above
    # y is i.i.d. with mean 0 and variance 1 (a is chosen for that). Sample mean sd: sqrt(1/N).
    # Sample variance sd: sqrt((mu4 - 1)/N) with the fourth moment mu4 = q E(a x + c)^4 + p (ALPHA a q)^4,
    # c = ALPHA a p, and E(a x + c)^4 = 3a^4 + 6a^2 c^2 + c^4 for x ~ N(0, 1).
    c = ALPHA * a * p
    mu4 = q * (3 * a**4 + 6 * a**2 * c**2 + c**4) + p * (ALPHA * a * q) ** 4
    assert abs(y.mean()) <= SIGMAS / math.sqrt(N)
    assert abs(y.var() - 1) <= SIGMAS * math.sqrt((mu4 - 1) / N)


@pytest.mark.parametrize("fn, shape", [(F.dropout2d, (64, 32, 5, 4)), (F.dropout1d, (64, 32, 7)),
                                       (F.dropout1d, (2048, 7))])
def test_channel_dropout_zeroes_whole_channels_only(fn, shape):
    p = 0.4
    x = np.random.default_rng(9).uniform(1.0, 2.0, shape)
    y = fn(tg.Tensor(x), p, generator=np.random.default_rng(10)).data
    spatial = (2, 3) if fn is F.dropout2d else (len(shape) - 1,)
    kept = (y != 0).all(axis=spatial)
    dropped = (y == 0).all(axis=spatial)
    assert np.all(kept | dropped), "some channel is partly zeroed"
    m = np.where(kept, 1 / (1 - p), 0.0).reshape(kept.shape + (1,) * len(spatial))
    np.testing.assert_array_equal(y, x * m)
    # kept channels ~ Binomial(channels, 1-p); sd of the fraction sqrt(p(1-p)/channels)
    assert abs(kept.mean() - (1 - p)) <= SIGMAS * math.sqrt(p * (1 - p) / kept.size)
    if kept.ndim == 2:  # one draw per (sample, channel): the pattern differs across samples and channels
        assert (kept != kept[:1]).any() and (kept != kept[:, :1]).any()


# ---- backward uses the saved noise ------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_multiplies_by_the_saved_noise_and_keeps_dtype(name, dtype):
    rng = np.random.default_rng(11)
    x = _x(name, rng, dtype, requires_grad=True)
    w = rng.standard_normal(x.shape).astype(dtype)
    with tg.random.record_noise() as tape:
        y = _call(name, x)
    ((what, m),) = tape.draws
    assert m.dtype == dtype and y.dtype == dtype
    (y * tg.Tensor(w)).sum().backward()
    assert x.grad.dtype == dtype
    np.testing.assert_array_equal(x.grad, w * m)


@pytest.mark.parametrize("name", OPS)
def test_float16_stays_float16(name):
    x = _x(name, np.random.default_rng(12), np.float16)
    assert _call(name, x).dtype == np.float16


# ---- edge cases: eval, rate 0, p = 1 ----------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
def test_eval_and_rate_zero_return_the_input_itself_and_draw_nothing(name):
    fn, param, _ = OPS[name]
    x = _x(name, np.random.default_rng(13), requires_grad=True)
    with tg.random.record_noise() as tape:
        assert fn(x, **{param: 0.3}, training=False) is x
        assert fn(x, **{param: 0.0}) is x
        layer = LAYERS[name]().eval()
        assert layer(x) is x
    assert tape.draws == []
    (fn(x, training=False) * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(x.shape, 3.0))


@pytest.mark.parametrize("name", ["dropout", "dropout1d", "dropout2d", "alpha_dropout"])
def test_p_one_gives_zeros_and_zero_gradient_without_division_by_zero(name):
    fn = OPS[name][0]
    x = _x(name, np.random.default_rng(14), requires_grad=True)
    with warnings.catch_warnings(), np.errstate(all="raise"), tg.random.record_noise() as tape:
        warnings.simplefilter("error")
        y = fn(x, p=1.0)
        y.sum().backward()
    assert tape.draws == []  # nothing random to draw, as PyTorch
    assert y.shape == x.shape and not y.data.any()
    assert x.grad.shape == x.shape and not x.grad.any()


# ---- reproducibility ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
def test_same_seed_gives_bit_identical_outputs_and_different_seeds_differ(name):
    x = _x(name, np.random.default_rng(15))
    tg.manual_seed(123)
    a = _call(name, x).data.tobytes()
    tg.manual_seed(123)
    b = _call(name, x).data.tobytes()
    c = _call(name, x).data.tobytes()  # the stream moved on
    tg.manual_seed(124)
    d = _call(name, x).data.tobytes()
    assert a == b and a != c and a != d
    g1, g2 = _call(name, x, generator=np.random.default_rng(7)), _call(name, x, generator=np.random.default_rng(7))
    assert g1.data.tobytes() == g2.data.tobytes()
    assert g1.data.tobytes() != _call(name, x, generator=np.random.default_rng(8)).data.tobytes()


def test_a_passed_generator_leaves_the_default_one_alone_and_modules_follow_manual_seed():
    x = tg.Tensor(np.ones((50, 40)))
    tg.manual_seed(0)
    state = tg.random.default_generator().bit_generator.state
    F.dropout(x, 0.5, generator=np.random.default_rng(1))
    tg.nn.Dropout(0.5, generator=np.random.default_rng(1))(x)
    assert tg.random.default_generator().bit_generator.state == state
    tg.manual_seed(5)
    first = tg.nn.Dropout(0.5)(x).data
    tg.manual_seed(5)
    np.testing.assert_array_equal(tg.nn.Dropout(0.5)(x).data, first)


def test_bernoulli_masks_do_not_depend_on_the_input_dtype():
    x64 = tg.Tensor(np.ones((30, 30)))
    x32 = tg.Tensor(np.ones((30, 30), np.float32))
    y64 = F.dropout(x64, 0.5, generator=np.random.default_rng(3)).data
    y32 = F.dropout(x32, 0.5, generator=np.random.default_rng(3)).data
    np.testing.assert_array_equal(y64 != 0, y32 != 0)


# ---- gradcheck replays the noise ---------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
def test_gradcheck_passes_even_with_a_fresh_generator_on_every_call(name):
    x = _x(name, np.random.default_rng(16), requires_grad=True)

    def f(x):
        return _call(name, x, generator=np.random.default_rng())  # unseeded: new noise on every call

    assert not np.array_equal(f(x).data, f(x).data)  # so without replay finite differences would be noise
    assert tg.gradcheck(f, (x,))


def test_gradcheck_through_a_small_net_with_two_dropout_layers():
    rng = np.random.default_rng(17)
    x = tg.Tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    drop2d, drop = tg.nn.Dropout2d(0.5), tg.nn.Dropout(0.3)
    assert tg.gradcheck(lambda x, w: drop(drop2d(x) @ w).tanh(), (x, w))
    drop.eval()
    drop2d.eval()
    assert tg.gradcheck(lambda x, w: drop(drop2d(x) @ w).tanh(), (x, w))


# ---- layers ----------------------------------------------------------------------------------
def test_layers_repr_and_train_eval_through_a_parent():
    class Net(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = tg.nn.Dropout(0.25)
            self.uout = tg.nn.Uout(beta=0.2)

        def forward(self, x):
            return self.uout(self.drop(x))

    net = Net()
    assert repr(net.drop) == "Dropout(p=0.25)" and repr(net.uout) == "Uout(beta=0.2)"
    assert repr(tg.nn.Dropout2d()) == "Dropout2d(p=0.5)"
    assert repr(tg.nn.GaussianDropout(0.1)) == "GaussianDropout(p=0.1)"
    x = tg.Tensor(np.ones((20, 20)))
    assert net(x) is not x and not np.array_equal(net(x).data, x.data)
    net.eval()
    assert not net.drop.training and net(x) is x
    net.train()
    assert net.uout.training and net(x) is not x


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf")])
def test_rate_outside_zero_one_raises_naming_op_and_value(name, bad):
    fn, param, _ = OPS[name]
    x = _x(name, np.random.default_rng(18))
    for call, label in [(lambda: fn(x, **{param: bad}), name), (lambda: LAYERS[name](bad), LAYERS[name].__name__)]:
        with pytest.raises(ValueError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"{label}: {param} (") and repr(float(bad)) in msg and "[0, 1" in msg
    with pytest.raises(ValueError, match=f"{name}: {param}"):  # also caught when changed after construction
        layer = LAYERS[name]()
        setattr(layer, param, bad)
        layer(x)


def test_gaussian_dropout_rejects_p_one_because_the_variance_is_infinite():
    for call in (lambda: F.gaussian_dropout(tg.Tensor(np.ones(3)), 1.0), lambda: tg.nn.GaussianDropout(1)):
        with pytest.raises(ValueError, match=r"noise variance p / \(1 - p\).*must be in \[0, 1\), got 1(\.0)?"):
            call()


@pytest.mark.parametrize("bad", ["0.5", True, None, [0.5]])
def test_rate_of_the_wrong_type_raises_type_error(bad):
    with pytest.raises(TypeError, match=r"dropout: p \(.*\) must be a number in \[0, 1\], got"):
        F.dropout(tg.Tensor(np.ones(3)), bad)
    with pytest.raises(TypeError, match=r"Uout: beta \(.*\) must be a number"):
        tg.nn.Uout(bad)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_non_float_input_raises_type_error_even_in_eval(name, dtype):
    x = tg.Tensor(np.ones(SHAPE_FOR.get(name, (3, 4)), dtype))
    for training in (True, False):
        with pytest.raises(TypeError, match=f"{name}: expected a floating-point tensor, got dtype {np.dtype(dtype)}"):
            _call(name, x, training=training)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (1, 2, 3, 4, 5)])
def test_dropout2d_wants_4d_input(shape):
    with pytest.raises(ValueError) as err:
        F.dropout2d(tg.Tensor(np.ones(shape)), training=False)
    msg = str(err.value)
    assert msg.startswith(f"dropout2d: expected a 4-D input (N, C, H, W), got a {len(shape)}-D input of shape {shape}")
    assert "use dropout1d" in msg


@pytest.mark.parametrize("shape", [(), (3,), (1, 2, 3, 4)])
def test_dropout1d_wants_2d_or_3d_input(shape):
    with pytest.raises(ValueError, match=rf"dropout1d: expected a 3-D input \(N, C, L\) or a 2-D unbatched input "
                                         rf"\(C, L\), got a {len(shape)}-D input of shape {re.escape(str(shape))}"):
        tg.nn.Dropout1d()(tg.Tensor(np.ones(shape)))


def test_bad_training_flag_and_bad_generator_raise_type_error():
    x = tg.Tensor(np.ones(3))
    with pytest.raises(TypeError, match="dropout: training must be True or False, got str 'False'"):
        F.dropout(x, 0.5, "False")
    with pytest.raises(TypeError, match="dropout: generator must be a numpy.random.Generator, got int"):
        F.dropout(x, 0.5, training=False, generator=42)
    with pytest.raises(TypeError, match="Dropout2d: generator must be a numpy.random.Generator, got RandomState"):
        tg.nn.Dropout2d(generator=np.random.RandomState(0))


# ---- docs --------------------------------------------------------------------------------------
def test_the_examples_in_docs_dropout_md_print_what_the_doc_says():
    path = pathlib.Path(__file__).resolve().parents[1] / "docs" / "dropout.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
