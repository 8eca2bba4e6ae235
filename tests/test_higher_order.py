"""Gradients of gradients: create_graph, autograd.grad's PyTorch rules, gradgradcheck, autograd.functional,
and the two end-to-end checks (a Hessian-vector product of the MLP, a gradient penalty through BatchNorm)
against central differences of gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import models, nn
from tinygrad_bn.autograd import Function
from tinygrad_bn.autograd import functional as AF

rng = np.random.default_rng(0)


def leaf(*shape, dtype=np.float64):
    return tg.Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


# ---- create_graph: the basics ----------------------------------------------------------------------------
def test_third_derivative_of_a_cube():
    x = leaf(4)
    (g,) = tg.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (h,) = tg.autograd.grad(g.sum(), x, create_graph=True)
    (t,) = tg.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    np.testing.assert_allclose(h.data, 6 * x.data)
    np.testing.assert_allclose(t.data, np.full(4, 6.0))
    assert g.requires_grad and h.requires_grad and not t.requires_grad


def test_results_are_tensors_of_the_inputs_dtype_and_grad_output_keyword_still_works():
    x = leaf(3, 2, dtype=np.float32)
    y = x.tanh()
    (g,) = tg.autograd.grad(y, [x], grad_output=np.ones((3, 2), np.float32), retain_graph=True)
    assert isinstance(g, tg.Tensor) and g.dtype == np.float32 and g.shape == (3, 2)
    (g2,) = tg.autograd.grad(y, [x], [tg.Tensor(np.ones((3, 2), np.float32))], create_graph=True)
    assert g2.dtype == np.float32 and g2.requires_grad
    np.testing.assert_allclose(g.data, g2.data)


def test_zero_d_broadcast_and_a_tensor_used_twice():
    x, b = leaf(), leaf(3)
    y = (x * x * b + x).sum()                     # x is 0-d, used three times, broadcast against b
    gx, gb = tg.autograd.grad(y, (x, b), create_graph=True)
    np.testing.assert_allclose(gx.data, 2 * x.data * b.data.sum() + 3)
    hxx, hxb = tg.autograd.grad(gx, (x, b))
    np.testing.assert_allclose(hxx.data, 2 * b.data.sum())
    np.testing.assert_allclose(hxb.data, 2 * x.data * np.ones(3))
    assert hxx.shape == () and gb.shape == (3,)


def test_grad_outputs_that_require_grad_are_differentiated_too():
    x = leaf(3)
    v = tg.Tensor(rng.standard_normal(3), requires_grad=True)
    (g,) = tg.autograd.grad(x.exp(), x, v, create_graph=True)   # g = v * exp(x)
    (dv,) = tg.autograd.grad(g.sum(), v)
    np.testing.assert_allclose(dv.data, np.exp(x.data))


def test_several_outputs_add_up():
    x = leaf(3)
    gx, = tg.autograd.grad([x * 2, (x * x).sum()], x, [np.ones(3), None])
    np.testing.assert_allclose(gx.data, 2 + 2 * x.data)


def test_unused_and_non_differentiable_inputs_follow_pytorch():
    x, w, c = leaf(3), leaf(3), tg.Tensor(np.ones(3))
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        tg.autograd.grad((x * 2).sum(), (x, w))
    with pytest.raises(RuntimeError, match="input 1 .* does not require grad"):
        tg.autograd.grad((x * c).sum(), (x, c))
    gx, gw, gc = tg.autograd.grad((x * c).sum(), (x, w, c), allow_unused=True)
    assert gw is None and gc is None
    np.testing.assert_allclose(gx.data, np.ones(3))


def test_backward_with_create_graph_points_to_autograd_grad():
    x = leaf(2)
    with pytest.raises(RuntimeError, match="tg.autograd.grad"):
        (x * x).sum().backward(create_graph=True)


def test_plain_backward_after_a_create_graph_pass_is_unchanged():
    x = leaf(5)
    y = (x.sigmoid() * x).sum()
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, g.data)
    assert isinstance(x.grad, np.ndarray)


def test_retain_graph_defaults_to_create_graph():
    x = leaf(3)
    y = (x * x).sum()
    tg.autograd.grad(y, x, create_graph=True)
    tg.autograd.grad(y, x)                        # still there
    with pytest.raises(RuntimeError, match="already freed"):
        tg.autograd.grad(y, x)


# ---- user Functions ------------------------------------------------------------------------------------
class Cube(Function):
    """y = x^3, backward with operators only: twice differentiable as it stands."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g * 3 * x ** 2,)


class NumpyExp(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g * np.exp(x),)


class DetachedExp(NumpyExp):
    @staticmethod
    def backward(ctx, g):
        return (np.asarray(g) * np.exp(ctx.parents[0].data),)


def test_a_user_function_written_with_operators_is_twice_differentiable():
    x = leaf(4)
    assert tg.gradgradcheck(Cube.apply, (x,))


def test_a_numpy_backward_fails_loudly_under_create_graph_never_silently():
    x = leaf(3)
    (g,) = tg.autograd.grad(NumpyExp.apply(x).sum(), x)             # first order: fine
    np.testing.assert_allclose(g.data, np.exp(x.data))
    with pytest.raises(TypeError) as info:
        tg.autograd.grad(NumpyExp.apply(x).sum(), x, create_graph=True)
    assert "NumpyExp.backward received Tensors" in "".join(getattr(info.value, "__notes__", []))
    with pytest.raises(RuntimeError, match="DetachedExp.backward returned a numpy array under create_graph"):
        tg.autograd.grad(DetachedExp.apply(x).sum(), x, create_graph=True)


# ---- hooks and observers see Tensors in a create_graph pass ------------------------------------------------
def test_hooks_receive_tensors_under_create_graph_and_may_scale_them():
    x = leaf(3)
    seen = []
    x.register_hook(lambda g: seen.append(type(g)) or g * 2)
    (g,) = tg.autograd.grad((x * x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 4 * x.data)
    (h,) = tg.autograd.grad(g.sum(), x)          # the hook's * 2 is part of the graph; it runs again: * 2
    np.testing.assert_allclose(h.data, np.full(3, 8.0))
    (p,) = tg.autograd.grad((x * x).sum(), x)
    assert seen[0] is tg.Tensor and seen[-1] is np.ndarray and isinstance(p, tg.Tensor)


# ---- gradgradcheck ------------------------------------------------------------------------------------------
def test_gradgradcheck_reports_a_wrong_second_derivative():
    class WrongSecond(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return (g * 3 * (x * x.detach() if isinstance(x, tg.Tensor) else x * x),)  # half of it cut

    x = leaf(3)
    assert tg.gradcheck(WrongSecond.apply, (x,))
    with pytest.raises(tg.GradcheckError, match="Jacobian mismatch for input 0"):
        tg.gradgradcheck(WrongSecond.apply, (x,))
    assert tg.gradgradcheck(WrongSecond.apply, (x,), raise_exception=False) is False


def test_gradgradcheck_takes_grad_outputs_and_fast_mode():
    x = leaf(2, 3)
    v = tg.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert tg.gradgradcheck(lambda t: t.sigmoid() * t, (x,), grad_outputs=[v])
    assert tg.gradgradcheck(lambda t: (t.softmax(1) * t).sum(1), (x,), fast_mode=True)


def test_dropout_uses_one_mask_at_every_order():
    x = leaf(4, 5)
    assert tg.gradgradcheck(lambda t: F.dropout(t * t, 0.5), (x,))
    tg.manual_seed(3)
    y = F.dropout(x, 0.5)
    (g,) = tg.autograd.grad((y * y).sum(), x, create_graph=True)   # 2 m^2 x
    (h,) = tg.autograd.grad(g.sum(), x)                            # 2 m^2
    mask = y.data / x.data
    np.testing.assert_allclose(h.data, 2 * mask ** 2)


@pytest.mark.parametrize("training", [True, False])
def test_third_order_through_batch_norm(training):
    x = tg.Tensor(rng.standard_normal((5, 3)) * 2 + 1, requires_grad=True)
    w, b = leaf(3), leaf(3)
    rm, rv = tg.Tensor(rng.standard_normal(3)), tg.Tensor(rng.uniform(0.5, 2, 3))

    def first(x, w, b):
        y = F.batch_norm(x, rm, rv, w, b, training=training)
        return tg.autograd.grad((y.tanh() * y).sum(), (x, w), create_graph=True)

    assert tg.gradgradcheck(first, (x, w, b))


# ---- end to end: Hessian-vector product of the MLP, gradient penalty through BatchNorm ------------------------
def _double(model):
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    return model


def test_hvp_of_the_mlp_matches_central_differences_of_gradients():
    tg.manual_seed(0)
    model = _double(models.mlp(6, (5, 4), 3, dropout=0.3))
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    params = list(model.parameters())
    v = [rng.standard_normal(p.shape) for p in params]
    with tg.random.record_noise() as noise:
        loss = F.cross_entropy(model(tg.Tensor(x)), y)
    grads = tg.autograd.grad(loss, params, create_graph=True)
    dot = sum(((g * vi).sum() for g, vi in zip(grads, v)), tg.Tensor(0.0))
    hv = [h.data for h in tg.autograd.grad(dot, params)]

    def gradient_at(step):
        for p, p0, vi in zip(params, base, v):
            p.data = p0 + step * vi
        with noise.replay():
            out = F.cross_entropy(model(tg.Tensor(x)), y)
        return [g.data for g in tg.autograd.grad(out, params)]

    base = [p.data.copy() for p in params]
    h = 1e-5
    plus, minus = gradient_at(h), gradient_at(-h)
    for p, p0 in zip(params, base):
        p.data = p0
    for a, gp, gm in zip(hv, plus, minus):
        np.testing.assert_allclose(a, (gp - gm) / (2 * h), rtol=1e-5, atol=1e-7)


def test_gradient_penalty_through_batch_norm_matches_central_differences():
    tg.manual_seed(1)
    net = _double(nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 2)))
    x0, r = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    params = list(net.parameters())

    def penalty(create_graph):
        x = tg.Tensor(x0, requires_grad=True)
        (gx,) = tg.autograd.grad((net(x) * tg.Tensor(r)).sum(), x, create_graph=create_graph)
        return (gx * gx).sum()                      # ||d out / d x||^2, the WGAN-GP kind of penalty

    found = tg.autograd.grad(penalty(True), params, allow_unused=True)   # the last bias does not matter
    assert found[-1] is None
    analytic = [np.zeros(p.shape) if g is None else g.data for g, p in zip(found, params)]
    h = 1e-6
    for p, a in zip(params, analytic):
        numeric = np.zeros(p.shape)
        for j in range(p.size):
            orig = p.data.flat[j]
            p.data.flat[j] = orig + h
            up = penalty(False).item()
            p.data.flat[j] = orig - h
            down = penalty(False).item()
            p.data.flat[j] = orig
            numeric.flat[j] = (up - down) / (2 * h)
        np.testing.assert_allclose(a, numeric, rtol=1e-5, atol=1e-7)


# ---- autograd.functional ------------------------------------------------------------------------------------
def _f(a, b):
    return (a.tanh() @ b).sum(0) * a.sum()


def test_functional_against_closed_forms_and_finite_differences():
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    ta, tb = tg.Tensor(a), tg.Tensor(b)
    jac = AF.jacobian(_f, (ta, tb))
    assert jac[0].shape == (4, 3, 2) and jac[1].shape == (4, 2, 4)
    va, vb = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    out, jv = AF.jvp(_f, (ta, tb), (tg.Tensor(va), tg.Tensor(vb)))
    expected = np.einsum("oij,ij->o", jac[0].data, va) + np.einsum("oij,ij->o", jac[1].data, vb)
    np.testing.assert_allclose(jv.data, expected)
    u = rng.standard_normal(4)
    _, (ua, ub) = AF.vjp(_f, (ta, tb), tg.Tensor(u))
    np.testing.assert_allclose(ua.data, np.einsum("o,oij->ij", u, jac[0].data))
    h = 1e-6                                                  # J v by central differences too
    fd = (_f(tg.Tensor(a + h * va), tg.Tensor(b + h * vb)).data - _f(tg.Tensor(a - h * va), tg.Tensor(b - h * vb)).data)
    np.testing.assert_allclose(jv.data, fd / (2 * h), rtol=1e-6)

    def scalar(a, b):
        return (_f(a, b) ** 2).sum()

    hess = AF.hessian(scalar, (ta, tb))
    assert hess[0][1].shape == (3, 2, 2, 4)
    np.testing.assert_allclose(hess[0][1].data.reshape(6, 8), hess[1][0].data.reshape(8, 6).T, rtol=1e-10)
    _, (ha, hb) = AF.hvp(scalar, (ta, tb), (tg.Tensor(va), tg.Tensor(vb)))
    np.testing.assert_allclose(ha.data, np.einsum("ijkl,kl->ij", hess[0][0].data, va)
                               + np.einsum("ijkl,kl->ij", hess[0][1].data, vb), rtol=1e-10)


def test_functional_single_tensors_create_graph_and_errors():
    x = leaf(3)
    hess = AF.hessian(lambda t: (t ** 3).sum(), x)
    np.testing.assert_allclose(hess.data, np.diag(6 * x.data))
    assert not hess.requires_grad
    _, hv = AF.hvp(lambda t: (t ** 3).sum(), x, tg.Tensor(np.ones(3)), create_graph=True)
    (third,) = tg.autograd.grad(hv.sum(), x)                # d/dx sum(6 x) = 6
    np.testing.assert_allclose(third.data, np.full(3, 6.0))
    with pytest.raises(ValueError, match="hvp: func must return one one-element Tensor"):
        AF.hvp(lambda t: t * 2, x, tg.Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="jvp: v must match shapes"):
        AF.jvp(lambda t: t * 2, x, tg.Tensor(np.ones(2)))
    with pytest.raises(TypeError, match="vjp: inputs must be a Tensor"):
        AF.vjp(lambda t: t, np.ones(3))


def test_functional_matches_pytorch():
    torch = pytest.importorskip("torch")
    a, v = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def ours(t):
        return (t.softmax(1) * t).sum() + (t ** 2).mean()

    def theirs(t):
        return (t.softmax(1) * t).sum() + (t ** 2).mean()

    ta, tv = torch.tensor(a), torch.tensor(v)
    _, hv = AF.hvp(ours, tg.Tensor(a), tg.Tensor(v))
    np.testing.assert_allclose(hv.data, torch.autograd.functional.hvp(theirs, ta, tv)[1].numpy(), rtol=1e-10)
    hess = AF.hessian(ours, tg.Tensor(a))
    np.testing.assert_allclose(hess.data, torch.autograd.functional.hessian(theirs, ta).numpy(), rtol=1e-10,
                               atol=1e-12)
    jac = AF.jacobian(lambda t: t.softmax(1), tg.Tensor(a))
    np.testing.assert_allclose(jac.data, torch.autograd.functional.jacobian(lambda t: t.softmax(1), ta).numpy(),
                               rtol=1e-10, atol=1e-12)


def test_the_docs_examples_run():
    import re
    from pathlib import Path
    text = (Path(__file__).resolve().parents[1] / "docs" / "higher-order.md").read_text()
    namespace: dict = {}
    for block in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        exec(compile(block, "docs/higher-order.md", "exec"), namespace)
    np.testing.assert_allclose(namespace["hx"].data, [-2.5588, 0.0288], atol=1e-4)
    np.testing.assert_allclose(namespace["hw"].data, [-0.2197, 0.8249], atol=1e-4)


@pytest.mark.parametrize("seed", range(4))
def test_hessian_of_the_mlp_is_symmetric(seed):
    """v . H w == w . H v for random directions: double backward is consistent with itself (no finite
    differences involved), through Linear, BatchNorm, tanh and cross-entropy, in float64."""
    tg.manual_seed(seed)
    model = _double(models.mlp(5, (4,), 3, dropout=0.0, activation="tanh"))
    params = list(model.parameters())
    r = np.random.default_rng(seed)
    x, y = r.standard_normal((6, 5)), r.integers(0, 3, 6)

    def hvp(direction):
        loss = F.cross_entropy(model(tg.Tensor(x)), y)
        grads = tg.autograd.grad(loss, params, create_graph=True)
        dot = sum(((g * tg.Tensor(d)).sum() for g, d in zip(grads, direction)), tg.Tensor(0.0))
        return [h.data for h in tg.autograd.grad(dot, params)]

    v = [r.standard_normal(p.shape) for p in params]
    w = [r.standard_normal(p.shape) for p in params]
    vhw = sum(float((a * b).sum()) for a, b in zip(v, hvp(w)))
    whv = sum(float((a * b).sum()) for a, b in zip(w, hvp(v)))
    assert abs(vhw - whv) <= 1e-10 * max(1.0, abs(vhw))


@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "avg_pool2d", "getitem", "cross_entropy", "layer_norm"])
def test_third_order_through_the_gradient_primitives(name):
    """gradgradcheck of a create_graph gradient: the backward of each gradient primitive's backward
    (ConvInputGrad/ConvWeightGrad, MaxPoolGather, AvgPool2d, GetItem, Softmax, NormalizeGrad) is right."""
    x = tg.Tensor(rng.standard_normal((2, 2, 4, 4)), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((3, 2, 2, 2)), requires_grad=True)
    ops = {"conv2d": lambda x: F.conv2d(x, w, stride=1, padding=1),
           "max_pool2d": lambda x: F.max_pool2d(x * x, 2),
           "avg_pool2d": lambda x: F.avg_pool2d(x * x, 2, stride=1),
           "getitem": lambda x: x[np.array([0, 1, 1]), :, 1:3] ** 2,
           "cross_entropy": lambda x: F.cross_entropy(x.reshape(4, 16), np.array([0, 3, 15, 2])),
           "layer_norm": lambda x: F.layer_norm(x, (4, 4))}

    def first(x, w):
        out = ops[name](x)
        return tg.autograd.grad((out * out.tanh()).sum(), (x, w), create_graph=True, allow_unused=True)[:1] \
            if name == "conv2d" else tg.autograd.grad((out * out.tanh()).sum(), x, create_graph=True)

    assert tg.gradgradcheck(first, (x, w))


def test_functional_strict_mode_raises_for_an_unused_input():
    a, b = leaf(3), leaf(3)
    _, (ga, gb) = AF.vjp(lambda a, b: a * 2, (a, b), tg.Tensor(np.ones(3)))
    np.testing.assert_array_equal(gb.data, np.zeros(3))                     # PyTorch's default: zeros
    with pytest.raises(RuntimeError, match="vjp: the outputs do not depend on input 1"):
        AF.vjp(lambda a, b: a * 2, (a, b), tg.Tensor(np.ones(3)), strict=True)
    with pytest.raises(RuntimeError, match="hessian: the outputs do not depend on input 1"):
        AF.hessian(lambda a, b: (a ** 3).sum(), (a, b), strict=True)
