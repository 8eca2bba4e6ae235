"""Tensor.register_hook (gradient hooks) and Module forward hooks (register_forward_pre_hook / _hook)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn import nn

floats = st.floats(-3, 3, allow_nan=False, width=64)
vectors = st.lists(floats, min_size=1, max_size=5).map(np.array)


def leaf(values, dtype=np.float64):
    return tg.Tensor(np.array(values, dtype=dtype), requires_grad=True)


class Recorder:
    """A hook that records every gradient it sees (copies) and returns ``result(g)`` (None: keep)."""

    def __init__(self, result=None):
        self.seen, self.result = [], result

    def __call__(self, g):
        self.seen.append(g.copy())
        return None if self.result is None else self.result(g)


# ---- Tensor.register_hook ------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(vectors, vectors)
def test_leaf_hook_sees_the_gradient_and_its_replacement_becomes_grad(xv, wv):
    n = min(len(xv), len(wv))
    x, w = leaf(xv[:n]), leaf(wv[:n])
    rec = Recorder(lambda g: 3 * g + 1)
    x.register_hook(rec)
    (x * w).sum().backward()
    assert len(rec.seen) == 1
    np.testing.assert_allclose(rec.seen[0], wv[:n])               # d sum(x*w) / dx = w
    np.testing.assert_allclose(x.grad, 3 * wv[:n] + 1)            # the replacement is stored
    np.testing.assert_allclose(w.grad, xv[:n])                    # other leaves untouched


@settings(max_examples=30, deadline=None)
@given(vectors, st.integers(2, 4))
def test_a_tensor_used_several_times_gets_one_call_with_the_summed_gradient(xv, uses):
    x = leaf(xv)
    rec = Recorder()
    x.register_hook(rec)
    total = x * x                                                 # d/dx = 2x
    for _ in range(uses - 1):
        total = total + x                                         # + 1 per extra use
    total.sum().backward()
    assert len(rec.seen) == 1
    np.testing.assert_allclose(rec.seen[0], 2 * xv + (uses - 1))
    np.testing.assert_allclose(x.grad, 2 * xv + (uses - 1))


@settings(max_examples=30, deadline=None)
@given(vectors)
def test_intermediate_hook_is_called_once_with_the_sum_and_its_replacement_flows_on(xv):
    x = leaf(xv)
    y = x * 2.0
    rec = Recorder(lambda g: g * 10.0)
    y.register_hook(rec)
    (y * y + y).sum().backward()                                  # dL/dy = 2y + 1
    assert len(rec.seen) == 1
    np.testing.assert_allclose(rec.seen[0], 2 * (2 * xv) + 1)
    np.testing.assert_allclose(x.grad, 10.0 * (4 * xv + 1) * 2)  # replaced gradient times dy/dx = 2


def test_hooks_run_in_registration_order_each_seeing_the_previous_result():
    x = leaf([1.0, 2.0])
    calls = []
    x.register_hook(lambda g: calls.append("add") or g + 1)
    x.register_hook(lambda g: calls.append("double") or g * 2)
    x.sum().backward()                                            # g = 1: (1 + 1) * 2 = 4, not 1 * 2 + 1 = 3
    assert calls == ["add", "double"]
    np.testing.assert_array_equal(x.grad, [4.0, 4.0])


def test_remove_takes_the_hook_off_and_can_be_called_twice():
    x = leaf([1.0, 2.0])
    rec = Recorder(lambda g: g * 0)
    handle = x.register_hook(rec)
    handle.remove()
    handle.remove()
    x.sum().backward()
    assert rec.seen == []
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_removing_one_hook_keeps_the_others():
    x = leaf([1.0])
    first, second = Recorder(), Recorder(lambda g: g * 5)
    h1 = x.register_hook(first)
    x.register_hook(second)
    h1.remove()
    x.sum().backward()
    assert (len(first.seen), len(second.seen)) == (0, 1)
    np.testing.assert_array_equal(x.grad, [5.0])


def test_handle_as_context_manager_removes_the_hook_at_the_end_of_the_block():
    x = leaf([2.0])
    with x.register_hook(lambda g: g * 7):
        (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [7.0])
    x.grad = None
    (x * 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_hook_runs_in_every_backward_pass():
    x = leaf([1.0, 2.0])
    rec = Recorder()
    x.register_hook(rec)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert len(rec.seen) == 2
    np.testing.assert_array_equal(x.grad, [4.0, 8.0])             # 2x, accumulated twice


@pytest.mark.parametrize("retain_first", [True, False])
def test_retain_grad_stores_the_hooked_gradient_whatever_the_order(retain_first):
    x = leaf([1.0, -1.0])
    y = x * 3.0
    if retain_first:
        y.retain_grad()
    y.register_hook(lambda g: g + 100)
    if not retain_first:
        y.retain_grad()
    y.sum().backward()
    np.testing.assert_array_equal(y.grad, [101.0, 101.0])
    np.testing.assert_array_equal(x.grad, [303.0, 303.0])


def test_leaf_hook_sees_the_gradient_summed_down_from_a_broadcast():
    b = leaf([1.0, 2.0, 3.0])
    rec = Recorder()
    b.register_hook(rec)
    (tg.Tensor(np.ones((4, 3))) + b).sum().backward()
    assert rec.seen[0].shape == (3,)
    np.testing.assert_array_equal(rec.seen[0], [4.0, 4.0, 4.0])


def test_hook_on_a_0d_tensor_and_on_the_root():
    x = leaf(2.0)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(("y", g.shape, g.item())))
    x.register_hook(lambda g: seen.append(("x", g.shape, g.item())))
    y.backward()
    assert seen == [("y", (), 1.0), ("x", (), 4.0)]


def test_hook_result_is_cast_to_the_tensor_dtype_and_leaf_grad_is_not_the_hooks_array():
    x = leaf([1.0, 2.0], dtype=np.float32)
    kept = []
    x.register_hook(lambda g: kept.append(np.full(2, 0.5, np.float64)) or kept[-1])
    x.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [0.5, 0.5])
    kept[0][:] = 9                                                # the hook's array is not shared with .grad
    np.testing.assert_array_equal(x.grad, [0.5, 0.5])


def test_hooks_apply_on_the_autograd_grad_path_and_leave_grad_alone():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    y = x * w
    on_x, on_y, on_w = Recorder(lambda g: g * 2), Recorder(lambda g: g + 1), Recorder()
    x.register_hook(on_x)
    y.register_hook(on_y)
    w.register_hook(on_w)
    (gx,) = tg.autograd.grad(y.sum(), [x])
    np.testing.assert_array_equal(gx, [12.0, 16.0])               # ((1 + 1) * w) * 2
    assert len(on_x.seen) == 1 and len(on_y.seen) == 1
    assert on_w.seen == []                                        # w's gradient was not asked for
    assert x.grad is None and w.grad is None


def test_bad_hooks_are_reported():
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="register_hook: hook must be callable, got int"):
        x.register_hook(3)
    x.register_hook(lambda g: np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(3,\), expected \(2,\)"):
        x.sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.Tensor([1.0]).register_hook(lambda g: g)


# ---- Module forward hooks -------------------------------------------------------------------------
class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor
        self.calls = []

    def forward(self, x, shift=0.0):
        self.calls.append(x)
        return x * self.factor + shift


def test_forward_pre_hook_sees_args_and_may_replace_them():
    m = Scale(2.0)
    seen = []
    m.register_forward_pre_hook(lambda mod, args: seen.append((mod, args)))
    x = tg.Tensor([1.0])
    assert m(x).tolist() == [2.0]
    assert seen[0][0] is m and seen[0][1][0] is x and len(seen[0][1]) == 1
    m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))          # a tuple replaces args
    assert m(x).tolist() == [4.0]
    m.register_forward_pre_hook(lambda mod, args: args[0] * 10)             # a single value becomes the arg
    assert m(x).tolist() == [40.0]


def test_forward_hook_sees_args_after_pre_hooks_and_may_replace_the_output():
    m = Scale(2.0)
    seen = []
    m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
    m.register_forward_hook(lambda mod, args, out: seen.append((args[0].tolist(), out.tolist())))
    h = m.register_forward_hook(lambda mod, args, out: out * 100)
    m.register_forward_hook(lambda mod, args, out: seen.append(out.tolist()))
    assert m(tg.Tensor([1.0])).tolist() == [400.0]
    assert seen == [([2.0], [4.0]), [400.0]]                               # order; each sees the previous output
    h.remove()
    assert m(tg.Tensor([1.0])).tolist() == [4.0]


def test_keyword_arguments_reach_forward_unchanged_and_hooks_are_removable():
    m = Scale(1.0)
    pre, post = [], []
    hp = m.register_forward_pre_hook(lambda mod, args: pre.append(args))
    hf = m.register_forward_hook(lambda mod, args, out: post.append(out))
    assert m(tg.Tensor([1.0]), shift=5.0).tolist() == [6.0]
    hp.remove()
    hf.remove()
    m(tg.Tensor([1.0]))
    assert len(pre) == 1 and len(post) == 1


def test_forward_hook_on_a_submodule_stays_in_the_graph():
    torch_like = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    torch_like[0].register_forward_hook(lambda mod, args, out: out * 0.0)
    outputs = []
    torch_like[1].register_forward_hook(lambda mod, args, out: outputs.append(out))
    y = torch_like(tg.Tensor(np.ones((1, 2), np.float32)))
    assert outputs[0] is y
    np.testing.assert_array_equal(y.data, 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(torch_like[0].weight.grad, 0.0)         # d(0 * out) = 0 reaches the weights


def test_module_hooks_must_be_callable():
    with pytest.raises(TypeError, match="register_forward_hook: hook must be callable"):
        Scale(1.0).register_forward_hook("not a function")
    with pytest.raises(TypeError, match="register_forward_pre_hook: hook must be callable"):
        Scale(1.0).register_forward_pre_hook(None)


def test_under_create_graph_a_hook_gets_a_tensor_and_its_replacement_is_differentiated_again():
    x = leaf([1.0, -2.0])
    y = x * x
    received = []
    y.register_hook(lambda g: received.append(g) or g * x)        # a replacement that depends on x
    (gx,) = tg.autograd.grad(y.sum(), [x], create_graph=True)     # (1 * x) * 2x = 2 x^2
    assert isinstance(received[0], tg.Tensor)
    np.testing.assert_allclose(gx.data, 2 * np.array([1.0, 4.0]))
    (ggx,) = tg.autograd.grad(gx.sum(), [x])                      # d(2 x^2)/dx = 4x: the hook's x is in the graph
    np.testing.assert_allclose(np.asarray(ggx.data), [4.0, -8.0])
