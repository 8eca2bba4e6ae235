"""Variance shift of BatchNorm layers (Li, Chen, Hu, Yang, "Understanding the Disharmony between Dropout
and Batch Normalization by Variance Shift", CVPR 2019).

A BN layer normalizes with the variance it learned in training (``running_var``), but is applied in
evaluation, where dropout is off. If dropout (or any noise) sits before it, its input variance in
evaluation differs from what it learned. The *variance shift* of a channel is::

    Delta = Var_test(X) / Var_train(X)

Var_train is the layer's ``running_var``; Var_test the variance of the layer's input when the whole
model runs in evaluation mode. Delta = 1 means no shift; dropout before BN gives Delta < 1.

Closed forms, for an input X with mean c and variance v, noise independent of X, retain ratio q = 1 - p:

- inverted dropout, X * m / q, m ~ Bernoulli(q): E[(Xm/q)^2] = (c^2 + v) / q, so
  Var_train = (c^2 + v) / q - c^2 and Delta = v / ((c^2 + v) / q - c^2)        (= q when c = 0);
- Gaussian dropout, X * m, m ~ N(1, s^2) with s^2 = p / (1 - p): E[(Xm)^2] = (c^2 + v)(1 + s^2), so
  Var_train = v + s^2 (c^2 + v) and Delta = v / (v + s^2 (c^2 + v))           (the same value as dropout);
- Uout, X (1 + r), r ~ U(-beta, beta), Var[r] = beta^2 / 3: Var_train = v + beta^2 (c^2 + v) / 3 and
  Delta = 3v / (3v + beta^2 (c^2 + v))                                         (= 3 / (3 + beta^2) when c = 0).

With a weight layer between the noise and BN (Dropout -> Linear -> BN, the usual MLP placement), the
noise is averaged over many inputs. For one output y = sum_i w_i x_i m_i with independent noise m_i
(E[m] = 1, Var[m] = s2: p/q for dropout and Gaussian dropout, beta^2/3 for Uout), conditioning on x:
E[y | x] = w.x and Var[y | x] = s2 sum_i w_i^2 x_i^2, so Var_train(y) = Var(w.x) + s2 sum_i w_i^2 E[x_i^2]
and Var_test(y) = Var(w.x) = w' Cov(x) w::

    Delta = w' Cov(x) w / (w' Cov(x) w + s2 sum_i w_i^2 E[x_i^2])       (:func:`variance_shift_linear`)

For independent inputs of mean c and variance v this is the single-input formula again; for correlated
inputs (pixels, features), w' Cov(x) w can be far larger than v |w|^2 and Delta is closer to 1.

Which variances :func:`variance_shift` measures:

- Var_train is ``running_var`` as the layer holds it. As in PyTorch, every training batch contributes
  its *unbiased* variance (divisor n - 1, n = values per channel in the batch), averaged with the
  layer's momentum (or the cumulative average when momentum is None).
- Var_test is the *unbiased* variance per channel of the layer's input pooled over every value seen
  over all batches (divisor N - 1, N = total values per channel: samples, times L or H * W), with the
  whole model in evaluation mode. Both are unbiased estimates of the same population variance when
  there is no shift, so Delta estimates 1 without bias of order 1/n. Pooling across batches also counts
  the spread of batch means, which a per-batch average would leave out; for i.i.d. batches the two
  agree in expectation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .engine.grad_mode import no_grad
from .engine.tensor import Tensor
from .nn.module import Module
from .nn.utils import batch_inputs, batch_norm_layers, preserved_modes
from .tables import markdown_table

__all__ = ["variance_shift_dropout", "variance_shift_gaussian", "variance_shift_uout", "variance_shift_linear",
           "noise_variance", "variance_shift",
           "LayerShift", "VarianceShiftReport", "ChannelStats"]


def _check_cv(fn: str, c: Any, v: Any) -> tuple[float, float]:
    for name, x in (("c", c), ("v", v)):
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not math.isfinite(x):
            raise TypeError(f"{fn}: {name} must be a finite number, got {x!r}")
    if v <= 0:
        raise ValueError(f"{fn}: v (the input variance) must be > 0, got {v!r}")
    return float(c), float(v)


def _check_unit(fn: str, name: str, x: Any, upper_open: bool) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {x!r}")
    if not (0 <= x < 1 if upper_open else 0 <= x <= 1):
        raise ValueError(f"{fn}: {name} must be in [0, 1{')' if upper_open else ']'}, got {x!r}")
    return float(x)


def variance_shift_dropout(c: float, v: float, p: float) -> float:
    """Delta for inverted dropout with rate p in [0, 1) on input of mean c and variance v > 0."""
    c, v = _check_cv("variance_shift_dropout", c, v)
    q = 1.0 - _check_unit("variance_shift_dropout", "p", p, upper_open=True)
    return v / ((c * c + v) / q - c * c)


def variance_shift_gaussian(c: float, v: float, p: float) -> float:
    """Delta for Gaussian dropout N(1, p/(1-p)), p in [0, 1), on input of mean c and variance v > 0."""
    c, v = _check_cv("variance_shift_gaussian", c, v)
    p = _check_unit("variance_shift_gaussian", "p", p, upper_open=True)
    s2 = p / (1.0 - p)
    return v / (v + s2 * (c * c + v))


def variance_shift_uout(c: float, v: float, beta: float) -> float:
    """Delta for Uout, x (1 + r) with r ~ U(-beta, beta), beta in [0, 1], on input of mean c, variance v > 0."""
    c, v = _check_cv("variance_shift_uout", c, v)
    beta = _check_unit("variance_shift_uout", "beta", beta, upper_open=False)
    return 3.0 * v / (3.0 * v + beta * beta * (c * c + v))


def noise_variance(kind: str, rate: float) -> float:
    """Var[m] of the multiplicative noise m (E[m] = 1): p/(1-p) for "dropout" and "gaussian", beta^2/3 for "uout"."""
    if kind in ("dropout", "gaussian"):
        p = _check_unit("noise_variance", "p", rate, upper_open=True)
        return p / (1.0 - p)
    if kind == "uout":
        return _check_unit("noise_variance", "beta", rate, upper_open=False) ** 2 / 3.0
    raise ValueError(f"noise_variance: kind must be 'dropout', 'gaussian' or 'uout', got {kind!r}")


def variance_shift_linear(weight: Any, x: Any, noise_var: float) -> np.ndarray:
    """Predicted Delta per output of a Linear layer fed by multiplicative noise of variance ``noise_var``.

    weight: (out_features, in_features) (``nn.Linear.weight`` or an array); x: (N, in_features), samples
    of the input *before* the noise (the eval-mode input). Returns float64 (out_features,): the closed
    form of the module docstring with Cov(x) and E[x^2] estimated from x (unbiased covariance).
    """
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, np.float64)
    xs = np.asarray(x.data if isinstance(x, Tensor) else x, np.float64)
    if w.ndim != 2 or xs.ndim != 2 or xs.shape[1] != w.shape[1] or xs.shape[0] < 2:
        raise ValueError(f"variance_shift_linear: expected weight (out, in) and x (N >= 2, in), got "
                         f"{w.shape} and {xs.shape}")
    if isinstance(noise_var, bool) or not isinstance(noise_var, (int, float, np.floating)) or noise_var < 0:
        raise ValueError(f"variance_shift_linear: noise_var must be a number >= 0, got {noise_var!r}")
    centered = xs - xs.mean(axis=0)
    signal = ((centered @ w.T) ** 2).sum(axis=0) / (len(xs) - 1)  # w' Cov(x) w, per output
    noise = noise_var * (w * w) @ (xs * xs).mean(axis=0)
    return signal / (signal + noise)


@dataclass
class ChannelStats:
    """Streaming per-channel count, mean and sum of squared deviations (Chan et al.'s pairwise update),
    in float64. ``update(x)`` takes x of shape (N, C) or (N, C, *) with channels on axis 1."""

    count: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        flat = np.moveaxis(np.asarray(x, np.float64), 1, -1).reshape(-1, x.shape[1])
        n = flat.shape[0]
        mean = flat.mean(axis=0)
        m2 = ((flat - mean) ** 2).sum(axis=0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + delta * delta * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.count = total

    def variance(self) -> np.ndarray:
        """Unbiased variance per channel (divisor count - 1); needs count >= 2."""
        return self.m2 / (self.count - 1)


@dataclass
class LayerShift:
    """Variance shift of one BN layer: ``test_var`` and ``running_var`` per channel (float64, shape (C,))."""

    name: str
    test_var: np.ndarray
    running_var: np.ndarray
    count: int

    @property
    def num_features(self) -> int:
        return int(self.test_var.shape[0])

    @property
    def ratio(self) -> np.ndarray:
        """Delta per channel: test_var / running_var (inf or nan where running_var is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.test_var / self.running_var

    @property
    def mean_shift(self) -> float:
        """Delta averaged over the channels (arithmetic mean)."""
        return float(np.mean(self.ratio))

    @property
    def worst_channel(self) -> int:
        """The channel whose Delta is farthest from 1 on a log scale (0.5 and 2 are equally bad)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.abs(np.log(self.ratio))
        return int(np.argmax(np.nan_to_num(dist, nan=np.inf)))

    @property
    def worst_shift(self) -> float:
        return float(self.ratio[self.worst_channel])

    def row(self) -> dict[str, Any]:
        r = self.ratio
        return {"layer": self.name, "channels": self.num_features, "mean_shift": self.mean_shift,
                "min_shift": float(np.min(r)), "max_shift": float(np.max(r)),
                "worst_channel": self.worst_channel, "worst_shift": self.worst_shift,
                "mean_test_var": float(np.mean(self.test_var)), "mean_running_var": float(np.mean(self.running_var))}


@dataclass
class VarianceShiftReport:
    """What :func:`variance_shift` found: one :class:`LayerShift` per BN layer, in model order."""

    layers: list[LayerShift] = field(default_factory=list)
    num_batches: int = 0

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerShift]:
        return iter(self.layers)

    def __getitem__(self, key: int | str) -> LayerShift:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            raise KeyError(f"VarianceShiftReport: no BN layer named {key!r}; have {[la.name for la in self.layers]}")
        return self.layers[key]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per layer: layer, channels, mean/min/max/worst Delta, worst_channel, mean variances."""
        return [layer.row() for layer in self.layers]

    def to_markdown(self, floatfmt: str = ".4f") -> str:
        return markdown_table(self.rows(), floatfmt=floatfmt)

    def __str__(self) -> str:
        if not self.layers:
            return "VarianceShiftReport: no BatchNorm layers with running statistics"
        return self.to_markdown()


def variance_shift(model: Module, batches: Iterable[Any]) -> VarianceShiftReport:
    """Measure Delta = Var_test / running_var for every BatchNorm layer of ``model`` (see the module docstring).

    ``batches``: inputs or ``(inputs, labels)`` tuples (e.g. a DataLoader over held-out data). The model
    runs in evaluation mode without recording gradients; each BN layer's input is captured by a
    temporary wrapper around its ``forward`` (removed afterwards). The model's modes, parameters and
    buffers are unchanged on return. Layers that tracked no running statistics are skipped.
    """
    layers = batch_norm_layers(model)
    stats = {name: ChannelStats() for name, _ in layers}

    def capture(name: str, forward: Any) -> Any:
        def wrapped(x: Tensor) -> Tensor:
            stats[name].update(x.data)
            return forward(x)
        return wrapped

    num_batches = 0
    with preserved_modes(model), no_grad():
        for name, m in layers:
            object.__setattr__(m, "forward", capture(name, m.forward))
        try:
            model.eval()
            for x in batch_inputs(batches, "variance_shift"):
                model(x)
                num_batches += 1
        finally:
            for _, m in layers:
                m.__dict__.pop("forward", None)
    if layers and num_batches == 0:
        raise ValueError("variance_shift: batches is empty; need at least one batch")
    out = []
    for name, m in layers:
        s = stats[name]
        if s.count < 2:
            raise ValueError(f"variance_shift: layer {name!r} saw {s.count} value per channel; need at least 2")
        out.append(LayerShift(name, s.variance(), np.asarray(m.running_var.data, np.float64).copy(), s.count))
    return VarianceShiftReport(out, num_batches)
