"""The convolution layer ``Conv2d``, with PyTorch's arguments, initialization, parameter names and repr.

``Conv2d(in_channels, out_channels, kernel_size)`` holds weight (out_channels, in_channels/groups, KH, KW)
and bias (out_channels,), float32 unless ``dtype=`` says otherwise, initialized as PyTorch does: weight
by ``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = in_channels/groups * KH * KW, and bias by the same uniform. Both draw from the default generator
(``tg.manual_seed``) unless given ``generator=``. The math lives in ``ops/conv.py`` (see docs/cnn.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..checks import check_float_dtype, check_int, check_pair
from ..engine.tensor import Tensor
from . import init
from .module import Module, Parameter

IntOrPair = int | tuple[int, int]


class Conv2d(Module):
    """2-D convolution layer (``torch.nn.Conv2d``): x (N, in_channels, H, W) -> (N, out_channels, OH, OW),
    OH = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1 (the same for OW)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntOrPair, stride: IntOrPair = 1,
                 padding: IntOrPair = 0, dilation: IntOrPair = 1, groups: int = 1, bias: bool = True, *,
                 dtype: Any = None, generator: np.random.Generator | None = None):
        super().__init__()
        self.in_channels = check_int(in_channels, "Conv2d", "in_channels")
        self.out_channels = check_int(out_channels, "Conv2d", "out_channels")
        self.kernel_size = check_pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = check_pair(stride, "Conv2d", "stride")
        self.padding = check_pair(padding, "Conv2d", "padding", minimum=0)
        self.dilation = check_pair(dilation, "Conv2d", "dilation")
        self.groups = check_int(groups, "Conv2d", "groups")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"Conv2d: in_channels ({self.in_channels}) and out_channels ({self.out_channels}) "
                             f"must both be divisible by groups ({self.groups})")
        dt = check_float_dtype(dtype, "Conv2d")
        shape = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        self.weight = Parameter(np.empty(shape, dt))
        self.register_parameter("bias", Parameter(np.empty(self.out_channels, dt)) if bias else None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            init.uniform_(self.bias, -1 / math.sqrt(self.weight[0].size), 1 / math.sqrt(self.weight[0].size),
                          generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        params = self._parameters
        return F.conv2d(x, params["weight"], params["bias"], self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += f", padding={self.padding}" if self.padding != (0, 0) else ""
        s += f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        s += f", groups={self.groups}" if self.groups != 1 else ""
        return s + (", bias=False" if self.bias is None else "")
