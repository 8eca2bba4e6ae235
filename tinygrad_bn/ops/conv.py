"""2-D convolution (cross-correlation, as in PyTorch) as im2col + matmul, col2im in the backward.

Shapes: x (N, C, H, W), weight (O, C/G, KH, KW), optional bias (O,) -> y (N, O, OH, OW), with G groups
and OH, OW from PyTorch's rule (``windows.out_size``). Dtypes: ``np.result_type(x, weight)``; float32
inputs give a float32 result and float32 gradients (float64 stays float64).

Forward
-------
Pad x, take the read-only (N, C, KH, KW, OH, OW) view of every window (stride tricks, no copy) and
copy it into the column matrix, in its natural order (so the copy reads x almost sequentially):

    cols[n, g, k, l] = xp[n, g C/G + c, oh SH + i DH, ow SW + j DW],   k = (c, i, j), l = (oh, ow)

shape (N, G, C/G KH KW, OH OW). With the weight seen as Wg (G, O/G, C/G KH KW), the convolution is a
matmul per sample and group, whose result already is y in (N, O, OH, OW) order (no transpose after):

    y[n, g, o, l] = sum_k Wg[g, o, k] cols[n, g, k, l] + b[g O/G + o]          (y_n = Wg cols_n + b)

Backward (write D for grad_output seen as (N, G, O/G, OH OW))
--------
    dWg[g, o, k] = sum_{n, l} D[n, g, o, l] cols[n, g, k, l]      ->  dWg = sum_n D_n cols_n^T
    dcols[n, g, k, l] = sum_o Wg[g, o, k] D[n, g, o, l]           ->  dcols_n = Wg^T D_n
    db[o] = sum_{n, l} D[n, o, l]
    dxp = col2im(dcols): each column entry is a copy of one padded pixel, so its gradient goes back
          there; a pixel read by several windows (overlap) receives the sum. One strided slice-add
          per tap (i, j) (``windows.add_taps``), then the padding is cropped off: dx = dxp[.., PH:PH+H, PW:PW+W].

Memory and speed: forward saves x and the weight, not the column matrix (KH*KW times larger than x);
backward gathers the columns again (a copy, cheap next to the matmuls). Both run over the batch in
chunks of samples (``batch_chunks``), so the columns and their gradient exist one chunk at a time and
stay in cache between gather, matmul and scatter. ``docs/cnn.md`` draws im2col and col2im, and
``benchmarks/conv.py`` measures the result against plain matmuls and PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..engine.function import Function, Node
from .windows import Pair, add_taps, crop2d, out_size, pad2d, tap_slices, window_view

Grads = tuple[np.ndarray | None, ...]


#: Forward and backward run over the batch in chunks of samples whose column matrix holds about this many
#: values (1 MB in float32): the columns and their gradient then stay in cache between the gather, the
#: matmul and the scatter, and the full column matrix never exists at once (see ``docs/cnn.md``).
CHUNK_VALUES = 1 << 18


def batch_chunks(n: int, per_sample: int) -> list[slice]:
    """Slices of ``range(n)`` of about ``CHUNK_VALUES // per_sample`` samples each (at least one)."""
    step = max(1, CHUNK_VALUES // max(per_sample, 1))
    return [slice(s, s + step) for s in range(0, n, step)]


def im2col(view: np.ndarray, groups: int) -> np.ndarray:
    """The column matrix (n, G, C/G KH KW, OH OW) of a window view (n, C, KH, KW, OH, OW): a new
    contiguous array in its natural order, ``cols[n, g, (c, i, j), (oh, ow)] = view[n, g C/G + c, i, j, oh, ow]``."""
    n, c, kh, kw, oh, ow = view.shape
    return view.reshape(n, groups, c // groups * kh * kw, oh * ow)


def windows_of(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    """The read-only window view (N, C, KH, KW, OH, OW) of x (N, C, H, W) padded with zeros."""
    out_hw = (out_size(x.shape[2], kernel[0], stride[0], padding[0], dilation[0]),
              out_size(x.shape[3], kernel[1], stride[1], padding[1], dilation[1]))
    return window_view(pad2d(x, padding), kernel, stride, dilation, out_hw)


class Conv2d(Function):
    """y = conv2d(x, weight) + bias; see the module docstring for the layout and the derivation.

    Inputs: x (N, C, H, W), weight (O, C/groups, KH, KW), optionally bias (O,). Attrs: ``stride``,
    ``padding``, ``dilation`` (pairs of ints), ``groups`` (int). Output: (N, O, OH, OW), dtype
    ``np.result_type(x, weight)``. Saved for backward: x and weight.
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *, stride: Pair,
                padding: Pair, dilation: Pair, groups: int) -> np.ndarray:
        n, o = x.shape[0], w.shape[0]
        view = windows_of(x, w.shape[2:], stride, padding, dilation)                 # (N, C, KH, KW, OH, OW)
        out_hw = view.shape[4:]
        k, l = w[0].size, out_hw[0] * out_hw[1]
        wg = w.reshape(groups, o // groups, k)                                        # (G, O/G, K)
        y = np.empty((n, groups, o // groups, l), dtype=np.result_type(x, w))
        for part in batch_chunks(n, groups * k * l):
            np.matmul(wg, im2col(view[part], groups), out=y[part])                   # y_n = Wg cols_n
        y = y.reshape(n, o, *out_hw)
        if b is not None:
            if y.dtype == np.result_type(y, b):
                y += b.reshape(1, o, 1, 1)                                            # in place on our fresh result
            else:
                y = y + b.reshape(1, o, 1, 1)
        ctx.save_for_backward(x, w)
        return y

    @staticmethod
    def backward(ctx: Node, g: np.ndarray) -> Grads:
        x, w = ctx.saved_tensors
        need = ctx.needs_input_grad
        if isinstance(g, np.ndarray):                                                 # one fused pass
            dx, dw = conv_grads(x, w, g, need[0], need[1], **ctx.attrs)
        else:                                                                         # create_graph: two ops
            dx = ConvInputGrad.apply(g, w, x_shape=x.shape, **ctx.attrs) if need[0] else None
            dw = ConvWeightGrad.apply(x, g, w_shape=w.shape, **ctx.attrs) if need[1] else None
        if len(need) == 2:
            return dx, dw
        return dx, dw, (g.sum(axis=(0, 2, 3)) if need[2] else None)


def conv_grads(x: np.ndarray | tuple[int, ...], w: np.ndarray | tuple[int, ...], g: np.ndarray, need_x: bool,
               need_w: bool, *, stride: Pair, padding: Pair, dilation: Pair, groups: int) -> tuple:
    """(dx, dw) of y = conv2d(x, w) for grad_output g, in one chunked pass (None where not needed); x may
    be just its shape when only dx is needed, w just its shape when only dw is."""
    x_shape, w_shape = (s if isinstance(s, tuple) else s.shape for s in (x, w))
    (n, o, oh, ow), (_, cg, kh, kw) = g.shape, w_shape
    og, k, l = o // groups, cg * kh * kw, oh * ow
    view = windows_of(x, (kh, kw), stride, padding, dilation) if need_w else None
    g4 = g.reshape(n, groups, og, l)                                              # (N, G, O/G, L)
    dwg = np.zeros((groups, og, k), dtype=np.result_type(g, x)) if need_w else None
    dxp = wt = None
    if need_x:
        # Wg^T with its rows in (i, j, c) order: dcols then comes out tap-major, (n, G, KH, KW, C/G, L),
        # so each tap's slab that col2im adds into dx is contiguous per sample (in (c, i, j) order it is strided)
        wt = w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, kh * kw * cg, og)
        padded = (x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1])
        dxp = np.zeros((n, groups, cg, *padded), dtype=np.result_type(w, g))
        taps = tap_slices((kh, kw), stride, dilation, (oh, ow))
    for part in batch_chunks(n, groups * k * l):
        gp = g4[part]
        if need_w:
            dwg += np.matmul(gp, im2col(view[part], groups).transpose(0, 1, 3, 2)).sum(axis=0)
        if need_x:
            dcols = np.matmul(wt, gp).reshape(gp.shape[:2] + (kh, kw, cg, oh, ow))
            add_taps(dxp[part], taps, lambda t, d=dcols: d[:, :, t // kw, t % kw])  # col2im
    dx = None if dxp is None else crop2d(dxp.reshape(x_shape[:2] + dxp.shape[3:]), padding, x_shape[2:])
    return dx, None if dwg is None else dwg.reshape(w_shape)


class ConvInputGrad(Function):
    """dx = I(g, w) = C_x^T g: the input gradient of y = C(x, w) = conv2d(x, w), as an op of its own (what
    Conv2d's backward applies under create_graph). Inputs g (N, O, OH, OW), w; attrs as Conv2d's plus
    ``x_shape``. Bilinear in (g, w); from <u, I(g, w)> = <C(u, w), g>, with u its grad_output:

        grad_g = C(u, w) = conv2d(u, w),        grad_w = W(u, g)   (``ConvWeightGrad``)
    """

    @staticmethod
    def forward(ctx: Node, g: np.ndarray, w: np.ndarray, *, x_shape: tuple[int, ...], **attrs: object) -> np.ndarray:
        ctx.save_for_backward(g, w)
        return conv_grads(x_shape, w, g, True, False, **attrs)[0]

    @staticmethod
    def backward(ctx: Node, u: np.ndarray) -> Grads:
        g, w = ctx.saved_tensors
        attrs = {k: v for k, v in ctx.attrs.items() if k != "x_shape"}
        need = ctx.needs_input_grad
        return (Conv2d.apply(u, w, **attrs) if need[0] else None,
                ConvWeightGrad.apply(u, g, w_shape=w.shape, **attrs) if need[1] else None)


class ConvWeightGrad(Function):
    """dw = W(x, g) = C_w^T g: the weight gradient of y = C(x, w), as an op of its own. Inputs x, g;
    attrs as Conv2d's plus ``w_shape``. Bilinear in (x, g); from <U, W(x, g)> = <C(x, U), g>:

        grad_x = I(g, U)   (``ConvInputGrad``),        grad_g = C(x, U) = conv2d(x, U)
    """

    @staticmethod
    def forward(ctx: Node, x: np.ndarray, g: np.ndarray, *, w_shape: tuple[int, ...], **attrs: object) -> np.ndarray:
        ctx.save_for_backward(x, g)
        return conv_grads(x, w_shape, g, False, True, **attrs)[1]

    @staticmethod
    def backward(ctx: Node, u: np.ndarray) -> Grads:
        x, g = ctx.saved_tensors
        attrs = {k: v for k, v in ctx.attrs.items() if k != "w_shape"}
        need = ctx.needs_input_grad
        return (ConvInputGrad.apply(g, u, x_shape=x.shape, **attrs) if need[0] else None,
                Conv2d.apply(x, u, **attrs) if need[1] else None)
