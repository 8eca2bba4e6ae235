"""tg.autograd.trace: one row per visited node, in the engine's order, with what it received and sent."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_bn as tg
from tinygrad_bn.engine import backward

DOC = Path(__file__).resolve().parents[1] / "docs" / "autograd.md"


def norm(a) -> float:
    return float(np.sqrt(np.sum(np.square(np.asarray(a, np.float64)))))


def worked_example():
    x = tg.Tensor(np.array([1.0, -2.0]), requires_grad=True, name="x")
    w = tg.Tensor(np.array([3.0, 0.5]), requires_grad=True, name="w")
    return x, w, (x * w).relu().sum()


def test_worked_example_step_by_step():
    x, w, L = worked_example()
    with tg.autograd.trace() as t:
        L.backward()
    assert [s.op for s in t.steps] == ["Sum", "ReLU", "Mul"]
    assert [s.step for s in t.steps] == [1, 2, 3]
    assert [s.grad_shape for s in t.steps] == [(), (2,), (2,)]
    np.testing.assert_allclose([s.grad_norm for s in t.steps], [1.0, np.sqrt(2), 1.0])
    mul = t.steps[2]
    assert [(s.input, s.to, s.shape) for s in mul.sent] == [(0, "x", (2,)), (1, "w", (2,))]
    np.testing.assert_array_equal(mul.sent[0].values, x.grad)      # what Mul sent is what x received
    np.testing.assert_array_equal(mul.sent[1].values, w.grad)
    np.testing.assert_array_equal(t.steps[1].grad_values, [1.0, 1.0])
    rows = t.rows()
    assert rows[0]["sends"] == "ReLU (step 2): shape (2,), [1, 1], norm 1.414"
    assert rows[2]["sends"] == "x: shape (2,), [3, 0], norm 3; w: shape (2,), [1, -0], norm 1"
    lines = str(t).splitlines()
    assert len(lines) == 2 + 3 and lines == t.to_markdown().splitlines()
    assert [c.strip() for c in lines[0].split("|")[1:-1]] == ["step", "op", "grad_output", "norm", "sends"]
    assert lines[4].startswith("|    3 | Mul  | shape (2,), [1, 0] |     1 | x: shape (2,), [3, 0], norm 3; w:")


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["tanh", "sigmoid", "neg", "double", "square"]), min_size=1, max_size=6),
       st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=6))
def test_a_chain_each_step_receives_the_sum_of_what_the_previous_one_sent(ops, values):
    x = tg.Tensor(np.array(values), requires_grad=True)
    y = x
    for op in ops:
        y = y * 2.0 if op == "double" else y * y if op == "square" else -y if op == "neg" else getattr(y, op)()
    with tg.autograd.trace(max_values=6) as t:
        y.sum().backward()
    names = {"double": "Mul", "square": "Mul", "tanh": "Tanh", "sigmoid": "Sigmoid", "neg": "Neg"}
    assert [s.op for s in t.steps] == ["Sum"] + [names[op] for op in reversed(ops)]

    def total_sent(step):                      # y * y sends to the same tensor twice: it receives the sum
        return sum(s.values for s in step.sent if s.shape is not None)

    for before, after in zip(t.steps, t.steps[1:]):
        np.testing.assert_allclose(after.grad_values, total_sent(before), rtol=1e-12)
        assert after.grad_norm == pytest.approx(norm(after.grad_values), rel=1e-12)
    np.testing.assert_allclose(total_sent(t.steps[-1]), x.grad, rtol=1e-12)


def test_a_tensor_used_twice_is_visited_once_with_the_sum():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.exp()
    z = (y * 3.0 + y).sum()                                          # y receives 3 + 1 = 4 per element
    with tg.autograd.trace() as t:
        z.backward()
    exp_steps = [s for s in t.steps if s.op == "Exp"]
    assert len(exp_steps) == 1
    np.testing.assert_array_equal(exp_steps[0].grad_values, [4.0, 4.0])


def test_inputs_are_named_by_params_by_name_by_producer_or_as_leaf_and_constant():
    layer = tg.nn.Linear(3, 2)
    x = tg.Tensor(np.ones((4, 3), np.float32))
    out = layer(x).relu()
    loss = (out * tg.Tensor(np.ones((4, 2), np.float32), requires_grad=True)).sum()
    with tg.autograd.trace(params=layer.named_parameters()) as t:
        loss.backward()
    sends = [r["sends"] for r in t.rows()]
    assert sends[1].startswith("ReLU (step 3): shape (4, 2)") and "; leaf: shape (4, 2)" in sends[1]
    assert sends[3].startswith("constant: nothing; weight: shape (2, 3)") and "; bias: shape (2,)" in sends[3]
    assert t.steps[3].sent[0].norm is None


def test_hooked_gradients_show_up_changed():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 2.0
    y.register_hook(lambda g: g * 10)
    with tg.autograd.trace() as t:
        y.sum().backward()
    np.testing.assert_array_equal(t.steps[1].grad_values, [10.0, 10.0])
    np.testing.assert_array_equal(t.steps[1].sent[0].values, [20.0, 20.0])


def test_only_backward_passes_inside_the_block_are_recorded_and_the_observer_is_removed():
    _, _, L = worked_example()
    with pytest.raises(ZeroDivisionError), tg.autograd.trace() as t:
        raise ZeroDivisionError
    assert backward.OBSERVERS == []
    L.backward()
    assert t.steps == [] and str(t).startswith("| step | op")
    assert repr(t) == "<trace of 0 backward step(s)>"
    with pytest.raises(ValueError, match="trace: max_values must be an int >= 0, got -1"):
        tg.autograd.trace(max_values=-1)


def test_autograd_grad_is_traced_and_a_second_pass_keeps_counting():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    y = (x * x).sum()
    with tg.autograd.trace() as t:
        (gx,) = tg.autograd.grad(y, [x], retain_graph=True)
        y.backward()
    assert [(s.step, s.op) for s in t.steps] == [(1, "Sum"), (2, "Mul"), (3, "Sum"), (4, "Mul")]
    np.testing.assert_array_equal(t.steps[1].sent[0].values + t.steps[1].sent[1].values, gx)
    assert x.grad is not None


def test_the_watch_overhead_benchmark_runs_and_cleans_up():
    from benchmarks import watch_overhead

    runs = watch_overhead.candidates(length=3)
    assert set(runs) == {"off", "detect_anomaly", "trace"}
    for run in runs.values():
        run()
    assert backward.OBSERVERS == [] and not tg.autograd.is_anomaly_enabled()


def test_large_gradients_are_summarised_by_shape_and_norm():
    x = tg.Tensor(np.ones((10, 10)), requires_grad=True)
    with tg.autograd.trace() as t:
        (x * 3.0).sum().backward()
    assert t.rows()[1]["sends"] == "leaf: shape (10, 10), norm 30; constant: nothing"


# ---- the "Watching the tape" section of docs/autograd.md runs as written ----------------------------------
def test_docs_watching_the_tape_runs_and_its_table_is_generated(capsys, tmp_path):
    section = DOC.read_text().split("## Watching the tape", 1)[1]
    namespace: dict = {}
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 4
    for i, block in enumerate(blocks):
        path = tmp_path / f"block{i}.py"         # a real file, so that anomaly mode can quote its lines
        path.write_text(block)
        code = compile(block, str(path), "exec")
        if "detect_anomaly" in block:
            with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError) as err:
                exec(code, namespace)
        else:
            exec(code, namespace)
        if i == 0:
            np.testing.assert_array_equal(namespace["x"].grad, [1.0, 1.0])     # clipped from [3, 5]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert str(namespace["t"]) == table                                # the table in the doc is this output
    doc_error = re.search(r"RuntimeError: (.*?)\n  File", section, flags=re.S).group(1).replace("\n", " ")
    assert str(err.value).split("\n  File")[0] == doc_error
    assert str(err.value).endswith(f'File "{tmp_path / "block3.py"}", line 3, in <module>\n'
                                   "    r = x.sqrt()                  # sqrt(0) = 0: fine")
    assert "dL/dy = [1. 1.]" in capsys.readouterr().out
    assert set(namespace["dead"]) == {"relu"} and 0 <= namespace["dead"]["relu"] <= 1


def test_the_observer_accepts_tensor_gradients_as_a_recorded_backward_hands_them():
    x = tg.Tensor(np.array([3.0, 4.0]), requires_grad=True, name="x")
    y = x * 2.0
    with tg.autograd.trace() as t:
        (observe,) = backward.OBSERVERS
        observe(y.grad_fn, tg.Tensor(np.ones(2)), (tg.Tensor(np.array([3.0, 4.0])), None))
    assert t.rows()[0]["sends"] == "x: shape (2,), [3, 4], norm 5; constant: nothing"
    assert t.steps[0].grad_norm == pytest.approx(np.sqrt(2))


# ---- graph pictures of a recorded backward pass (create_graph=True) --------------------------------------
@pytest.mark.skipif("create_graph" not in inspect.signature(tg.autograd.grad).parameters,
                    reason="tg.autograd.grad has no create_graph in this version")
def test_draw_shows_the_graph_a_create_graph_backward_recorded():
    pytest.importorskip("graphviz")
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x * x).sum()
    (g,) = tg.autograd.grad(y, [x], create_graph=True)              # 3 x^2, itself a recorded graph
    np.testing.assert_allclose(np.asarray(g.data), [3.0, 12.0])
    source = tg.viz.draw(g, params={"x": x}).source
    assert source.count("<b>Mul</b>") >= 3 and "<b>x</b>" in source and "<b>output</b>" in source
    shown = tg.viz.draw(g.sum(), params={"x": x}, show_grad=True).source   # d(sum 3x^2)/dx = 6x, computed for it
    assert "norm" in shown and x.grad is None
