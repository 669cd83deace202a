"""tinygrad_edu.viz.to_text: the recorded graph as an indented text tree, readable without Graphviz."""

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import viz


def small_layer():
    """loss = sum(relu(x @ w + b)): x a constant, w and b leaves that require grad."""
    x = tg.Tensor(np.ones((2, 3), dtype=np.float32))
    w = tg.Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    b = tg.Tensor(np.full(4, 0.5, dtype=np.float32), requires_grad=True)
    return (x @ w + b).relu().sum(), x, w, b


def test_tree_lists_each_op_with_shape_and_dtype_and_marks_leaves_and_constants():
    loss, _, w, b = small_layer()
    assert viz.to_text(loss, names={"w": w, "b": b}).splitlines() == [
        "Sum () float32 value 28",
        "`-- ReLU (2, 4) float32",
        "    `-- Add (2, 4) float32",
        "        |-- MatMul (2, 4) float32",
        "        |   |-- constant (2, 3) float32 requires_grad=False",
        "        |   `-- w: leaf (3, 4) float32 requires_grad=True",
        "        `-- b: leaf (4,) float32 requires_grad=True",
    ]


def test_a_shared_subgraph_is_written_once_and_then_referred_to():
    x = tg.Tensor(np.ones(3), requires_grad=True)
    h = x.exp().tanh()  # used twice below: its subtree appears once
    text = viz.to_text((h * h + h).sum(), names={"h": h, "x": x})
    assert text.splitlines() == [
        "Sum () float64 value 5.922",
        "`-- Add (3,) float64",
        "    |-- Mul (3,) float64",
        "    |   |-- [1] h: Tanh (3,) float64",
        "    |   |   `-- Exp (3,) float64",
        "    |   |       `-- x: leaf (3,) float64 requires_grad=True",
        "    |   `-- [1] h (shown above)",
        "    `-- [1] h (shown above)",
    ]


def test_repeated_sharing_grows_the_text_linearly_not_exponentially():
    # each level uses the previous one twice: 2**60 paths from the top, 61 tensors
    y = tg.Tensor(np.ones(2), requires_grad=True)
    for _ in range(60):
        y = y + y
    lines = viz.to_text(y).splitlines()
    assert len(lines) == 1 + 2 * 60
    assert sum(line.endswith("(shown above)") for line in lines) == 60
    assert lines[:3] == ["Add (2,) float64", "|-- [1] Add (2,) float64", "|   |-- [2] Add (2,) float64"]
    assert lines[-2:] == ["|   `-- [2] (shown above)", "`-- [1] (shown above)"]


def test_a_chain_of_100000_ops_needs_no_recursion_and_keeps_lines_short():
    x = tg.Tensor(np.zeros(1), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y.tanh()
    lines = viz.to_text(y).splitlines()
    assert len(lines) == 100_001
    assert lines[-1].startswith("(depth 100000) ") and lines[-1].endswith("`-- leaf (1,) float64 requires_grad=True value 0")
    assert max(len(line) for line in lines) < 160


def test_after_backward_the_freed_graph_is_marked_and_the_tree_says_how_to_keep_it():
    loss, *_ = small_layer()
    loss.backward()
    assert viz.to_text(loss).splitlines() == [
        "Sum () float32 value 28 -- inputs freed by backward",
        ("(inputs freed by backward: a plain backward() releases the graph as it goes; "
         "call backward(retain_graph=True) to keep it for viewing)"),
    ]


def test_after_backward_with_retain_graph_the_whole_tree_remains():
    loss, *_ = small_layer()
    before = viz.to_text(loss)
    loss.backward(retain_graph=True)
    assert viz.to_text(loss) == before and "freed" not in before


def test_a_leaf_alone_is_one_line():
    assert viz.to_text(tg.Tensor([1.0, 2.0])) == "constant (2,) float32 requires_grad=False"


def test_to_text_rejects_what_is_not_a_tensor():
    with pytest.raises(TypeError, match="to_text expects a Tensor, got list"):
        viz.to_text([1.0, 2.0])
