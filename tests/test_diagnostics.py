"""diagnostics (variance-shift closed forms, variance_shift) and nn.utils.recalibrate_bn."""

import numpy as np
import pytest
from shift_se import delta_standard_error

import tinygrad_bn as tg
from tinygrad_bn import diagnostics as D
from tinygrad_bn import nn
from tinygrad_bn.cli.experiments.synthetic import NoiseThenBN
from tinygrad_bn.nn.utils import recalibrate_bn

# ---- closed forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.7])
def test_closed_forms_at_zero_mean(p):
    assert D.variance_shift_dropout(0.0, 2.0, p) == pytest.approx(1 - p)
    assert D.variance_shift_gaussian(0.0, 2.0, p) == pytest.approx(1 - p)
    assert D.variance_shift_uout(0.0, 2.0, p) == pytest.approx(3 / (3 + p * p))


@pytest.mark.parametrize("c,v,p", [(1.0, 1.0, 0.3), (2.0, 0.5, 0.5), (-0.7, 3.0, 0.9)])
def test_closed_forms_against_moments(c, v, p):
    q = 1 - p
    # Var of X*m: E[X^2] E[m^2] - c^2 with E[m^2] = 1/q (dropout), 1 + p/q (Gaussian), 1 + beta^2/3 (Uout)
    ex2 = c * c + v
    assert D.variance_shift_dropout(c, v, p) == pytest.approx(v / (ex2 / q - c * c))
    assert D.variance_shift_gaussian(c, v, p) == pytest.approx(v / (ex2 * (1 + p / q) - c * c))
    assert D.variance_shift_uout(c, v, p) == pytest.approx(v / (ex2 * (1 + p * p / 3) - c * c))
    assert D.variance_shift_dropout(c, v, p) < 1


def test_closed_form_errors():
    with pytest.raises(ValueError, match="variance_shift_dropout: p"):
        D.variance_shift_dropout(0, 1, 1.0)
    with pytest.raises(ValueError, match="variance_shift_gaussian: v"):
        D.variance_shift_gaussian(0, 0.0, 0.5)
    with pytest.raises(ValueError, match="variance_shift_uout: beta"):
        D.variance_shift_uout(0, 1, 1.5)
    with pytest.raises(TypeError, match="variance_shift_uout: c"):
        D.variance_shift_uout("0", 1, 0.5)
    with pytest.raises(TypeError, match="variance_shift_dropout: p"):
        D.variance_shift_dropout(0, 1, None)


# ---- closed form vs measurement -----------------------------------------------------------------

@pytest.mark.parametrize("kind,rate,c,v", [
    ("dropout", 0.1, 0.0, 1.0), ("dropout", 0.5, 2.0, 0.5), ("dropout", 0.7, 1.0, 1.0),
    ("gaussian", 0.5, 1.0, 1.0), ("gaussian", 0.3, 0.5, 2.0),
    ("uout", 0.3, 0.0, 1.0), ("uout", 1.0, 2.0, 0.5),
])
def test_measured_shift_matches_closed_form(kind, rate, c, v):
    from tinygrad_bn.cli.experiments import synthetic

    n, batch, channels = 40_000, 500, 4
    res = synthetic.measure(kind, rate, c, v, n=n, channels=channels, batch_size=batch, seed=11)
    se = delta_standard_error(kind, rate, c, v, n, batch, channels)
    # 4 standard errors: a correct implementation fails with probability ~6e-5 per case (fixed seed anyway);
    # the SE here is 0.2-1 % of Delta, far below the gap a wrong closed form or estimator would leave.
    assert abs(res.measured - res.closed_form) < 4 * se, (res.measured, res.closed_form, se)
    assert se < 0.02 * res.closed_form


# ---- noise before a Linear layer ----------------------------------------------------------------

def test_variance_shift_linear_reduces_to_the_scalar_form_for_independent_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, np.sqrt(2.0), (200_000, 6))  # independent inputs, c = 1, v = 2
    w = rng.normal(size=(3, 6))
    pred = D.variance_shift_linear(w, x, D.noise_variance("dropout", 0.3))
    # Cov(x) and E[x^2] estimated from 200k samples: relative errors ~ sqrt(2/200k) = 0.3 %
    np.testing.assert_allclose(pred, D.variance_shift_dropout(1.0, 2.0, 0.3), rtol=0.01)
    assert D.noise_variance("uout", 0.6) == pytest.approx(0.12)
    assert D.noise_variance("gaussian", 0.5) == pytest.approx(1.0)


def test_variance_shift_linear_matches_measurement_on_correlated_inputs():
    tg.manual_seed(1)
    rng = np.random.default_rng(1)
    # inputs sharing one factor z (like neighbouring pixels): x = z + 0.5 eps + 0.5
    batches = [rng.normal(size=(1000, 1)) + 0.5 * rng.normal(size=(1000, 10)) + 0.5 for _ in range(60)]
    lin = nn.Linear(10, 8, dtype=np.float64)
    lin.weight.data[...] = rng.uniform(0.2, 1.0, (8, 10))  # weights that add the inputs up (aligned with z)
    model = nn.Sequential(nn.Dropout(0.5), lin, nn.BatchNorm1d(8, momentum=None, dtype=np.float64))
    with tg.no_grad():
        for x in batches[:30]:  # running_var learns from 30k samples, measured on the other 30k
            model(tg.Tensor(x))
    measured = D.variance_shift(model, batches[30:])["2"].ratio
    pred = D.variance_shift_linear(lin.weight, np.concatenate(batches[30:]), D.noise_variance("dropout", 0.5))
    # the scalar closed form (inputs taken as independent) would be far lower; correlation lifts Delta
    assert pred.mean() > D.variance_shift_dropout(0.5, 1.25, 0.5) + 0.2
    # each channel: ratio of two variances from 30k samples each, relative SE ~ sqrt((kurtosis - 1 + 2) / 30k)
    # <~ 1.5 % for these near-Gaussian sums; 6 % is 4 SE
    np.testing.assert_allclose(measured, pred, rtol=0.06)
    assert abs(measured.mean() - pred.mean()) < 0.03 * pred.mean()


def test_variance_shift_linear_errors():
    with pytest.raises(ValueError, match="variance_shift_linear: expected weight"):
        D.variance_shift_linear(np.ones((2, 3)), np.ones((5, 4)), 1.0)
    with pytest.raises(ValueError, match="noise_var must be"):
        D.variance_shift_linear(np.ones((2, 3)), np.ones((5, 3)), -1.0)
    with pytest.raises(ValueError, match="noise_variance: kind"):
        D.noise_variance("bernoulli", 0.5)


# ---- variance_shift on models -------------------------------------------------------------------

def test_variance_shift_bn2d_pooled_unbiased_variance():
    bn = nn.BatchNorm2d(3)
    bn.running_var.data[...] = np.array([1.0, 2.0, 4.0], np.float32)
    rng = np.random.default_rng(0)
    xs = [rng.normal(0.5, [[[1.0]], [[2.0]], [[0.5]]], size=(4, 3, 5, 6)).astype(np.float32) for _ in range(3)]
    rep = D.variance_shift(bn, xs)
    allx = np.concatenate(xs).astype(np.float64)
    want = allx.var(axis=(0, 2, 3), ddof=1) / np.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(rep[0].ratio, want, rtol=1e-5)
    assert rep[0].count == 3 * 4 * 30 and rep.num_batches == 3
    assert rep[0].mean_shift == pytest.approx(want.mean(), rel=1e-5)


def test_worst_channel_is_farthest_on_log_scale():
    layer = D.LayerShift("bn", np.array([1.0, 0.5, 1.5, 1.9]), np.ones(4), 10)
    assert layer.worst_channel == 1 and layer.worst_shift == 0.5  # |log 0.5| > |log 1.9|
    row = layer.row()
    assert row["min_shift"] == 0.5 and row["max_shift"] == 1.9 and row["channels"] == 4


def test_variance_shift_leaves_model_unchanged_and_prints_table():
    tg.manual_seed(0)
    model = NoiseThenBN(nn.Dropout(0.5), 4)
    rng = np.random.default_rng(1)
    for _ in range(5):
        model(tg.Tensor(rng.normal(size=(100, 4))))
    model.noise.eval()  # mixed modes must come back as they were
    before = {k: v.copy() for k, v in model.state_dict().items()}
    rep = D.variance_shift(model, [(rng.normal(size=(50, 4)), np.zeros(50))])  # (inputs, labels) batches
    assert model.training and model.bn.training and not model.noise.training
    assert "forward" not in model.bn.__dict__
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert rep["bn"].mean_shift < 0.8  # dropout 0.5 on zero-mean input: Delta ~ 0.5
    text = str(rep)
    assert text.startswith("| layer") and "bn" in text and "mean_shift" in text
    with pytest.raises(KeyError, match="no BN layer named 'x'"):
        rep["x"]


def test_variance_shift_errors_and_no_bn():
    model = NoiseThenBN(nn.Dropout(0.5), 2)
    with pytest.raises(ValueError, match="variance_shift: batches is empty"):
        D.variance_shift(model, [])
    with pytest.raises(TypeError, match="variance_shift: batches must be an iterable of batches"):
        D.variance_shift(model, np.zeros((4, 2)))
    with pytest.raises(TypeError, match="each batch must be"):
        D.variance_shift(model, [[1, 2]])
    with pytest.raises(TypeError, match="tinygrad_bn.nn.Module"):
        D.variance_shift(lambda x: x, [np.zeros((4, 2))])
    rep = D.variance_shift(nn.Dropout(0.5), [np.zeros((4, 2))])
    assert len(rep) == 0 and "no BatchNorm" in str(rep)


# ---- recalibrate_bn -----------------------------------------------------------------------------

class _Linear(nn.Module):
    def __init__(self, n_in, n_out, rng):
        super().__init__()
        self.weight = nn.Parameter(rng.normal(0, n_in ** -0.5, (n_in, n_out)).astype(np.float32))

    def forward(self, x):
        return x @ self.weight


class _DropBN(nn.Module):
    """Dropout -> Linear -> BN -> ReLU -> Dropout -> Linear -> BN: dropout before both BN layers."""

    def __init__(self, rng):
        super().__init__()
        self.d1, self.fc1, self.bn1 = nn.Dropout(0.5), _Linear(8, 16, rng), nn.BatchNorm1d(16)
        self.d2, self.fc2, self.bn2 = nn.Dropout(0.5), _Linear(16, 4, rng), nn.BatchNorm1d(4)

    def forward(self, x):
        h = self.bn1(self.fc1(self.d1(x))).relu()
        return self.bn2(self.fc2(self.d2(h)))


def _trained_dropbn():
    tg.manual_seed(3)
    rng = np.random.default_rng(3)
    model = _DropBN(rng)
    target = rng.normal(size=(8, 4)).astype(np.float32)
    batches = [(rng.normal(0.5, 1.0, (256, 8)).astype(np.float32)) for _ in range(30)]
    for x in batches:  # a few SGD steps on a regression loss
        out = model(tg.Tensor(x))
        loss = ((out - tg.Tensor(x @ target)) ** 2).mean()
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.1 * p.grad
    return model, batches


def test_recalibrate_bn_removes_the_variance_shift():
    model, batches = _trained_dropbn()
    before = D.variance_shift(model, batches)
    # dropout 0.5 before each BN: measurably below 1 (closed form on zero-mean input: 0.5)
    assert before["bn1"].mean_shift < 0.8 and before["bn2"].mean_shift < 0.8
    weights = [p.data.copy() for p in model.parameters()]
    model.d2.eval()
    assert recalibrate_bn(model, batches) == len(batches)
    after = D.variance_shift(model, batches)
    # bn1 sees the same inputs in both passes: running_var is the mean of the 30 per-batch unbiased variances,
    # the measurement the pooled one; they differ by the spread of batch means, O(1/batch) relative.
    assert after["bn1"].mean_shift == pytest.approx(1.0, abs=0.01)
    # bn2's input is normalized by bn1's batch statistics while recalibrating and by its running statistics
    # when measured: another O(1/batch) relative difference.
    assert after["bn2"].mean_shift == pytest.approx(1.0, abs=0.02)
    assert model.training and not model.d2.training and model.d1.training  # modes restored
    assert model.bn1.momentum == 0.1 and model.bn2.momentum == 0.1
    for w, p in zip(weights, model.parameters()):
        np.testing.assert_array_equal(w, p.data)


def test_recalibrate_bn_is_the_cumulative_average_with_dropout_off():
    tg.manual_seed(0)
    model = NoiseThenBN(nn.Dropout(0.5), 3)
    model.bn.momentum = 0.3
    rng = np.random.default_rng(0)
    xs = [rng.normal(1.0, 2.0, (64, 3)) for _ in range(2)]
    for x in xs:
        model(tg.Tensor(x))  # running stats now include dropout noise
    assert recalibrate_bn(model, xs) == 2
    np.testing.assert_allclose(model.bn.running_var.data, np.mean([x.var(0, ddof=1) for x in xs], 0), rtol=1e-10)
    np.testing.assert_allclose(model.bn.running_mean.data, np.mean([x.mean(0) for x in xs], 0), rtol=1e-10)
    assert int(model.bn.num_batches_tracked.item()) == 2 and model.bn.momentum == 0.3
    recalibrate_bn(model, xs, momentum=1.0)  # exponential with momentum 1: the last batch only
    np.testing.assert_allclose(model.bn.running_var.data, xs[1].var(0, ddof=1), rtol=1e-10)


def test_recalibrate_bn_keep_dropout_refreshes_but_keeps_the_shift():
    tg.manual_seed(0)
    model = NoiseThenBN(nn.Dropout(0.5), 8)
    rng = np.random.default_rng(0)
    xs = [rng.normal(0.0, 1.0, (2000, 8)) for _ in range(5)]
    model.eval()
    assert recalibrate_bn(model, xs, keep_dropout=True) == 5
    assert not model.training and not model.noise.training  # modes restored
    # zero-mean input through dropout 0.5: running_var ~ Var(x) / q = 2 Var(x), i.e. Delta ~ 0.5
    # (8 channels x 10k samples: relative SE of the mean ratio ~ sqrt((3/q - 1 + 2) / 10k / 8) ~ 0.9 %)
    assert D.variance_shift(model, xs)["bn"].mean_shift == pytest.approx(0.5, abs=0.03)
    recalibrate_bn(model, xs)
    assert D.variance_shift(model, xs)["bn"].mean_shift == pytest.approx(1.0, abs=0.01)
    with pytest.raises(TypeError, match="keep_dropout must be a bool"):
        recalibrate_bn(model, xs, keep_dropout=1)


def test_recalibrate_bn_errors_and_edge_cases():
    model = NoiseThenBN(nn.Dropout(0.5), 3)
    model.bn.running_var.data[...] = 7.0
    with pytest.raises(ValueError, match="recalibrate_bn: batches is empty"):
        recalibrate_bn(model, iter([]))
    np.testing.assert_array_equal(model.bn.running_var.data, 7.0)  # nothing reset
    with pytest.raises(ValueError, match="recalibrate_bn: momentum"):
        recalibrate_bn(model, [np.zeros((4, 3))], momentum=2.0)
    with pytest.raises(TypeError, match="recalibrate_bn: model"):
        recalibrate_bn("model", [np.zeros((4, 3))])
    assert recalibrate_bn(nn.Dropout(0.5), [np.zeros((4, 3))]) == 0
    assert "recalibrate_bn" in dir(tg.nn.utils)
