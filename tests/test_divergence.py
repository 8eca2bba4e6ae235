"""The training loops stop at the first non-finite loss (DivergenceError naming epoch and step, the model
left at the last good step), check parameters and buffers at the end of each epoch, and can be told
to train on (check_finite=False). evaluate/predict refuse raw integer images."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import optim
from tinygrad_bn.data import DataLoader
from tinygrad_bn.train import DivergenceError, evaluate, fit, predict, train_epoch

pytestmark = pytest.mark.filterwarnings("ignore:overflow|invalid value:RuntimeWarning")  # diverging on purpose


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype(np.float32), rng.integers(0, 3, n)


def _setup(lr, batch_norm=False, seed=0):
    tg.manual_seed(seed)
    model = tg.mlp(6, (8,), 3, batch_norm=batch_norm, dropout=0.0)
    return model, optim.SGD(model.parameters(), lr=lr, momentum=0.9)


class _Batches(list):
    """A loader replaying fixed batches."""


def test_nonfinite_loss_stops_before_the_update_naming_the_step():
    x, y = _data()
    batches = _Batches(DataLoader(x, y, batch_size=8))
    model, opt = _setup(lr=1e30)
    with pytest.raises(DivergenceError, match=r"train_epoch: the loss is (nan|inf) at epoch 4, step (\d+) of 8: "
                                              r"the training diverged") as err:
        train_epoch(model, batches, opt, epoch=4)
    step = err.value.step
    assert err.value.epoch == 4 and err.value.what == "loss" and not math.isfinite(err.value.value) and step >= 2
    # the model holds the parameters after step - 1: a run of exactly step - 1 batches ends there
    again, opt2 = _setup(lr=1e30)
    train_epoch(again, _Batches(batches[:step - 1]), opt2, check_finite=False)
    for a, b in zip(model.parameters(), again.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_check_finite_false_trains_on():
    x, y = _data()
    model, opt = _setup(lr=1e30)
    stats = train_epoch(model, DataLoader(x, y, batch_size=8), opt, check_finite=False)
    assert not math.isfinite(stats["loss"])


def test_fit_names_the_epoch_and_a_nonfinite_buffer_is_caught_at_the_end_of_the_epoch():
    x, y = _data()
    model, opt = _setup(lr=0.1, batch_norm=True)
    model[1].running_mean.data[:] = np.inf  # does not touch the training-mode loss
    with pytest.raises(DivergenceError, match=r"train_epoch: '1.running_mean' holds non-finite values after "
                                              r"epoch 1") as err:
        fit(model, opt, DataLoader(x, y, batch_size=8), x, y, epochs=2)
    assert err.value.epoch == 1 and err.value.step is None and err.value.what == "1.running_mean"


def test_fit_start_epoch_runs_the_remaining_epochs():
    x, y = _data()
    model, opt = _setup(lr=0.1)
    rows = fit(model, opt, DataLoader(x, y, batch_size=8), x, y, epochs=3, start_epoch=3)
    assert [r["epoch"] for r in rows] == [3]
    with pytest.raises(ValueError, match="fit: start_epoch 5 is past the last epoch 3"):
        fit(model, opt, DataLoader(x, y, batch_size=8), x, y, epochs=3, start_epoch=5)


@pytest.mark.parametrize("call", [lambda m, x, y: evaluate(m, x, y), lambda m, x, y: predict(m, x)])
def test_evaluate_and_predict_refuse_raw_integer_images(call):
    model, _ = _setup(lr=0.1)
    x = np.random.default_rng(0).integers(0, 256, (5, 6)).astype(np.uint8)
    with pytest.raises(TypeError, match=r"(evaluate|predict): expected floating-point images, got uint8 "
                                        r"\(raw pixels\? pass prepare\(images\)"):
        call(model, x, np.zeros(5, np.int64))


def test_cross_entropy_of_an_empty_batch_is_nan_like_pytorch():
    import tinygrad_bn.functional as F

    x = tg.Tensor(np.zeros((0, 4), np.float32), requires_grad=True)
    y = np.zeros(0, np.int64)
    mean = F.cross_entropy(x, y)
    assert mean.dtype == np.float32 and np.isnan(mean.item())
    assert F.cross_entropy(x, y, reduction="sum").item() == 0.0
    assert F.cross_entropy(x, y, reduction="none").shape == (0,)
    mean.backward()
    assert x.grad.shape == (0, 4)


def test_linear_refuses_integer_input_instead_of_computing_in_float64():
    layer = tg.nn.Linear(3, 2)
    with pytest.raises(TypeError, match="linear: expected input of weight's dtype float32, got dtype int64"):
        layer(tg.Tensor(np.ones((2, 3), np.int64)))
    assert layer(tg.Tensor(np.ones((2, 3), np.float32))).dtype == np.float32
