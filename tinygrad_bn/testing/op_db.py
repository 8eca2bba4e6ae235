"""The op database: every differentiable op of the package with sample inputs (PyTorch's OpInfo idea).

``tests/test_registry.py`` runs :func:`tinygrad_bn.gradcheck` in float64 over every sample below and
fails if any ``Function`` defined in the package is reached by none. Each entry calls the op the way
a user does (an operator, a Tensor method or ``F.*``). Register your own ops the same way with
:func:`tinygrad_bn.testing.registry.register_op`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..engine.tensor import Tensor
from ..functional.reduce import normalize_axes
from .registry import Sample, away_from, register_op, samples_of

# ---- element-wise ------------------------------------------------------------------------------
_PAIRS = [((3, 4), (3, 4)), ((4, 1, 3), (2, 3)), ((3,), ()), ((), (2, 3)), ((0, 3), (3,))]
_UNARY = [(3, 4), (2, 1, 3), (), (5,)]


def _pairs(rng: np.random.Generator, positive_b: bool = False) -> list[Sample]:
    out = []
    for sa, sb in _PAIRS:
        b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1, 1], sb) if not positive_b else rng.uniform(0.5, 2.0, sb)
        out.append(Sample((rng.standard_normal(sa), b), note=f"{sa} with {sb}"))
    return out


register_op("add", lambda a, b: a + b, _pairs)
register_op("sub", lambda a, b: a - b, _pairs)
register_op("mul", lambda a, b: a * b, _pairs)
register_op("div", lambda a, b: a / b, _pairs)
register_op("neg", lambda x: -x, samples_of(_UNARY))
register_op("pow_scalar", lambda x: x**3, samples_of(_UNARY))
register_op("pow_scalar_half", lambda x: x**0.5, samples_of(_UNARY, low=0.5, high=2.0))
register_op("pow_scalar_square", lambda x: x**2, samples_of(_UNARY))
register_op("pow", lambda a, b: a**b, lambda rng: [Sample((rng.uniform(0.5, 2, s), rng.standard_normal(t)),
                                                           note=f"{s} ** {t}") for s, t in _PAIRS])
register_op("rpow", lambda x: 2.0**x, samples_of(_UNARY))
register_op("exp", lambda x: x.exp(), samples_of(_UNARY))
register_op("log", lambda x: x.log(), samples_of(_UNARY, low=0.2, high=3.0))
register_op("sqrt", lambda x: x.sqrt(), samples_of(_UNARY, low=0.2, high=3.0))
register_op("abs", lambda x: x.abs(), samples_of(_UNARY, transform=lambda x: away_from(x, 0.0)))
register_op("relu", lambda x: x.relu(), samples_of(_UNARY, transform=lambda x: away_from(x, 0.0)))
register_op("sigmoid", lambda x: x.sigmoid(), samples_of(_UNARY, scale=4.0))
register_op("tanh", lambda x: x.tanh(), samples_of(_UNARY, scale=2.0))
register_op("clip", lambda x: x.clip(-0.5, 0.7), samples_of(_UNARY, transform=lambda x: away_from(x, (-0.5, 0.7))))
register_op("clip_min_only", lambda x: x.clip(min=0.1), samples_of(_UNARY, transform=lambda x: away_from(x, 0.1)))
register_op("pow_scalar_zero", lambda x: x**0, samples_of([(3,), ()], transform=lambda x: x * (np.arange(x.size) % 2
                                                                                            ).reshape(x.shape)))
# To numpy's long double and back: both conversions are exact, so the check is as strict as for any op.
register_op("cast", lambda x: (x.to(np.longdouble) * 2).double(), samples_of(_UNARY))


# ---- reductions ----------------------------------------------------------------------------------
_CASES = [((3, 4), {}), ((3, 4), {"axis": 0}), ((2, 3, 4), {"axis": (0, 2)}),
          ((2, 3, 4), {"axis": -1, "keepdims": True}), ((5,), {"axis": 0}), ((), {})]


def _reduce_samples(distinct: bool = False, min_count: int = 0):
    def make(rng: np.random.Generator) -> list[Sample]:
        out = []
        for shape, kw in _CASES:
            n = int(np.prod(shape, dtype=np.int64))
            x = rng.permutation(n).reshape(shape) * 0.1 + rng.uniform(-0.01, 0.01, shape) if distinct \
                else rng.standard_normal(shape)
            axes = normalize_axes(kw.get("axis"), len(shape), "sample")
            if int(np.prod([shape[a] for a in axes], dtype=np.int64)) > min_count:
                out.append(Sample((np.asarray(x, dtype=np.float64),), dict(kw), note=f"{shape} {kw}"))
        return out

    return make


register_op("sum", lambda x, **kw: x.sum(**kw), _reduce_samples())
register_op("mean", lambda x, **kw: x.mean(**kw), _reduce_samples())
register_op("var", lambda x, **kw: x.var(**kw), _reduce_samples(min_count=1))
register_op("var_biased", lambda x, **kw: x.var(**kw, correction=0), _reduce_samples())
register_op("max", lambda x, **kw: x.max(**kw), _reduce_samples(distinct=True))
register_op("min", lambda x, **kw: x.min(**kw), _reduce_samples(distinct=True))
register_op("max_with_ties", lambda x: x.max(axis=1),
            lambda rng: [Sample((np.array([[1.0, 3.0, 3.0], [2.0, 0.5, -1.0]]),), note="tie split equally")],
            skip_gradgrad="at a tie the first derivative jumps (which element wins changes with any nudge), so "
            "finite differences of it do not exist; max and min are gradgradchecked away from ties")


# ---- shapes ---------------------------------------------------------------------------------------
def _one(shape: tuple[int, ...], **kw: object):
    return lambda rng: [Sample((rng.standard_normal(shape),), dict(kw), note=str(shape))]


register_op("reshape", lambda x: x.reshape(4, 6), _one((2, 3, 4)))
register_op("flatten", lambda x: x.flatten(1), _one((2, 3, 4)))
register_op("squeeze_unsqueeze", lambda x: x.squeeze(1).unsqueeze(0), _one((3, 1, 2)))
register_op("permute", lambda x: x.permute(2, 0, 1), _one((2, 3, 4)))
register_op("transpose_T", lambda x: x.T, _one((3, 5)))
register_op("expand", lambda x: x.expand(2, 3, 4), _one((3, 1)))
register_op("getitem_basic", lambda x: x[1:, ::2, None, 0], _one((3, 4, 2)))
register_op("getitem_int_array", lambda x: x[np.array([0, 2, 2, 1])], _one((3, 4)))
register_op("getitem_pairs", lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 0])], _one((2, 3)))
register_op("getitem_bool", lambda x: x[np.array([True, False, True])], _one((3, 2)))
register_op("concatenate", lambda a, b: F.concatenate([a, b], axis=1),
            lambda rng: [Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 1))))])
register_op("stack", lambda a, b: F.stack([a, b, a], axis=-1),
            lambda rng: [Sample((rng.standard_normal((2, 3)), rng.standard_normal((2, 3))))])


# ---- matrix products ------------------------------------------------------------------------------
def _mm_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 3), (3, 2)), ((3,), (3, 2)), ((4, 3), (3,)), ((3,), (3,)), ((2, 4, 3), (3, 5)),
             ((2, 1, 2, 3), (4, 3, 2))]
    return [Sample((rng.standard_normal(a), rng.standard_normal(b)), note=f"{a} @ {b}") for a, b in cases]


register_op("matmul", lambda a, b: a @ b, _mm_samples)
register_op("rmatmul_numpy", lambda b: np.ones((2, 3)) @ b, lambda rng: [Sample((rng.standard_normal((3, 4)),))])


def _linear_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 3), (2, 3), True), ((5, 3), (4, 3), False), ((2, 3, 4), (5, 4), True), ((3,), (2, 3), True),
             ((0, 3), (2, 3), True)]
    out = []
    for xs, ws, bias in cases:
        args = (rng.standard_normal(xs), rng.standard_normal(ws))
        args += (rng.standard_normal(ws[0]),) if bias else ()
        out.append(Sample(args, note=f"x {xs}, W {ws}, bias={bias}"))
    return out


register_op("linear", F.linear, _linear_samples)


# ---- softmax and losses ---------------------------------------------------------------------------
def _softmax_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((rng.standard_normal(s) * 2,), {"axis": a}, note=f"{s} axis={a}")
            for s, a in [((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((4,), 0)]]


def _ce_samples(rng: np.random.Generator) -> list[Sample]:
    out = []
    for n, c, red in [(5, 4, "mean"), (3, 7, "sum"), (4, 3, "none"), (1, 2, "mean")]:
        out.append(Sample((rng.standard_normal((n, c)) * 2, rng.integers(0, c, n)), {"reduction": red},
                          note=f"({n}, {c}) {red}"))
    return out


register_op("log_softmax", lambda x, axis: x.log_softmax(axis), _softmax_samples)
register_op("softmax", lambda x, axis: x.softmax(axis), _softmax_samples)
register_op("cross_entropy", F.cross_entropy, _ce_samples)
register_op("mse_loss", F.mse_loss, lambda rng: [Sample((rng.standard_normal((4, 3)), rng.standard_normal((4, 3))),
                                                      {"reduction": r}) for r in ("mean", "sum", "none")])


# ---- normalization --------------------------------------------------------------------------------
# Registry samples: batch norm 1d (N, C) and (N, C, L), 2d (N, C, H, W); affine on/off, weight or bias
# alone; train (with and without running statistics) and eval; layer norm; group norm.
def _x(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal values with a different scale and offset per channel (axis 1), as real activations have."""
    c = (1, shape[1], *[1] * (len(shape) - 2)) if len(shape) > 1 else shape
    return rng.standard_normal(shape) * rng.uniform(0.5, 2.0, c) + rng.standard_normal(c)


def _args(rng: np.random.Generator, x: np.ndarray, affine: str, pshape: tuple[int, ...]) -> tuple[Any, ...]:
    w = rng.uniform(0.5, 1.5, pshape) * rng.choice([-1, 1], pshape) if "w" in affine else None
    b = rng.standard_normal(pshape) if "b" in affine else None
    return (x, w, b) if b is not None else (x, w) if w is not None else (x,)


def _bn(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None, *, running: Any = None,
        **kwargs: Any) -> Tensor:
    stats = (None, None) if running is None else (Tensor(running[0].copy()), Tensor(running[1].copy()))
    return F.batch_norm(x, *stats, weight, bias, **kwargs)


def _bn_samples(rng: np.random.Generator) -> list[Sample]:
    out = []
    cases = [((8, 5), True, "wb", True), ((6, 4, 3), True, "wb", True), ((3, 4, 3, 2), True, "wb", True),
             ((8, 5), True, "", False), ((5, 3, 2), True, "w", True), ((4, 3, 2, 2), True, "b", False),
             ((8, 5), False, "wb", True), ((6, 4, 3), False, "", True), ((3, 4, 3, 2), False, "wb", True),
             ((5, 3), False, "w", True)]
    for shape, training, affine, track in cases:
        c = shape[1]
        running = (rng.standard_normal(c) * 0.5, rng.uniform(0.5, 2.0, c)) if track else None
        out.append(Sample(_args(rng, _x(rng, shape), affine, (c,)), {"training": training, "running": running},
                          note=f"{shape} {'train' if training else 'eval'} affine={affine or 'off'} track={track}"))
    # two values per channel (the fewest training allows), kept well apart so finite differences are smooth
    two = np.array([[-1.0, 0.6, 2.0], [1.0, -0.8, 0.1]]) + rng.uniform(-0.1, 0.1, (2, 3))
    out.append(Sample(_args(rng, two, "wb", (3,)), {"training": True}, note="(2, 3) two values per channel"))
    # a constant channel (zero variance): the sample's larger eps keeps the 5-point stencil's h = 1e-3
    # small against sqrt(eps), the scale on which x_hat bends there; default eps is tested in test_normalization
    const = _x(rng, (6, 3))
    const[:, 1] = 0.7
    out.append(Sample(_args(rng, const, "wb", (3,)), {"training": True, "eps": 0.1}, note="constant channel"))
    return out


def _ln_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 6), (6,), "wb"), ((3, 2, 4), (2, 4), "wb"), ((5, 4), 4, ""), ((2, 3, 4), (4,), "w"),
             ((3, 5), (5,), "b"), ((6,), 6, "wb")]
    return [Sample(_args(rng, _x(rng, s), a, (ns,) if isinstance(ns, int) else ns), {"normalized_shape": ns},
                   note=f"{s} normalized_shape={ns} affine={a or 'off'}") for s, ns, a in cases]


def _gn_samples(rng: np.random.Generator) -> list[Sample]:
    cases = [((4, 6), 2, "wb"), ((2, 6, 5), 2, "wb"), ((2, 4, 3, 2), 4, "wb"), ((3, 4, 5), 1, ""),
             ((2, 6, 3), 3, "w"), ((2, 4, 3), 2, "b")]
    return [Sample(_args(rng, _x(rng, s), a, (s[1],)), {"num_groups": g}, note=f"{s} groups={g} affine={a or 'off'}")
            for s, g, a in cases]


register_op("batch_norm", _bn, _bn_samples)
register_op("layer_norm", lambda x, w=None, b=None, *, normalized_shape: F.layer_norm(x, normalized_shape, w, b),
            _ln_samples)
register_op("group_norm", lambda x, w=None, b=None, *, num_groups: F.group_norm(x, num_groups, w, b), _gn_samples)


# ---- dropout family -------------------------------------------------------------------------------
# Registry samples (gradchecked in float64): every op in training and eval, p at 0 and 1, a few shapes.
def _samples(shapes: list[tuple[int, ...]], settings: list[dict[str, Any]]) -> Any:
    def make(rng: np.random.Generator) -> list[Sample]:
        out = []
        for kw in settings:
            for shape in shapes:
                kwargs = dict(kw)
                if kwargs.pop("own_generator", False):
                    kwargs["generator"] = np.random.default_rng(int(rng.integers(2**31)))
                out.append(Sample((rng.standard_normal(shape),), kwargs, note=f"{shape} {kw}"))
        return out

    return make


def _settings(param: str, values: list[float]) -> list[dict[str, Any]]:
    """Training at each value, once with its own generator, and eval (where the value is irrelevant)."""
    return ([{param: v, "training": True} for v in values] + [{param: values[-1], "own_generator": True}]
            + [{param: values[-1], "training": False}])


_ANY = [(3, 4), (2, 3, 2), (5,), ()]
register_op("dropout", lambda x, **kw: F.dropout(x, **kw), _samples(_ANY, _settings("p", [0.0, 1.0, 0.5])))
register_op("dropout1d", lambda x, **kw: F.dropout1d(x, **kw),
            _samples([(2, 3, 4), (3, 5)], _settings("p", [0.0, 1.0, 0.5])))
register_op("dropout2d", lambda x, **kw: F.dropout2d(x, **kw),
            _samples([(2, 3, 2, 2), (1, 4, 3, 1)], _settings("p", [0.0, 1.0, 0.5])))
register_op("gaussian_dropout", lambda x, **kw: F.gaussian_dropout(x, **kw),
            _samples(_ANY, _settings("p", [0.0, 0.9, 0.3])))
register_op("uout", lambda x, **kw: F.uout(x, **kw), _samples(_ANY, _settings("beta", [0.0, 1.0, 0.2])))
register_op("alpha_dropout", lambda x, **kw: F.alpha_dropout(x, **kw),
            _samples(_ANY, _settings("p", [0.0, 1.0, 0.5])))


# ---- convolution and pooling ------------------------------------------------------------------------
# (x shape, weight shape, bias, keyword arguments): stride, padding, dilation, groups, odd sizes, 1x1 kernels.
_CONV_CASES = [
    ((2, 3, 5, 5), (4, 3, 3, 3), True, {}),
    ((1, 2, 6, 5), (3, 2, 3, 2), False, {"stride": (2, 1), "padding": (1, 2)}),
    ((2, 4, 6, 6), (4, 2, 2, 3), True, {"stride": 2, "padding": (1, 0), "dilation": (2, 1), "groups": 2}),
    ((1, 3, 5, 4), (3, 1, 3, 3), True, {"padding": 1, "groups": 3}),                 # depthwise
    ((2, 2, 7, 3), (3, 2, 1, 1), True, {"stride": 3}),                              # 1x1, pixels skipped
    ((1, 2, 7, 7), (2, 2, 3, 3), False, {"stride": 2, "padding": 1, "dilation": 2}),
]


def _conv_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((rng.standard_normal(xs), rng.standard_normal(ws)) + ((rng.standard_normal(ws[0]),) if b else ()),
                   kw, note=f"x {xs}, weight {ws}, bias={b}, {kw}") for xs, ws, b, kw in _CONV_CASES]


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values at least 0.06 apart: no ties, so each window's maximum survives finite-difference steps."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.uniform(-0.02, 0.02, shape)


# (x shape, kernel_size, keyword arguments): default stride, overlapping windows, padding, odd sizes.
_POOL_CASES = [((2, 2, 4, 4), 2, {}), ((1, 2, 5, 6), (3, 2), {"stride": (2, 1), "padding": 1}),
               ((1, 1, 5, 5), 3, {"stride": 1, "padding": (1, 0)}), ((2, 1, 7, 5), (2, 3), {"stride": 3})]


def _pool_samples(rng: np.random.Generator) -> list[Sample]:
    return [Sample((_distinct(rng, xs),), {"kernel_size": k, **kw}, note=f"x {xs}, kernel_size {k}, {kw}")
            for xs, k, kw in _POOL_CASES]


register_op("conv2d", F.conv2d, _conv_samples)
register_op("conv2d_input_as_weight", lambda x: F.conv2d(x, x[:2, :, :2, :2], padding=1),
            lambda rng: [Sample((rng.standard_normal((3, 2, 4, 4)),), note="one tensor as input and weight")])
register_op("max_pool2d", F.max_pool2d, _pool_samples)
register_op("avg_pool2d", F.avg_pool2d, _pool_samples)
register_op("adaptive_avg_pool2d", F.adaptive_avg_pool2d,
            lambda rng: [Sample((rng.standard_normal(s),), {"output_size": o}, note=f"{s} -> {o}")
                         for s, o in [((2, 3, 4, 5), 1), ((1, 2, 1, 1), (1, 1))]])
