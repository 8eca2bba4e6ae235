"""Pooling layers with PyTorch's names, arguments and reprs: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d``.

No parameters; each forward calls the matching ``F.*`` function (which checks the input). The arguments
are checked when the layer is built, so a wrong one fails there, naming the layer.
"""

from __future__ import annotations

from .. import functional as F
from ..checks import check_pair
from ..engine.tensor import Tensor
from .module import Module

IntOrPair = int | tuple[int, int]


class _Pool2d(Module):
    """Shared by MaxPool2d and AvgPool2d: kernel_size, stride (default: kernel_size), padding."""

    def __init__(self, kernel_size: IntOrPair, stride: IntOrPair | None = None, padding: IntOrPair = 0):
        super().__init__()
        name = type(self).__name__
        if stride is not None:
            check_pair(stride, name, "stride")
        k, p = check_pair(kernel_size, name, "kernel_size"), check_pair(padding, name, "padding", minimum=0)
        if 2 * p[0] > k[0] or 2 * p[1] > k[1]:
            raise ValueError(f"{name}: padding {padding!r} must be at most half of kernel_size {kernel_size!r}")
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = kernel_size if stride is None else stride

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling (``torch.nn.MaxPool2d``): x (N, C, H, W) -> (N, C, OH, OW), OH = floor((H + 2 padding - KH)
    / stride) + 1; padding counts as -infinity; the gradient goes to the first maximum of each window."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """Average pooling (``torch.nn.AvgPool2d``, count_include_pad=True): shapes as ``MaxPool2d``; padded zeros
    count, every window divides by KH*KW."""

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Global average pooling (``torch.nn.AdaptiveAvgPool2d(1)``): x (N, C, H, W) -> (N, C, 1, 1).
    Only ``output_size`` 1 or (1, 1) is supported."""

    def __init__(self, output_size: IntOrPair):
        super().__init__()
        if check_pair(output_size, "AdaptiveAvgPool2d", "output_size") != (1, 1):
            raise ValueError(f"AdaptiveAvgPool2d: only output_size 1 or (1, 1) (global average pooling) is "
                             f"supported, got {output_size!r}")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
