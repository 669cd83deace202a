"""topological_order: the sweep's schedule. It must list every op output the gradient flows through
exactly once, each after all of its inputs, however the graph was built (shared subexpressions, ops
recorded under create_graph, a constant that an in-place op turned into an op output)."""

import numpy as np
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
    roots = draw(st.lists(st.sampled_from(pool[3:]), min_size=1, max_size=3))
    return roots


@settings(max_examples=150, deadline=None)
@given(graphs(), st.booleans())
def test_every_tensor_is_listed_once_after_all_of_its_inputs(roots, leaves):
    assert_topological(topological_order(roots, leaves=leaves), roots, leaves)


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
