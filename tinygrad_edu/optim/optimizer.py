"""Optimizer: the base class that turns gradients into parameter updates.

An optimizer holds *param groups* (lists of parameters sharing hyperparameters such as ``lr``)
and a *state* per parameter (momentum buffers, moment estimates, step counts). ``step()`` reads each
parameter's ``.grad`` and changes its ``.data`` array in place, outside the autograd graph:
updating weights is not part of the model's computation and must not be differentiated.

Updates keep the parameter's dtype and reuse preallocated work arrays (``np.multiply(..., out=...)``),
so a float32 model is updated in float32 and a training step allocates no parameter-sized arrays.

``state_dict()`` / ``load_state_dict()`` save and restore both, so training resumes exactly::

    {"state": {0: {"momentum_buffer": array}, ...},             # keyed by parameter index
     "param_groups": [{"lr": 0.1, ..., "params": [0, 1, ...]}]}

>>> import numpy as np
>>> from tinygrad_edu import Tensor, optim
>>> w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
>>> opt = optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()          # dL/dw = 2w
>>> opt.step()                        # w <- w - 0.1 * 2w
>>> w.data.tolist()
[0.8, -1.6]
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..function import no_grad
from ..tensor import Tensor


class Optimizer:
    """Base class: subclasses set ``defaults`` and implement ``_update_group(group)``.

    A subclass names the entries of its per-parameter state: ``_array_state`` holds the arrays shaped
    like the parameter (momentum buffers, moments), ``_count_state`` the integer counters (``step``).
    ``load_state_dict`` restores each kind as what it is -- an array stays an array even when the
    parameter is 0-d, so the in-place updates of later steps keep writing into the state.
    """

    _array_state: tuple = ()
    _count_state: tuple = ()

    def __init__(self, params, defaults: dict):
        if isinstance(params, Tensor):
            raise TypeError("params must be an iterable of Tensors (e.g. model.parameters()) or of param-group "
                            "dicts, not a single Tensor; wrap it in a list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}      # parameter -> its state dict (momentum buffers, moments, step count)
        self._work: dict = {}      # parameter -> scratch arrays reused by every step (not state)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group: dict):
        """Add a group of parameters with its own hyperparameters (missing ones come from ``defaults``)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a param group is a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} of group {len(self.param_groups)} is a "
                                f"{type(p).__name__}, not a Tensor")
            if p.dtype.kind != "f":
                raise TypeError(f"{type(self).__name__}: parameter {i} has dtype {p.dtype}; only floating-point "
                                "tensors can be optimized")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a leaf tensor (it was computed by "
                                 "an op); optimize the tensors you created, or detach() it")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} appears more than once across the param "
                                 "groups; each parameter may be optimized by one group only")
            seen.add(id(p))
        full = dict(self.defaults)
        full.update(group)
        full["params"] = params
        if full.get("lr") is None:
            raise ValueError(f"{type(self).__name__}: no learning rate given for param group {len(self.param_groups)}")
        _check_lr(full["lr"], type(self).__name__, f" of param group {len(self.param_groups)}")
        self.param_groups.append(full)

    def zero_grad(self, set_to_none: bool = True):
        """Forget the gradients: ``.grad = None`` (default), or fill the existing arrays with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p._grad is None:
                    p._grad = None
                else:
                    p._grad.data.fill(0)

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes and returns the loss.

        Each parameter that changes has its ``_version`` raised by one, so a graph that saved the
        old values refuses a later ``backward`` instead of using the new ones.
        """
        loss = closure() if closure is not None else None
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict):
        raise NotImplementedError

    def _scratch(self, p, theta, count: int = 1) -> list:
        """``count`` work arrays shaped like ``theta`` (p's array), allocated once and reused by every step."""
        work = self._work.get(p)
        if work is None or len(work) < count or work[0].shape != theta.shape or work[0].dtype != theta.dtype:
            work = [np.empty_like(theta) for _ in range(max(count, len(work or ())))]
            self._work[p] = work
        return work

    def _cast_state(self, state: dict, dtype):
        """Bring a parameter's state arrays to ``dtype`` after the parameter itself was cast.

        ``Module.double()`` / ``float()`` replace a parameter's array by one of the new dtype; the
        momentum and moment arrays follow at the next step, so updates run in the parameter's dtype.
        """
        for key in self._array_state:
            if key in state and state[key].dtype != dtype:
                state[key] = state[key].astype(dtype)

    # ---- saving and resuming -------------------------------------------------------------------
    def _indexed_params(self) -> list:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}`` with copied arrays.

        Parameters are named by their position across the groups (0, 1, ...), as in PyTorch, so
        the dict can be loaded into an optimizer over a freshly built model of the same shape.
        """
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, entries in self.state.items():
            state[index[id(p)]] = {key: value.copy() if isinstance(value, np.ndarray) else value
                                   for key, value in entries.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict):
        """Restore hyperparameters and state saved by ``state_dict()`` (arrays are copied, in each param's dtype).

        The groups must match this optimizer's in number and size; state arrays must match their
        parameter's shape. Errors name the group, the parameter index and the key.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise KeyError(f"{name}.load_state_dict expects a dict with 'state' and 'param_groups' "
                           f"(from state_dict()), got keys {sorted(state_dict) if isinstance(state_dict, dict) else '?'}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} param groups, "
                             f"this optimizer has {len(self.param_groups)}")
        by_saved_index = {}
        for g, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise TypeError(f"{name}.load_state_dict: saved param group {g} must be a dict with a 'params' list "
                                f"of indices, got {type(saved).__name__}")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: param group {g} holds {len(saved['params'])} parameters "
                                 f"in the saved state but {len(group['params'])} here")
            for saved_index, p in zip(saved["params"], group["params"]):
                by_saved_index[int(saved_index)] = p
        new_state = {}
        for key, entries in state_dict["state"].items():
            if int(key) not in by_saved_index:
                raise KeyError(f"{name}.load_state_dict: state for parameter {key}, which no param group lists")
            p = by_saved_index[int(key)]
            new_state[p] = {field: self._restore_state_value(field, value, p, key)
                            for field, value in entries.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = tuple(value) if isinstance(value, list) else value
        self.state = new_state

    def _restore_state_value(self, field, value, p, key):
        """One saved state entry, as the optimizer keeps it: a fresh array in ``p``'s dtype and shape, or an int.

        Arrays stay arrays whatever their number of axes: a 0-d parameter has 0-d moment buffers,
        which ``step`` updates in place (``m *= beta1``); a Python number in their place would be
        rebound by those updates instead and the state would stop changing after a resume.
        """
        name = type(self).__name__
        if isinstance(value, Tensor):
            value = value.data
        known = self._array_state + self._count_state
        if field in self._count_state:
            number = value.item() if isinstance(value, np.ndarray | np.generic) and np.size(value) == 1 else value
            if (isinstance(number, bool) or not isinstance(number, numbers.Real) or not math.isfinite(number)
                    or number < 0 or number != int(number)):
                raise ValueError(f"{name}.load_state_dict: state '{field}' of parameter {key} must be a whole number "
                                 f"(a step count), got {value!r}")
            return int(number)
        if field in self._array_state or (not known and isinstance(value, np.ndarray)):
            array = np.asarray(value)
            if array.dtype.kind not in "biuf":
                raise ValueError(f"{name}.load_state_dict: state '{field}' of parameter {key} must be a numeric "
                                 f"array, got {type(value).__name__} of dtype {array.dtype}")
            if array.shape != p.shape:
                raise ValueError(f"{name}.load_state_dict: state '{field}' of parameter {key} has shape "
                                 f"{array.shape} but the parameter has shape {p.shape}")
            restored = np.empty_like(p.data)  # a copy, so the caller's dict never aliases the live state, laid out as
            restored[...] = array            # p (a large Linear weight is column-major): updates read both in step
            return restored
        if known:
            raise ValueError(f"{name}.load_state_dict: parameter {key} has an unknown state entry '{field}'; "
                             f"{name} keeps {', '.join(known)}")
        return value.item() if isinstance(value, np.generic) else value

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])


def _check(condition: bool, message: str):
    if not condition:
        raise ValueError(message)


def _check_lr(lr, name: str, where: str = ""):
    """A learning rate is a finite number above 0: 0 would train nothing, a negative one climbs the loss.

    (PyTorch accepts 0; here a zero rate in a constructor is taken for the mistake it almost always is.
    Schedulers may still anneal a group's rate down to 0.)
    """
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise TypeError(f"{name}: the learning rate{where} must be a number, got {type(lr).__name__} {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"{name}: invalid learning rate {lr}{where} (must be a positive finite number)")
