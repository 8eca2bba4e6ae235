"""The dropout family: ``F.dropout``, ``dropout1d``, ``dropout2d``, ``gaussian_dropout``, ``uout``,
``alpha_dropout``. Each checks its arguments, returns ``x`` itself in evaluation mode (or at rate 0),
and otherwise runs its primitive (``ops/dropout.py``: y = x * noise, grad_x = grad_output * noise)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_bool, check_number
from ..engine.tensor import Tensor, as_tensor
from ..ops import dropout as ops
from ..random import get_generator

_MEANING = {"p": "the probability of zeroing an element", "beta": "the half-width of the noise U(-beta, beta)"}


def check_rate(name: str, value: Any, param: str = "p", *, allow_one: bool = True) -> float:
    """``value`` as a float in [0, 1] (or [0, 1) if not ``allow_one``: the noise variance p / (1 - p) of
    Gaussian dropout is infinite at p = 1)."""
    meaning = _MEANING[param] if allow_one else "the dropout rate whose noise variance p / (1 - p) is used"
    return check_number(value, name, param, low=0.0, high=1.0, high_open=not allow_one, meaning=meaning)


def check_input(name: str, x: Any, ranks: tuple[int, ...] | None = None, layout: str = "", hint: str = "") -> Tensor:
    """``x`` as a Tensor; TypeError unless it is floating point, ValueError if its rank is not in ``ranks``."""
    x = as_tensor(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}; "
                        "convert first, e.g. tg.Tensor(x.data.astype(np.float32))")
    if ranks is not None and x.ndim not in ranks:
        raise ValueError(f"{name}: expected {layout}, got a {x.ndim}-D input of shape {x.shape}"
                         + (f"; {hint}" if hint else ""))
    return x


def apply_noise(op: type[ops._NoiseOp], name: str, x: Any, training: Any, generator: Any, *,
                ranks: tuple[int, ...] | None = None, layout: str = "", hint: str = "", **attrs: Any) -> Tensor:
    """Check the arguments, then ``x`` itself (eval, or rate 0) or ``op.apply(x, **attrs, generator=...)``.

    The identity returns the input Tensor itself, as PyTorch does: no copy, no graph node, and the
    gradient reaches x unchanged because y *is* x. (So ``y.data[...] = 0`` would also change x.)
    """
    x = check_input(name, x, ranks, layout, hint)
    param = "beta" if op is ops.Uout else "p"
    attrs[param] = check_rate(name, attrs[param], param, allow_one=op is not ops.GaussianDropout)
    check_bool(training, name, "training")
    if generator is not None:
        get_generator(generator, name)  # type check now, not only when a mask is drawn
    if not training or attrs[param] == 0.0:
        return x
    return op.apply(x, generator=generator, **attrs)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
            generator: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: in training zero each element with probability ``p``, scale the rest by 1/(1-p).

    x: any shape, floating point; y: same shape and dtype. ``training=False`` or ``p=0`` returns x
    itself (as PyTorch). ``p=1`` gives zeros and zero gradient. ``generator`` (a numpy Generator)
    fixes the mask; by default the one seeded by ``tg.manual_seed`` is used.
    """
    return apply_noise(ops.Dropout, "dropout", x, training, generator, p=p)


def dropout1d(x: Tensor, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for x of shape (N, C, L) or unbatched (C, L): whole channels zeroed, mask (N, C, 1)."""
    return apply_noise(ops.ChannelDropout, "dropout1d", x, training, generator, p=p, spatial_dims=1,
                                ranks=(2, 3), layout="a 3-D input (N, C, L) or a 2-D unbatched input (C, L)")


def dropout2d(x: Tensor, p: float = 0.5, training: bool = True, *,
              generator: np.random.Generator | None = None) -> Tensor:
    """Channel dropout for x of shape (N, C, H, W): whole channels zeroed, mask (N, C, 1, 1), kept ones scaled.

    Unlike PyTorch, a 3-D input raises ValueError: PyTorch treats it as (N, C, L) with a warning and
    plans to treat it as (C, H, W) later, so we refuse to guess (use ``dropout1d`` or add a batch axis).
    """
    return apply_noise(ops.ChannelDropout, "dropout2d", x, training, generator, p=p, spatial_dims=2,
                                ranks=(4,), layout="a 4-D input (N, C, H, W)",
                                hint="for (N, C, L) use dropout1d; for one unbatched image (C, H, W) add a batch "
                                "axis with x.reshape(1, C, H, W) (PyTorch guesses (N, C, L) for 3-D input, with a "
                                "warning, and plans to switch to (C, H, W); we do not guess)")


def gaussian_dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
                     generator: np.random.Generator | None = None) -> Tensor:
    """Multiply x by noise N(1, p/(1-p)) in training (the variance of dropout with rate p); identity in eval.

    p must be in [0, 1): at p = 1 the variance is infinite.
    """
    return apply_noise(ops.GaussianDropout, "gaussian_dropout", x, training, generator, p=p)


def uout(x: Tensor, beta: float = 0.1, training: bool = True, *,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uout (Li et al., CVPR 2019): x + x * r with r ~ U(-beta, beta) in training, identity in eval; beta in [0, 1]."""
    return apply_noise(ops.Uout, "uout", x, training, generator, beta=beta)


def alpha_dropout(x: Tensor, p: float = 0.5, training: bool = True, *,
                  generator: np.random.Generator | None = None) -> Tensor:
    """Alpha dropout for SELU networks, as ``torch.nn.functional.alpha_dropout``: dropped units go to SELU's
    saturation value and an affine correction keeps mean 0 and variance 1 for standardized inputs."""
    return apply_noise(ops.AlphaDropout, "alpha_dropout", x, training, generator, p=p)
