"""tg.detect_anomaly(): the first nan/inf in a forward output or a backward gradient raises, naming the op,
the shapes and the user's line; outside the context nothing is checked and nothing is recorded."""

import inspect
import os

import numpy as np
import pytest

import tinygrad_edu as tg
from tinygrad_edu import function
from tinygrad_edu.autograd import backprop

# NumPy warns about the very nan/inf these tests produce on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

THIS_FILE = os.path.abspath(__file__)


def next_line():
    """The line number just after the caller's line: where the op under test is created."""
    return inspect.currentframe().f_back.f_lineno + 1


def test_forward_nan_names_op_shapes_and_user_line():
    x = tg.Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    with pytest.raises(tg.AnomalyError, match="^Log forward produced nan/inf") as err, tg.detect_anomaly():
        line = next_line()
        x.log()
    message = str(err.value)
    assert message.startswith("Log forward produced nan/inf: input shapes ((2,)), result shape (2,)")
    assert f"{THIS_FILE}:{line} in test_forward_nan_names_op_shapes_and_user_line: x.log()" in message


def test_forward_inf_from_exp_overflow():
    x = tg.Tensor(np.array([[1.0], [1000.0]]), requires_grad=True)
    with pytest.raises(tg.AnomalyError, match=r"^Exp forward produced nan/inf: input shapes \(\(2, 1\)\), "
                                              r"result shape \(2, 1\)"), tg.detect_anomaly():
        x.exp()


def test_forward_inf_of_a_broadcast_binary_op_names_both_shapes():
    a = tg.Tensor(np.full((2, 3), 1e30, dtype=np.float32), requires_grad=True)
    b = tg.Tensor(np.full(3, 1e30, dtype=np.float32))
    with pytest.raises(tg.AnomalyError, match=r"Mul forward .* input shapes \(\(2, 3\), \(3,\)\), "
                                              r"result shape \(2, 3\)"), tg.detect_anomaly():
        a * b


def test_forward_is_checked_even_when_nothing_requires_grad():
    with pytest.raises(tg.AnomalyError, match="Log forward"), tg.detect_anomaly():
        tg.Tensor(np.array([0.0])).log()


def test_backward_only_inf_sqrt_at_zero_points_at_the_forward_line():
    x = tg.Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with tg.detect_anomaly():
        line = next_line()
        y = x.sqrt().sum()
        assert np.isfinite(y.data).all()  # the forward pass is fine: sqrt(0) = 0
        with pytest.raises(tg.AnomalyError, match="^Pow backward produced nan/inf") as err:
            y.backward()
    message = str(err.value)
    # sqrt is x ** 0.5, whose derivative 0.5 / sqrt(x) is infinite at 0.
    assert message.startswith("Pow backward produced nan/inf: input shapes ((2,), ()), result shape (2,)")
    assert f"{THIS_FILE}:{line} in " in message and "y = x.sqrt().sum()" in message


def test_backward_only_nan():
    x = tg.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with tg.detect_anomaly():
        y = (x.sqrt() * 0.0).sum()  # forward 0; backward 0 * inf = nan at x = 0
        with pytest.raises(tg.AnomalyError, match="^Pow backward produced nan/inf"):
            y.backward()


def test_backward_of_a_graph_recorded_outside_says_where_to_look():
    x = tg.Tensor(np.array([0.0]), requires_grad=True)
    y = x.sqrt().sum()
    with pytest.raises(tg.AnomalyError, match="forward pass ran outside detect_anomaly"), tg.detect_anomaly():
        y.backward()


def test_finite_computation_gives_the_same_gradients_inside_and_outside():
    def grads():
        x = tg.Tensor(np.array([[0.5, -1.0, 2.0]]), requires_grad=True)
        w = tg.Tensor(np.array([[1.0], [0.5], [-0.25]]), requires_grad=True)
        (x @ w).tanh().log_softmax(axis=0).sum().backward()
        return x.grad.data, w.grad.data

    outside = grads()
    with tg.detect_anomaly():
        inside = grads()
    for a, b in zip(outside, inside):
        np.testing.assert_array_equal(a, b)


def test_integer_results_are_not_checked():
    with tg.detect_anomaly():
        assert (tg.Tensor([1, 2]) + 1).tolist() == [2, 3]


def test_outside_the_context_nan_passes_silently_and_nothing_is_recorded(monkeypatch):
    def must_not_run(*args):
        raise AssertionError("anomaly machinery ran outside detect_anomaly")

    monkeypatch.setattr(function, "_user_frame", must_not_run)
    monkeypatch.setattr(function, "check_anomaly", must_not_run)
    monkeypatch.setattr(backprop, "check_anomaly", must_not_run)
    x = tg.Tensor(np.array([-1.0, 0.0]), requires_grad=True)
    y = x.log() + x.sqrt()
    assert np.isnan(y.data[0]) and np.isneginf(y.data[1])
    assert not hasattr(y.grad_fn, "created_at")
    y.sum().backward()
    assert not np.isfinite(x.grad.data).all()


def anomaly_detection_is_on() -> bool:
    """Whether a nan made now raises: detect_anomaly's mode seen from outside."""
    try:
        tg.Tensor(np.array([-1.0])).log()
    except tg.AnomalyError:
        return True
    return False


def test_state_is_restored_after_an_error_and_when_nested():
    assert not anomaly_detection_is_on()
    with pytest.raises(tg.AnomalyError, match="^Log forward produced nan/inf"), tg.detect_anomaly():
        tg.Tensor(np.array([-1.0])).log()
    assert not anomaly_detection_is_on(), "detect_anomaly stayed on after an error inside it"
    with tg.detect_anomaly():
        with tg.detect_anomaly():
            pass
        assert anomaly_detection_is_on(), "leaving a nested detect_anomaly turned the outer one off"
    assert not anomaly_detection_is_on(), "detect_anomaly stayed on after the outer context"


def test_anomaly_error_is_a_floating_point_error():
    assert issubclass(tg.AnomalyError, FloatingPointError)


def test_user_frame_skips_only_the_package_itself():
    # Code in a file whose path merely starts like the package folder's (tinygrad_edu_notes.py beside
    # tinygrad_edu/) is the user's, and must be the line reported. No file is needed: compile() names it.
    user_file = os.path.dirname(function.__file__) + "_notes.py"
    namespace = {}
    exec(compile("def run(x):\n    return x.log()\n", user_file, "exec"), namespace)  # noqa: S102 -- our own literal code
    with pytest.raises(tg.AnomalyError, match=f"{user_file}:2 in run"), tg.detect_anomaly():
        namespace["run"](tg.Tensor(np.array([-1.0])))
