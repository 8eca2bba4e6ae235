"""The tape: gradients through graphs, accumulation, no_grad, retain_graph, freeing, deep chains."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn.autograd import Function


def leaf(*shape, seed=0):
    return tg.Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_issue_example():
    x, w, b = leaf(4, 3), leaf(3, 2, seed=1), tg.Tensor(np.zeros(2), requires_grad=True)
    loss = ((x @ w + b).relu() ** 2).mean()
    loss.backward()
    h = x.data @ w.data + b.data
    dh = 2 * np.maximum(h, 0) * (h > 0) / h.size
    np.testing.assert_allclose(w.grad, x.data.T @ dh)
    np.testing.assert_allclose(x.grad, dh @ w.data.T)
    np.testing.assert_allclose(b.grad, dh.sum(0))
    assert x.grad.shape == (4, 3) and x.grad.dtype == np.float64


def test_broadcasting_gradients_reduce_to_each_input_shape():
    a, b = leaf(4, 1, 3), leaf(2, 3, seed=1)
    (a + b).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((4, 1, 3), 2.0))  # each a element is used by 2 rows
    np.testing.assert_array_equal(b.grad, np.full((2, 3), 4.0))  # each b element by 4 blocks
    a.grad = b.grad = None
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad, np.broadcast_to(b.data.sum(0), (4, 1, 3)))
    np.testing.assert_allclose(b.grad, np.broadcast_to(a.data.sum(0), (2, 3)))


def test_value_used_several_times_gradients_add_up():
    x = leaf(3)
    y = x * x + x * 3 + x.exp()  # dy/dx = 2x + 3 + exp(x)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3 + np.exp(x.data))
    z = leaf(3, seed=2)
    h = z * 2
    (h + h + h).sum().backward()  # a non-leaf used three times
    np.testing.assert_allclose(z.grad, np.full(3, 6.0))


def test_leaf_gradients_are_not_aliased():
    a, b = leaf(3), leaf(3, seed=1)
    (a + b).sum().backward()  # add hands the same array to both inputs
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_grad_accumulates_until_reset():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 5.0))
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 3.0))


def test_no_grad_context_and_decorator():
    x = leaf(3)
    with tg.no_grad():
        y = x * 2
        assert not tg.is_grad_enabled()
        with tg.enable_grad():
            assert (x * 2).requires_grad
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None

    @tg.no_grad()
    def f(t):
        return t.exp()

    assert not f(x).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_graph_is_freed_after_backward_and_second_backward_raises():
    x = leaf(3)
    y = (x.exp() * 2).sum()
    y.backward()
    node = y.grad_fn
    assert node.released and node.saved_tensors == ()
    assert node.parents  # structure kept for pictures
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3)
    y = (x.exp() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * np.exp(x.data))


def test_backward_of_non_scalar_needs_grad():
    x = leaf(2, 3)
    y = x * 2
    with pytest.raises(RuntimeError, match="one-element outputs"):
        y.backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected the output's shape \(2, 3\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))


def test_backward_on_tensor_without_grad_says_so():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.Tensor(np.ones(3)).sum().backward()


def test_chain_of_10000_ops_needs_no_recursion():
    x = tg.Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert np.isclose(x.grad, 1.0001**10_000)


def test_retain_grad_on_intermediate():
    x = leaf(3)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)
    assert leaf(2).grad is None


def test_autograd_grad_returns_without_touching_dot_grad():
    x, w = leaf(3), leaf(3, seed=1)
    gx, gw = tg.autograd.grad((x * w).sum(), (x, w))
    np.testing.assert_allclose(gx, w.data)
    np.testing.assert_allclose(gw, x.data)
    assert x.grad is None and w.grad is None
    (unused,) = tg.autograd.grad((x * 2).sum(), (w,), allow_unused=True)
    assert unused is None
    with pytest.raises(RuntimeError, match="input 0 .* was not used"):  # PyTorch's rule
        tg.autograd.grad((x * 2).sum(), (w,))


def test_detach_cuts_the_graph():
    x = leaf(3)
    y = (x * 2).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)  # only the non-detached path


def test_stable_cross_entropy_with_huge_logits():
    logits = tg.Tensor(np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4]]), requires_grad=True)
    loss = tg.F.cross_entropy(logits, np.array([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.isfinite(logits.grad).all()
    assert np.isclose(loss.item(), np.log(2) / 2)  # row 0: loss 0; row 1: two equal maxima -> log 2
    np.testing.assert_allclose(logits.grad, [[0, 0, 0], [0, -0.25, 0.25]], atol=1e-12)
    ls = tg.Tensor(np.array([1e4, -1e4])).log_softmax()
    assert np.isfinite(ls.data).all()


def test_cross_entropy_matches_log_softmax_and_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    t = rng.integers(0, 4, 5)
    ce = tg.F.cross_entropy(tg.Tensor(x), t)
    ref = -tg.F.log_softmax(tg.Tensor(x), axis=1).data[np.arange(5), t].mean()
    assert ce.dtype == np.float32
    assert np.isclose(ce.item(), ref, rtol=1e-6)


@pytest.mark.parametrize("logits, targets, error, message", [
    (np.ones((3, 4)), np.array([0, 1]), ValueError, r"expected targets of shape \(3,\)"),
    (np.ones((3, 4)), np.array([0, 1, 4]), ValueError, r"class indices in \[0, 4\)"),
    (np.ones((3, 4)), np.array([0.0, 1.0, 2.0]), TypeError, "integer class targets"),
    (np.ones(4), np.array([0]), ValueError, r"logits of shape \(N, C\)"),
])
def test_cross_entropy_errors(logits, targets, error, message):
    with pytest.raises(error, match="cross_entropy: .*" + message):
        tg.F.cross_entropy(tg.Tensor(logits), targets)


def test_mse_loss_and_its_errors():
    a, b = leaf(4, 2), np.zeros((4, 2))
    loss = tg.F.mse_loss(a, b)
    assert np.isclose(loss.item(), (a.data**2).mean())
    with pytest.raises(ValueError, match="mse_loss: input and target must have the same shape"):
        tg.F.mse_loss(a, np.zeros((4, 1)))
    with pytest.raises(ValueError, match="reduction must be one of"):
        tg.F.mse_loss(a, b, reduction="avg")


def test_custom_function_like_a_user_writes_it():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return (g * 3 * x**2,)

    x = leaf(4)
    assert tg.gradcheck(lambda t: Cube.apply(t), (x,))
