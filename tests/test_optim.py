"""Optimizers and schedulers against their written update rules.

Each optimizer is checked twice: on a scalar with numbers worked out by hand (in the comments), and
on arrays against a direct, out-of-place transcription of the formula in the module docstring, over
three steps with different gradients. Parameters are float64 there so the comparison can be tight;
separate tests check that float32 parameters stay float32 and are updated in place.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import nn, optim
from tinygrad_bn.optim.lr_scheduler import CosineAnnealingLR, StepLR

RNG = np.random.default_rng(0)
P0 = RNG.standard_normal((3, 4))
GRADS = [RNG.standard_normal((3, 4)) for _ in range(3)]


def _run(make, p0=P0, grads=GRADS):
    """Apply the optimizer made by ``make([param])`` to one parameter with the given gradients."""
    p = nn.Parameter(p0.copy())
    opt = make([p])
    out = []
    for g in grads:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


def _sgd_formula(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf, out = P0.copy(), None, []
    for g in GRADS:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def _adam_formula(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, amsgrad=False):
    p, m, v, vmax, out = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), np.zeros_like(P0), []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g**2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - betas[0] ** t)
        v_hat = (vmax if amsgrad else v) / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


def _assert_steps(actual, expected):
    for t, (a, e) in enumerate(zip(actual, expected), start=1):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-14, err_msg=f"step {t}")


# ---- SGD --------------------------------------------------------------------------------------------

def test_sgd_momentum_by_hand():
    # p = 1, g = 0.5 every step, lr = 0.1, momentum = 0.9; the first step copies g into the buffer:
    # b1 = 0.5,                p1 = 1     - 0.1 * 0.5   = 0.95
    # b2 = 0.9*0.5  + 0.5 = 0.95,  p2 = 0.95  - 0.1 * 0.95  = 0.855
    # b3 = 0.9*0.95 + 0.5 = 1.355, p3 = 0.855 - 0.1 * 1.355 = 0.7195
    out = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), np.array([1.0]), [np.array([0.5])] * 3)
    np.testing.assert_allclose(np.concatenate(out), [0.95, 0.855, 0.7195], rtol=1e-14)


def test_sgd_nesterov_and_weight_decay_by_hand():
    # p = 1, g = 0.5, lr = 0.1, momentum = 0.5, nesterov, weight_decay = 0.1:
    # g1 = 0.5 + 0.1*1 = 0.6, b1 = 0.6, d1 = 0.6 + 0.5*0.6 = 0.9,   p1 = 1 - 0.09 = 0.91
    # g2 = 0.5 + 0.091 = 0.591, b2 = 0.3 + 0.591 = 0.891, d2 = 0.591 + 0.4455 = 1.0365, p2 = 0.91 - 0.10365 = 0.80635
    out = _run(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1),
               np.array([1.0]), [np.array([0.5])] * 2)
    np.testing.assert_allclose(np.concatenate(out), [0.91, 0.80635], rtol=1e-14)


@pytest.mark.parametrize("kwargs", [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.1, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05, "nesterov": True},
    {"lr": 0.2, "weight_decay": 0.1},
])
def test_sgd_matches_the_written_rule_over_three_steps(kwargs):
    _assert_steps(_run(lambda ps: optim.SGD(ps, **kwargs)), _sgd_formula(**kwargs))


# ---- Adam / AdamW --------------------------------------------------------------------------------------

def test_adam_bias_correction_by_hand():
    # p = 1, g = 0.5, lr = 0.1, betas (0.9, 0.999), eps = 1e-8. Step 1: m = 0.05, v = 0.00025;
    # corrected m^ = 0.05 / 0.1 = 0.5, v^ = 0.00025 / 0.001 = 0.25, so p1 = 1 - 0.1 * 0.5 / (0.5 + 1e-8).
    # With a constant gradient m^ = g and v^ = g^2 at every step: each step moves p by lr * 0.5/(0.5 + eps).
    # (Without the correction step 1 would move p by 0.1 * 0.05 / (sqrt(0.00025) + eps) = 0.316.)
    out = _run(lambda ps: optim.Adam(ps, lr=0.1), np.array([1.0]), [np.array([0.5])] * 3)
    step = 0.1 * 0.5 / (0.5 + 1e-8)
    np.testing.assert_allclose(np.concatenate(out), [1 - step, 1 - 2 * step, 1 - 3 * step], rtol=1e-13)


def test_adamw_decays_the_weight_not_the_gradient_by_hand():
    # p = 2, g = 0 (so m = v = 0 and the Adam part is 0 / (0 + eps) = 0), lr = 0.1, weight_decay = 0.5:
    # AdamW: p <- p (1 - 0.05) each step: 1.9, 1.805. Adam's L2 decay instead goes through m and v:
    # g = 0.5 * 2 = 1, m^ = 1, v^ = 1, p1 = 2 - 0.1 * 1 / (1 + 1e-8).
    out = _run(lambda ps: optim.AdamW(ps, lr=0.1, weight_decay=0.5), np.array([2.0]), [np.array([0.0])] * 2)
    np.testing.assert_allclose(np.concatenate(out), [1.9, 1.805], rtol=1e-14)
    out = _run(lambda ps: optim.Adam(ps, lr=0.1, weight_decay=0.5), np.array([2.0]), [np.array([0.0])])
    np.testing.assert_allclose(out[0], [2 - 0.1 / (1 + 1e-8)], rtol=1e-14)


@pytest.mark.parametrize("cls, kwargs", [
    (optim.Adam, {}),
    (optim.Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6}),
    (optim.Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (optim.Adam, {"lr": 0.01, "amsgrad": True}),
    (optim.AdamW, {}),
    (optim.AdamW, {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
])
def test_adam_and_adamw_match_the_written_rule_over_three_steps(cls, kwargs):
    expected = _adam_formula(**kwargs, decoupled=cls is optim.AdamW,
                             **({"weight_decay": 0.01} if cls is optim.AdamW and "weight_decay" not in kwargs else {}))
    _assert_steps(_run(lambda ps: cls(ps, **kwargs)), expected)


def test_pytorch_defaults():
    p = nn.Parameter(np.zeros(2))
    assert optim.Adam([p]).defaults == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                                        "amsgrad": False}
    assert optim.AdamW([p]).defaults["weight_decay"] == 0.01
    assert optim.SGD([p], lr=0.1).defaults == {"lr": 0.1, "momentum": 0, "dampening": 0, "weight_decay": 0,
                                               "nesterov": False}


# ---- shared behaviour ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1),
    lambda ps: optim.Adam(ps, weight_decay=1e-4, amsgrad=True),
    lambda ps: optim.AdamW(ps),
])
def test_float32_stays_float32_and_updates_are_in_place(make):
    tg.manual_seed(0)
    model = tg.mlp(5, (4,), 3, batch_norm=False)  # (a bias just before BatchNorm gets a zero gradient)
    opt = make(model.parameters())
    arrays = [p.data for p in model.parameters()]
    for _ in range(2):
        opt.zero_grad()
        tg.F.cross_entropy(model(tg.randn(6, 5)), tg.Tensor(np.array([0, 1, 2, 0, 1, 2]))).backward()
        before = [a.copy() for a in arrays]
        opt.step()
    for p, a, b in zip(model.parameters(), arrays, before):
        assert p.data is a and p.data.dtype == np.float32 and not np.array_equal(a, b)
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_param_groups_zero_grad_skipping_and_closure():
    a, b, c = (nn.Parameter(np.ones(2)) for _ in range(3))
    opt = optim.SGD([{"params": [a]}, {"params": [b, c], "lr": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    a.grad, b.grad = np.ones(2), np.ones(2)  # c has no gradient: skipped
    opt.step()
    np.testing.assert_allclose(a.data, 0.9), np.testing.assert_allclose(b.data, 0.5)
    np.testing.assert_allclose(c.data, 1.0)
    opt.zero_grad(set_to_none=False)
    assert (a.grad == 0).all() and c.grad is None
    opt.zero_grad()
    assert a.grad is None and b.grad is None

    def closure():
        loss = (a * a).sum()
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(2 * 0.81)
    np.testing.assert_allclose(a.data, 0.9 - 0.1 * 2 * 0.9)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_state_dict_round_trip_continues_identically(make):
    grads = [RNG.standard_normal((3, 4)) for _ in range(4)]
    p = nn.Parameter(P0.copy())
    opt = make([p])
    for g in grads[:2]:
        p.grad = g.copy()
        opt.step()
    saved, saved_p = opt.state_dict(), p.data.copy()
    q = nn.Parameter(saved_p.copy())
    other = make([q])
    other.param_groups[0]["lr"] = 123.0  # overwritten by the load
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for g in grads[2:]:
        p.grad, q.grad = g.copy(), g.copy()
        opt.step(), other.step()
    np.testing.assert_array_equal(p.data, q.data)
    # the saved dict holds copies: later steps did not change it
    key = next(iter(saved["state"][0]))
    assert saved["state"][0][key] is not opt.state[p].get(key)


def test_state_dict_layout_is_pytorchs():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}])
    a.grad = np.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert list(sd["state"]) == [0] and sd["state"][0]["step"] == 1
    assert sorted(sd["state"][0]) == ["exp_avg", "exp_avg_sq", "step"]
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["param_groups"][0]["betas"] == (0.9, 0.999)


def test_load_state_dict_errors_change_nothing():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(3)
    opt.step()
    good = opt.state_dict()
    two = optim.SGD([p, nn.Parameter(np.ones(3))], lr=0.1)
    with pytest.raises(ValueError, match="saved group 0 has 1 parameter.*has 2"):
        two.load_state_dict(good)
    other = optim.SGD([nn.Parameter(np.ones(4))], lr=0.2, momentum=0.9)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 0 has shape \(3,\).*shape \(4,\)"):
        other.load_state_dict(good)
    assert other.param_groups[0]["lr"] == 0.2 and not other.state
    with pytest.raises(ValueError, match="expected a mapping with keys 'state' and 'param_groups'"):
        other.load_state_dict({"weights": 1})


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), r"SGD: invalid lr -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "SGD: invalid momentum -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "SGD: Nesterov momentum requires momentum > 0"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "requires .* dampening = 0"),
    (lambda p: optim.SGD(p, lr="fast"), "SGD: lr must be a number, got 'fast'"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "SGD: invalid weight_decay -1"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"Adam: invalid beta1 \(betas\[0\]\) 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"Adam: invalid beta2"),
    (lambda p: optim.Adam(p, betas=(0.9,)), "Adam: betas must be a pair"),
    (lambda p: optim.AdamW(p, eps=-1e-8), "AdamW: invalid eps"),
    (lambda p: optim.Adam(p, lr=-1), "Adam: invalid lr -1"),
    (lambda p: optim.SGD([{"params": p, "lr": 0.1, "momentun": 0.9}]), r"unknown option\(s\) \['momentun'\]"),
    (lambda p: optim.SGD([], lr=0.1), "SGD: got an empty parameter list"),
    (lambda p: optim.SGD(p + p, lr=0.1), "appears in more than one place"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), "must be a leaf tensor that requires grad"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make([nn.Parameter(np.ones(2))])


def test_bad_param_types():
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Tensors or of dicts.*got Parameter"):
        optim.SGD(nn.Parameter(np.ones(2)), lr=0.1)
    with pytest.raises(TypeError, match="Adam: can only optimize Tensors, but parameter 0 is ndarray"):
        optim.Adam([np.ones(2)])


# ---- schedulers --------------------------------------------------------------------------------------------

def _opt(lr=1.0):
    return optim.SGD([nn.Parameter(np.ones(1))], lr=lr)


def test_step_lr_sequence():
    opt = _opt(0.8)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    lrs = []
    for _ in range(8):
        lrs.append(sched.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
        opt.step()
        sched.step()
    # epochs 0-2: 0.8, 3-5: 0.8 * 0.5, 6-7: 0.8 * 0.25
    assert lrs == pytest.approx([0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2], rel=1e-15)


def test_cosine_sequence_and_multiple_groups():
    opt = optim.SGD([{"params": [nn.Parameter(np.ones(1))]}, {"params": [nn.Parameter(np.ones(1))], "lr": 0.5}],
                    lr=1.0)
    sched = CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    seq = [sched.get_last_lr()]
    for _ in range(4):
        sched.step()
        seq.append(sched.get_last_lr())
    for e, (lr0, lr1) in enumerate(seq):
        c = (1 + math.cos(math.pi * e / 4)) / 2
        assert lr0 == pytest.approx(0.1 + 0.9 * c, rel=1e-14) and lr1 == pytest.approx(0.1 + 0.4 * c, rel=1e-14)
    assert seq[0] == [1.0, 0.5] and seq[2] == pytest.approx([0.55, 0.3]) and seq[4] == pytest.approx([0.1, 0.1])


def test_scheduler_state_dict_round_trip_and_resume():
    opt = _opt()
    sched = CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        sched.step()
    saved = sched.state_dict()
    opt2 = _opt()
    sched2 = CosineAnnealingLR(opt2, T_max=99)
    sched2.load_state_dict(saved)
    assert sched2.T_max == 10 and sched2.last_epoch == 3
    sched.step(), sched2.step()
    assert sched2.get_last_lr() == sched.get_last_lr()
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['gamma'\]"):
        sched2.load_state_dict({"gamma": 0.1})


def test_scheduler_errors():
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer, got 0"):
        StepLR(_opt(), step_size=0)
    with pytest.raises(TypeError, match="CosineAnnealingLR: T_max must be an integer, got float 2.5"):
        CosineAnnealingLR(_opt(), T_max=2.5)
    with pytest.raises(TypeError, match="StepLR: expected an Optimizer, got list"):
        StepLR([], step_size=1)
    with pytest.raises(KeyError, match="no 'initial_lr'"):
        StepLR(_opt(), step_size=1, last_epoch=3)


# ---- optional cross-check against PyTorch itself --------------------------------------------------------

@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.2}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
])
def test_matches_pytorch_number_for_number(name, kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed; the cross-check is optional")
    grads = [RNG.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
    ours = _run(lambda ps: getattr(optim, name)(ps, **kwargs), P0.astype(np.float32), grads)
    t = torch.nn.Parameter(torch.from_numpy(P0.astype(np.float32)))
    topt = getattr(torch.optim, name)([t], **kwargs)
    for k, g in enumerate(grads):
        t.grad = torch.from_numpy(g.copy())
        topt.step()
        np.testing.assert_allclose(ours[k], t.detach().numpy(), rtol=1e-6, atol=1e-7, err_msg=f"step {k + 1}")
