"""tinygrad_bn.models.mlp: architecture, options, a short fit, reproducibility, argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import nn
from tinygrad_bn.models import mlp


def _layout(model):
    out = []
    for m in model:
        if isinstance(m, nn.Linear):
            out.append(("Linear", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(("BN", m.num_features))
        elif isinstance(m, nn.Dropout):
            out.append(("Dropout", m.p))
        else:
            out.append(type(m).__name__)
    return out


def test_default_is_784_512_bn_relu_dropout_512_bn_relu_dropout_10():
    model = mlp()
    assert isinstance(model, nn.Sequential) and tg.mlp is mlp
    assert _layout(model) == [("Linear", 784, 512, True), ("BN", 512), "ReLU", ("Dropout", 0.2),
                              ("Linear", 512, 512, True), ("BN", 512), "ReLU", ("Dropout", 0.2),
                              ("Linear", 512, 10, True)]
    n_params = sum(p.size for p in model.parameters())
    assert n_params == (784 * 512 + 512) + 2 * 512 + (512 * 512 + 512) + 2 * 512 + (512 * 10 + 10)
    assert all(p.dtype == np.float32 for p in model.parameters())
    y = model(tg.randn(4, 784))
    assert y.shape == (4, 10) and y.dtype == np.float32


def test_options_change_the_blocks():
    assert _layout(mlp(6, (5,), 3, batch_norm=False, dropout=0.0, activation="tanh")) == [
        ("Linear", 6, 5, True), "Tanh", ("Linear", 5, 3, True)]
    assert _layout(mlp(6, [5, 4], 2, activation="sigmoid", dropout=0.5)) == [
        ("Linear", 6, 5, True), ("BN", 5), "Sigmoid", ("Dropout", 0.5),
        ("Linear", 5, 4, True), ("BN", 4), "Sigmoid", ("Dropout", 0.5), ("Linear", 4, 2, True)]
    assert _layout(mlp(6, (), 3)) == [("Linear", 6, 3, True)]


def test_same_seed_same_model_and_outputs():
    x = np.random.default_rng(0).standard_normal((8, 20)).astype(np.float32)
    outs = []
    for _ in range(2):
        tg.manual_seed(7)
        model = mlp(20, (16,), 4)
        outs.append(model(tg.Tensor(x)).data)  # training mode: BN batch statistics and a dropout mask
    np.testing.assert_array_equal(outs[0], outs[1])


def test_a_few_sgd_steps_fit_a_separable_toy_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    tg.manual_seed(0)
    model = mlp(10, (32,), 2, dropout=0.0)
    params = list(model.parameters())
    for _ in range(60):
        loss = F.cross_entropy(model(tg.Tensor(x)), tg.Tensor(y))
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= np.float32(0.1) * p.grad
    model.eval()
    accuracy = (model(tg.Tensor(x)).data.argmax(1) == y).mean()
    assert accuracy >= 0.95


@pytest.mark.parametrize("kwargs, message", [
    ({"in_features": 0}, "in_features must be a positive integer, got 0"),
    ({"hidden": (512, -1)}, r"hidden\[1\] must be a positive integer, got -1"),
    ({"hidden": 512}, "hidden must be a sequence of positive integers, got 512"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\), got 1.0"),
    ({"dropout": -0.1}, "dropout must be a probability"),
    ({"activation": "gelu"}, "activation must be one of .*'relu'.*got 'gelu'"),
    ({"batch_norm": "yes"}, "batch_norm must be True or False"),
])
def test_bad_arguments_raise_clear_value_errors(kwargs, message):
    with pytest.raises(ValueError, match="mlp: " + message):
        mlp(**kwargs)


def test_a_non_integer_width_is_a_type_error():
    with pytest.raises(TypeError, match="mlp: num_classes must be an integer, got float 2.0"):
        tg.mlp(num_classes=2.0)
