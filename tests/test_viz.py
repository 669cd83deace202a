"""tinygrad_edu.viz: the graph as DOT text, rendering through Graphviz, the Jupyter hook, the backward trace."""

import re
import shutil

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import autograd, viz

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed (apt-get install graphviz)")


def small_layer():
    """loss = sum(relu(x @ w + b)): 4 ops, 3 leaves (x constant, w and b parameters), 4 op outputs."""
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((2, 3)).astype(np.float32))
    w = tg.Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    b = tg.Tensor(np.full(4, 0.5, dtype=np.float32), requires_grad=True)
    loss = (x @ w + b).relu().sum()
    return loss, x, w, b


def dot_nodes(text):
    """{node id: label} of the tensor nodes (t*) and op nodes (op*) in DOT text."""
    return dict(re.findall(r"^\s*((?:t|op)\d+) \[.*label=\"(.*)\"\];$", text, flags=re.MULTILINE))


def dot_edges(text):
    return re.findall(r"^\s*(\w+) -> (\w+);$", text, flags=re.MULTILINE)


# ---- to_dot ---------------------------------------------------------------------------------


def test_to_dot_has_one_node_per_tensor_and_per_op():
    loss, *_ = small_layer()
    nodes = dot_nodes(viz.to_dot(loss))
    tensors = [k for k in nodes if k.startswith("t")]
    ops = [k for k in nodes if k.startswith("op")]
    assert len(tensors) == 3 + 4 and len(ops) == 4
    assert sorted(nodes[k] for k in ops) == ["Add", "MatMul", "ReLU", "Sum"]


def test_to_dot_edges_run_inputs_to_op_to_output():
    loss, *_ = small_layer()
    text = viz.to_dot(loss)
    edges = dot_edges(text)
    assert len(edges) == (2 + 1) + (2 + 1) + (1 + 1) + (1 + 1)  # each op: its inputs in, its output out
    for source, target in edges:
        assert source.startswith("t") != target.startswith("t"), "edges alternate tensor -> op -> tensor"
    assert text.startswith("digraph") and text.rstrip().endswith("}")


def test_to_dot_labels_carry_shape_dtype_and_role():
    loss, *_ = small_layer()
    labels = list(dot_nodes(viz.to_dot(loss, names=None)).values())
    assert r"leaf\n(2, 3) float32" in labels
    assert r"parameter\n(3, 4) float32" in labels
    assert r"parameter\n(4,) float32" in labels
    assert r"(2, 4) float32" in labels
    assert any(label.startswith(r"output\n() float32\nvalue ") for label in labels)


def test_to_dot_uses_given_names():
    loss, x, w, b = small_layer()
    labels = list(dot_nodes(viz.to_dot(loss, names={"x": x, "w": w, "b": b})).values())
    assert r"w (parameter)\n(3, 4) float32" in labels and r"x (leaf)\n(2, 3) float32" in labels


def test_to_dot_draws_a_reused_tensor_once_with_one_edge_per_use():
    x = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * x
    text = viz.to_dot((y + y).sum())
    nodes = dot_nodes(text)
    assert len([k for k in nodes if k.startswith("t")]) == 4  # x, x*x, y+y, sum
    assert dot_edges(text).count(("t0", "op0")) == 2
    assert dot_edges(text).count(("t1", "op1")) == 2


def test_to_dot_shows_gradient_norms_after_backward_with_retained_graph():
    loss, _, w, b = small_layer()
    loss.backward(retain_graph=True)
    labels = dot_nodes(viz.to_dot(loss, names={"w": w, "b": b}))
    w_label = next(v for v in labels.values() if v.startswith("w "))
    assert w_label.endswith(rf"\n|grad| {np.linalg.norm(w.grad.data):.4g}")
    assert "freed" not in viz.to_dot(loss)
    assert "|grad|" not in viz.to_dot(loss, show_grad=False)


def test_to_dot_marks_nodes_freed_by_backward():
    loss, *_ = small_layer()
    loss.backward()
    text = viz.to_dot(loss)
    assert r"Sum\n(freed by backward)" in text


def test_to_dot_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="to_dot expects a Tensor, got ndarray"):
        viz.to_dot(np.ones(3))


# ---- render and the Jupyter hook --------------------------------------------------------------


def test_render_without_dot_says_how_to_install_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no 'dot' anywhere on PATH
    loss, *_ = small_layer()
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz") as err:
        viz.render(loss, tmp_path / "graph.svg")
    message = str(err.value)
    assert "'dot'" in message and "apt-get install graphviz" in message and "brew install graphviz" in message
    assert list(tmp_path.iterdir()) == []


def test_render_rejects_an_unknown_picture_format(tmp_path):
    loss, *_ = small_layer()
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        viz.render(loss, tmp_path / "graph.jpg")


def test_render_into_a_missing_folder_names_it(tmp_path):
    loss, *_ = small_layer()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        viz.render(loss, tmp_path / "nowhere" / "graph.svg")


@needs_dot
def test_render_writes_svg_and_png_with_dot(tmp_path):
    loss, _, w, _ = small_layer()
    svg = viz.render(loss, tmp_path / "graph.svg", names={"w": w})
    png = viz.render(loss, tmp_path / "graph.png")
    text = svg.read_text()
    assert "<svg" in text and "MatMul" in text and "w (parameter)" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.png", "graph.svg"]  # no temp file left


@needs_dot
def test_jupyter_hook_gives_svg_for_an_op_output_and_none_for_a_leaf():
    loss, x, *_ = small_layer()
    svg = loss._repr_svg_()
    assert svg is not None and "<svg" in svg and "ReLU" in svg
    assert x._repr_svg_() is None


def test_jupyter_hook_shows_the_text_tree_without_dot(monkeypatch):
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    loss, x, *_ = small_layer()
    svg = loss._repr_svg_()
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    shown = [re.sub(r"<[^>]+>", "", row) for row in re.findall(r"<text [^>]*>.*?</text>", svg)]
    assert shown == viz.to_text(loss).splitlines()
    assert x._repr_svg_() is None


def test_jupyter_hook_shows_the_text_tree_when_dot_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("dot crashed")

    monkeypatch.setattr(viz.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(viz, "_run_dot", broken)
    loss, *_ = small_layer()
    svg = loss._repr_svg_()
    assert svg.startswith("<svg") and "Sum () float32" in svg and "dot crashed" not in svg


# ---- trace_backward ---------------------------------------------------------------------------


def branching_graph():
    """A graph with a reused intermediate and two paths to the loss, so the order matters."""
    rng = np.random.default_rng(1)
    a = tg.Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    c = tg.Tensor(rng.standard_normal(2), requires_grad=True)
    h = (a * c).tanh()
    loss = (h.exp().sum(axis=0) * h.sum(axis=0)).sum() + (h * 2.0).sum()
    return loss, a, c, h


def test_trace_visits_nodes_in_reverse_topological_order():
    loss, *_ = branching_graph()
    expected = [t.grad_fn for t in reversed(autograd.topological_order(loss))]
    steps = viz.trace_backward(loss, verbose=False)
    assert [s.node for s in steps] == expected  # identity of the node objects, step by step
    assert [s.step for s in steps] == list(range(1, len(expected) + 1))


def test_trace_records_shapes_and_op_names():
    loss, *_ = branching_graph()
    expected = [(type(t.grad_fn).__name__, tuple(p.shape for p in t.grad_fn.inputs), t.shape)
                for t in reversed(autograd.topological_order(loss))]
    steps = viz.trace_backward(loss, verbose=False)
    assert [(s.op, s.input_shapes, s.output_shape) for s in steps] == expected
    assert steps[-1].op == "Mul" and steps[-1].input_shapes == ((3, 2), (2,))


def test_trace_gradient_norms_equal_the_real_gradients_norms():
    loss, a, c, h = branching_graph()
    h.retain_grad()
    tanh_node = h.grad_fn
    mul_node = tanh_node.inputs[0].grad_fn  # a * c: the only consumer of a and of c
    steps = viz.trace_backward(loss, verbose=False)
    mul = next(s for s in steps if s.node is mul_node)
    tanh = next(s for s in steps if s.node is tanh_node)
    assert mul.grad_norms[0] == pytest.approx(np.linalg.norm(a.grad.data), rel=1e-12)
    assert mul.grad_norms[1] == pytest.approx(np.linalg.norm(c.grad.data), rel=1e-12)
    # h is consumed three times; Tanh (h's maker) receives their sum, which is h.grad.
    assert tanh.output_grad_norm == pytest.approx(np.linalg.norm(h.grad.data), rel=1e-12)


def test_trace_changes_no_gradient():
    loss, a, c, _ = branching_graph()
    viz.trace_backward(loss, verbose=False)
    traced = a.grad.data.copy(), c.grad.data.copy()
    loss, a, c, _ = branching_graph()
    loss.backward()
    np.testing.assert_array_equal(traced[0], a.grad.data)
    np.testing.assert_array_equal(traced[1], c.grad.data)


def test_trace_marks_inputs_that_need_no_gradient():
    w = tg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = tg.Tensor(np.array([3.0, 4.0]))
    (_, step_mul) = viz.trace_backward((w * x).sum(), verbose=False)
    assert step_mul.op == "Mul" and step_mul.grad_norms == (pytest.approx(5.0), None)


def test_trace_prints_a_table_in_sweep_order(capsys):
    loss, *_ = branching_graph()
    steps = viz.trace_backward(loss)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["step", "op", "output", "inputs"]
    assert len(lines) == 1 + len(steps)
    assert [line.split()[1] for line in lines[1:]] == [s.op for s in steps]


def test_trace_of_a_leaf_visits_nothing_and_still_accumulates():
    x = tg.Tensor(np.array([2.0]), requires_grad=True)
    assert viz.trace_backward(x, verbose=False) == []
    assert x.grad.tolist() == [1.0]


def test_trace_with_retain_graph_allows_a_second_backward():
    loss, a, *_ = branching_graph()
    viz.trace_backward(loss, retain_graph=True, verbose=False)
    once = a.grad.data.copy()
    loss.backward()
    np.testing.assert_allclose(a.grad.data, 2 * once)


def test_trace_of_a_freed_graph_raises_the_engine_error():
    loss, *_ = branching_graph()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.trace_backward(loss, verbose=False)
