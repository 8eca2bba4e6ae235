"""tinygrad_bn.models.cnn: architecture and shapes, state_dict names as PyTorch's, a short fit, argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import nn
from tinygrad_bn.models import cnn


def _layout(model):
    out = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            out.append(("Conv", m.in_channels, m.out_channels, m.kernel_size, m.padding, m.bias is not None))
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            out.append((type(m).__name__[-2:], m.num_features))
        elif isinstance(m, (nn.Dropout, nn.Dropout2d)):
            out.append((type(m).__name__, m.p))
        elif isinstance(m, nn.Linear):
            out.append(("Linear", m.in_features, m.out_features, m.bias is not None))
        else:
            out.append(type(m).__name__)
    return out


def test_default_architecture_shapes_and_dtypes():
    model = cnn()
    assert tg.cnn is cnn
    assert _layout(model) == [("Conv", 1, 32, (3, 3), (1, 1), False), ("2d", 32), "ReLU", "MaxPool2d",
                              ("Dropout2d", 0.1),
                              ("Conv", 32, 64, (3, 3), (1, 1), False), ("2d", 64), "ReLU", "MaxPool2d",
                              ("Dropout2d", 0.1), "Flatten",
                              ("Linear", 64 * 7 * 7, 128, False), ("1d", 128), "ReLU", ("Dropout", 0.3),
                              ("Linear", 128, 10, True)]
    n_params = 32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 3136 * 128 + 2 * 128 + 128 * 10 + 10
    assert sum(p.size for p in model.parameters()) == n_params == 421_866
    assert all(p.dtype == np.float32 for p in model.parameters())
    x = tg.randn(3, 1, 28, 28)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(x.shape)
    assert shapes[3] == (3, 32, 14, 14) and shapes[8] == (3, 64, 7, 7) and shapes[10] == (3, 3136)
    assert shapes[11] == shapes[14] == (3, 128)
    assert x.shape == (3, 10) and x.dtype == np.float32


def test_options_change_the_blocks():
    model = cnn(3, (4, 8, 16), 5, image_size=32, batch_norm=False, dropout=0.3, spatial_dropout=False, hidden=None)
    assert _layout(model) == [("Conv", 3, 4, (3, 3), (1, 1), True), "ReLU", "MaxPool2d", ("Dropout", 0.3),
                              ("Conv", 4, 8, (3, 3), (1, 1), True), "ReLU", "MaxPool2d", ("Dropout", 0.3),
                              ("Conv", 8, 16, (3, 3), (1, 1), True), "ReLU", "MaxPool2d", ("Dropout", 0.3),
                              "Flatten", ("Linear", 16 * 4 * 4, 5, True)]
    assert model.eval()(tg.randn(2, 3, 32, 32)).shape == (2, 5)
    assert _layout(cnn(channels=(4,), dropout=0.0, hidden=6, head_dropout=0.0, batch_norm=False)) == [
        ("Conv", 1, 4, (3, 3), (1, 1), True), "ReLU", "MaxPool2d", "Flatten", ("Linear", 4 * 14 * 14, 6, True),
        "ReLU", ("Linear", 6, 10, True)]


def test_state_dict_names_are_pytorchs():
    names = list(cnn().state_dict())
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert names == ["0.weight", *[f"1.{k}" for k in bn], "5.weight", *[f"6.{k}" for k in bn],
                     "11.weight", *[f"12.{k}" for k in bn], "15.weight", "15.bias"]


def test_pytorch_loads_our_state_dict_and_computes_the_same_logits():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the cross-check is optional")
    tg.manual_seed(0)
    model = cnn(channels=(4, 8))
    x = np.random.default_rng(0).standard_normal((6, 1, 28, 28)).astype(np.float32)
    model(tg.Tensor(x))  # one training step's statistics, so the running buffers are not the initial ones
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Dropout2d(0.1),
        torch.nn.Conv2d(4, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Dropout2d(0.1), torch.nn.Flatten(),
        torch.nn.Linear(8 * 7 * 7, 128, bias=False), torch.nn.BatchNorm1d(128), torch.nn.ReLU(), torch.nn.Dropout(0.3),
        torch.nn.Linear(128, 10))
    ref.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()})
    with torch.no_grad():
        expected = ref.eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.eval()(tg.Tensor(x)).data, expected, rtol=1e-4, atol=1e-5)


def test_same_seed_same_outputs_and_a_few_steps_fit_a_toy_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].mean(axis=(1, 2)) > x[:, 0, 4:].mean(axis=(1, 2))).astype(np.int64)  # top half brighter
    outs = []
    for _ in range(2):
        tg.manual_seed(3)
        model = cnn(channels=(4, 8), num_classes=2, image_size=8, dropout=0.0, hidden=8, head_dropout=0.0)
        outs.append(model(tg.Tensor(x)).data)
    np.testing.assert_array_equal(outs[0], outs[1])
    optimizer = tg.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(40):
        loss = F.cross_entropy(model(tg.Tensor(x)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert (model.eval()(tg.Tensor(x)).data.argmax(1) == y).mean() >= 0.95


@pytest.mark.parametrize("kwargs, error, message", [
    ({"in_channels": 0}, ValueError, "in_channels must be a positive integer, got 0"),
    ({"channels": (32, -1)}, ValueError, r"channels\[1\] must be a positive integer, got -1"),
    ({"channels": 32}, ValueError, "channels must be a non-empty sequence of positive integers, got 32"),
    ({"channels": ()}, ValueError, "channels must be a non-empty sequence"),
    ({"channels": (8, 8, 8)}, ValueError, r"image_size \(28\) must be divisible by 2\*\*len\(channels\) = 8"),
    ({"dropout": 1.0}, ValueError, r"dropout must be a probability in \[0, 1\), got 1.0"),
    ({"head_dropout": -0.1}, ValueError, r"head_dropout must be a probability in \[0, 1\), got -0.1"),
    ({"hidden": 0}, ValueError, "hidden must be a positive integer, got 0"),
    ({"batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"spatial_dropout": 1}, TypeError, "spatial_dropout must be True or False"),
    ({"num_classes": 2.0}, TypeError, "num_classes must be an integer, got float 2.0"),
])
def test_bad_arguments_raise_clear_errors(kwargs, error, message):
    with pytest.raises(error, match="cnn: " + message):
        cnn(**kwargs)
