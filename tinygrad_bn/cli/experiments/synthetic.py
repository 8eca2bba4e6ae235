"""Variance shift on synthetic input: the closed forms of Li et al. (CVPR 2019) against measurements.

For each noise layer (inverted dropout, Gaussian dropout, Uout), rate and input (c, v): build
``noise -> BatchNorm1d(channels, momentum=None)``; in training mode feed it ``n`` fresh samples of
x ~ N(c, v) per channel (in batches), so the BN's ``running_var`` learns the variance of the noisy
input (cumulative average of the per-batch unbiased variances); then measure
:func:`tinygrad_bn.diagnostics.variance_shift` in evaluation mode on another ``n`` samples. The
reported Delta is the mean over the channels (independent copies of the same experiment).
Everything is float64 and seeded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import diagnostics, nn
from ...engine.tensor import Tensor

#: noise kind -> (layer class, closed form Delta(c, v, rate), name of the rate)
NOISES: dict[str, tuple[type[nn.Module], Callable[[float, float, float], float], str]] = {
    "dropout": (nn.Dropout, diagnostics.variance_shift_dropout, "p"),
    "gaussian": (nn.GaussianDropout, diagnostics.variance_shift_gaussian, "p"),
    "uout": (nn.Uout, diagnostics.variance_shift_uout, "beta"),
}
#: default grid: rates per noise kind, and inputs (c, v)
DEFAULT_RATES: dict[str, tuple[float, ...]] = {
    "dropout": (0.1, 0.3, 0.5, 0.7), "gaussian": (0.1, 0.3, 0.5, 0.7), "uout": (0.1, 0.3, 0.5, 0.7, 1.0)}
DEFAULT_INPUTS: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0), (0.5, 2.0), (2.0, 0.5))


class NoiseThenBN(nn.Module):
    """noise layer -> BatchNorm1d(channels): the smallest model with a variance shift. Input (N, C) float64."""

    def __init__(self, noise: nn.Module, channels: int):
        super().__init__()
        self.noise = noise
        self.bn = nn.BatchNorm1d(channels, momentum=None, dtype=np.float64)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.noise(x))


def _gaussian_batches(rng: np.random.Generator, c: float, v: float, n: int, channels: int,
                      batch_size: int) -> Iterator[np.ndarray]:
    done = 0
    while done < n:
        b = min(batch_size, n - done)
        yield rng.normal(c, np.sqrt(v), size=(b, channels))
        done += b


@dataclass
class SyntheticResult:
    noise: str
    rate_name: str
    rate: float
    c: float
    v: float
    closed_form: float
    measured: float
    n: int
    channels: int

    def row(self) -> dict[str, Any]:
        return {"noise": self.noise, "rate": f"{self.rate_name}={self.rate:g}", "c": self.c, "v": self.v,
                "closed_form": self.closed_form, "measured": self.measured,
                "rel_error": (self.measured - self.closed_form) / self.closed_form}


def measure(noise: str, rate: float, c: float, v: float, *, n: int = 100_000, channels: int = 4,
            batch_size: int = 1000, seed: int = 0) -> SyntheticResult:
    """One cell of the table: the measured Delta (mean over ``channels``) next to the closed form."""
    if noise not in NOISES:
        raise ValueError(f"synthetic.measure: noise must be one of {sorted(NOISES)}, got {noise!r}")
    for name, val in (("n", n), ("channels", channels), ("batch_size", batch_size)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < (2 if name != "channels" else 1):
            raise ValueError(f"synthetic.measure: {name} must be an int >= {2 if name != 'channels' else 1}, "
                             f"got {val!r}")
    layer_cls, closed, rate_name = NOISES[noise]
    closed_form = closed(c, v, rate)  # also checks c, v and the rate
    rng = np.random.default_rng(seed)
    model = NoiseThenBN(layer_cls(rate, generator=np.random.default_rng(rng.integers(2**63))), channels)
    model.train()
    for x in _gaussian_batches(rng, c, v, n, channels, batch_size):
        model(Tensor(x))
    report = diagnostics.variance_shift(model, list(_gaussian_batches(rng, c, v, n, channels, batch_size)))
    return SyntheticResult(noise, rate_name, float(rate), float(c), float(v), closed_form,
                           report["bn"].mean_shift, n, channels)


def run(*, noises: Sequence[str] = tuple(NOISES), rates: dict[str, Sequence[float]] | None = None,
        inputs: Sequence[tuple[float, float]] = DEFAULT_INPUTS, n: int = 100_000, channels: int = 4,
        batch_size: int = 1000, seed: int = 0, progress: Callable[[str], None] | None = None) -> list[SyntheticResult]:
    """The whole grid: every noise kind x rate x (c, v); cell k uses seed ``seed + k``."""
    rates = DEFAULT_RATES if rates is None else rates
    results = []
    for noise in noises:
        for rate in rates[noise]:
            for c, v in inputs:
                results.append(measure(noise, rate, c, v, n=n, channels=channels, batch_size=batch_size,
                                       seed=seed + len(results)))
                if progress is not None:
                    r = results[-1]
                    progress(f"{noise} {r.rate_name}={rate:g} c={c:g} v={v:g}: closed {r.closed_form:.4f}, "
                             f"measured {r.measured:.4f}")
    return results


def plot_panels(results: Sequence[SyntheticResult]) -> list[dict[str, Any]]:
    """One panel per noise kind: Delta against the rate, a dashed closed-form line and measured dots per (c, v)."""
    panels = []
    for noise in dict.fromkeys(r.noise for r in results):
        rs = [r for r in results if r.noise == noise]
        series: dict[str, tuple[list[float], list[float], str]] = {}
        for i, (c, v) in enumerate(dict.fromkeys((r.c, r.v) for r in rs)):
            cell = sorted((r for r in rs if (r.c, r.v) == (c, v)), key=lambda r: r.rate)
            xs = [r.rate for r in cell]
            color = f"C{i % 10}"
            series[f"c={c:g}, v={v:g}"] = (xs, [r.closed_form for r in cell], f"--{color}")
            series[f"_c={c:g}, v={v:g} measured"] = (xs, [r.measured for r in cell], f"o{color}")  # _: no legend
        panels.append({"series": series, "xlabel": rs[0].rate_name, "ylabel": "Delta = Var_test / Var_train",
                       "title": noise, "ylim": (0.0, 1.05)})
    return panels
