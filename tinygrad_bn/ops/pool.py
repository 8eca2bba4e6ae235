"""2-D pooling: max, average, and global average, each with its backward derived beside it.

Shapes: x (N, C, H, W) -> (N, C, OH, OW), OH, OW from PyTorch's rule (``windows.out_size``, dilation 1);
the global average gives (N, C, 1, 1). Dtypes: kept (float32 stays float32).

All loops run over the KH*KW taps of the window, never over pixels: tap (i, j) of every window is one
strided slice of the padded input (``windows.tap_slices``), and the backward scatters into the padded
gradient with one strided slice-add per tap (``windows.add_taps``), so where windows overlap
(stride < kernel) their gradients add.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..engine.function import Function, Node
from ..engine.grad_mode import is_grad_enabled
from .windows import Pair, add_taps, crop2d, out_size, pad2d, tap_slices

Grads = tuple[np.ndarray | None, ...]


def _plan(x_shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair) -> tuple[Pair, list]:
    """(OH, OW) and the tap slices of a dilation-1 pooling window."""
    out_hw = (out_size(x_shape[-2], kernel[0], stride[0], padding[0]),
              out_size(x_shape[-1], kernel[1], stride[1], padding[1]))
    return out_hw, tap_slices(kernel, stride, (1, 1), out_hw)


def _scatter(g_of_tap: Callable[[int], np.ndarray], x_shape: tuple[int, ...], padding: Pair, taps: list,
             dtype: np.dtype) -> np.ndarray:
    """dx: the taps' gradients added into a zero padded gradient, padding cropped off."""
    padded = (x_shape[-2] + 2 * padding[0], x_shape[-1] + 2 * padding[1])
    dxp = np.zeros(x_shape[:-2] + padded, dtype=dtype)
    return crop2d(add_taps(dxp, taps, g_of_tap), padding, x_shape[-2:])


class MaxPool2d(Function):
    """y[n, c, oh, ow] = max over the window's taps of xp, xp = x padded with -inf.

    The gradient is the derivative of picking one element:

        dL/dxp[r, s] = sum over the windows whose winning tap sits at (r, s) of grad_output[window]

    i.e. each window sends its whole gradient to ONE position, and a position that wins several
    overlapping windows receives their sum. The winner is the first tap (row-major) holding the maximum,
    as in PyTorch; a window holding NaN outputs NaN and its winner is its first NaN. Padding (-inf) never
    wins: the argument checks (padding <= kernel / 2) leave every window at least one real pixel.

    Forward: y = element-wise maximum over the taps (one slice per tap, no copy of the windows). Then,
    only when x needs a gradient (and recording is on), the winner: visiting the taps last to first,
    every tap equal to y takes over, so the first equal one is left standing.

    Input: x (N, C, H, W). Attrs: ``kernel_size``, ``stride``, ``padding`` (pairs). Output (N, C, OH, OW).
    Saved for backward: the winning tap number of every window, (N, C, OH, OW), in the smallest unsigned
    int type that holds KH*KW - 1 (uint8 up to 16x16 kernels).
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, kernel_size: Pair, stride: Pair, padding: Pair) -> np.ndarray:
        _, taps = _plan(x.shape, kernel_size, stride, padding)
        xp = pad2d(x, padding, -np.inf)
        values = [xp[..., rows, cols] for rows, cols in taps]                 # one strided view per tap
        y = values[0].copy()
        for v in values[1:]:
            np.maximum(y, v, out=y)                                          # NaN propagates, as in max()
        ctx.x_shape, ctx.taps = x.shape, taps
        if ctx.needs_input_grad[0] and is_grad_enabled():                      # else no backward will come
            last = len(taps) - 1
            win = np.full(y.shape, last, dtype=np.min_scalar_type(last))
            nan = bool(np.isnan(y).any())
            for k in range(last - 1, -1, -1):
                hit = values[k] == y
                if nan:
                    hit |= np.isnan(values[k])
                win -= hit * (win - k)                                       # win = k where hit (win > k here)
            ctx.save_for_backward(win)
        return y

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (win,) = ctx.saved_tensors
        if np.isfinite(g).all():
            def tap_grad(k: int) -> np.ndarray:                               # g where tap k won, else 0
                return g * (win == k)
        else:                                                                 # inf * 0 would give NaN: select
            zero = np.zeros((), dtype=g.dtype)

            def tap_grad(k: int) -> np.ndarray:
                return np.where(win == k, g, zero)
        return (_scatter(tap_grad, ctx.x_shape, ctx.attrs["padding"], ctx.taps, g.dtype),)


class AvgPool2d(Function):
    """y[n, c, oh, ow] = (1 / (KH KW)) sum over the window's taps of xp, xp = x padded with zeros.

    The padded zeros count in the divisor (PyTorch's default ``count_include_pad=True``), so every
    window divides by KH*KW. Linear in x, so

        dL/dxp[r, s] = sum over the windows containing (r, s) of grad_output[window] / (KH KW)

    each window spreads its gradient evenly over its taps; overlapping windows add.

    Input: x (N, C, H, W). Attrs: ``kernel_size``, ``stride``, ``padding`` (pairs). Output (N, C, OH, OW).
    Nothing saved but shapes.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, *, kernel_size: Pair, stride: Pair, padding: Pair) -> np.ndarray:
        _, taps = _plan(x.shape, kernel_size, stride, padding)
        xp = pad2d(x, padding)
        rows, cols = taps[0]
        acc = xp[..., rows, cols].copy()
        for rows, cols in taps[1:]:
            acc += xp[..., rows, cols]
        acc *= np.asarray(1 / len(taps), dtype=acc.dtype)
        ctx.x_shape, ctx.taps = x.shape, taps
        return acc

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        share = g * np.asarray(1 / len(ctx.taps), dtype=g.dtype)
        return (_scatter(lambda k: share, ctx.x_shape, ctx.attrs["padding"], ctx.taps, g.dtype),)


class GlobalAvgPool2d(Function):
    """y[n, c, 0, 0] = mean of x[n, c] over H and W (``adaptive_avg_pool2d(x, 1)``).

    Every pixel has weight 1 / (H W) in its mean, so dL/dx[n, c, h, w] = grad_output[n, c, 0, 0] / (H W),
    the gradient broadcast back over the plane (a read-only broadcast view; the engine copies it if it
    needs to add to it).

    Input: x (N, C, H, W). Output (N, C, 1, 1). Nothing saved but the shape.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.x_shape = x.shape
        return x.mean(axis=(-2, -1), keepdims=True)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        h, w = ctx.x_shape[-2:]
        return (np.broadcast_to(g * np.asarray(1 / (h * w), dtype=g.dtype), ctx.x_shape),)
