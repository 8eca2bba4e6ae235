"""Dropout layers: ``Dropout``, ``Dropout1d``, ``Dropout2d``, ``GaussianDropout``, ``Uout``, ``AlphaDropout``.

Each layer is noise in training and the identity in evaluation: ``layer.train()`` / ``layer.eval()``
(or the same call on any parent module) switches it. The layer calls the matching ``F.*`` function
with ``training=self.training``; the math, the backward rule and the argument checks live in
``tinygrad_bn/ops/dropout.py`` (see docs/dropout.md). The rate is checked when the layer is built
(the error names the layer) and again on every call (in case it was changed since).

Unlike PyTorch there is no ``inplace=`` option: our ops never overwrite their input. Each layer
takes ``generator=`` (a ``numpy.random.Generator``) to get its own reproducible stream of masks;
without one it uses the default generator that ``tg.manual_seed`` resets.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import functional as F
from ..engine.tensor import Tensor
from ..functional.dropout import check_rate
from ..random import get_generator
from .module import Module


class _Noise(Module):
    """Shared body: one rate (``p`` or ``beta``), an optional generator, forward = ``F.<fn>``."""

    _param = "p"
    _allow_one = True
    _fn: Callable[..., Tensor]

    def __init__(self, rate: float, generator: np.random.Generator | None = None):
        super().__init__()
        name = type(self).__name__
        setattr(self, self._param, check_rate(name, rate, self._param, allow_one=self._allow_one))
        get_generator(generator, name)  # type check
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x, getattr(self, self._param), self.training, generator=self.generator)

    def extra_repr(self) -> str:
        return f"{self._param}={getattr(self, self._param)}"


class Dropout(_Noise):
    """Inverted dropout (``torch.nn.Dropout``). In training each element of x (any shape) is zeroed with
    probability ``p`` and the rest are scaled by 1/(1-p); in eval the input is returned unchanged."""

    _fn = staticmethod(F.dropout)

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__(p, generator)


class Dropout1d(_Noise):
    """Channel dropout (``torch.nn.Dropout1d``): x (N, C, L) or (C, L); whole channels zeroed, mask (N, C, 1)."""

    _fn = staticmethod(F.dropout1d)

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__(p, generator)


class Dropout2d(_Noise):
    """Channel dropout (``torch.nn.Dropout2d``): x (N, C, H, W); whole feature maps zeroed, mask (N, C, 1, 1).

    3-D input raises ValueError (PyTorch guesses; see ``F.dropout2d``)."""

    _fn = staticmethod(F.dropout2d)

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__(p, generator)


class GaussianDropout(_Noise):
    """Multiplicative Gaussian noise N(1, p/(1-p)) in training, identity in eval; p in [0, 1)."""

    _fn = staticmethod(F.gaussian_dropout)
    _allow_one = False

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__(p, generator)


class Uout(_Noise):
    """Uout (Li et al., CVPR 2019): x + x * r, r ~ U(-beta, beta) in training, identity in eval; beta in [0, 1].

    The default beta = 0.1 is our choice of a small perturbation, not a value prescribed by the paper."""

    _fn = staticmethod(F.uout)
    _param = "beta"

    def __init__(self, beta: float = 0.1, generator: np.random.Generator | None = None):
        super().__init__(beta, generator)


class AlphaDropout(_Noise):
    """Alpha dropout for SELU networks (``torch.nn.AlphaDropout``): keeps mean 0 and variance 1 of
    standardized inputs in training; identity in eval."""

    _fn = staticmethod(F.alpha_dropout)

    def __init__(self, p: float = 0.5, generator: np.random.Generator | None = None):
        super().__init__(p, generator)
