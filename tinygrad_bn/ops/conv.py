"""2-D convolution (cross-correlation, as in PyTorch) as im2col + one batched matmul.

Shapes: x (N, C, H, W), weight (O, C/G, KH, KW), optional bias (O,) -> y (N, O, OH, OW), with G groups
and OH, OW from PyTorch's rule (``windows.out_size``). Dtypes: numpy's; float32 inputs give a float32
result and float32 gradients (float64 stays float64).

Forward
-------
Pad x, take the read-only (N, C, KH, KW, OH, OW) view of every window (stride tricks, no copy) and
copy it once into the column matrix, in its natural order:

    cols[n, g, k, l] = xp[n, g C/G + c, oh SH + i DH, ow SW + j DW],   k = (c, i, j), l = (oh, ow)

shape (N, G, C/G KH KW, OH OW). With the weight seen as Wg (G, O/G, C/G KH KW), the convolution is
one matmul broadcast over n and g, whose result already is y in (N, O, OH, OW) order:

    y[n, g, o, l] = sum_k Wg[g, o, k] cols[n, g, k, l] + b[g O/G + o]          (y_n = Wg cols_n + b)

Backward (G = grad_output seen as (N, G, O/G, OH OW))
--------
    dWg[g, o, k] = sum_{n, l} G[n, g, o, l] cols[n, g, k, l]      ->  dW = sum_n G_n cols_n^T
    dcols[n, g, k, l] = sum_o Wg[g, o, k] G[n, g, o, l]           ->  dcols = Wg^T G_n
    db[o] = sum_{n, l} G[n, o, l]
    dxp = col2im(dcols): each column entry came from one padded pixel, so it adds its gradient back
          there; a pixel read by several windows (overlap) receives the sum. One strided slice-add
          per tap (i, j) (``windows.add_taps``), then the padding is cropped off: dx = dxp[.., PH:PH+H, PW:PW+W].

Memory: forward saves x and the weight, not the column matrix (KH*KW times larger than x); backward
gathers the columns again (a copy, cheap next to the matmuls), uses them for dW, drops them, and
only then makes dcols, so the two never coexist. ``docs/cnn.md`` draws im2col and col2im.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Function, Node
from .windows import Pair, add_taps, crop2d, out_size, pad2d, tap_slices, window_view

Grads = tuple[np.ndarray | None, ...]


def im2col(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
           groups: int) -> tuple[np.ndarray, Pair]:
    """The column matrix (N, G, C/G KH KW, OH OW) of x (N, C, H, W), a new contiguous array of x's
    dtype, and the output size (OH, OW)."""
    n, c, h, w = x.shape
    out_hw = (out_size(h, kernel[0], stride[0], padding[0], dilation[0]),
              out_size(w, kernel[1], stride[1], padding[1], dilation[1]))
    view = window_view(pad2d(x, padding), kernel, stride, dilation, out_hw)
    return view.reshape(n, groups, c // groups * kernel[0] * kernel[1], out_hw[0] * out_hw[1]), out_hw


class Conv2d(Function):
    """y = conv2d(x, weight) + bias; see the module docstring for the layout and the derivation.

    Inputs: x (N, C, H, W), weight (O, C/groups, KH, KW), optionally bias (O,). Attrs: ``stride``,
    ``padding``, ``dilation`` (pairs of ints), ``groups`` (int). Output: (N, O, OH, OW).
    Saved for backward: x and weight.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, stride: Pair,
                padding: Pair, dilation: Pair, groups: int) -> np.ndarray:
        n, o = x.shape[0], w.shape[0]
        kernel = w.shape[2:]
        cols, out_hw = im2col(x, kernel, stride, padding, dilation, groups)       # (N, G, K, L)
        y = np.matmul(w.reshape(groups, o // groups, -1), cols).reshape(n, o, *out_hw)
        if b is not None:
            if y.dtype == np.result_type(y, b):
                y += b.reshape(1, o, 1, 1)                                        # in place on our fresh result
            else:
                y = y + b.reshape(1, o, 1, 1)
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        x, w = ctx.saved_tensors
        a = ctx.attrs
        stride, padding, dilation, groups = a["stride"], a["padding"], a["dilation"], a["groups"]
        need = ctx.needs_input_grad
        n, o = g.shape[:2]
        kernel = w.shape[2:]
        g4 = g.reshape(n, groups, o // groups, -1)                                # (N, G, O/G, L)
        wg = w.reshape(groups, o // groups, -1)                                   # (G, O/G, K)
        dw = dx = None
        if need[1]:
            cols, _ = im2col(x, kernel, stride, padding, dilation, groups)           # gathered again, see docstring
            dw = np.matmul(g4, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
            del cols
        if need[0]:
            dcols = np.matmul(wg.transpose(0, 2, 1), g4)                          # (N, G, K, L)
            dcols = dcols.reshape(x.shape[:2] + kernel + g.shape[2:])           # (N, C, KH, KW, OH, OW)
            hp, wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
            dxp = np.zeros(x.shape[:2] + (hp, wp), dtype=dcols.dtype)
            taps = tap_slices(kernel, stride, dilation, g.shape[2:])
            kw = kernel[1]
            add_taps(dxp, taps, lambda k: dcols[:, :, k // kw, k % kw])
            dx = crop2d(dxp, padding, x.shape[2:])
        if len(need) == 2:
            return dx, dw
        return dx, dw, (g.sum(axis=(0, 2, 3)) if need[2] else None)


# ---- registry samples (the old place; they move to the op database with the public wrappers) ----
from ..registry import Sample, register_op  # noqa: E402

_CONV_CASES = [  # x shape, weight shape, bias, stride, padding, dilation, groups
    ((2, 3, 5, 5), (4, 3, 3, 3), True, (1, 1), (0, 0), (1, 1), 1),
    ((1, 2, 6, 5), (3, 2, 3, 2), False, (2, 1), (1, 2), (1, 1), 1),
    ((2, 4, 6, 6), (4, 2, 2, 3), True, (2, 2), (1, 0), (2, 1), 2),
    ((1, 3, 5, 4), (3, 1, 3, 3), True, (1, 1), (1, 1), (1, 1), 3),
]


def _conv_samples(rng):
    return [Sample((rng.standard_normal(xs), rng.standard_normal(ws)) + ((rng.standard_normal(ws[0]),) if b else ()),
                   dict(stride=s, padding=p, dilation=d, groups=g), note=f"x {xs}, W {ws}, s{s} p{p} d{d} g{g}")
            for xs, ws, b, s, p, d, g in _CONV_CASES]


register_op("conv2d", Conv2d.apply, _conv_samples)
