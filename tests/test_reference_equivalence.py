"""The framework's MLP training step and the hand-written numpy reference (benchmarks/reference_mlp.py)
compute the same thing: same initial weights, same dropout masks, same losses and parameters after
several SGD-with-momentum steps, to float32 precision. This is what makes the speed ratio in
``python -m benchmarks.mlp_step`` a comparison of equal work. Likewise for the CNN step and
benchmarks/reference_cnn.py (``python -m benchmarks.cnn_step``): same loss, gradients, running statistics
and Adam updates for one step."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from benchmarks.mlp_step import reference_from
from tinygrad_bn import models, nn, optim

STEPS = 6


def _run(batch: int, seed: int):
    tg.manual_seed(seed)
    model = models.mlp()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ref = reference_from(model, lr=0.05, momentum=0.9)
    data = np.random.default_rng(seed + 100)
    tg.manual_seed(seed + 1)                       # the framework's dropout masks come from here ...
    masks = np.random.default_rng(seed + 1)        # ... and the reference's from an identical stream
    losses = []
    for _ in range(STEPS):
        x = data.random((batch, 784), dtype=np.float32)
        y = data.integers(0, 10, batch)
        loss = F.cross_entropy(model(tg.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append((loss.item(), ref.step(x, y, masks)))
    return model, ref, losses


@pytest.mark.parametrize("batch, seed", [(64, 0), (128, 3)])
def test_same_losses_and_parameters_as_the_numpy_reference(batch, seed):
    model, ref, losses = _run(batch, seed)
    ours, theirs = np.array(losses).T
    assert len(set(np.round(ours, 3))) > 1                     # training actually moves the loss
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)                 # float32 rounding only
    params = [p.data for p in model.parameters()]
    assert len(params) == len(ref.parameters()) == 10
    for got, want in zip(params, ref.parameters()):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    for bn, (rm, rv) in zip(bns, ref.running):
        np.testing.assert_allclose(bn.running_mean.data, rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.data, rv, rtol=1e-5, atol=1e-6)


def test_different_dropout_masks_give_different_results():
    """The agreement above depends on the masks: with another mask stream the reference diverges."""
    tg.manual_seed(0)
    model = models.mlp()
    ref = reference_from(model, lr=0.05)
    x = np.random.default_rng(5).random((64, 784), dtype=np.float32)
    y = np.random.default_rng(6).integers(0, 10, 64)
    tg.manual_seed(1)
    ours = F.cross_entropy(model(tg.Tensor(x)), y).item()
    assert ref.step(x, y, np.random.default_rng(2)) != pytest.approx(ours, rel=1e-5)


def test_reference_rejects_mismatched_layers():
    w = np.zeros((3, 4), np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="ReferenceMLP: expected 1 norms for 2 linears"):
        from benchmarks.reference_mlp import ReferenceMLP

        ReferenceMLP([w, w], [])


# ---- the CNN step (benchmarks/reference_cnn.py, timed by python -m benchmarks.cnn_step) ---------------------
def _cnn_pair(seed: int):
    from benchmarks.cnn_step import reference_from as cnn_reference_from

    tg.manual_seed(seed)
    model = models.cnn()
    return model, cnn_reference_from(model)


@pytest.mark.parametrize("seed", [0, 1])
def test_cnn_reference_same_loss_gradients_and_running_statistics(seed):
    """One step on a batch of 8 with the default dropout (masks from identical streams): same loss, same
    gradient of every parameter, same BatchNorm running statistics, to float32 rounding."""
    model, ref = _cnn_pair(seed)
    data = np.random.default_rng(seed + 100)
    x, y = data.standard_normal((8, 1, 28, 28), dtype=np.float32), data.integers(0, 10, 8)
    tg.manual_seed(seed + 1)
    loss = F.cross_entropy(model(tg.Tensor(x)), y)
    loss.backward()
    ref_loss, grads = ref.loss_and_grads(x, y, np.random.default_rng(seed + 1))
    assert loss.item() == pytest.approx(ref_loss, rel=1e-6)
    params = list(model.parameters())
    assert len(params) == len(grads) == len(ref.parameters()) == 11
    for p, g in zip(params, grads):
        assert g.dtype == np.float32 and g.shape == p.shape
        assert np.abs(g).max() > 0                                        # every parameter gets a gradient
        np.testing.assert_allclose(p.grad, g, rtol=1e-4, atol=1e-5 * np.abs(g).max())
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d))]
    assert len(bns) == len(ref.running) == 3
    for bn, (rm, rv) in zip(bns, ref.running):
        np.testing.assert_allclose(bn.running_mean.data, rm, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.running_var.data, rv, rtol=1e-5, atol=1e-6)


def test_cnn_reference_adam_update_matches_the_framework():
    """Fed the framework's own gradients, the reference's Adam moves every parameter as optim.Adam does
    (two steps, so the bias correction changes between them)."""
    model, ref = _cnn_pair(2)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    data = np.random.default_rng(7)
    for _ in range(2):
        x, y = data.standard_normal((8, 1, 28, 28), dtype=np.float32), data.integers(0, 10, 8)
        opt.zero_grad()
        F.cross_entropy(model(tg.Tensor(x)), y).backward()
        before = [p.data.copy() for p in model.parameters()]
        ref._adam([p.grad.copy() for p in model.parameters()])
        opt.step()
    for p, want, old in zip(model.parameters(), ref.parameters(), before):
        assert np.abs(p.data - old).max() > 1e-4                          # the step moved the parameter
        np.testing.assert_allclose(p.data, want, rtol=1e-6, atol=1e-9)


def test_cnn_reference_depends_on_the_dropout_masks():
    """The agreement above depends on the masks: with another mask stream the reference's loss differs."""
    model, ref = _cnn_pair(0)
    x = np.random.default_rng(5).standard_normal((8, 1, 28, 28), dtype=np.float32)
    y = np.random.default_rng(6).integers(0, 10, 8)
    tg.manual_seed(1)
    ours = F.cross_entropy(model(tg.Tensor(x)), y).item()
    assert ref.loss_and_grads(x, y, np.random.default_rng(2))[0] != pytest.approx(ours, rel=1e-5)
