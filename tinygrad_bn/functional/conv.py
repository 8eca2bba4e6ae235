"""2-D convolution: ``F.conv2d`` checks its arguments, then runs the ``Conv2d`` primitive (``ops/conv.py``).

Also the checks every 2-D window op shares (``image_batch``, ``check_fits``), used by ``functional/pooling.py``.
"""

from __future__ import annotations

from typing import Any

from ..checks import check_int, check_pair
from ..engine.tensor import Tensor, as_tensor
from ..ops.conv import Conv2d

IntOrPair = int | tuple[int, int]


def image_batch(x: Any, owner: str, name: str = "input") -> Tensor:
    """``x`` as a Tensor of shape (N, C, H, W) and a floating-point dtype; TypeError/ValueError otherwise."""
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a floating-point {name}, got dtype {x.dtype}; convert integer data "
                        "first, e.g. x.float()")
    if x.ndim != 4:
        hint = " (a single image (C, H, W)? add the batch axis with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"{owner}: expected {name} of shape (N, C, H, W), got shape {x.shape}{hint}")
    return x


def check_fits(owner: str, shape: tuple[int, ...], kernel: tuple[int, int], padding: tuple[int, int],
               dilation: tuple[int, int] = (1, 1)) -> None:
    """ValueError unless the (dilated) kernel fits in the padded (H, W) of an (N, C, H, W) ``shape``,
    i.e. unless the output has at least one row and one column."""
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + 2 * p for n, p in zip(shape[2:], padding))
    if span[0] > padded[0] or span[1] > padded[1]:
        dilated = f" (dilated to {span[0]}x{span[1]})" if tuple(dilation) != (1, 1) else ""
        raise ValueError(f"{owner}: kernel {kernel[0]}x{kernel[1]}{dilated} is larger than the padded input "
                         f"{padded[0]}x{padded[1]} (input {shape}, padding {padding}): the output would be empty")


def conv2d(input: Any, weight: Any, bias: Any = None, stride: IntOrPair = 1, padding: IntOrPair = 0,
           dilation: IntOrPair = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) as ``torch.nn.functional.conv2d``.

    input (N, C, H, W), weight (O, C/groups, KH, KW), bias (O,) or None -> (N, O, OH, OW) with
    OH = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1 (the same for OW). ``stride``,
    ``padding`` and ``dilation`` are an int or an (height, width) pair; ``groups`` splits the channels
    into independent convolutions (groups = C: depthwise). All arrays must share one floating-point dtype.
    """
    x = image_batch(input, "conv2d")
    w = as_tensor(weight)
    params = (w,) if bias is None else (w, as_tensor(bias))
    for name, t in zip(("weight", "bias"), params):
        if t.dtype != x.dtype:
            raise TypeError(f"conv2d: expected {name} of the input's dtype {x.dtype}, got dtype {t.dtype}")
    if w.ndim != 4:
        raise ValueError(f"conv2d: expected weight of shape (out_channels, in_channels/groups, KH, KW), got shape "
                         f"{w.shape}")
    stride, dilation = check_pair(stride, "conv2d", "stride"), check_pair(dilation, "conv2d", "dilation")
    padding = check_pair(padding, "conv2d", "padding", minimum=0)
    groups = check_int(groups, "conv2d", "groups")
    c, o = x.shape[1], w.shape[0]
    if c % groups or o % groups:
        raise ValueError(f"conv2d: in_channels ({c}) and out_channels ({o}) must both be divisible by groups "
                         f"({groups}); input {x.shape}, weight {w.shape}")
    if w.shape[1] * groups != c:
        raise ValueError(f"conv2d: input {x.shape} has {c} channel(s), but weight {w.shape} with groups={groups} "
                         f"expects {w.shape[1] * groups} (weight.shape[1] * groups)")
    if w.size == 0:
        raise ValueError(f"conv2d: weight {w.shape} is empty; expected positive out_channels and kernel size")
    if bias is not None and params[1].shape != (o,):
        raise ValueError(f"conv2d: expected bias of shape ({o},) for weight {w.shape}, got shape {params[1].shape}")
    check_fits("conv2d", x.shape, w.shape[2:], padding, dilation)
    return Conv2d.apply(x, *params, stride=stride, padding=padding, dilation=dilation, groups=groups)
