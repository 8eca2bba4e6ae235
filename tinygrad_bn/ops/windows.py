"""Sliding windows over the last two axes: the shared plumbing of convolution and pooling.

A 2-D window op slides a (KH, KW) window over an (H, W) plane, padded by (PH, PW) on each side,
moving (SH, SW) per step, its taps (DH, DW) apart (dilation). The output size is PyTorch's rule:

    OH = floor((H + 2 PH - DH (KH - 1) - 1) / SH) + 1          (the same for OW)

Window (oh, ow), tap (i, j) reads padded row ``oh SH + i DH`` and column ``ow SW + j DW``. So for a
fixed tap (i, j) the taps of all windows form one strided slice of the padded plane (``tap_slices``):
rows ``i DH, i DH + SH, ..., i DH + (OH - 1) SH``. Everything here loops over the KH*KW taps at most,
never over pixels:

- ``window_view``: the (..., KH, KW, OH, OW) view of every window (numpy stride tricks, no copy);
- ``add_taps``: the adjoint of gathering the taps, ``out[tap (i, j) of window (oh, ow)] += v[..., i, j, oh, ow]``,
  one strided slice-add per tap; where windows overlap, their contributions add.

Shapes: arrays of shape (N, C, H, W) (any leading axes work). Dtypes: kept as given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import as_strided

Pair = tuple[int, int]


def out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    """Windows along one axis: floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pad2d(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    """x padded by ``padding`` = (PH, PW) on both sides of its last two axes with ``value``; x itself
    (never a copy) when there is no padding. The result is new whenever padding is non-zero."""
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    out = np.full(x.shape[:-2] + (x.shape[-2] + 2 * ph, x.shape[-1] + 2 * pw), value, dtype=x.dtype)
    out[..., ph:ph + x.shape[-2], pw:pw + x.shape[-1]] = x
    return out


def crop2d(x: np.ndarray, padding: Pair, size: Pair) -> np.ndarray:
    """Undo ``pad2d``: the (H, W) = ``size`` interior of x's last two axes, as a new contiguous array
    (x itself when there is no padding and no unread border)."""
    ph, pw = padding
    if (ph, pw) == (0, 0) and x.shape[-2:] == size:
        return x
    return np.ascontiguousarray(x[..., ph:ph + size[0], pw:pw + size[1]])


def window_view(xp: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """Read-only view (N, C, KH, KW, OH, OW) of the padded (N, C, Hp, Wp) array xp:
    ``view[n, c, i, j, oh, ow] = xp[n, c, oh SH + i DH, ow SW + j DW]``. No copy; reshaping it copies."""
    *lead, s_h, s_w = xp.strides
    shape = xp.shape[:-2] + tuple(kernel) + tuple(out_hw)
    strides = (*lead, s_h * dilation[0], s_w * dilation[1], s_h * stride[0], s_w * stride[1])
    return as_strided(xp, shape, strides, writeable=False)


def tap_slices(kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> list[tuple[slice, slice]]:
    """For each tap (i, j) in row-major order, the (rows, cols) slices of the padded plane it reads
    across all OH x OW windows."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_hw
    return [(slice(i * dh, i * dh + sh * (oh - 1) + 1, sh), slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
            for i in range(kh) for j in range(kw)]


def add_taps(out: np.ndarray, taps: list[tuple[slice, slice]], values: Callable[[int], np.ndarray]) -> np.ndarray:
    """The adjoint of gathering windows (col2im): for tap number k, ``out[..., rows_k, cols_k] += values(k)``,
    where ``values(k)`` is a (..., OH, OW) array (or a broadcastable one). Windows that overlap add up.
    ``out`` (the zero-filled padded gradient) is updated in place and returned."""
    for k, (rows, cols) in enumerate(taps):
        out[..., rows, cols] += values(k)
    return out
