"""The graph is released after every step: training does not grow memory, and no reference cycle keeps
a finished graph alive (it goes away by reference counting alone, with the cycle collector off)."""

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import Tensor

GROWTH_TOLERANCE = 64 * 1024  # bytes between step 200 and step 2000


def live_bytes():
    """Bytes of traced memory held by live objects.

    A full collection first empties CPython's free lists (of tuples, floats, ...): freed objects parked
    there still count as traced, and how full those lists were when tracing began depends on what ran
    before, which alone can look like 150 KiB of "growth". Cycles are not what this measures: the tests
    below show that a finished graph is freed without the cycle collector.
    """
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


class TinyMLP:
    """20 -> 32 -> 10 from raw Tensors, trained with plain SGD on a few fixed random batches."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.params = [
            Tensor((rng.standard_normal((20, 32)) / np.sqrt(20)).astype(np.float32), requires_grad=True),
            Tensor(np.zeros(32, dtype=np.float32), requires_grad=True),
            Tensor((rng.standard_normal((32, 10)) / np.sqrt(32)).astype(np.float32), requires_grad=True),
            Tensor(np.zeros(10, dtype=np.float32), requires_grad=True),
        ]
        self.batches = [(Tensor(rng.standard_normal((16, 20)).astype(np.float32)), rng.integers(0, 10, 16))
                        for _ in range(4)]
        self.rows = np.arange(16)

    def loss(self, step):
        x, y = self.batches[step % len(self.batches)]
        w1, b1, w2, b2 = self.params
        logits = (x @ w1 + b1).relu() @ w2 + b2
        return -logits.log_softmax(axis=1)[self.rows, y].mean()

    def step(self, step, lr=0.1, retain_graph=False):
        loss = self.loss(step)
        loss.backward(retain_graph=retain_graph)
        with tg.no_grad():
            for p in self.params:
                p.data -= lr * p.grad.data
                p.grad = None
        return loss


def test_two_thousand_training_steps_do_not_grow_memory():
    model = TinyMLP()
    first_loss = float(model.loss(0).item())
    tracemalloc.start()
    try:
        for step in range(2000):
            loss = model.step(step)
            if step == 199:
                at_200 = live_bytes()
        at_2000 = live_bytes()
    finally:
        tracemalloc.stop()
    assert at_2000 - at_200 < GROWTH_TOLERANCE, f"memory grew by {at_2000 - at_200} bytes over 1800 steps"
    assert float(model.loss(0).item()) < first_loss / 2, "the loop must really train (else it proves nothing)"
    del loss


def test_the_memory_probe_sees_graphs_that_are_kept_alive():
    # The control for the test above: keeping each step's graph (retain_graph + a list of losses)
    # is a leak the same measurement must catch, with the same tolerance.
    model = TinyMLP()
    kept = []
    tracemalloc.start()
    try:
        start = live_bytes()
        for step in range(100):
            kept.append(model.step(step, retain_graph=True))
        grown = live_bytes() - start
    finally:
        tracemalloc.stop()
    assert grown > GROWTH_TOLERANCE


@pytest.fixture
def cycle_collector_off():
    gc.collect()
    gc.disable()
    yield
    gc.enable()


def small_graph():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    w = Tensor(rng.standard_normal((3, 2)).astype(np.float32), requires_grad=True)
    hidden = (x @ w).tanh()
    loss = (hidden * hidden).sum()
    return w, hidden, loss


def test_finished_graph_is_freed_without_the_cycle_collector(cycle_collector_off):
    w, hidden, loss = small_graph()
    hidden_ref, node_ref = weakref.ref(hidden), weakref.ref(hidden.grad_fn)
    matmul_ref = weakref.ref(hidden.grad_fn.inputs[0])
    loss.backward()
    del hidden, loss
    assert hidden_ref() is None and node_ref() is None and matmul_ref() is None
    assert w.grad is not None  # what the user asked for survives


def test_backward_releases_the_graph_even_while_the_loss_is_still_held(cycle_collector_off):
    _, hidden, loss = small_graph()
    hidden_ref, node_ref = weakref.ref(hidden), weakref.ref(hidden.grad_fn)
    del hidden
    assert hidden_ref() is not None  # before backward, the loss's graph holds it
    loss.backward()
    assert hidden_ref() is None and node_ref() is None
    assert loss.item() > 0


def test_retained_graph_is_freed_once_the_loss_is_deleted(cycle_collector_off):
    w, hidden, loss = small_graph()
    hidden_ref, node_ref = weakref.ref(hidden), weakref.ref(hidden.grad_fn)
    saved_ref = weakref.ref(hidden.grad_fn.saved[0])  # the array Tanh saved for backward
    del hidden
    loss.backward(retain_graph=True)
    loss.backward(retain_graph=True)
    assert hidden_ref() is not None and saved_ref() is not None  # retained, as retain_graph=True asks
    del loss
    assert hidden_ref() is None and node_ref() is None and saved_ref() is None
    np.testing.assert_allclose(w.grad.data, 2 * _single_backward_grad(), rtol=1e-6)


def _single_backward_grad():
    w, _, loss = small_graph()
    loss.backward()
    return w.grad.data


@pytest.mark.parametrize("how", ["backward", "autograd.grad"])
def test_a_weight_used_many_times_holds_one_gradient_array_during_the_sweep(how):
    """A leaf reached by 100 paths (a weight shared by 100 layers) gets each path's gradient added to one
    running sum as the sweep goes, as PyTorch accumulates: the sweep's peak is a few arrays of the
    weight's size, not one per path."""
    rng = np.random.default_rng(0)
    w = Tensor(rng.standard_normal((200, 200)) * 0.01, requires_grad=True)
    h = Tensor(np.ones((1, 200)))
    for _ in range(100):
        h = (h @ w).tanh()
    loss = h.sum()
    tracemalloc.start()
    try:
        before = live_bytes()
        tracemalloc.reset_peak()
        if how == "backward":
            loss.backward()
        else:
            tg.autograd.grad(loss, w)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 8 * w.data.nbytes, f"the sweep's peak was {peak / w.data.nbytes:.1f} weight-sized arrays"
