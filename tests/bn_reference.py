"""Staged batch normalization as Ioffe & Szegedy (2015) write it: a slow, obviously-correct reference.

Forward in the paper's named stages (Algorithm 1), backward by the chain rule through each stage
exactly as in the paper's Section 3 (including the d mean term that the compact form shows to be zero).
Used by tests/test_normalization.py as an independent oracle for the fused kernel and by
benchmarks/batchnorm.py as the baseline. Never imported by the package.

Shapes: x (N, C, *); gamma, beta (C,); statistics per channel over every axis but 1.
"""

from __future__ import annotations

import numpy as np


def _axes(x: np.ndarray) -> tuple[int, ...]:
    return (0, *range(2, x.ndim))


def _per_channel(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def staged_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Training-mode batch norm; returns the output and what the staged backward needs."""
    axes = _axes(x)
    m = x.size // x.shape[1]
    mu = x.sum(axis=axes, keepdims=True) / x.dtype.type(m)          # mini-batch mean
    xmu = x - mu
    var = (xmu**2).sum(axis=axes, keepdims=True) / x.dtype.type(m)  # mini-batch variance (biased)
    inv_std = 1 / np.sqrt(var + x.dtype.type(eps))
    x_hat = xmu * inv_std                                          # normalize
    out = _per_channel(gamma, x) * x_hat + _per_channel(beta, x)   # scale and shift
    return out, (x_hat, xmu, var, inv_std, gamma, eps, m)


def staged_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dx, dgamma, dbeta through the stages, term by term as in Ioffe & Szegedy, Section 3."""
    x_hat, xmu, var, inv_std, gamma, eps, m = cache
    axes = _axes(dout)
    f = dout.dtype.type
    dx_hat = dout * _per_channel(gamma, dout)
    dvar = (dx_hat * xmu).sum(axis=axes, keepdims=True) * f(-0.5) * (var + f(eps)) ** f(-1.5)
    dmu = (dx_hat * -inv_std).sum(axis=axes, keepdims=True) + dvar * (f(-2) * xmu).sum(axis=axes, keepdims=True) / f(m)
    dx = dx_hat * inv_std + dvar * f(2) * xmu / f(m) + dmu / f(m)
    dgamma = (dout * x_hat).sum(axis=axes)
    dbeta = dout.sum(axis=axes)
    return dx, dgamma, dbeta
