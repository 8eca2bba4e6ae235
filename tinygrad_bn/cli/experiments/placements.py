"""Variance shift and ``recalibrate_bn`` on an MLP with dropout in four placements (Li et al., CVPR 2019).

The network is the default MLP of ``models.mlp``: 784-512-512-10, each hidden block Linear -> BN -> ReLU.
The four placements of the noise:

- ``none``: no dropout;
- ``dropout-before-bn``: Dropout(p) in front of every Linear that feeds a BN, the input included:
  Dropout -> Linear -> BN -> ReLU -> Dropout -> Linear -> BN -> ReLU -> Linear;
- ``dropout-after-last-bn``: one Dropout(p) after the last BN block, right before the classifier
  (the paper's first remedy: no BN sees dropout noise);
- ``uout-before-bn``: as ``dropout-before-bn`` with Uout(beta) instead (the paper's second remedy:
  a noise with a smaller variance shift).

Per placement: train for ``epochs`` (Adam, seeded), measure the variance shift of both BN layers on
``shift_samples`` training images (eval mode, see :func:`tinygrad_bn.diagnostics.variance_shift`),
the test accuracy; then both again after re-estimating the BN statistics over the training set twice:
with dropout on (``recalibrate_bn(..., keep_dropout=True)``, like PyTorch's ``update_bn``: the
statistics are fresh but still noisy) and with dropout off (``recalibrate_bn``, the paper's remedy).
Comparing the two separates the variance shift from the plain lag of the running averages (they
trail the weights while those change, with momentum 0.1), which is there even without dropout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ... import diagnostics, nn
from ...nn.utils import recalibrate_bn
from .common import Splits, bn_loader

#: the variance shift is measured on at most this many training images
SHIFT_SAMPLES = 10_000

PLACEMENTS = ("none", "dropout-before-bn", "dropout-after-last-bn", "uout-before-bn")


def build(placement: str, *, p: float = 0.5, beta: float = 0.5, in_features: int = 784,
          hidden: Sequence[int] = (512, 512), num_classes: int = 10) -> nn.Sequential:
    """The MLP with the noise placed as ``placement`` says (see the module docstring). Input (N, in_features)
    float32, output (N, num_classes) logits. Parameters as PyTorch's defaults (seed with ``tg.manual_seed``)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placements.build: placement must be one of {PLACEMENTS}, got {placement!r}")
    noise_before = {"dropout-before-bn": lambda: nn.Dropout(p), "uout-before-bn": lambda: nn.Uout(beta)}.get(placement)
    layers: list[nn.Module] = []
    prev = in_features
    for h in hidden:
        if noise_before is not None:
            layers.append(noise_before())
        layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU()]
        prev = h
    if placement == "dropout-after-last-bn":
        layers.append(nn.Dropout(p))
    layers.append(nn.Linear(prev, num_classes))
    return nn.Sequential(*layers)


def _batches(x: Any, batch_size: int) -> list[Any]:
    return [x[i:i + batch_size] for i in range(0, len(x), batch_size)]


def run_one(placement: str, data: Splits, *, epochs: int = 5, batch_size: int = 128, lr: float = 1e-3,
            p: float = 0.5, beta: float = 0.5, hidden: Sequence[int] = (512, 512), shift_samples: int = SHIFT_SAMPLES,
            seed: int = 0, progress: bool = False, log: Callable[[str], None] = lambda m: None,
            save: Callable[..., None] | None = None, resume: Any = None) -> dict[str, Any]:
    """Train one placement and measure it; returns a dict with the accuracies and both variance-shift reports.

    ``save(epoch, history, model=, optimizer=, loader=)``, if given, is called after every epoch (to
    checkpoint); ``resume``, a checkpoint saved then (meta ``history``), continues from it."""
    from ... import optim
    from ...checkpoint import restore_checkpoint
    from ...random import manual_seed
    from ...train import evaluate, train_epoch

    manual_seed(seed)
    model = build(placement, p=p, beta=beta, in_features=data.x_train.shape[1], hidden=hidden)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    loader = bn_loader(data.x_train, data.y_train, batch_size, seed, "placements.run_one", drop_last=False)
    history, start = [], 0
    if resume is not None:
        start = restore_checkpoint(resume, model=model, optimizer=optimizer, loader=loader)
        history = list(resume.meta["history"])
    for epoch in range(start, epochs):
        stats = train_epoch(model, loader, optimizer, progress=progress, epoch=epoch + 1)
        history.append(stats)
        if save is not None:
            save(epoch + 1, history, model=model, optimizer=optimizer, loader=loader)
        log(f"  {placement}: epoch {epoch + 1}/{epochs} train loss {stats['loss']:.4f} acc {stats['acc']:.4f}")
    shift_batches = _batches(data.x_train[:shift_samples], 1000)
    predicted = _predicted_first_shift(model, placement, data.x_train[:shift_samples], p, beta)
    before = diagnostics.variance_shift(model, shift_batches)
    test_before = evaluate(model, data.x_test, data.y_test)
    # shuffled: running_var averages within-batch variances, which match the pooled variance only when
    # batches are i.i.d. draws (a file sorted by writer or class would bias Delta upwards)
    train_batches = bn_loader(data.x_train, data.y_train, batch_size, seed + 1, "placements.run_one",
                              drop_last=False)
    recalibrate_bn(model, train_batches, keep_dropout=True)  # fresh statistics, dropout noise included
    refreshed = diagnostics.variance_shift(model, shift_batches)
    test_refreshed = evaluate(model, data.x_test, data.y_test)
    recalibrate_bn(model, train_batches)  # fresh statistics, dropout off: the remedy
    after = diagnostics.variance_shift(model, shift_batches)
    test_after = evaluate(model, data.x_test, data.y_test)
    acc_before, acc_refreshed, acc_after = test_before["acc"], test_refreshed["acc"], test_after["acc"]
    log(f"  {placement}: test acc {acc_before:.4f} -> {acc_refreshed:.4f} (refreshed, dropout on) -> "
        f"{acc_after:.4f} (recalibrated, dropout off); shift {[round(la.mean_shift, 3) for la in before]} -> "
        f"{[round(la.mean_shift, 3) for la in refreshed]} -> {[round(la.mean_shift, 3) for la in after]}")
    return {"placement": placement, "history": history, "shift_before": before, "shift_refreshed": refreshed,
            "shift_after": after, "acc_before": acc_before, "acc_refreshed": acc_refreshed, "acc_after": acc_after,
            "loss_before": test_before["loss"], "loss_refreshed": test_refreshed["loss"],
            "loss_after": test_after["loss"], "predicted_bn1": predicted, "model": model, "optimizer": optimizer}


def _predicted_first_shift(model: nn.Sequential, placement: str, x: Any, p: float, beta: float) -> float | None:
    """Mean over BN1's channels of :func:`~tinygrad_bn.diagnostics.variance_shift_linear` when the noise
    sits right before the first Linear (exact up to sampling: the network input has no other noise)."""
    kind = {"dropout-before-bn": ("dropout", p), "uout-before-bn": ("uout", beta)}.get(placement)
    if kind is None:
        return None
    noise_var = diagnostics.noise_variance(*kind)
    return float(diagnostics.variance_shift_linear(model[1].weight, x, noise_var).mean())


def shift_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per placement and BN layer (BN1, BN2, ... in model order; ``module``: its name in the
    Sequential): for BN1 behind noise, the Delta predicted from the first Linear's weights and the data;
    mean and worst Delta as trained, mean Delta after refreshing the statistics with dropout on (what the
    prediction describes), mean and worst Delta after ``recalibrate_bn``."""
    rows = []
    for r in results:
        for i, (b, f, a) in enumerate(zip(r["shift_before"], r["shift_refreshed"], r["shift_after"])):
            rows.append({"placement": r["placement"], "bn": f"BN{i + 1}", "module": b.name,
                         "predicted": r.get("predicted_bn1") if i == 0 else None,
                         "shift_before": b.mean_shift, "worst_before": b.worst_shift,
                         "shift_refreshed": f.mean_shift, "shift_after": a.mean_shift, "worst_after": a.worst_shift})
    return rows


def accuracy_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per placement: final training loss, test accuracy as trained, with statistics refreshed with
    dropout on, and after ``recalibrate_bn``; ``gain_dropout_off`` = after - refreshed (the part due to the
    variance shift); the test cross-entropy at the same three points."""
    return [{"placement": r["placement"], "train_loss": r["history"][-1]["loss"] if r["history"] else float("nan"),
             "test_acc_before": r["acc_before"], "test_acc_refreshed": r["acc_refreshed"],
             "test_acc_after": r["acc_after"], "gain_dropout_off": r["acc_after"] - r["acc_refreshed"],
             "test_loss_before": r["loss_before"], "test_loss_refreshed": r["loss_refreshed"],
             "test_loss_after": r["loss_after"]} for r in results]
