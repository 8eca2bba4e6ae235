"""nn layers and nn.init: shapes, initialization statistics, gradients, state round trips, modes, reprs, errors.

Statistical checks draw hundreds of thousands of values from a fixed seed and allow 5 standard
deviations of the statistic (derived in each test from the distribution it should follow); the
layer shapes are chosen with fan_in != fan_out so that using the wrong fan lands far outside.
"""

from __future__ import annotations

import doctest
import math
import pathlib
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn
from tinygrad_bn.nn import init

SIGMAS = 5.0


def _check_uniform(values: np.ndarray, bound: float) -> None:
    """values ~ U(-bound, bound): E x = 0, Var x = b^2/3, Var(x^2) = b^4/5 - b^4/9 = 4 b^4 / 45."""
    n = values.size
    v = values.astype(np.float64).ravel()
    assert np.abs(v).max() <= bound * (1 + 1e-6)
    assert np.abs(v).max() > bound * (1 - 1e-3)  # the range is really used (n >> 1000)
    assert abs(v.mean()) <= SIGMAS * bound / math.sqrt(3 * n)
    assert abs((v**2).mean() - bound**2 / 3) <= SIGMAS * bound**2 * math.sqrt(4 / 45 / n)


def _check_normal(values: np.ndarray, std: float) -> None:
    """values ~ N(0, std^2): sd of the mean std/sqrt(n); Var(x^2) = 2 std^4."""
    n = values.size
    v = values.astype(np.float64).ravel()
    assert abs(v.mean()) <= SIGMAS * std / math.sqrt(n)
    assert abs((v**2).mean() - std**2) <= SIGMAS * std**2 * math.sqrt(2 / n)


# ---- Linear ---------------------------------------------------------------------------------------

def test_linear_shapes_dtype_and_forward_matches_numpy():
    tg.manual_seed(0)
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,)
    assert lin.weight.dtype == np.float32 and lin.bias.dtype == np.float32
    x = np.random.default_rng(1).standard_normal((4, 2, 5)).astype(np.float32)
    y = lin(tg.Tensor(x))
    assert y.shape == (4, 2, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y.data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-6, atol=1e-6)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]


def test_linear_without_bias_and_float64():
    lin = nn.Linear(4, 2, bias=False, dtype=np.float64)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin.weight.dtype == np.float64
    x = np.ones((3, 4))
    np.testing.assert_allclose(lin(tg.Tensor(x)).data, x @ lin.weight.data.T)


def test_linear_default_init_is_pytorchs_uniform_with_bound_one_over_sqrt_fan_in():
    tg.manual_seed(0)
    lin = nn.Linear(400, 1000)  # fan_in 400, fan_out 1000: the wrong fan gives bound 0.032 instead of 0.05
    bound = 1 / math.sqrt(400)
    _check_uniform(lin.weight.data, bound)
    assert np.abs(lin.bias.data).max() <= bound
    big = nn.Linear(4, 200_000)  # enough bias values for the statistics; bound 1/sqrt(4)
    _check_uniform(big.bias.data, 0.5)


def test_linear_init_is_reproducible_with_manual_seed_and_generator():
    tg.manual_seed(3)
    a = nn.Linear(6, 4)
    tg.manual_seed(3)
    b = nn.Linear(6, 4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    c = nn.Linear(6, 4, generator=np.random.default_rng(5))
    d = nn.Linear(6, 4, generator=np.random.default_rng(5))
    np.testing.assert_array_equal(c.weight.data, d.weight.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_linear_errors_name_the_layer_and_both_shapes():
    lin = nn.Linear(4, 3)
    expected = r"Linear\(in_features=4, out_features=3, bias=True\).*\(\.\.\., 4\).*\(2, 5\)"
    with pytest.raises(ValueError, match=expected):
        lin(tg.randn(2, 5))
    with pytest.raises(ValueError, match="Linear: in_features must be a non-negative integer, got -1"):
        nn.Linear(-1, 3)
    for bad in (2.5, True, "4"):
        with pytest.raises(TypeError, match="Linear: in_features must be an integer"):
            nn.Linear(bad, 3)
    with pytest.raises(TypeError, match="Linear: dtype must be a floating-point"):
        nn.Linear(2, 3, dtype=np.int32)


# ---- nn.init --------------------------------------------------------------------------------------

def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_gain("selu") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="calculate_gain: unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_calculate_gain_matches_pytorch():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the cross-check is optional")
    for name, param in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param), rel=1e-15)


@pytest.mark.parametrize("fn, expected", [
    ("kaiming_uniform_", lambda fi, fo: ("u", math.sqrt(3) * math.sqrt(2) / math.sqrt(fi))),
    ("kaiming_normal_", lambda fi, fo: ("n", math.sqrt(2) / math.sqrt(fi))),
    ("xavier_uniform_", lambda fi, fo: ("u", math.sqrt(6 / (fi + fo)))),
    ("xavier_normal_", lambda fi, fo: ("n", math.sqrt(2 / (fi + fo)))),
])
def test_initializers_follow_pytorchs_formulas(fn, expected):
    # (out, in, k) = (300, 50, 8): fan_in = 400, fan_out = 2400
    t = tg.zeros(300, 50, 8)
    kwargs = {"nonlinearity": "relu"} if fn.startswith("kaiming") else {}
    tg.manual_seed(0)
    assert getattr(init, fn)(t, **kwargs) is t
    kind, scale = expected(400, 2400)
    (_check_uniform if kind == "u" else _check_normal)(t.data, scale)
    assert t.dtype == np.float32


def test_kaiming_fan_out_mode_and_generator():
    t = tg.zeros(300, 1000)
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="tanh", generator=np.random.default_rng(0))
    _check_normal(t.data, (5 / 3) / math.sqrt(300))
    with pytest.raises(ValueError, match="kaiming_normal_: mode must be"):
        init.kaiming_normal_(t, mode="fan")


def test_simple_fills_and_reproducibility():
    t = tg.zeros(200, 1000)
    tg.manual_seed(1)
    init.uniform_(t, -2.0, 4.0)
    assert t.data.min() >= -2 and t.data.max() < 4
    _check_uniform(t.data - 1.0, 3.0)
    first = t.data.copy()
    tg.manual_seed(1)
    init.uniform_(t, -2.0, 4.0)
    np.testing.assert_array_equal(t.data, first)
    init.normal_(t, 0.0, 0.5)
    _check_normal(t.data, 0.5)
    init.normal_(t, 3.0, 0.5)
    _check_normal(t.data - 3.0, 0.5)
    for fn, value in ((init.zeros_, 0), (init.ones_, 1)):
        fn(t)
        assert (t.data == value).all()
    init.constant_(t, 0.25)
    assert (t.data == np.float32(0.25)).all() and t.dtype == np.float32


def test_init_errors():
    with pytest.raises(ValueError, match="xavier_uniform_: fan in and fan out need .* at least 2 dimensions"):
        init.xavier_uniform_(tg.zeros(5))
    with pytest.raises(TypeError, match="uniform_: expected a floating-point tensor"):
        init.uniform_(tg.Tensor(np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="normal_: expected a Tensor"):
        init.normal_([1.0, 2.0])
    with pytest.raises(ValueError, match="uniform_: expected a <= b"):
        init.uniform_(tg.zeros(3), 1.0, 0.0)


# ---- Sequential, Flatten, activations -------------------------------------------------------------

def test_sequential_container_protocol():
    a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    seq = nn.Sequential(a, b)
    assert len(seq) == 2 and list(seq) == [a, b] and seq[0] is a and seq[-1] is b
    assert seq.append(c) is seq and len(seq) == 3 and seq[2] is c
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    assert [n for n, _ in tail.named_children()] == ["1", "2"]  # keys kept, as PyTorch
    named = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert named.fc is a and [n for n, _ in named.named_children()] == ["fc", "act"]
    x = tg.randn(4, 2)
    np.testing.assert_array_equal(seq(x).data, c(b(a(x))).data)


def test_sequential_errors():
    with pytest.raises(TypeError, match="Sequential: element 1 must be a Module, got function"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    seq = nn.Sequential(nn.ReLU())
    with pytest.raises(IndexError, match="Sequential: index 1 is out of range for 1 module"):
        seq[1]
    with pytest.raises(TypeError, match="Sequential: indices must be integers"):
        seq["0"]
    with pytest.raises(TypeError, match="Sequential: element 1 must be a Module"):
        seq.append(3)


def test_flatten_and_activations():
    x = tg.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(1, -2)(x).shape == (2, 12, 5)
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\): cannot flatten dims 1..-1 .* \(3,\)"):
        nn.Flatten()(tg.randn(3))
    with pytest.raises(ValueError, match="cannot flatten dims 2..1"):
        nn.Flatten(2, 1)(x)
    v = np.linspace(-3, 3, 13)
    np.testing.assert_allclose(nn.ReLU()(tg.Tensor(v)).data, np.maximum(v, 0))
    np.testing.assert_allclose(nn.Sigmoid()(tg.Tensor(v)).data, 1 / (1 + np.exp(-v)))
    np.testing.assert_allclose(nn.Tanh()(tg.Tensor(v)).data, np.tanh(v))
    t = tg.Tensor(v)
    assert nn.Identity(54, unused=1)(t) is t


def test_repr_like_pytorch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Dropout(0.2),
                          nn.Linear(3, 2, bias=False), nn.Sigmoid(), nn.Tanh(), nn.Identity())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (2): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (3): ReLU()\n"
        "  (4): Dropout(p=0.2)\n"
        "  (5): Linear(in_features=3, out_features=2, bias=False)\n"
        "  (6): Sigmoid()\n"
        "  (7): Tanh()\n"
        "  (8): Identity()\n"
        ")")


# ---- whole models: gradients, modes, state ---------------------------------------------------------

def _small_net(dtype=np.float32):
    return nn.Sequential(nn.Linear(3, 4, dtype=dtype), nn.BatchNorm1d(4, dtype=dtype), nn.Tanh(),
                         nn.Dropout(0.3), nn.Linear(4, 2, dtype=dtype), nn.Sigmoid())


def test_gradcheck_of_a_sequential_in_float64_wrt_input_and_every_parameter():
    tg.manual_seed(0)
    net = _small_net(np.float64)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    params = list(net.parameters())
    assert len(params) == 6
    assert tg.gradcheck(lambda x, *ps: net(x), (x, *params))
    net.eval()
    assert tg.gradcheck(lambda x, *ps: net(x), (x, *params))


def test_backward_fills_every_parameter_gradient_with_its_shape_and_dtype():
    net = _small_net()
    loss = net(tg.randn(8, 3)).sum()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_submodule():
    net = nn.Sequential(_small_net(), nn.Sequential(nn.Dropout(0.5)))
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    x = tg.randn(6, 3)
    np.testing.assert_array_equal(net(x).data, net(x).data)  # eval: no dropout, running statistics
    net.train()
    assert all(m.training for m in net.modules())


def test_state_dict_round_trip_includes_batchnorm_buffers():
    tg.manual_seed(0)
    a = _small_net()
    for _ in range(3):
        a(tg.randn(8, 3))  # training: running statistics move away from 0 / 1
    sd = a.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "1.num_batches_tracked", "4.weight", "4.bias"]
    assert int(sd["1.num_batches_tracked"]) == 3 and not np.allclose(sd["1.running_var"], 1)
    tg.manual_seed(1)
    b = _small_net()
    x = tg.randn(5, 3)
    a.eval(), b.eval()
    assert not np.array_equal(a(x).data, b(x).data)
    b.load_state_dict(sd)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert va.dtype == vb.dtype and np.array_equal(va, vb), k


def test_docs_nn_examples_run():
    path = pathlib.Path(__file__).parents[1] / "docs" / "nn.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
