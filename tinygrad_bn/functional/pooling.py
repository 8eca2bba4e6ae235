"""2-D pooling: ``F.max_pool2d``, ``F.avg_pool2d``, ``F.adaptive_avg_pool2d`` check their arguments, then
run the primitives of ``ops/pool.py``."""

from __future__ import annotations

from typing import Any

from ..checks import check_pair
from ..engine.tensor import Tensor
from ..ops.pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .conv import IntOrPair, check_fits, image_batch


def _window_args(owner: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any) -> dict[str, tuple[int, int]]:
    """kernel_size, stride (None: kernel_size) and padding as checked pairs, with PyTorch's rules."""
    kernel = check_pair(kernel_size, owner, "kernel_size")
    stride = kernel if stride is None else check_pair(stride, owner, "stride")
    padding = check_pair(padding, owner, "padding", minimum=0)
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise ValueError(f"{owner}: padding {padding} must be at most half of kernel_size {kernel}")
    check_fits(owner, x.shape, kernel, padding)
    return dict(kernel_size=kernel, stride=stride, padding=padding)


def max_pool2d(input: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """The maximum of each window, as ``torch.nn.functional.max_pool2d``: (N, C, H, W) -> (N, C, OH, OW),
    OH = floor((H + 2 padding - KH) / stride) + 1. ``stride`` defaults to ``kernel_size``; padding (at most
    half the kernel) counts as -infinity. The gradient goes to the first maximum of each window."""
    x = image_batch(input, "max_pool2d")
    return MaxPool2d.apply(x, **_window_args("max_pool2d", x, kernel_size, stride, padding))


def avg_pool2d(input: Any, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0) -> Tensor:
    """The mean of each window, as ``torch.nn.functional.avg_pool2d`` with its default
    ``count_include_pad=True``: padded zeros count, every window divides by KH*KW. Shapes as ``max_pool2d``."""
    x = image_batch(input, "avg_pool2d")
    return AvgPool2d.apply(x, **_window_args("avg_pool2d", x, kernel_size, stride, padding))


def adaptive_avg_pool2d(input: Any, output_size: IntOrPair) -> Tensor:
    """Global average pooling, (N, C, H, W) -> (N, C, 1, 1): ``output_size`` must be 1 or (1, 1)
    (other output sizes are not supported)."""
    x = image_batch(input, "adaptive_avg_pool2d")
    size = check_pair(output_size, "adaptive_avg_pool2d", "output_size")
    if size != (1, 1):
        raise ValueError(f"adaptive_avg_pool2d: only output_size 1 or (1, 1) (global average pooling) is supported, "
                         f"got {output_size!r}; for other sizes use avg_pool2d with a matching kernel_size and stride")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"adaptive_avg_pool2d: cannot average over an empty plane, got input of shape {x.shape}")
    return GlobalAvgPool2d.apply(x)
