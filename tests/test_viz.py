"""Graph pictures: the structure of the DOT source (nodes, edges, labels, colours, clusters), gradients
and NaN highlighting, max_depth, that drawing changes nothing, rendering, and the missing-``dot`` error."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import tinygrad_bn as tg
import tinygrad_bn.functional as F
from tinygrad_bn import viz
from tinygrad_bn.nn import BatchNorm1d, Dropout, Module, Parameter
from tinygrad_bn.viz.labels import COLORS, NONFINITE_BORDER, fmt_attr

NODE = re.compile(r"^\s*(\w+) \[(.*)\]$", re.M)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)
HAS_DOT = shutil.which("dot") is not None


def parse(dot) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """node id -> attribute text, and (tail, head, attribute text) per edge, from the DOT source."""
    nodes = {k: v for k, v in NODE.findall(dot.source) if k not in ("graph", "node", "edge")}
    return nodes, [(a, b, attrs or "") for a, b, attrs in EDGE.findall(dot.source)]


def fill(attrs: str) -> str:
    return re.search(r'fillcolor="(#\w+)"', attrs).group(1)


def find(nodes: dict[str, str], text: str) -> str:
    """The id of the one node whose attributes contain ``text``."""
    hits = [k for k, v in nodes.items() if text in v]
    assert len(hits) == 1, f"{text!r} in {len(hits)} nodes: {hits}"
    return hits[0]


def small():
    a = tg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = Parameter(np.full((2, 3), 0.5))
    return a, w, (a * w).sum()


class Lin(Module):
    """nn.Linear stand-in: x @ weight.T + bias."""

    def __init__(self, n_in: int, n_out: int, seed: int):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.weight = Parameter(rng.standard_normal((n_out, n_in)).astype(np.float32))
        self.bias = Parameter(np.zeros(n_out, np.float32))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Net(Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.bn, self.drop, self.fc2 = Lin(5, 4, 0), BatchNorm1d(4), Dropout(0.25), Lin(4, 3, 1)

    def forward(self, x):
        return self.fc2(self.drop(self.bn(self.fc1(x)).relu()))


def step(net: Net | None = None, trace: bool = False):
    """One training step's loss (forward only) of ``Net`` on fixed data; returns (net, loss, trace)."""
    tg.manual_seed(0)
    net = net or Net()
    x = tg.Tensor(np.random.default_rng(2).standard_normal((6, 5)).astype(np.float32))
    y = np.array([0, 1, 2, 0, 1, 2])
    if not trace:
        return net, F.cross_entropy(net(x), y), None
    with viz.trace_modules(net) as tr:
        loss = F.cross_entropy(net(x), y)
    return net, loss, tr


# ---- structure ---------------------------------------------------------------------------------
def test_small_graph_exact_nodes_edges_and_labels():
    a, w, y = small()
    nodes, edges = parse(viz.draw(y, params={"w": w}))
    assert len(nodes) == 6 and len(edges) == 5  # a, w, Mul, a*w, Sum, y; a->Mul, w->Mul, Mul->a*w, ->Sum, Sum->y
    nw, mul, s, out = find(nodes, "<b>w</b>"), find(nodes, "<b>Mul</b>"), find(nodes, "<b>Sum</b>"), \
        find(nodes, "<b>output</b>")
    tensors_23 = [k for k, v in nodes.items() if "(2, 3) float64" in v]
    assert len(tensors_23) == 3  # a, w and a * w
    na = next(k for k in tensors_23 if k != nw and (k, mul) in {(e[0], e[1]) for e in edges})
    prod = next(k for k in tensors_23 if k not in (na, nw))
    assert {(t, h) for t, h, _ in edges} == {(na, mul), (nw, mul), (mul, prod), (prod, s), (s, out)}
    assert "() float64" in nodes[out]
    assert "axis=(0, 1)" in nodes[s] and "keepdims=False" in nodes[s]
    assert fill(nodes[nw]) == COLORS["parameter"] and fill(nodes[na]) == COLORS["parameter"]
    assert fill(nodes[mul]) == fill(nodes[s]) == COLORS["op"]
    assert fill(nodes[prod]) == COLORS["tensor"] and fill(nodes[out]) == COLORS["output"]


def test_compact_folds_intermediate_tensors_into_ops():
    a, w, y = small()
    nodes, edges = parse(viz.draw(y, params={"w": w}, compact=True))
    assert len(nodes) == 5 and len(edges) == 4
    mul = find(nodes, "<b>Mul</b>")
    assert "-&gt; (2, 3) float64" in nodes[mul]  # the result's shape, in the op node
    assert (mul, find(nodes, "<b>Sum</b>")) in {(t, h) for t, h, _ in edges}


def test_python_constants_go_into_the_op_label_and_inputs_are_orange():
    x = tg.Tensor(np.ones((2, 2), np.float32))
    w = Parameter(np.ones((2, 2), np.float32))
    nodes, edges = parse(viz.draw(((x @ w) * 2.5).mean(), params={"w": w}))
    assert len(nodes) == 8 and len(edges) == 7  # x, w, MatMul, x@w, Mul, (x@w)*2.5, Mean, output: none for 2.5
    assert "b=2.5" in nodes[find(nodes, "<b>Mul</b>")]  # named after Mul.forward's argument
    assert fill(nodes[find(nodes, "<b>input</b>")]) == COLORS["input"]
    matmul = find(nodes, "<b>MatMul</b>")
    assert sorted(lbl for _, h, lbl in edges if h == matmul) == ["label=a", "label=b"]  # order matters: a @ b


def test_edges_into_non_commutative_ops_name_the_argument():
    p, q = tg.Tensor(np.ones((2, 3)), requires_grad=True), tg.Tensor(np.zeros((2, 3)), requires_grad=True)
    z = tg.cat([p - q, q], axis=0)
    loss = F.cross_entropy(z, np.array([0, 1, 2, 0]))
    nodes, edges = parse(viz.draw(loss))
    labels = {h: sorted(lbl for _, hh, lbl in edges if hh == h) for h in nodes}
    assert labels[find(nodes, "<b>CrossEntropy</b>")] == ["label=targets", "label=x"]
    assert labels[find(nodes, "<b>Concatenate</b>")] == ["label=\"xs[0]\"", "label=\"xs[1]\""]
    assert labels[find(nodes, "<b>Sub</b>")] == ["label=a", "label=b"]


def test_attribute_formatting():
    x = tg.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    nodes, _ = parse(viz.draw(x[[0, 2], 1:].sum() + x[::2, np.arange(4) < 2].sum() + x[np.zeros(9, int)].sum()))
    index = sorted(re.search(r"index=([^<]*)<", v).group(1) for v in nodes.values() if "<b>GetItem</b>" in v)
    assert index == ["(::2, [True, True, False, False])", "([0, 2], 1:)", "array(9,) int64"]
    long = fmt_attr(tuple(range(40)))  # long values are cut at 40 characters
    assert len(long) == 40 and long.startswith("(0, 1, 2, 3") and long.endswith("...")


def test_layer_attributes_buffers_and_edge_names():
    net, loss, _ = step()
    nodes, edges = parse(viz.draw(loss, model=net, legend=True))
    norm = nodes[find(nodes, "<b>Normalize (batch_norm)</b>")]
    for text in ("eps=1e-05", "momentum=0.1", "training=True", "axes=(0,)"):
        assert text in norm
    assert "p=0.25" in nodes[find(nodes, "<b>Dropout</b>")]
    assert "reduction=mean" in nodes[find(nodes, "<b>CrossEntropy</b>")]
    for name in ("bn.running_mean", "bn.running_var"):
        assert fill(nodes[find(nodes, f"<b>{name}</b>")]) == COLORS["buffer"]
    for name in ("fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight"):
        assert fill(nodes[find(nodes, f"<b>{name}</b>")]) == COLORS["parameter"]
    assert "(4, 5) float32" in nodes[find(nodes, "<b>fc1.weight</b>")]
    into_norm = sorted(lbl for _, h, lbl in edges if h == find(nodes, "<b>Normalize"))
    assert into_norm == ["label=bias", "label=running_mean", "label=running_var", "label=weight", "label=x"]
    assert all(c in nodes["legend"] for c in COLORS.values())


def test_running_stats_are_recognized_as_buffers_without_names():
    x = tg.Tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    rm, rv = tg.Tensor(np.zeros(3)), tg.Tensor(np.ones(3))
    nodes, _ = parse(viz.draw(F.batch_norm(x, rm, rv, training=True).sum()))
    assert fill(nodes[find(nodes, "<b>running_mean</b>")]) == COLORS["buffer"]


def test_clusters_from_a_trace_from_names_and_none():
    net, loss, tr = step(trace=True)
    src = viz.draw(loss, model=net, modules=tr).source
    for name, kind in (("fc1", "Lin"), ("bn", "BatchNorm1d"), ("drop", "Dropout"), ("fc2", "Lin")):
        assert f"subgraph cluster_{name} {{" in src and f'label="{name}: {kind}"' in src
    traced = re.search(r"subgraph cluster_drop \{(.*?)\}", src, re.S).group(1)
    assert "<b>Dropout</b>" in traced
    guessed = viz.draw(loss, params=dict(net.named_parameters())).source
    assert "subgraph cluster_fc1 {" in guessed and "subgraph cluster_drop" not in guessed  # no params: no guess
    fc1 = re.search(r"subgraph cluster_fc1 \{(.*?)\}", guessed, re.S).group(1)
    assert all(op in fc1 for op in ("<b>Linear</b>", "<b>fc1.weight</b>", "<b>fc1.bias</b>"))
    assert "cluster" not in viz.draw(loss, model=net, cluster_modules=False).source


class Block(Module):
    def __init__(self):
        super().__init__()
        self.fc, self.bn = Lin(5, 4, 3), BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.fc(x * 2.0)) + 1.0  # the scaling and the + 1 belong to the block itself


class Outer(Module):
    def __init__(self):
        super().__init__()
        self.block, self.head = Block(), Lin(4, 2, 4)

    def forward(self, x):
        return self.head(self.block(x).relu())


def test_nested_modules_give_nested_clusters():
    net = Outer()
    x = tg.Tensor(np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32), requires_grad=True)
    with viz.trace_modules(net) as tr:
        loss = net(x).sum()
    src = viz.draw(loss, model=net, modules=tr).source
    start, inner = src.index("subgraph cluster_block {"), src.index('subgraph "cluster_block.fc" {')
    assert start < inner < src.index('subgraph "cluster_block.bn" {') < src.index("subgraph cluster_head {")
    assert 'label="block.fc: Lin"' in src and 'label="block: Block"' in src
    own = src[start:inner]  # the block's own nodes come before its sub-clusters
    assert "<b>Mul</b>" in own and "<b>Add</b>" in own and "<b>Linear</b>" not in own  # x * 2 and + 1
    fc = src[inner:src.index('subgraph "cluster_block.bn" {')]
    assert "<b>Linear</b>" in fc and "<b>block.fc.weight</b>" in fc
    assert "<b>ReLU</b>" not in src[start:src.index("subgraph cluster_head {")]  # Outer's own op
    guessed = viz.draw(loss, model=net).source  # from names: block.fc and block.bn inside block (a module)
    assert "subgraph cluster_block {" in guessed and 'subgraph "cluster_block.fc" {' in guessed


def test_a_leaf_or_an_untracked_result_is_one_node():
    nodes, edges = parse(viz.draw(tg.Tensor(np.ones(3), requires_grad=True)))
    assert len(nodes) == 1 and not edges
    with tg.no_grad():
        y = tg.Tensor(np.ones(3), requires_grad=True) * 2
    nodes, edges = parse(viz.draw(y, show_grad=True))
    assert len(nodes) == 1 and not edges and fill(next(iter(nodes.values()))) == COLORS["output"]


def test_trace_restores_forward():
    net = Net()
    with viz.trace_modules(net):
        assert "forward" in net.fc1.__dict__
    assert all("forward" not in m.__dict__ for m in net.modules())


def test_max_depth_trims_and_marks_cut_inputs():
    a, w, y = small()
    nodes, edges = parse(viz.draw(y, max_depth=1))
    assert len(nodes) == 3 and len(edges) == 2  # y, Sum, a*w (its Mul hidden)
    cut = find(nodes, "from Mul (hidden)")
    assert "dashed" in nodes[cut]
    nodes, edges = parse(viz.draw(y, max_depth=0))
    assert len(nodes) == 1 and not edges
    _, loss, _ = step()
    counts = [len(parse(viz.draw(loss, max_depth=d))[0]) for d in (1, 3, 5, None)]
    assert counts == sorted(counts) and len(set(counts)) == 4
    with pytest.raises(ValueError, match="max_depth"):
        viz.draw(y, max_depth=-1)
    with pytest.raises(TypeError, match="max_depth"):
        viz.draw(y, max_depth=1.5)


def test_bad_arguments():
    a, w, y = small()
    with pytest.raises(TypeError, match="draw: expected a Tensor"):
        viz.draw(np.ones(3))
    with pytest.raises(TypeError, match="params must map names"):
        viz.draw(y, params={"w": np.ones(3)})
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw(y, rankdir="up")


# ---- gradients, NaN, saved arrays --------------------------------------------------------------
def test_show_grad_after_backward_shows_leaf_gradient_norms():
    a, w, y = small()
    y.backward()
    nodes, _ = parse(viz.draw(y, params={"w": w}, show_grad=True))
    assert f"grad norm {np.linalg.norm(a.data):.4g}<" in nodes[find(nodes, "<b>w</b>")]  # d/dw sum(a * w) = a
    na = find(nodes, "min/mean/max 0.5 / 0.5 / 0.5")  # d/da sum(a * w) = w = 0.5 everywhere
    assert f"grad norm {np.linalg.norm(w.data):.4g}<" in nodes[na] and fill(nodes[na]) == COLORS["parameter"]
    assert "grad: not retained" in nodes[find(nodes, "<b>output</b>")]


def test_show_grad_before_backward_computes_without_touching_grad():
    net, loss, _ = step()
    params = dict(net.named_parameters())
    nodes, _ = parse(viz.draw(loss, params=params, show_grad=True, show_saved=True))
    assert all(p.grad is None for p in net.parameters())
    (g,) = tg.autograd.grad(loss, [net.fc2.weight], retain_graph=True)
    assert f"grad norm {np.linalg.norm(g.data.astype(np.float64)):.4g}" in nodes[find(nodes, "<b>fc2.weight</b>")]
    inner = [v for v in nodes.values() if COLORS["tensor"] in v]
    assert inner and all("grad norm" in v for v in inner)  # intermediate gradients computed too


def test_drawing_changes_neither_graph_nor_gradients():
    net, loss, _ = step()
    ref_net, ref_loss, _ = step(Net())
    ref_loss.backward()
    before = {id(t): t._retains_grad for t in viz.graph._topological([loss])}
    viz.draw(loss, model=net, show_grad=True, show_saved=True, compact=True, max_depth=3)
    viz.draw(loss, model=net, show_grad=True)
    assert all(t._retains_grad == before[id(t)] for t in viz.graph._topological([loss]))
    assert all(p.grad is None for p in net.parameters())
    loss.backward()  # the graph was not freed by drawing
    for (name, p), q in zip(net.named_parameters(), ref_net.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)


def test_nan_gradient_is_highlighted():
    x = tg.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with np.errstate(all="ignore"):
        y = (x.sqrt() * 0.0).sum()  # value finite; d/dx = 0 * 1/(2 sqrt(0)) = 0 * inf = NaN at x = 0
        y.backward()
    nodes, edges = parse(viz.draw(y, show_grad=True))
    leaf = find(nodes, "grad has NaN")
    assert fill(nodes[leaf]) == COLORS["nonfinite"] and NONFINITE_BORDER in nodes[leaf]
    assert "(2,) float64" in nodes[leaf] and not any(h == leaf for _, h, _ in edges)  # it is x
    assert "grad norm nan" in nodes[leaf] and "min/mean/max 0 / 0 / 0" in nodes[leaf]  # range of the non-NaN part
    assert sum(COLORS["nonfinite"] in v for v in nodes.values()) == 1
    assert fill(nodes[find(nodes, "<b>output</b>")]) == COLORS["output"]


def test_inf_value_is_highlighted_in_compact_op_node():
    x = tg.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with np.errstate(all="ignore"):
        y = x.log().sum()
    nodes, _ = parse(viz.draw(y, compact=True))
    log = find(nodes, "<b>Log</b>")
    assert "value has Inf" in nodes[log] and fill(nodes[log]) == COLORS["nonfinite"]


def test_saved_shapes_also_after_backward_frees_them():
    net, loss, _ = step()
    before = parse(viz.draw(loss, show_saved=True))[0]
    loss.backward()
    after, _ = parse(viz.draw(loss, model=net, show_saved=True, show_grad=True))
    drop = after[find(after, "<b>Dropout</b>")]
    assert "saved (6, 4) float32" in drop and "(freed by backward)" in drop
    assert "(freed by backward)" not in before[find(before, "<b>Dropout</b>")]
    first_linear = after[find(after, "saved (6, 5) float32")]  # x (6, 5) and weight (4, 5)
    assert "<b>Linear</b>" in first_linear and "saved (4, 5) float32" in first_linear


def test_retain_grads_shows_intermediate_gradients_after_backward():
    a, w, y = small()
    inner = viz.retain_grads(y)
    assert len(inner) == 2  # a * w and the sum
    y.backward()
    nodes, _ = parse(viz.draw(y, show_grad=True))
    prod = next(k for k, v in nodes.items() if fill(v) == COLORS["tensor"])
    assert "grad norm 2.449" in nodes[prod]  # d sum / d(a*w) = ones(2, 3): norm sqrt(6)


def test_drawing_is_deterministic_and_accepts_several_roots():
    a, w, y = small()
    assert viz.draw(y, params={"w": w}).source == viz.draw(y, params={"w": w}).source
    z = (a * 2.0).mean()
    nodes, _ = parse(viz.draw([y, z]))
    assert sum(fill(v) == COLORS["output"] for v in nodes.values()) == 2


# ---- rendering -----------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_render_svg_and_png(tmp_path):
    from PIL import Image

    net, loss, tr = step(trace=True)
    loss.backward()
    dot = viz.draw(loss, model=net, modules=tr, show_grad=True, show_saved=True, legend=True)
    svg = viz.render(dot, tmp_path / "g.svg")
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "fc1.weight" in text
    png = viz.render(dot, tmp_path / "g.png")
    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG" and 300 < im.width < 10_000 and 300 < im.height < 20_000


def test_render_without_dot_binary(tmp_path, monkeypatch):
    a, w, y = small()
    dot = viz.draw(y)
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot program here
    with pytest.raises(viz.GraphvizNotFoundError, match="apt install graphviz"):
        viz.render(dot, tmp_path / "g.svg")
    assert not (tmp_path / "g.svg").exists()
    out = viz.render(dot, tmp_path / "g.dot")
    assert out.read_text() == dot.source
    with pytest.raises(ValueError, match="unknown format"):
        viz.render(dot, tmp_path / "g.xyz")


# ---- the command line ----------------------------------------------------------------------------
def _cli(*argv: str) -> int:
    from tinygrad_bn.cli import main

    return main(["graph", "--batch-size", "4", *argv])


def test_cli_graph_structure_of_the_mlp_step(tmp_path):
    assert _cli("--out", str(tmp_path / "mlp.dot")) == 0
    src = (tmp_path / "mlp.dot").read_text()
    ops = re.findall(r"<b>(\w+)[ <]", src)
    counts = {name: ops.count(name) for name in set(ops)}
    # 3 Linear layers (one fused op each: x @ weight.T + bias), 2 BatchNorm, 2 ReLU, 2 Dropout, the loss
    assert {k: counts.get(k) for k in ("Linear", "Permute", "MatMul", "Add", "Normalize", "ReLU", "Dropout",
                                       "CrossEntropy")} \
        == {"Linear": 3, "Permute": None, "MatMul": None, "Add": None, "Normalize": 2, "ReLU": 2, "Dropout": 2,
            "CrossEntropy": 1}
    clusters = re.findall(r'label="(\d): (\w+)"', src)
    assert [k for _, k in clusters] == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert "(4, 784) float32" in src and "(512, 784) float32" in src and "<b>0.weight</b>" in src
    assert "legend" in src


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_cli_graph_svg_with_gradients(tmp_path, capsys):
    assert _cli("--out", str(tmp_path / "mlp"), "--show-grad", "--show-saved", "--compact") == 0
    assert f"wrote {tmp_path / 'mlp.svg'}" in capsys.readouterr().out
    svg = (tmp_path / "mlp.svg").read_text()
    assert "<svg" in svg and "grad norm" in svg and "freed by backward" in svg and "1: BatchNorm1d" in svg


def test_cli_graph_without_dot_writes_the_dot_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert _cli("--out", str(tmp_path / "mlp.png"), "--max-depth", "2") == 0
    out = capsys.readouterr().out
    assert "not installed" in out and "apt install graphviz" in out and str(tmp_path / "mlp.dot") in out
    assert not (tmp_path / "mlp.png").exists()
    assert "<b>CrossEntropy</b>" in (tmp_path / "mlp.dot").read_text()


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot program is not installed")
def test_cli_graph_png_in_a_subprocess(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from PIL import Image

    root = Path(__file__).parents[1]
    res = subprocess.run([sys.executable, "-m", "tinygrad_bn", "graph", "--out", str(tmp_path / "g.png"),
                          "--batch-size", "3", "--seed", "1"], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    with Image.open(tmp_path / "g.png") as im:
        assert im.format == "PNG" and 500 < im.width < 10_000 and 500 < im.height < 20_000


def test_cli_graph_rejects_a_batch_of_one(tmp_path, capsys):
    assert _cli("--out", str(tmp_path / "m.svg"), "--batch-size", "1") == 2
    assert "batch size must be an int >= 2" in capsys.readouterr().err


def test_docs_figure_script_builds_its_graphs():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "docs" / "make_figures.py"
    spec = importlib.util.spec_from_file_location("make_figures", path)
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    nodes, edges = parse(figures.small())
    assert len(nodes) == 14 and len(edges) == 12  # 3 leaves, 5 ops, 5 results, legend
    nodes, _ = parse(figures.nan())
    red = [v for v in nodes.values() if fill(v) == COLORS["nonfinite"]]
    assert len(red) == 1 and "<b>x</b>" in red[0] and "grad has NaN" in red[0]


def test_conv_and_pool_nodes_show_their_attributes():
    net = tg.nn.Sequential(tg.nn.Conv2d(1, 2, 3, padding=1, dtype=np.float64), tg.nn.MaxPool2d(2),
                           tg.nn.AvgPool2d(2, 1), tg.nn.AdaptiveAvgPool2d(1))
    out = net(tg.Tensor(np.random.default_rng(0).standard_normal((2, 1, 6, 6)))).sum()
    nodes, edges = parse(viz.draw(out, model=net, show_saved=True))
    conv = nodes[find(nodes, "<b>Conv2d</b>")]
    for text in ("stride=(1, 1)", "padding=(1, 1)", "dilation=(1, 1)", "groups=1"):
        assert text in conv
    into_conv = sorted(lbl for _, h, lbl in edges if h == find(nodes, "<b>Conv2d</b>"))
    assert into_conv == ["label=b", "label=w", "label=x"]
    maxpool = nodes[find(nodes, "<b>MaxPool2d</b>")]
    assert "kernel_size=(2, 2)" in maxpool and "saved (2, 2, 3, 3) uint8" in maxpool  # the winning tap per window
    assert "stride=(1, 1)" in nodes[find(nodes, "<b>AvgPool2d</b>")]
    assert find(nodes, "<b>GlobalAvgPool2d</b>")
    assert fill(nodes[find(nodes, "<b>0.weight</b>")]) == COLORS["parameter"]
