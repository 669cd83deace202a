"""topological_order and the sweep's schedule. The order must list every op output the gradient flows
through exactly once, each after all of its inputs, however the graph was built (shared subexpressions,
ops recorded under create_graph, a constant that an in-place op turned into an op output); the sweep,
which takes the tensors from a heap by sequence number, must run their nodes in the reverse of it."""

import copy
import itertools
import pickle
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_edu as tg
from tinygrad_edu import Tensor
from tinygrad_edu.autograd import topological_order

BINARY = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a @ b.T @ b]
UNARY = [lambda a: a.sigmoid(), lambda a: a.relu(), lambda a: a * 2.0, lambda a: -a, lambda a: a.tanh()]


def reachable(roots, leaves):
    """The reference: a recursive depth-first walk, by definition of what the gradient flows through
    (with ``leaves``: the whole recorded graph)."""
    seen = {}

    def visit(t):
        if id(t) in seen:
            return
        if t._node is None:
            if leaves:
                seen[id(t)] = t
            return
        seen[id(t)] = t
        for parent, needed in zip(t._node.inputs, t._node.needs_input_grad):
            if leaves or needed and parent._node is not None:
                visit(parent)

    for root in roots:
        visit(root)
    return seen


def assert_topological(order, roots, leaves):
    position = {id(t): i for i, t in enumerate(order)}
    assert len(position) == len(order), "a tensor is listed twice"
    assert position.keys() == reachable(roots, leaves).keys()
    for t in order:
        if t._node is not None:
            for parent, needed in zip(t._node.inputs, t._node.needs_input_grad):
                if (leaves or needed) and id(parent) in position:
                    assert position[id(parent)] < position[id(t)], "an input is listed after its consumer"


@st.composite
def graphs(draw):
    """A random graph over a pool of tensors: some leaves need grad, some are constants, later ops reuse
    earlier results (diamonds, one tensor consumed many times)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    pool = [Tensor(rng.standard_normal((3, 3)), requires_grad=draw(st.booleans())) for _ in range(3)]
    pool[0].requires_grad_(True)
    for _ in range(draw(st.integers(1, 25))):
        if draw(st.booleans()):
            op = draw(st.sampled_from(BINARY))
            pool.append(op(draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
        else:
            pool.append(draw(st.sampled_from(UNARY))(draw(st.sampled_from(pool))))
    # roots the gradient flows from (an op on constants alone records nothing, and would check nothing)
    recorded = [t for t in pool[3:] if t.grad_fn is not None] or [pool[0] * 1.0]
    return draw(st.lists(st.sampled_from(recorded), min_size=1, max_size=3))


@settings(max_examples=150, deadline=None)
@given(graphs(), st.booleans())
def test_every_tensor_is_listed_once_after_all_of_its_inputs(roots, leaves):
    assert_topological(topological_order(roots, leaves=leaves), roots, leaves)


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_the_sweep_runs_the_nodes_in_the_reverse_of_the_topological_order(roots):
    """Each node after every consumer of its output: the heap of the sweep gives the order the sort gives."""
    ran = []
    tg.autograd.sweep(roots, [np.ones(r.shape) for r in roots], lambda tensor, g: None, retain_graph=True,
                      visit=lambda node, g, input_grads: ran.append(node))
    reverse_order = [t._node for t in reversed(topological_order(roots))]
    ran_ids = {id(node) for node in ran}
    assert len(ran_ids) == len(ran), "a node ran twice"
    assert ran == [node for node in reverse_order if id(node) in ran_ids]


def test_a_graph_and_its_deep_copy_in_one_loss_each_get_their_own_gradient():
    """A copy's nodes keep the original's sequence numbers, so the sweep meets equal numbers: the two
    graphs are disjoint, and each leaf receives the gradient of its own path."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y_copy = copy.deepcopy(y)
    x_copy = y_copy.grad_fn.inputs[0].grad_fn.inputs[0]
    assert y_copy.grad_fn.sequence_nr == y.grad_fn.sequence_nr and x_copy is not x
    (y + 3 * y_copy).backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    np.testing.assert_array_equal(x_copy.grad.data, [6.0, 12.0])


def test_ops_recorded_by_a_create_graph_sweep_are_ordered_after_what_they_use():
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    y = (x.sigmoid() * x).sum()
    (g,) = tg.autograd.grad(y, x, create_graph=True)
    z = (g * x).sum() + y  # the gradient's ops and the first pass's ops in one graph
    for leaves in (False, True):
        assert_topological(topological_order(z, leaves=leaves), [z], leaves)


def test_a_constant_turned_op_output_by_an_in_place_op_is_ordered_by_its_new_node():
    w = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.full(3, 2.0))
    early = (c * w).sum()  # c is a constant input here
    c += w                 # c becomes an op output, recorded after `early`
    loss = early + (c * c).sum()
    # the sweep's order: `early` took the constant c, so no gradient flows from it to c's new node
    assert_topological(topological_order(loss), [loss], False)
    loss.backward()
    np.testing.assert_allclose(w.grad.data, 2.0 + 2 * 3.0)  # d/dw [2 w + (2 + w)^2] at w = 1


def test_sequence_numbers_increase_in_the_order_ops_run():
    x = Tensor(np.ones(2), requires_grad=True)
    a = x * 2
    b = a + x
    c = b.sigmoid()
    assert a.grad_fn.sequence_nr < b.grad_fn.sequence_nr < c.grad_fn.sequence_nr


def test_a_graph_unpickled_in_a_new_process_is_ordered_after_its_inputs_and_before_new_ops(tmp_path):
    """Sequence numbers are counted per process: the loading process counts on past the restored nodes'
    numbers, so an op it records on them (its own count is lower than theirs here) still follows them."""
    x = Tensor(np.arange(3.0), requires_grad=True)
    for _ in range(50):
        x * 2
    y = (x * 2).sigmoid()
    path = tmp_path / "graph.pkl"
    path.write_bytes(pickle.dumps((x, y)))
    script = (
        "import pickle, sys, numpy as np\n"
        "x, y = pickle.load(open(sys.argv[1], 'rb'))\n"
        "loss = (y * 3).sum()\n"
        "loss.backward()\n"
        "print(repr(x.grad.data.tolist()))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    s = 1 / (1 + np.exp(-2 * np.arange(3.0)))
    np.testing.assert_allclose(eval(done.stdout), 3 * s * (1 - s) * 2, rtol=1e-12)


def _round_trips():
    return {"deepcopy": copy.deepcopy, "pickle": lambda obj: pickle.loads(pickle.dumps(obj))}


@pytest.mark.parametrize("restore", list(_round_trips()))
def test_a_restored_graph_whose_gradient_graph_uses_its_tensors_differentiates_as_the_original(restore):
    """h.grad's recorded graph takes h as an input (retain_grad under create_graph): pickle restores h.grad's
    nodes before h's own, so the restored nodes must keep their numbers rather than be numbered anew."""
    x = Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    h = (x * 3.0).tanh()
    h.retain_grad()
    (h * h * h).sum().backward(create_graph=True)  # h.grad = 3 h^2
    (expected,) = tg.autograd.grad(h.grad.sum(), x, retain_graph=True)
    h2, x2 = _round_trips()[restore]((h, x))
    assert_topological(topological_order(h2.grad), [h2.grad], False)
    (got,) = tg.autograd.grad(h2.grad.sum(), x2)
    t = np.tanh(3 * x.data)
    np.testing.assert_allclose(expected.data, 6 * t * (1 - t * t) * 3, rtol=1e-12)
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-15)


def test_new_ops_on_a_restored_graph_are_numbered_above_it(monkeypatch):
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = ((x * x).tanh() + x).sum()
    high = max(t.grad_fn.sequence_nr for t in topological_order(y))
    data = pickle.dumps(y)
    monkeypatch.setattr(tg.function, "_sequence", itertools.count())  # a new process counts from 0
    y2 = pickle.loads(data)
    assert (y2 * 2.0).grad_fn.sequence_nr > high


def test_a_graph_saved_without_sequence_numbers_is_refused_when_loaded():
    x = Tensor(np.array([0.5, -1.0]), requires_grad=True)
    y = x * 2.0
    del y.grad_fn.sequence_nr  # as an older tinygrad_edu saved its nodes
    data = pickle.dumps(y)
    with pytest.raises(ValueError, match="saved by an older tinygrad_edu.*carry no sequence number"):
        pickle.loads(data)


def test_to_dot_marks_the_tensor_it_was_given_as_the_output():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    c = Tensor(np.array([3.0, 4.0]))
    u = c * x
    c += x * x  # c becomes an op output recorded after u: it sorts after u
    dot = tg.viz.to_dot(u)
    (output_line,) = [line for line in dot.splitlines() if "output" in line]
    box = output_line.split()[0]
    assert f"op0 -> {box};" in dot and "Mul" in dot.split("op0 [", 1)[1].split("]", 1)[0]
