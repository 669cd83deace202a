"""Optimizers: each update rule against a NumPy re-implementation of PyTorch's documented algorithm
over 25 steps (float64, to 1e-12), in-place float32 updates without per-step allocations, param
groups, state_dict resume, errors, and (when torch is installed) parity with torch.optim."""

import tracemalloc

import numpy as np
import pytest

from tinygrad_edu import Tensor, nn, optim

STEPS = 25
SHAPES = [(3, 4), (4,)]


class Problem:
    """A fixed gradient field g(theta) = A*theta + C + 0.05*theta^3 + noise_t for each parameter.

    Both the optimizer under test and the reference receive the *same* gradient arrays computed from
    their current parameters, so any difference comes from the update arithmetic alone.
    """

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.start = [rng.standard_normal(s) for s in SHAPES]
        self.a = [rng.uniform(0.5, 2.0, s) for s in SHAPES]
        self.c = [rng.standard_normal(s) for s in SHAPES]
        self.noise = [[0.1 * rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]

    def grads(self, thetas, t):
        return [a * w + c + 0.05 * w ** 3 + n for a, c, w, n in zip(self.a, self.c, thetas, self.noise[t])]


def run_ours(opt_class, problem, steps=STEPS, **hyper):
    params = [nn.Parameter(w.copy()) for w in problem.start]
    opt = opt_class(params, **hyper)
    for t in range(steps):
        for p, g in zip(params, problem.grads([p.data for p in params], t)):
            p.grad = Tensor(g)
        opt.step()
    return [p.data for p in params]


# ---- NumPy references, written from PyTorch's documented algorithms ---------------------------------

def sgd_reference(problem, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    thetas, bufs = [w.copy() for w in problem.start], [None] * len(SHAPES)
    for t in range(STEPS):
        for i, g in enumerate(problem.grads(thetas, t)):
            if weight_decay:
                g = g + weight_decay * thetas[i]
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            thetas[i] = thetas[i] - lr * g
    return thetas


def adam_reference(problem, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   decoupled=False):
    beta1, beta2 = betas
    thetas = [w.copy() for w in problem.start]
    m, v = [np.zeros(s) for s in SHAPES], [np.zeros(s) for s in SHAPES]
    v_max = [np.zeros(s) for s in SHAPES]
    for t in range(1, STEPS + 1):
        for i, g in enumerate(problem.grads(thetas, t - 1)):
            if decoupled:
                thetas[i] = thetas[i] - lr * weight_decay * thetas[i]
            elif weight_decay:
                g = g + weight_decay * thetas[i]
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1 ** t)
            if amsgrad:
                v_max[i] = np.maximum(v_max[i], v[i])
                v_hat = v_max[i] / (1 - beta2 ** t)
            else:
                v_hat = v[i] / (1 - beta2 ** t)
            thetas[i] = thetas[i] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return thetas


SGD_CASES = [
    {"lr": 0.1},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True},
    {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.05, "dampening": 0.5},
]
ADAM_CASES = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-3},
    {"lr": 0.05, "amsgrad": True},
    {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True},
]
ADAMW_CASES = [{}, {"lr": 0.05}, {"lr": 0.05, "weight_decay": 0.5}, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}]


def assert_same(ours, reference):
    for a, b in zip(ours, reference):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hyper", SGD_CASES, ids=str)
def test_sgd_matches_the_documented_update_for_25_steps(hyper):
    problem = Problem()
    ours = run_ours(optim.SGD, problem, **hyper)
    assert_same(ours, sgd_reference(problem, **hyper))
    assert not np.allclose(ours[0], problem.start[0])  # the parameters really moved


@pytest.mark.parametrize("hyper", ADAM_CASES, ids=str)
def test_adam_matches_the_documented_update_for_25_steps(hyper):
    problem = Problem(1)
    assert_same(run_ours(optim.Adam, problem, **hyper), adam_reference(problem, **hyper))


@pytest.mark.parametrize("hyper", ADAMW_CASES, ids=str)
def test_adamw_matches_the_documented_update_for_25_steps(hyper):
    problem = Problem(2)
    hyper_with_default = {"weight_decay": 0.01, **hyper}
    assert_same(run_ours(optim.AdamW, problem, **hyper),
                adam_reference(problem, decoupled=True, **hyper_with_default))


def test_adamw_differs_from_adam_with_the_same_weight_decay():
    problem = Problem(3)
    adam = run_ours(optim.Adam, problem, lr=0.05, weight_decay=0.5)
    adamw = run_ours(optim.AdamW, problem, lr=0.05, weight_decay=0.5)
    assert np.abs(adam[0] - adamw[0]).max() > 1e-3


def test_adam_first_step_moves_each_coordinate_by_about_lr():
    w = nn.Parameter(np.zeros(3))
    w.grad = Tensor(np.array([1e-4, 1.0, -50.0]))
    optim.Adam([w], lr=0.01).step()
    np.testing.assert_allclose(w.data, [-0.01, -0.01, 0.01], rtol=1e-3)


# ---- in place, dtype, allocations ------------------------------------------------------------------

def case_id(value):
    return value.__name__ if isinstance(value, type) else str(value)


ALL = [(optim.SGD, {"lr": 0.1}), (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
       (optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
       (optim.SGD, {"lr": 0.1, "momentum": 0.9, "dampening": 0.1}),
       (optim.Adam, {"weight_decay": 0.01}), (optim.Adam, {"amsgrad": True}), (optim.AdamW, {})]


@pytest.mark.parametrize("opt_class, hyper", ALL, ids=case_id)
def test_float32_updates_happen_in_place_and_stay_float32(opt_class, hyper):
    w = nn.Parameter(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    array = w.data
    opt = opt_class([w], **hyper)
    for _ in range(3):
        w.grad = Tensor(np.ones((5, 3), dtype=np.float32))
        opt.step()
    assert w.data is array and w.dtype == np.float32
    for value in opt.state.get(w, {}).values():
        assert not isinstance(value, np.ndarray) or value.dtype == np.float32


@pytest.mark.parametrize("opt_class, hyper", ALL, ids=case_id)
def test_a_step_allocates_no_parameter_sized_arrays(opt_class, hyper):
    w = nn.Parameter(np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32))
    w.grad = Tensor(np.full((256, 256), 0.5, dtype=np.float32))
    opt = opt_class([w], **hyper)
    opt.step()  # the first step creates the state buffers and work arrays
    opt.step()
    tracemalloc.start()
    opt.step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # any temporary array (a float32 copy is 256 KiB, a float64 upcast 512 KiB) would show up here
    assert peak < w.data.nbytes // 8, f"a step allocated {peak} bytes"


def test_steps_run_outside_the_graph():
    w = nn.Parameter(np.ones(2))
    w.grad = Tensor(np.ones(2))
    optim.SGD([w], lr=0.1, momentum=0.9).step()
    assert w.is_leaf and w.requires_grad


# ---- param groups, zero_grad, closure ---------------------------------------------------------------

def test_param_groups_use_their_own_hyperparameters():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(2))
    opt.step()
    assert a.data.tolist() == [0.9, 0.9] and b.data.tolist() == [0.5, 0.5]
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["momentum"] == 0.0


def test_parameters_without_gradient_are_left_alone():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(2))
    opt.step()
    assert b.data.tolist() == [1.0, 1.0] and b not in opt.state and opt.state[a]["step"] == 1


def test_zero_grad_sets_none_or_zero_fills():
    w = nn.Parameter(np.ones(2))
    opt = optim.SGD([w], lr=0.1)
    w.grad = Tensor(np.ones(2))
    grad_array = w.grad.data
    opt.zero_grad(set_to_none=False)
    assert w.grad.data is grad_array and w.grad.data.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_step_with_closure_returns_its_loss():
    w = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0 and w.data.tolist() == [1.0]


def test_model_parameters_generator_is_accepted():
    model = nn.MLP([2, 3, 1], seed=0)
    opt = optim.Adam(model.parameters())
    assert len(opt.param_groups[0]["params"]) == 4


# ---- state_dict and resume ----------------------------------------------------------------------------

@pytest.mark.parametrize("opt_class, hyper", ALL, ids=case_id)
def test_state_dict_round_trip_resumes_with_the_identical_next_step(opt_class, hyper):
    problem = Problem(4)
    params = [nn.Parameter(w.copy()) for w in problem.start]
    opt = opt_class(params, **hyper)
    for t in range(5):
        for p, g in zip(params, problem.grads([p.data for p in params], t)):
            p.grad = Tensor(g)
        opt.step()
    saved_params = [p.data.copy() for p in params]
    saved_state = opt.state_dict()

    clones = [nn.Parameter(w.copy()) for w in saved_params]
    resumed = opt_class(clones, **{**hyper, "lr": 123.0})  # the loaded state must override lr
    resumed.load_state_dict(saved_state)
    for t in range(5, 8):
        grads = problem.grads([p.data for p in params], t)
        for p, q, g in zip(params, clones, grads):
            p.grad, q.grad = Tensor(g), Tensor(g.copy())
        opt.step()
        resumed.step()
        for p, q in zip(params, clones):
            assert p.data.tobytes() == q.data.tobytes()


def test_state_dict_holds_copies_and_indices():
    w = nn.Parameter(np.ones(2))
    opt = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = Tensor(np.ones(2))
    opt.step()
    state = opt.state_dict()
    assert state["param_groups"][0]["params"] == [0]
    assert state["param_groups"][0]["lr"] == 0.1
    buf = state["state"][0]["momentum_buffer"]
    opt.step()
    assert buf.tolist() == [1.0, 1.0]


def test_load_state_dict_errors_name_the_mismatch():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(3))
    source = optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad, b.grad = Tensor(np.ones(2)), Tensor(np.ones(3))
    source.step()
    state = source.state_dict()
    with pytest.raises(ValueError, match="param group 0 holds 2 parameters in the saved state but 1 here"):
        optim.SGD([nn.Parameter(np.ones(2))], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match=r"'momentum_buffer' of parameter 1 has shape \(3,\) but the parameter "
                                         r"has shape \(4,\)"):
        optim.SGD([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(4))], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="saved state has 1 param groups, this optimizer has 2"):
        optim.SGD([{"params": [nn.Parameter(np.ones(2))]}, {"params": [nn.Parameter(np.ones(3))]}],
                  lr=0.1).load_state_dict(state)
    with pytest.raises(KeyError, match="'state' and 'param_groups'"):
        source.load_state_dict({"state": {}})


def adam_state_after_one_step(shape=(2,)):
    w = nn.Parameter(np.ones(shape))
    opt = optim.Adam([w], lr=0.1)
    w.grad = Tensor(np.full(shape, 0.5))
    opt.step()
    return opt.state_dict()


@pytest.mark.parametrize("step", [np.array(1), np.array(1.0, dtype=np.float32), np.int64(1), 1.0],
                         ids=["0d-int-array", "0d-float32-array", "numpy-int", "float"])
def test_a_step_count_saved_as_a_whole_number_of_any_type_is_restored_as_an_int(step):
    saved = adam_state_after_one_step()
    saved["state"][0]["step"] = step  # PyTorch keeps its step as a 0-d float tensor
    w = nn.Parameter(np.ones(2))
    opt = optim.Adam([w], lr=0.1)
    opt.load_state_dict(saved)
    assert type(opt.state[w]["step"]) is int and opt.state[w]["step"] == 1


@pytest.mark.parametrize("step", [1.5, -1, float("nan"), "1", np.ones(2)], ids=str)
def test_a_step_count_that_is_not_a_whole_number_is_refused(step):
    saved = adam_state_after_one_step()
    saved["state"][0]["step"] = step
    with pytest.raises(ValueError, match="state 'step' of parameter 0 must be a whole number"):
        optim.Adam([nn.Parameter(np.ones(2))]).load_state_dict(saved)


def test_a_moment_saved_as_a_number_for_a_vector_parameter_is_refused_naming_the_shapes():
    saved = adam_state_after_one_step()
    saved["state"][0]["exp_avg"] = 0.5
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(\) but the parameter has shape "
                                         r"\(2,\)"):
        optim.Adam([nn.Parameter(np.ones(2))]).load_state_dict(saved)


def test_a_0d_parameters_moments_are_restored_as_0d_arrays_in_its_dtype():
    saved = adam_state_after_one_step(shape=())
    w = nn.Parameter(np.array(2.0, dtype=np.float32))
    opt = optim.Adam([w], lr=0.1)
    opt.load_state_dict(saved)
    for field in ("exp_avg", "exp_avg_sq"):
        value = opt.state[w][field]
        assert type(value) is np.ndarray and value.shape == () and value.dtype == np.float32


def test_unknown_state_entries_and_non_dict_groups_are_refused():
    saved = adam_state_after_one_step()
    saved["state"][0]["momentum_buffer"] = np.zeros(2)
    with pytest.raises(ValueError, match="parameter 0 has an unknown state entry 'momentum_buffer'; Adam keeps "
                                         "exp_avg, exp_avg_sq, max_exp_avg_sq, step"):
        optim.Adam([nn.Parameter(np.ones(2))]).load_state_dict(saved)
    with pytest.raises(TypeError, match="saved param group 0 must be a dict with a 'params' list"):
        optim.Adam([nn.Parameter(np.ones(2))]).load_state_dict({"state": {}, "param_groups": [[0]]})


def test_loaded_state_is_a_copy_so_later_steps_leave_the_saved_dict_alone():
    saved = adam_state_after_one_step()
    before = saved["state"][0]["exp_avg"].copy()
    w = nn.Parameter(np.ones(2))
    opt = optim.Adam([w], lr=0.1)
    opt.load_state_dict(saved)
    w.grad = Tensor(np.ones(2))
    opt.step()
    assert saved["state"][0]["exp_avg"].tolist() == before.tolist()
    assert opt.state[w]["exp_avg"].tolist() != before.tolist()


def test_a_failed_load_changes_nothing():
    w = nn.Parameter(np.ones(2))
    opt = optim.Adam([w], lr=0.1)
    w.grad = Tensor(np.ones(2))
    opt.step()
    state_before = opt.state[w]
    saved = adam_state_after_one_step()
    saved["param_groups"][0]["lr"] = 0.5
    saved["state"][0]["step"] = 2.5
    with pytest.raises(ValueError, match="must be a whole number"):
        opt.load_state_dict(saved)
    assert opt.state[w] is state_before and opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("opt_class, hyper", [case for case in ALL if case[0] is not optim.SGD or "momentum" in case[1]],
                         ids=case_id)
def test_state_arrays_follow_a_parameter_cast_to_float64(opt_class, hyper):
    w = nn.Parameter(np.ones((2, 2), dtype=np.float32))
    opt = opt_class([w], **hyper)
    w.grad = Tensor(np.ones((2, 2), dtype=np.float32))
    opt.step()
    w.data = w.data.astype(np.float64)  # what Module.double() does to each parameter
    w.grad = Tensor(np.ones((2, 2)))
    opt.step()
    arrays = [value for value in opt.state[w].values() if isinstance(value, np.ndarray)]
    assert w.dtype == np.float64 and arrays and all(array.dtype == np.float64 for array in arrays)


# ---- argument errors ----------------------------------------------------------------------------------

def test_constructor_errors_name_the_problem():
    w = nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="not a single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate -1"):
        optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas must be two numbers in"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="invalid eps"):
        optim.AdamW([w], eps=-1.0)
    with pytest.raises(ValueError, match="appears more than once"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 has dtype int64"):
        optim.SGD([Tensor(np.array([1, 2]))], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf tensor"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="is a list, not a Tensor"):
        optim.SGD([[w]], lr=0.1)


def test_repr_lists_the_groups():
    text = repr(optim.SGD([nn.Parameter(np.ones(1))], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    momentum: 0.9" in text


# ---- optional parity with torch.optim ------------------------------------------------------------------

TORCH_CASES = ([("SGD", h) for h in SGD_CASES] + [("Adam", h) for h in ADAM_CASES]
               + [("AdamW", h) for h in ADAMW_CASES])


def torch_trajectory(torch, name, problem, hyper):
    params = [torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True) for w in problem.start]
    opt = getattr(torch.optim, name)(params, **hyper)
    for t in range(STEPS):
        for p, g in zip(params, problem.grads([p.detach().numpy().copy() for p in params], t)):
            p.grad = torch.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in params]


@pytest.mark.parametrize("name, hyper", TORCH_CASES, ids=str)
def test_optimizers_match_torch_optim_step_for_step(name, hyper):
    torch = pytest.importorskip("torch", reason="torch is not installed: the optional PyTorch parity check is "
                                                "skipped")
    problem = Problem(5)
    ours = run_ours(getattr(optim, name), problem, **hyper)
    theirs = torch_trajectory(torch, name, problem, hyper)
    diff = max(np.abs(a - b).max() for a, b in zip(ours, theirs))
    print(f"{name} {hyper}: max |ours - torch| after {STEPS} steps = {diff:.2e}")
    assert diff < 1e-12


@pytest.mark.parametrize("opt_class, hyper", [(optim.SGD, {"lr": 0.1, "momentum": 0.9}), (optim.Adam, {}),
                                               (optim.AdamW, {"amsgrad": True})])
def test_state_arrays_keep_a_column_major_weights_layout_through_steps_and_a_resume(opt_class, hyper):
    """A large nn.Linear weight lies column by column; its momentum and moment arrays lie the same way after
    the first step and after load_state_dict, so each update reads them in step with the weight."""
    layer = nn.Linear(300, 256, seed=0)
    assert layer.weight.data.flags.f_contiguous and not layer.weight.data.flags.c_contiguous
    opt = opt_class(layer.parameters(), **hyper)
    x = Tensor(np.random.default_rng(0).standard_normal((4, 300)).astype(np.float32))

    def step():
        opt.zero_grad()
        layer(x).sum().backward()
        opt.step()

    def assert_weight_state_column_major(optimizer):
        arrays = [v for v in optimizer.state[layer.weight].values() if isinstance(v, np.ndarray)]
        assert arrays and all(a.flags.f_contiguous and not a.flags.c_contiguous for a in arrays)

    step()
    assert_weight_state_column_major(opt)
    resumed = opt_class(layer.parameters(), **hyper)
    resumed.load_state_dict(opt.state_dict())
    assert_weight_state_column_major(resumed)
    for key, value in opt.state[layer.weight].items():
        np.testing.assert_array_equal(resumed.state[layer.weight][key], value)
