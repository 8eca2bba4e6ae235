"""The engine keeps its promises: float32 stays float32, a leaf's .grad is its own array (accumulated in
place without leaking into another tensor's gradient), creation order is a valid backward order."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn.autograd import Function, topological_order, unbroadcast
from tinygrad_bn.testing.registry import all_samples


# ---- dtypes ---------------------------------------------------------------------------------------
def _float32(a):
    return tg.Tensor(a.astype(np.float32), requires_grad=True) if isinstance(a, np.ndarray) and a.dtype.kind == "f" \
        else a


# rmatmul_numpy multiplies by a float64 numpy array and cast converts dtypes, both on purpose
FLOAT_SAMPLES = [(info, s) for info, s in all_samples() if info.name not in ("rmatmul_numpy", "cast")]


@pytest.mark.parametrize("op, sample", FLOAT_SAMPLES, ids=[f"{o.name}-{i}" for i, (o, _) in enumerate(FLOAT_SAMPLES)])
def test_every_registered_op_keeps_float32(op, sample):
    """Forward output and every gradient of a float32 input are float32 (no float64 temporaries leak out)."""
    args = [_float32(a) for a in sample.args]
    kwargs = dict(sample.kwargs)
    if kwargs.get("running") is not None:
        kwargs["running"] = tuple(r.astype(np.float32) for r in kwargs["running"])
    out = op.fn(*args, **kwargs)
    assert out.dtype == np.float32
    if out.requires_grad:
        out.backward(np.ones(out.shape, np.float32))
    for a in args:
        if isinstance(a, tg.Tensor) and a.grad is not None:
            assert a.grad.dtype == np.float32


@pytest.mark.parametrize("scalar", [np.float64(2.5), np.int64(3), np.float32(1.5), 2.5, 3])
def test_numpy_scalars_do_not_promote_float32(scalar):
    x = tg.Tensor(np.arange(1, 4, dtype=np.float32), requires_grad=True)
    outs = [x * scalar, scalar * x, x + scalar, scalar - x, x / scalar, scalar / x, x ** scalar]
    assert all(o.dtype == np.float32 for o in outs)
    sum(outs[1:], outs[0]).sum().backward()
    assert x.grad.dtype == np.float32


def test_float64_stays_float64_with_scalars():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    assert (x * np.float32(2)).dtype == np.float64 and (x * 2).dtype == np.float64


# ---- accumulation and aliasing ----------------------------------------------------------------------
def test_second_backward_accumulates_in_place_like_pytorch():
    w = tg.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (w * w).sum().backward()
    first = w.grad
    (w * 3.0).sum().backward()
    assert w.grad is first  # same array, added into (PyTorch's .grad accumulation)
    np.testing.assert_array_equal(first, [2 + 3, 4 + 3])


def test_leaves_sharing_one_gradient_do_not_alias():
    a = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    (a + b).sum().backward()  # Add hands the same array to both inputs
    assert a.grad is not b.grad
    a.grad[0] = 100
    np.testing.assert_array_equal(b.grad, [1, 1, 1])


def test_user_seed_is_never_written_into():
    x = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    seed = np.array([1.0, 2.0, 3.0], np.float32)
    (x + 1.0).backward(seed)
    x.grad += 1
    (x + 1.0).backward(seed)
    np.testing.assert_array_equal(seed, [1, 2, 3])
    np.testing.assert_array_equal(x.grad, [3, 5, 7])


def test_retained_non_leaf_grad_is_separate_from_leaf_grad():
    x = tg.Tensor(np.ones(3, np.float32), requires_grad=True)
    y = (x * 2.0).retain_grad()
    z = y + x
    z.backward(np.ones(3, np.float32))
    y.grad[:] = -1
    np.testing.assert_array_equal(x.grad, [3, 3, 3])


def test_diamond_accumulates_into_non_leaf_correctly():
    x = tg.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    h = x * 3.0
    y = h * h + h * 2.0 + h  # three contributions reach h
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 3 * (2 * 3 * x.data + 2 + 1))


class _SameFresh(Function):
    """y = a + b whose backward returns ONE new array for both inputs (allowed; the engine must cope)."""

    made: list = []

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        out = g * 1
        _SameFresh.made.append(weakref.ref(out))
        return out, out


def test_one_new_array_returned_for_two_inputs_is_not_shared():
    a = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    h = a * 1.0
    y = _SameFresh.apply(h, b)
    (y + h).sum().backward()  # h gets two contributions: the first is the shared array
    np.testing.assert_array_equal(a.grad, [2, 2])
    np.testing.assert_array_equal(b.grad, [1, 1])  # not corrupted by the in-place sum into h's gradient


def test_gradient_handed_to_two_inputs_is_not_added_into_for_one_of_them():
    """Add hands one array to h1 and h2; a later contribution to h1 must not leak into h2's gradient."""
    x = tg.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    h1, h2 = x * 2.0, x * 3.0
    k = h1 * 5.0          # older than the Add below, so its backward runs after it
    s = h1 + h2
    (s * 1.0 + k).sum().backward()   # out = 5x + 10x
    np.testing.assert_array_equal(x.grad, [15, 15])


def test_one_new_array_for_a_leaf_and_a_non_leaf_is_not_shared():
    a = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    b = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    h = b * 1.0
    k = a * 4.0           # older: its backward adds into a.grad after _SameFresh's
    y = _SameFresh.apply(a, h)
    (y + k).sum().backward()
    np.testing.assert_array_equal(a.grad, [5, 5])
    np.testing.assert_array_equal(b.grad, [1, 1])   # h's gradient is not the array a.grad was added into


def test_one_new_array_for_two_non_leaves_is_not_added_into():
    x = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    h1, h2 = x * 2.0, x * 3.0
    k = h1 * 7.0
    y = _SameFresh.apply(h1, h2)
    (y + k).sum().backward()         # dy/dh1 = dy/dh2 = 1, dk/dh1 = 7
    np.testing.assert_array_equal(x.grad, [2 * 8 + 3, 2 * 8 + 3])


def test_read_only_or_other_dtype_grad_is_replaced_not_written():
    w = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    frozen = np.zeros(2, np.float32)
    frozen.flags.writeable = False
    w.grad = frozen
    (w * 2.0).sum().backward()
    np.testing.assert_array_equal(frozen, [0, 0])
    np.testing.assert_array_equal(w.grad, [2, 2])


def test_unbroadcast_sums_into_a_new_array():
    g = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    expected = {(4,): g.sum(axis=(0, 1)), (3, 1): g.sum(axis=0).sum(axis=1, keepdims=True),
                (1, 1, 4): g.sum(axis=(0, 1), keepdims=True), (): g.sum(), (2, 1, 1): g.sum(axis=(1, 2), keepdims=True)}
    for shape, want in expected.items():
        out = unbroadcast(g, shape)
        assert type(out) is np.ndarray and out.shape == shape and out.dtype == np.float32
        assert not np.shares_memory(out, g)
        np.testing.assert_array_equal(out, want)
    assert unbroadcast(g, g.shape) is g


# ---- ordering -----------------------------------------------------------------------------------------
def test_creation_order_is_a_valid_backward_order():
    x = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    a = x * 2.0
    b = x * 3.0          # two branches created interleaved
    a2 = a * b
    b2 = b * 5.0
    out = a2 + b2
    order = topological_order(out)
    pos = {id(t): i for i, t in enumerate(order)}
    for t in order:
        for p in t._ctx.parents:
            if p._ctx is not None:
                assert pos[id(p)] < pos[id(t)]
    assert len(order) == 5
    out.sum().backward()
    np.testing.assert_allclose(x.grad, 12 * x.data + 15)  # out = (2x)(3x) + 5(3x)


def test_long_chain_needs_no_recursion():
    x = tg.Tensor(np.ones(1, np.float32), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1])


# ---- errors are still raised --------------------------------------------------------------------------
def test_second_backward_through_freed_graph_raises():
    x = tg.Tensor(np.ones(2, np.float32), requires_grad=True)
    y = (x * 2.0).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


@pytest.mark.parametrize("x_shape, w_shape, b_shape, match", [
    ((4, 3), (2, 5), None, r"linear: expected input \(\.\.\., 5\)"),
    ((4, 3), (3,), None, "weight"),
    ((4, 3), (2, 3), (3,), r"linear: expected bias of shape \(2,\)"),
])
def test_linear_rejects_bad_shapes(x_shape, w_shape, b_shape, match):
    args = [tg.Tensor(np.ones(x_shape, np.float32)), tg.Tensor(np.ones(w_shape, np.float32))]
    if b_shape is not None:
        args.append(tg.Tensor(np.ones(b_shape, np.float32)))
    with pytest.raises(ValueError, match=match):
        F.linear(*args)


def test_linear_matches_composed_ops():
    rng = np.random.default_rng(0)
    x, w, b = (tg.Tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in [(5, 3), (4, 3), (4,)])
    F.linear(x, w, b).sum().backward()
    grads = [t.grad for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    (x @ w.T + b).sum().backward()
    for got, t in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, t.grad, rtol=1e-6)
        assert got.dtype == np.float32 and got.flags.c_contiguous


@pytest.mark.parametrize("targets, match", [
    (np.array([0, 1, 5]), r"cross_entropy: targets must be class indices in \[0, 4\)"),
    (np.array([0, 1]), "expected targets of shape"),
    (np.array([0.0, 1.0, 2.0]), "integer class targets"),
])
def test_cross_entropy_still_rejects_bad_targets(targets, match):
    logits = tg.Tensor(np.zeros((3, 4), np.float32), requires_grad=True)
    with pytest.raises((ValueError, TypeError), match=match):
        F.cross_entropy(logits, targets)


# ---- random graphs: the in-place bookkeeping against finite differences -----------------------------
_RANDOM_OPS = [lambda a, b, i: a + b, lambda a, b, i: a * b, lambda a, b, i: a - b, lambda a, b, i: a.tanh() + b,
               lambda a, b, i: a * 1.5, lambda a, b, i: (a + b) + a,
               lambda a, b, i: F.dropout(a, 0.3, generator=np.random.default_rng(i)) * b]


def _random_graph(seed: int, leaves: list) -> tg.Tensor:
    """Ops chosen at random over a pool that grows, so intermediates are shared in many patterns."""
    rng = np.random.default_rng(seed)
    pool = list(leaves)
    for i in range(int(rng.integers(4, 16))):
        a, b = (pool[int(rng.integers(len(pool)))] for _ in range(2))
        pool.append(_RANDOM_OPS[int(rng.integers(len(_RANDOM_OPS)))](a, b, i))
    outs = pool[len(leaves):]
    total = outs[-1].sum()
    for _ in range(int(rng.integers(0, 4))):
        total = total + outs[int(rng.integers(len(outs)))].sum() * 0.5
    return total


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_match_finite_differences(seed):
    rng = np.random.default_rng(1000 + seed)
    leaves = [tg.Tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 4), (3, 4), (4,), (3, 1)]]
    out = _random_graph(seed, leaves)
    out.backward(retain_graph=True)
    out.backward()  # a second pass accumulates: every .grad is twice the gradient
    h = 1e-6
    for t in leaves:
        numeric = np.zeros(t.shape)
        for j in range(t.size):
            orig = t.data.flat[j]
            t.data.flat[j] = orig + h
            up = _random_graph(seed, leaves).item()
            t.data.flat[j] = orig - h
            down = _random_graph(seed, leaves).item()
            t.data.flat[j] = orig
            numeric.flat[j] = (up - down) / (2 * h)
        got = t.grad if t.grad is not None else np.zeros(t.shape)
        np.testing.assert_allclose(got, 2 * numeric, rtol=1e-6, atol=1e-8)
