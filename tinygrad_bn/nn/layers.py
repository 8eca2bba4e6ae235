"""Basic layers with PyTorch's names, defaults and reprs: ``Linear``, ``Sequential``, ``Flatten``,
``ReLU``, ``Sigmoid``, ``Tanh``, ``Identity``.

``Linear(in_features, out_features)`` holds weight (out_features, in_features) and bias (out_features,),
float32 unless ``dtype=`` says otherwise, initialized as PyTorch does: weight by
``kaiming_uniform_(a=sqrt(5))``, i.e. U(-1/sqrt(in_features), 1/sqrt(in_features)), and bias by the same
uniform. Both draw from the default generator (``tg.manual_seed``) unless given ``generator=``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import functional as F
from ..checks import check_float_dtype, check_int
from ..engine.tensor import Tensor
from . import init
from .module import Module, Parameter


class Linear(Module):
    """y = x @ weight.T + bias: x (..., in_features) -> y (..., out_features), same dtype as the parameters."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, dtype: Any = None,
                 generator: np.random.Generator | None = None):
        super().__init__()
        self.in_features = check_int(in_features, "Linear", "in_features", minimum=0)
        self.out_features = check_int(out_features, "Linear", "out_features", minimum=0)
        dt = check_float_dtype(dtype, "Linear")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dt))
        self.register_parameter("bias", Parameter(np.empty(self.out_features, dt)) if bias else None)
        self.reset_parameters(generator)

    def reset_parameters(self, generator: np.random.Generator | None = None) -> None:
        """PyTorch's default: weight ~ kaiming_uniform_(a=sqrt(5)), bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=generator)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound, generator=generator)

    def forward(self, x: Tensor) -> Tensor:
        shape = getattr(x, "shape", None)
        if shape is None or len(shape) < 1 or shape[-1] != self.in_features:
            raise ValueError(f"{self!r}: expected input of shape (..., {self.in_features}), got "
                             f"{shape if shape is not None else type(x).__name__}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Sequential(Module):
    """Modules applied in order; children are named "0", "1", ... (or by the keys of an OrderedDict).

    ``seq[i]`` is a child (negative ``i`` counts from the end), ``seq[a:b]`` a new Sequential of the
    same (shared) children, ``len(seq)``, ``for m in seq``, ``seq.append(m)``.
    """

    def __init__(self, *modules: Module | OrderedDict[str, Module]):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, m in items:
            self._check(m, name)
            self.add_module(name, m)

    @staticmethod
    def _check(m: Any, where: str) -> None:
        if not isinstance(m, Module):
            raise TypeError(f"Sequential: element {where} must be a Module, got {type(m).__name__}")

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by the current length); returns self."""
        self._check(module, str(len(self)))
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx: int | slice) -> Module:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        if not isinstance(idx, (int, np.integer)) or isinstance(idx, bool):
            raise TypeError(f"Sequential: indices must be integers or slices, got {type(idx).__name__}")
        if not -len(items) <= idx < len(items):
            raise IndexError(f"Sequential: index {idx} is out of range for {len(items)} module(s)")
        return items[idx][1]

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x


class Flatten(Module):
    """Merge dims ``start_dim`` .. ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for what, v in (("start_dim", start_dim), ("end_dim", end_dim)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
                raise TypeError(f"Flatten: {what} must be an integer, got {v!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Tensor) -> Tensor:
        nd = max(x.ndim, 1)
        s, e = self.start_dim, self.end_dim
        if not (-nd <= s < nd and -nd <= e < nd) or s % nd > e % nd:
            raise ValueError(f"{self!r}: cannot flatten dims {s}..{e} of an input of shape {x.shape}")
        return x.flatten(s, e)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ReLU(Module):
    """max(x, 0), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x), element-wise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Identity(Module):
    """Returns its input unchanged (arguments to the constructor are accepted and ignored, as PyTorch)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
