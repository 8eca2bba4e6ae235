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
from .shape import Expand
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
        return (MaxPoolScatter.apply(g, win, x_shape=ctx.x_shape, **ctx.attrs),)


class MaxPoolScatter(Function):
    """dx of max pooling: each window's gradient g sent to its winning tap (``win``, a constant input),
    added where a position wins several windows. Linear in g; its adjoint reads, for every window, the
    value at its winner, so ``grad_g = MaxPoolGather(grad_output, win)``. Inputs g (N, C, OH, OW), win;
    attrs ``x_shape``, ``kernel_size``, ``stride``, ``padding``. Output (N, C, H, W)."""

    @staticmethod
    def forward(ctx: Node, g: np.ndarray, win: np.ndarray, *, x_shape: tuple[int, ...], kernel_size: Pair,
                stride: Pair, padding: Pair) -> np.ndarray:
        ctx.save_for_backward(win)
        _, taps = _plan(x_shape, kernel_size, stride, padding)
        if np.isfinite(g).all():
            def tap_grad(k: int) -> np.ndarray:                               # g where tap k won, else 0
                return g * (win == k)
        else:                                                                 # inf * 0 would give NaN: select
            zero = np.zeros((), dtype=g.dtype)

            def tap_grad(k: int) -> np.ndarray:
                return np.where(win == k, g, zero)
        return _scatter(tap_grad, x_shape, padding, taps, g.dtype)

    @staticmethod
    def backward(ctx: Node, u: np.ndarray) -> Grads:
        (win,) = ctx.saved_tensors
        attrs = {k: v for k, v in ctx.attrs.items() if k != "x_shape"}
        return MaxPoolGather.apply(u, win, **attrs), None


class MaxPoolGather(Function):
    """y[window] = u at the window's winning tap (max pooling with the winners held fixed): the adjoint
    of ``MaxPoolScatter``, whose op is its backward, ``grad_u = MaxPoolScatter(grad_output, win)``.
    Inputs u (N, C, H, W), win (N, C, OH, OW); attrs ``kernel_size``, ``stride``, ``padding``."""

    @staticmethod
    def forward(ctx: Node, u: np.ndarray, win: np.ndarray, *, kernel_size: Pair, stride: Pair,
                padding: Pair) -> np.ndarray:
        ctx.save_for_backward(win)
        ctx.x_shape = u.shape
        _, taps = _plan(u.shape, kernel_size, stride, padding)
        up = pad2d(u, padding)
        out = np.zeros(win.shape, dtype=u.dtype)
        for k, (rows, cols) in enumerate(taps):
            np.copyto(out, up[..., rows, cols], where=win == k)
        return out

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        (win,) = ctx.saved_tensors
        return MaxPoolScatter.apply(g, win, x_shape=ctx.x_shape, **ctx.attrs), None


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
        return (AvgPoolScatter.apply(g, x_shape=ctx.x_shape, **ctx.attrs),)


class AvgPoolScatter(Function):
    """dx of average pooling: each window's g / (KH KW) added to all its taps. Linear, and the adjoint
    of average pooling, so its backward is ``AvgPool2d`` itself. Input g (N, C, OH, OW); attrs
    ``x_shape``, ``kernel_size``, ``stride``, ``padding``. Output (N, C, H, W)."""

    @staticmethod
    def forward(ctx: Node, g: np.ndarray, *, x_shape: tuple[int, ...], kernel_size: Pair, stride: Pair,
                padding: Pair) -> np.ndarray:
        _, taps = _plan(x_shape, kernel_size, stride, padding)
        share = g * np.asarray(1 / len(taps), dtype=g.dtype)
        return _scatter(lambda k: share, x_shape, padding, taps, g.dtype)

    @staticmethod
    def backward(ctx: Node, u: np.ndarray) -> Grads:
        return (AvgPool2d.apply(u, **{k: v for k, v in ctx.attrs.items() if k != "x_shape"}),)


class GlobalAvgPool2d(Function):
    """y[n, c, 0, 0] = mean of x[n, c] over H and W (``adaptive_avg_pool2d(x, 1)``).

    Every pixel has weight 1 / (H W) in its mean, so dL/dx[n, c, h, w] = grad_output[n, c, 0, 0] / (H W),
    the gradient broadcast back over the plane (``Expand``: a read-only broadcast view; the engine copies
    it if it needs to add to it).

    Input: x (N, C, H, W). Output (N, C, 1, 1). Nothing saved but the shape.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray) -> np.ndarray:
        ctx.x_shape = x.shape
        return x.mean(axis=(-2, -1), keepdims=True)

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        h, w = ctx.x_shape[-2:]
        return (Expand.apply(g * (1 / (h * w)), shape=ctx.x_shape),)
