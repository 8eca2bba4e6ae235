"""Property-based tests of the backward engine: random expression graphs against central differences.

A graph is drawn by hypothesis while it is built once on concrete float64 values: every step is a
closure over the choices made (axes, shifts away from kinks, rescalings), so the same graph can be
replayed on perturbed leaves for finite differences, in float32, or for a second backward. Every
intermediate is kept within [-3, 3] (a recorded rescale), kinks of relu/abs/max/min and nearly
constant rows under normalization are avoided by recorded decisions: a mismatch is a real bug.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
import tinygrad_bn.functional as F

SHAPES = [(), (1,), (3,), (2, 1), (1, 3), (2, 3, 4)]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


def numeric_grads(f, arrays: list[np.ndarray], eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences of the scalar f() w.r.t. every element of ``arrays`` (perturbed in place)."""
    out = []
    for a in arrays:
        g = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + eps
            up = f()
            a[i] = old - eps
            down = f()
            a[i] = old
            g[i] = (up - down) / (2 * eps)
        out.append(g)
    return out


SHIFTS = sorted(np.linspace(-1, 1, 101), key=abs)  # 48 values block at most 96 of these 101


def kink_shift(v: np.ndarray) -> float:
    """The smallest shift s in [-1, 1] with every |v - s| >= 0.01: relu(x - s) / abs(x - s) avoid the kink."""
    return float(next(s for s in SHIFTS if v.size == 0 or np.min(np.abs(v - s)) >= 0.01))


def broadcast_partner(data, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape broadcasting with ``shape``: a suffix of it, some dims set to 1, some of its 1s set to 2."""
    k = data.draw(st.integers(0, len(shape)))
    return tuple(data.draw(st.sampled_from([1, 2] if n == 1 else [n, 1])) for n in shape[len(shape) - k:])


def broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        return int(np.prod(np.broadcast_shapes(a, b))) <= 96
    except ValueError:
        return False


class Graph:
    """Records steps (closures over input node indices) while building; ``replay`` rebuilds them."""

    def __init__(self, data, seed: int):
        self.data, self.rng = data, np.random.default_rng(seed)
        self.leaves: list[np.ndarray] = []
        self.steps: list[tuple] = []
        self.nodes: list[tg.Tensor] = []
        self.used: set[int] = set()

    def draw(self, strategy):
        return self.data.draw(strategy)
    def leaf(self, shape: tuple[int, ...]) -> int:
        self.leaves.append(self.rng.uniform(-2, 2, shape))
        self.steps.append(("leaf", len(self.leaves) - 1))
        self.nodes.append(tg.Tensor(self.leaves[-1].copy(), requires_grad=True))
        return len(self.nodes) - 1

    def val(self, i: int) -> np.ndarray:
        return self.nodes[i].data

    def apply(self, fn, *idxs: int) -> bool:
        out = fn(*[self.nodes[i] for i in idxs])
        m = float(np.max(np.abs(out.data), initial=0.0))
        if m > 3:  # keep every node bounded: a recorded rescale, part of the same step (the raw result is no node)
            c, unscaled = 3.0 / m, fn
            fn, out = (lambda *xs: unscaled(*xs) * c), out * c
        self.steps.append((fn, idxs))
        self.nodes.append(out)
        self.used.update(idxs)
        return True

    def partner(self, i: int, same_shape: bool = False) -> int:
        """The node itself, an earlier node of a fitting shape (shared subexpression), or a new leaf."""
        shape = self.val(i).shape
        fits = [j for j, t in enumerate(self.nodes)
                if t.shape == shape or not same_shape and broadcasts(t.shape, shape)]
        how = self.draw(st.sampled_from(["self", "earlier", "leaf"]))
        if how != "leaf":
            return i if how == "self" else self.draw(st.sampled_from(fits))
        return self.leaf(shape if same_shape else broadcast_partner(self.data, shape))

    def axis(self, i: int, allow_none: bool = True):
        nd = self.val(i).ndim
        choices = ([None] if allow_none else []) + list(range(-nd, nd))
        if nd >= 2:
            choices.append((0, nd - 1))
        return self.draw(st.sampled_from(choices))


# ---- the ops: each returns False when it does not apply to node i ----------------------------------
def _unary(g: Graph, i: int) -> bool:
    kind = g.draw(st.sampled_from(["neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "pow", "clip",
                                   "rpow"]))
    if kind in ("relu", "abs"):
        s = kink_shift(g.val(i))
        return g.apply((lambda x: (x - s).relu()) if kind == "relu" else (lambda x: (x - s).abs()), i)
    if kind == "clip":
        lo = kink_shift(g.val(i))
        hi = lo + 1.5 + kink_shift(g.val(i) - lo - 1.5)  # both bounds away from every value
        return g.apply(lambda x: x.clip(lo, hi), i)
    if kind == "pow":
        p = g.draw(st.sampled_from([2, 3, 0.5, -1.5, 2.5]))
        return g.apply((lambda x: x ** p) if p in (2, 3) else (lambda x: (x * x + 0.5) ** p), i)
    fns = {"neg": lambda x: -x, "exp": lambda x: x.exp(), "log": lambda x: (x * x + 0.5).log(),
           "sqrt": lambda x: (x * x + 0.1).sqrt(), "tanh": lambda x: x.tanh(), "sigmoid": F.sigmoid,
           "rpow": lambda x: 2.0**x}
    return g.apply(fns[kind], i)


def _binary(g: Graph, i: int) -> bool:
    kind = g.draw(st.sampled_from(["add", "sub", "mul", "div", "pow"]))
    j = g.partner(i)
    fns = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
           "div": lambda a, b: a / (b * b + 0.5), "pow": lambda a, b: (a * a + 0.5) ** b}
    return g.apply(fns[kind], i, j)


def _reduce(g: Graph, i: int) -> bool:
    kind = g.draw(st.sampled_from(["sum", "mean", "var", "max", "min"]))
    axis, keep = g.axis(i), g.draw(st.booleans())
    v = g.val(i)
    axes = tuple(range(v.ndim)) if axis is None else tuple(a % v.ndim for a in np.atleast_1d(axis))
    count = int(np.prod([v.shape[a] for a in axes]))
    if kind in ("max", "min") and count > 1:
        rows = np.sort(np.moveaxis(v, axes, range(-len(axes), 0)).reshape(-1, count), axis=-1)
        gap = rows[:, -1] - rows[:, -2] if kind == "max" else rows[:, 1] - rows[:, 0]
        if gap.min() < 1e-3:  # a tie: the derivative does not exist there
            return False
    if kind == "var":
        c = 1 if count > 1 else 0
        return g.apply(lambda x: x.var(axis=axis, keepdims=keep, correction=c), i)
    return g.apply(lambda x: getattr(x, kind)(axis=axis, keepdims=keep), i)


def _shape(g: Graph, i: int) -> bool:
    v = g.val(i)
    kind = g.draw(st.sampled_from(["reshape", "permute", "expand", "getitem"]))
    if kind == "reshape":
        shape = g.draw(st.sampled_from([(v.size,), (1, v.size), (v.size, 1), v.shape[::-1], (-1,)]))
        views = [lambda x: x.reshape(*shape), lambda x: x.flatten(), lambda x: x.unsqueeze(0).squeeze()]
        return g.apply(g.draw(st.sampled_from(views)), i)
    if kind == "permute":
        dims = g.draw(st.permutations(range(v.ndim)))
        return v.ndim >= 2 and g.apply(lambda x: x.permute(*dims), i)
    if kind == "expand":
        shape = (2, *[2 if n == 1 else n for n in v.shape])
        return int(np.prod(shape)) <= 48 and g.apply(lambda x: x.expand(*shape), i)
    idx = g.draw(st.sampled_from([0, -1, slice(None, None, -1), [0, 0, -1], (Ellipsis, slice(0, 1)), v > 0]))
    empty = isinstance(idx, np.ndarray) and not idx.any()
    return v.ndim > 0 and not empty and g.apply(lambda x: x[idx], i)


def _combine(g: Graph, i: int) -> bool:
    v = g.val(i)
    kind = g.draw(st.sampled_from(["matmul", "concatenate", "stack", "softmax", "log_softmax", "linear", "mse_loss",
                                   "cross_entropy"]))
    if kind == "mse_loss":
        red = g.draw(st.sampled_from(["mean", "sum", "none"]))
        return g.apply(lambda a, b: F.mse_loss(a, b, reduction=red), i, g.partner(i, same_shape=True))
    if kind == "cross_entropy":
        targets = g.rng.integers(0, v.shape[-1], v.shape[:1]) if v.ndim == 2 else None
        return targets is not None and g.apply(lambda x: F.cross_entropy(x, targets), i)
    if kind in ("concatenate", "stack"):
        if kind == "concatenate" and v.ndim == 0:
            return False
        j = g.partner(i, same_shape=True)
        axis = g.draw(st.integers(0, v.ndim if kind == "stack" else v.ndim - 1))
        fn = tg.stack if kind == "stack" else tg.concatenate
        return g.apply(lambda a, b: fn([a, b], axis=axis), i, j)
    if v.ndim == 0:
        return False
    if kind in ("softmax", "log_softmax"):
        axis = g.axis(i, allow_none=False)
        return isinstance(axis, int) and g.apply(lambda x: getattr(F, kind)(x, axis), i)
    k = v.shape[-1]
    if kind == "matmul":
        if v.ndim == 2 and g.draw(st.booleans()):  # the same tensor twice in one op
            return g.apply(lambda x: x @ x.T, i)
        return g.apply(lambda a, b: a @ b, i, g.leaf((k, 2)))
    w, b = g.leaf((2, k)), g.leaf((2,))
    return g.apply(lambda x, w, b: F.linear(x, w, b), i, w, b)


NOISE = {"dropout": {"p": 0.3}, "dropout1d": {"p": 0.3}, "gaussian_dropout": {"p": 0.3}, "uout": {"beta": 0.2},
         "alpha_dropout": {"p": 0.3}}


def _normalize(g: Graph, i: int) -> bool:
    v = g.val(i)
    kind = g.draw(st.sampled_from([*NOISE, "layer_norm", "batch_norm", "group_norm"]))
    if kind in NOISE:  # a fixed generator: the same noise on every replay
        seed, kw = g.draw(st.integers(0, 2**16)), NOISE[kind]
        fn = getattr(F, kind)
        ok = kind != "dropout1d" or v.ndim in (2, 3)
        return ok and g.apply(lambda x: fn(x, **kw, generator=np.random.default_rng(seed)), i)
    if v.ndim < 2 or v.shape[-1] < 2:
        return False
    # nearly constant groups are skipped: 1/sqrt(var + eps) is ill-conditioned there
    if kind == "layer_norm":
        if v.var(axis=-1).min() < 0.05:
            return False
        w, b = g.leaf(v.shape[-1:]), g.leaf(v.shape[-1:])
        return g.apply(lambda x, w, b: F.layer_norm(x, v.shape[-1:], w, b), i, w, b)
    c = v.shape[1]
    if kind == "group_norm":
        groups = g.draw(st.sampled_from([n for n in (1, 2, 3) if c % n == 0]))
        if v.reshape(v.shape[0], groups, -1).var(axis=-1).min() < 0.05:
            return False
        w, b = g.leaf((c,)), g.leaf((c,))
        return g.apply(lambda x, w, b: F.group_norm(x, groups, w, b), i, w, b)
    axes = (0, *range(2, v.ndim))
    if np.prod([v.shape[a] for a in axes]) < 2 or v.var(axis=axes).min() < 0.05:
        return False
    w, b = g.leaf((c,)), g.leaf((c,))
    return g.apply(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), i, w, b)


OPS = [_unary, _binary, _reduce, _shape, _combine, _normalize]


def build(data, seed: int, n_ops: int, chain: bool = False) -> Graph:
    g = Graph(data, seed)
    for _ in range(data.draw(st.integers(1, 3))):
        g.leaf(data.draw(st.sampled_from(SHAPES)))
    for _ in range(n_ops):
        for _attempt in range(10):
            i = len(g.nodes) - 1 if chain else data.draw(st.integers(0, len(g.nodes) - 1))
            if data.draw(st.sampled_from(OPS))(g, i):
                break
    g.sinks = [i for i in range(len(g.nodes)) if i not in g.used]  # every leaf reaches the loss
    g.weights = [g.rng.uniform(0.5, 1.5, g.nodes[i].shape) for i in g.sinks]
    return g


def replay(g: Graph, arrays: list[np.ndarray], dtype=np.float64) -> tuple[list[tg.Tensor], list[tg.Tensor]]:
    """(leaves, nodes); the last node is the scalar loss: a weighted sum of the graph's sinks."""
    leaves = [tg.Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    nodes: list[tg.Tensor] = []
    for step in g.steps:
        nodes.append(leaves[step[1]] if step[0] == "leaf" else step[0](*[nodes[j] for j in step[1]]))
    terms = [(nodes[i] * tg.Tensor(w.astype(dtype))).sum() for i, w in zip(g.sinks, g.weights)]
    nodes.append(sum(terms[1:], terms[0]))
    return leaves, nodes


def check_against_differences(g: Graph) -> None:
    leaves, nodes = replay(g, g.leaves)
    nodes[-1].backward()
    arrays = [a.copy() for a in g.leaves]

    def f() -> float:
        with tg.no_grad():
            return float(replay(g, arrays)[1][-1].data)

    for k, (t, num) in enumerate(zip(leaves, numeric_grads(f, arrays))):
        assert type(t.grad) is np.ndarray and t.grad.shape == t.shape and t.grad.dtype == np.float64
        np.testing.assert_allclose(t.grad, num, rtol=1e-5, atol=1e-6, err_msg=f"leaf {k} of shape {t.shape}")


@settings(SETTINGS, max_examples=150)
@given(st.data(), st.integers(0, 2**32 - 1))
def test_random_graphs_match_central_differences(data, seed):
    check_against_differences(build(data, seed, data.draw(st.integers(1, 12))))


@settings(SETTINGS, max_examples=25, phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking 50 ops is slow
@given(st.data(), st.integers(0, 2**32 - 1))
def test_long_chains_match_central_differences(data, seed):
    check_against_differences(build(data, seed, 50, chain=True))


@SETTINGS
@given(st.data(), st.integers(0, 2**32 - 1))
def test_grad_equals_backward_and_retained_backward_doubles(data, seed):
    g = build(data, seed, data.draw(st.integers(1, 10)))
    leaves, nodes = replay(g, g.leaves)
    returned = tg.autograd.grad(nodes[-1], leaves, retain_graph=True)
    assert all(t.grad is None for t in leaves)  # grad() writes nothing into .grad
    nodes[-1].backward(retain_graph=True)
    once = [t.grad.copy() for t in leaves]
    for r, o in zip(returned, once):
        np.testing.assert_allclose(r, o, rtol=1e-13, atol=1e-15)
    nodes[-1].backward(retain_graph=True)
    for t, o in zip(leaves, once):
        np.testing.assert_array_equal(t.grad, 2 * o)


@SETTINGS
@given(st.data(), st.integers(0, 2**32 - 1))
def test_float32_graphs_stay_float32(data, seed):
    g = build(data, seed, data.draw(st.integers(1, 10)))
    leaves, nodes = replay(g, g.leaves, np.float32)
    for k, t in enumerate(nodes):
        assert t.dtype == np.float32, f"node {k} ({t.grad_fn}) is {t.dtype}"
    nodes[-1].backward()
    for t in leaves:
        assert type(t.grad) is np.ndarray and t.grad.dtype == np.float32 and t.grad.shape == t.shape
