"""The CNN training step written by hand in numpy: the baseline the framework's CNN step is divided by.

The model is ``tinygrad_bn.models.cnn()`` with its defaults: two blocks of Conv2d 3x3 (padding 1, no
bias) -> BatchNorm2d -> ReLU -> MaxPool2d(2) -> Dropout2d(p), then Flatten -> Linear(3136, 128, no bias)
-> BatchNorm1d -> ReLU -> Dropout(head_p) -> Linear(128, 10); softmax cross-entropy (mean over the
batch); Adam in PyTorch's form. Everything is float32; weights are PyTorch-shaped (conv: (O, C, 3, 3)).

How it is written (what a careful numpy programmer would do, no autograd):

- activations are kept channels-last, (N, H, W, C), so a convolution is im2col (a strided view of the
  padded input, ``sliding_window_view``, copied once into (N*H*W, C*9)) and one matmul, and BatchNorm2d
  is BatchNorm over the rows of an (N*H*W, C) matrix, the same code as BatchNorm1d;
- the convolution's input gradient is col2im: one add per kernel offset (9 strided adds);
- max pooling over the four taps of each 2x2 window, the first maximum in row-major order winning
  (the rule the framework uses), its winner masks kept for the backward pass;
- BatchNorm backward in the compact form ``dz = (gamma r / m) (m da - sum(da) - x_hat sum(da x_hat))``;
- softmax and cross-entropy fused: ``d loss / d logits = (softmax - onehot) / N``.

Dropout masks are drawn as the framework draws them (one float32 uniform per (sample, channel) for
Dropout2d, per element for Dropout; ``u >= p`` keeps; in the order of the layers) from the generator
passed to ``step``, so with the framework's generator seeded the same way both see the same masks:
tests/test_reference_equivalence.py checks the loss and the updated parameters agree.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .reference_mlp import softmax_cross_entropy

F32 = np.float32


def _dropout_mask(generator: np.random.Generator, shape: tuple[int, ...], p: float) -> np.ndarray:
    """keep / (1 - p) with keep = (u >= p), u float32 uniform: the framework's draw; all ones when p = 0."""
    if p == 0:
        return np.ones(shape, F32)
    u = generator.random(shape, dtype=F32)
    return np.multiply(u >= p, F32(1 / (1 - p)), out=u)


class ReferenceCNN:
    """Parameters, running statistics, Adam state and ``step``; arrays are copied in as float32.

    ``convs``: [W (O, C, 3, 3), ...], one per block; ``linears``: [(W1 (128, 3136), None), (W2 (10, 128),
    b2 (10,))]; ``norms``: [(gamma (C,), beta (C,)), ...], one per block and one for the head.
    """

    def __init__(self, convs: list[np.ndarray], linears: list[tuple[np.ndarray, np.ndarray | None]],
                 norms: list[tuple[np.ndarray, np.ndarray]], *, p: float = 0.1, head_p: float = 0.3,
                 eps: float = 1e-5, bn_momentum: float = 0.1, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), adam_eps: float = 1e-8):
        if len(norms) != len(convs) + 1 or len(linears) != 2:
            raise ValueError(f"ReferenceCNN: expected {len(convs) + 1} norms and 2 linears for {len(convs)} "
                             f"convs, got {len(norms)} and {len(linears)}")
        self.convs = [np.array(w, F32) for w in convs]
        self.w1 = np.array(linears[0][0], F32)
        self.w2, self.b2 = (np.array(a, F32) for a in linears[1])
        self.norms = [(np.array(g, F32), np.array(b, F32)) for g, b in norms]
        self.running = [(np.zeros(g.shape, F32), np.ones(g.shape, F32)) for g, _ in norms]
        self.p, self.head_p, self.eps, self.bn_momentum = p, head_p, eps, bn_momentum
        self.lr, self.betas, self.adam_eps, self.t = lr, betas, adam_eps, 0
        self.m = [np.zeros_like(q) for q in self.parameters()]
        self.v = [np.zeros_like(q) for q in self.parameters()]

    def parameters(self) -> list[np.ndarray]:
        """In the framework's order: conv W, gamma, beta per block; W1, gamma, beta; W2, b2."""
        out: list[np.ndarray] = []
        for w, (g, b) in zip(self.convs, self.norms):
            out += [w, g, b]
        return out + [self.w1, *self.norms[-1], self.w2, self.b2]

    # ---- pieces, each with its backward ------------------------------------------------------------
    def _bn_forward(self, z: np.ndarray, k: int) -> tuple[np.ndarray, tuple]:
        """BatchNorm over the rows of z (M, C) in place (z becomes x_hat); returns gamma x_hat + beta."""
        m = z.shape[0]
        gamma, beta = self.norms[k]
        rm, rv = self.running[k]
        mean = z.mean(axis=0)
        z -= mean
        var = np.einsum("ij,ij->j", z, z) / m
        rm *= 1 - self.bn_momentum
        rm += self.bn_momentum * mean
        rv *= 1 - self.bn_momentum
        rv += (self.bn_momentum * m / (m - 1)) * var
        rstd = 1 / np.sqrt(var + self.eps)
        z *= rstd
        a = z * gamma
        a += beta
        return a, (z, rstd, gamma)

    @staticmethod
    def _bn_backward(da: np.ndarray, saved: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dz, dgamma, dbeta) from da (M, C); da is overwritten."""
        xhat, rstd, gamma = saved
        m = da.shape[0]
        dbeta = da.sum(axis=0)
        dgamma = np.einsum("ij,ij->j", da, xhat)
        da *= m
        da -= dbeta
        da -= xhat * dgamma
        da *= gamma * (rstd / m)
        return da, dgamma, dbeta

    @staticmethod
    def _im2col(h: np.ndarray) -> np.ndarray:
        """(N, H, W, C) -> (N*H*W, 9*C) patches of the zero-padded input, columns ordered (kh, kw, C)."""
        n, hh, ww, c = h.shape
        padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
        windows = sliding_window_view(padded, (3, 3), axis=(1, 2))     # (N, H, W, C, 3, 3), a view
        return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * hh * ww, 9 * c)  # one copy, C contiguous

    @staticmethod
    def _col2im(dcols: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The adjoint of _im2col: (N*H*W, 9*C) -> (N, H, W, C), one strided add per kernel offset."""
        n, hh, ww, c = shape
        d = dcols.reshape(n, hh, ww, 3, 3, c)
        padded = np.zeros((n, hh + 2, ww + 2, c), F32)
        for i in range(3):
            for j in range(3):
                padded[:, i:i + hh, j:j + ww, :] += d[:, :, :, i, j, :]
        return padded[:, 1:-1, 1:-1, :]

    @staticmethod
    def _matrix(w: np.ndarray) -> np.ndarray:
        """Conv weight (O, C, 3, 3) as the (O, 9*C) matrix matching _im2col's column order."""
        return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)

    @staticmethod
    def _pool_forward(a: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """2x2 max pool of (N, H, W, C); winner masks per tap, the first maximum (row-major) winning."""
        taps = [a[:, i::2, j::2, :] for i in range(2) for j in range(2)]
        out = np.maximum(np.maximum(taps[0], taps[1]), np.maximum(taps[2], taps[3]))
        free = np.ones(out.shape, bool)
        wins = []
        for t in taps:
            w = (t == out) & free
            free &= ~w
            wins.append(w)
        return out, wins

    @staticmethod
    def _pool_backward(g: np.ndarray, wins: list[np.ndarray]) -> np.ndarray:
        n, h2, w2, c = g.shape
        da = np.empty((n, 2 * h2, 2 * w2, c), F32)
        for k, w in enumerate(wins):
            np.multiply(g, w, out=da[:, k // 2::2, k % 2::2, :])
        return da

    # ---- the step ----------------------------------------------------------------------------------
    def step(self, x: np.ndarray, targets: np.ndarray, generator: np.random.Generator) -> float:
        """One training step on x (N, C, S, S) float32, targets (N,) int; returns the loss (before the update)."""
        loss, grads = self.loss_and_grads(x, targets, generator)
        self._adam(grads)
        return loss

    def loss_and_grads(self, x: np.ndarray, targets: np.ndarray,
                       generator: np.random.Generator) -> tuple[float, list[np.ndarray]]:
        """Forward and backward (running statistics updated, parameters not): loss, grads in ``parameters()`` order."""
        n = x.shape[0]
        h = np.ascontiguousarray(x.transpose(0, 2, 3, 1))               # channels last
        blocks = []
        for k, w in enumerate(self.convs):
            shape = h.shape
            cols = self._im2col(h)
            z = cols @ self._matrix(w).T                      # (N*H*W, O)
            a, bn = self._bn_forward(z, k)
            relu = a > 0
            a *= relu
            pooled, wins = self._pool_forward(a.reshape(*shape[:3], -1))
            mask = _dropout_mask(generator, (n, pooled.shape[3], 1, 1), self.p).reshape(n, 1, 1, -1)
            pooled *= mask
            blocks.append((shape, cols, bn, relu, wins, mask))
            h = pooled
        flat = h.transpose(0, 3, 1, 2).reshape(n, -1)                   # PyTorch's (C, H, W) flatten order
        z = flat @ self.w1.T
        a, bn = self._bn_forward(z, len(self.convs))
        d = _dropout_mask(generator, a.shape, self.head_p)
        d *= a > 0                                                      # ReLU mask times dropout mask
        a *= d
        logits = a @ self.w2.T
        logits += self.b2

        loss, e = softmax_cross_entropy(logits, targets)                # e = d loss / d logits

        grads = [e.T @ a, e.sum(axis=0)]                                # dW2, db2
        da = e @ self.w2
        da *= d
        dz, dg, db = self._bn_backward(da, bn)
        grads[:0] = [dz.T @ flat, dg, db]
        g = (dz @ self.w1).reshape(h.shape[0], h.shape[3], *h.shape[1:3]).transpose(0, 2, 3, 1)
        for k in range(len(self.convs) - 1, -1, -1):
            shape, cols, bn, relu, wins, mask = blocks[k]
            w = self.convs[k]
            g = g * mask
            da = self._pool_backward(g, wins).reshape(-1, w.shape[0])
            da *= relu
            dz, dg, db = self._bn_backward(da, bn)
            grads[:0] = [(dz.T @ cols).reshape(w.shape[0], 3, 3, -1).transpose(0, 3, 1, 2), dg, db]
            if k > 0:
                g = self._col2im(dz @ self._matrix(w), shape)
        return loss, grads

    def _adam(self, grads: list[np.ndarray]) -> None:
        """PyTorch's Adam, computed in the framework's order of operations; in place."""
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1.0 - beta1 ** self.t)
        root = math.sqrt(1.0 - beta2 ** self.t)
        for param, grad, m, v in zip(self.parameters(), grads, self.m, self.v):
            tmp = grad - m                                             # m <- m + (1 - beta1)(g - m)
            tmp *= 1.0 - beta1
            m += tmp
            np.multiply(grad, grad, out=tmp)                            # v <- beta2 v + (1 - beta2) g^2
            tmp *= 1.0 - beta2
            v *= beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= root
            tmp += self.adam_eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            param -= tmp
