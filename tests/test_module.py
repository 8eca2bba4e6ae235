"""nn.Module: registration, traversal, modes, state_dict round trips and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.nn import Module, Parameter


class Affine(Module):
    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(np.ones(n, dtype=np.float32))
        self.bias = Parameter(np.zeros(n, dtype=np.float32))
        self.register_buffer("count", tg.Tensor(np.zeros((), dtype=np.int64)))
        self.register_buffer("scratch", tg.Tensor(np.zeros(n)), persistent=False)

    def forward(self, x):
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"n={self.weight.shape[0]}"


class Net(Module):
    def __init__(self):
        super().__init__()
        self.a = Affine(3)
        self.b = Affine(3)
        self.shared = self.a  # the same module twice is traversed once

    def forward(self, x):
        return self.b(self.a(x))


def test_parameters_buffers_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "b.weight", "b.bias"]
    assert [n for n, _ in net.named_buffers()] == ["a.count", "a.scratch", "b.count", "b.scratch"]
    assert len(list(net.parameters())) == 4
    assert [n for n, _ in net.named_modules()] == ["", "a", "b"]
    assert all(p.requires_grad for p in net.parameters())
    assert not any(b.requires_grad for b in net.buffers())


def test_train_and_eval_are_recursive():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(TypeError, match="mode must be a bool"):
        net.train("no")


def test_zero_grad_sets_to_none():
    net = Net()
    net(tg.Tensor(np.ones((2, 3), dtype=np.float32))).sum().backward()
    assert net.a.weight.grad is not None
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_and_copies():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["a.weight", "a.bias", "a.count", "b.weight", "b.bias", "b.count"]  # scratch not persistent
    sd["a.weight"][:] = 7  # a copy: the model is unchanged
    assert net.a.weight.data[0] == 1
    other = Net()
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.a.weight.data, np.full(3, 7, dtype=np.float32))
    assert other.a.weight.dtype == np.float32


def test_load_state_dict_errors_name_the_keys_and_shapes():
    net = Net()
    sd = net.state_dict()
    del sd["a.bias"]
    sd["c.weight"] = np.ones(3)
    with pytest.raises(ValueError, match=r"missing keys \['a.bias'\], unexpected keys \['c.weight'\]"):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["a.bias"] and result.unexpected_keys == ["c.weight"]
    sd = net.state_dict()
    sd["b.weight"] = np.ones(4)
    before = net.a.weight.data.copy()
    sd["a.weight"] = np.full(3, 5.0)
    with pytest.raises(ValueError, match=r"'b.weight': expected shape \(3,\), got \(4,\)"):
        net.load_state_dict(sd)
    np.testing.assert_array_equal(net.a.weight.data, before)  # nothing changed


def test_repr_is_nested_and_readable():
    text = repr(Net())
    assert text.startswith("Net(\n  (a): Affine(n=3)\n  (b): Affine(n=3)")


def test_assignment_errors():
    class Bad(Module):
        def __init__(self):
            self.w = Parameter(np.ones(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Bad()
    m = Affine(2)
    with pytest.raises(TypeError, match="buffer 'count' must be a Tensor"):
        m.count = np.zeros(())
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = m.nope
