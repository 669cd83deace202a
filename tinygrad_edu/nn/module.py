"""Module and Parameter: how a model keeps track of its weights.

A model is a tree of Modules. Assigning a :class:`Parameter` or another :class:`Module` to an
attribute registers it under that attribute's name, so the model can list every weight it owns
(``parameters()``), name them with dotted paths (``named_parameters()``: ``"fc1.weight"``,
``"0.bias"``), switch all its parts between training and evaluation behaviour, and save or restore
them as a plain dict of arrays (``state_dict()`` / ``load_state_dict()``), exactly like PyTorch.

>>> import numpy as np
>>> from tinygrad_edu import nn
>>> class Net(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc1 = nn.Linear(3, 2, seed=0)
...         self.scale = nn.Parameter(np.ones(2))
...     def forward(self, x):
...         return self.fc1(x) * self.scale
>>> [name for name, _ in Net().named_parameters()]
['scale', 'fc1.weight', 'fc1.bias']
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a model weight: ``requires_grad=True``, and registered by a Module attribute.

    ``Parameter(data)``: ``data`` is a NumPy array (dtype kept), a Tensor (its array is used, not
    copied), a nested list or a number (float32, like ``Tensor``).

    >>> import numpy as np
    >>> p = Parameter(np.zeros(3))
    >>> p.requires_grad, p.dtype
    (True, dtype('float64'))
    """

    __slots__ = ()

    def __init__(self, data, requires_grad=True):
        super().__init__(data, requires_grad=requires_grad)
        if isinstance(data, Tensor):  # Parameter(t) shares t's array, as torch.nn.Parameter does
            self._data = data.data

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model: override ``forward``; call the module to run it.

    Attributes that are Parameters or Modules register themselves (in assignment order), which is
    what ``parameters()``, ``state_dict()``, ``train()`` and ``repr`` walk.
    """

    # Buffers a state dict may lack without being refused by ``load_state_dict``: the module keeps its
    # current value (BatchNorm's ``num_batches_tracked``, absent from checkpoints older than the buffer).
    _buffers_a_state_dict_may_lack: tuple = ()

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())  # names of buffers kept out of state_dict
        object.__setattr__(self, "training", True)

    # ---- registration --------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.__init__ must call super().__init__() before "
                                 f"assigning attribute {name!r}")
        # Replacing a registered entry keeps its place in the order (as in PyTorch); anything else drops it.
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
            if name in self.__dict__.get("_buffers", ()):
                self._buffers[name] = self._check_buffer(name, value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._buffers.pop(name, None)
        self._non_persistent_buffers.discard(name)
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param):
        """Register ``param`` (a Parameter, or None for an absent one such as ``bias=False``) as ``name``."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}): expected a Parameter or None, got {type(param).__name__}")
        if param is None:
            object.__setattr__(self, name, None)
            self._parameters.pop(name, None)
        else:
            setattr(self, name, param)

    @staticmethod
    def _check_buffer(name, array):
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(f"buffer {name!r} must be a numpy.ndarray or None, got {type(array).__name__}")
        return array

    def register_buffer(self, name: str, array, persistent: bool = True):
        """Register ``array`` (a ``numpy.ndarray``, or None) as state that is saved but not trained, such as
        BatchNorm's ``running_mean``: it appears in ``buffers()``, ``named_buffers()`` and ``state_dict()``
        (under PyTorch's key) and is cast by ``double()``/``float()``, but never in ``parameters()``.
        Assigning ``self.name = new_array`` later replaces it. ``persistent=False`` keeps it out of
        ``state_dict()`` (and ``load_state_dict`` does not expect it), as in PyTorch: state derived from
        the rest, such as a cached mask.

        >>> from tinygrad_edu import nn
        >>> m = nn.Module()
        >>> m.register_buffer("count", np.zeros((), dtype=np.int64))
        >>> list(m.state_dict())
        ['count']
        """
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: the name must be a non-empty string without '.', got {name!r}")
        if name in self._parameters or name in self._modules:
            raise KeyError(f"register_buffer: {name!r} is already a parameter or module of {type(self).__name__}")
        self._buffers[name] = self._check_buffer(name, array)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)
        object.__setattr__(self, name, array)

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(dotted name, array) for every buffer of this module and (``recurse``) its descendants (None ones
        skipped); a buffer reachable by two paths is given once unless ``remove_duplicate=False`` (as in
        PyTorch)."""
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, array in module._buffers.items():
                if array is None or remove_duplicate and id(array) in seen:
                    continue
                seen.add(id(array))
                yield (f"{module_name}.{name}" if module_name else name), array

    def buffers(self, recurse: bool = True):
        """Every buffer array, in the order of ``named_buffers``."""
        return (array for _, array in self.named_buffers(recurse=recurse))

    def add_module(self, name: str, module):
        """Register a child module under ``name`` (used by containers, whose names are "0", "1", ...)."""
        if not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}): expected a Module, got {type(module).__name__}")
        setattr(self, str(name), module)

    # ---- running -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- walking the tree ----------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct sub-module, in registration order."""
        return iter(self._modules.items())

    def children(self):
        """Each direct sub-module, in registration order."""
        return (module for _, module in self._modules.items())

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) for this module ("") and every descendant, depth first.

        A module reachable by two paths (one layer used twice) is given once, under the first name met,
        unless ``remove_duplicate=False``: then once per path, as ``state_dict`` needs (PyTorch's rule).
        """
        seen, stack = set(), [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate and id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{child_name}" if name else child_name, child)
                    for child_name, child in module._modules.items()]
            stack.extend(reversed(kids))

    def modules(self):
        """This module and every descendant, depth first, each once."""
        return (module for _, module in self.named_modules())

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """(dotted name, Parameter): this module's own parameters first, then (``recurse``) each child's,
        recursively.

        A Parameter shared by two modules (or a module used twice) appears once, under the first name
        met, unless ``remove_duplicate=False``: then under every name (both as in PyTorch).
        """
        seen = set()
        modules = self.named_modules(prefix, remove_duplicate) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, param in module._parameters.items():
                if remove_duplicate and id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self, recurse: bool = True):
        """Every Parameter of the model once, in a stable order (that of ``named_parameters``); with
        ``recurse=False`` only this module's own."""
        return (param for _, param in self.named_parameters(recurse=recurse))

    # ---- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True):
        """Set training mode (Dropout active) on this module and every descendant; returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (Dropout becomes the identity); same as ``train(False)``."""
        return self.train(False)

    def zero_grad(self):
        """Forget every parameter's accumulated gradient (``.grad = None``, as PyTorch's default)."""
        for param in self.parameters():
            param.grad = None

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Dotted name -> a copy of each parameter's and buffer's array (``running_mean``, ``running_var``,
        ``num_batches_tracked``: PyTorch's keys), in PyTorch's order: module by module, depth first, each
        module's own parameters, then its own buffers (a shared parameter, or a module used twice, under
        each of its names, so that the dict loads into the same model built with ``torch.nn``).

        Copies, so a saved snapshot does not change when training continues.

        >>> from tinygrad_edu import nn
        >>> list(nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 1, seed=0)).state_dict())
        ['0.weight', '0.bias', '0.running_mean', '0.running_var', '0.num_batches_tracked', '1.weight', '1.bias']
        """
        state = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            prefix = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    state[prefix + name] = param.data.copy()
            for name, array in module._persistent_buffers():
                state[prefix + name] = np.array(array, copy=True)
        return state

    def _persistent_buffers(self):
        """(name, array) of this module's own buffers that ``state_dict`` holds: not None, not persistent=False."""
        return ((name, array) for name, array in self._buffers.items()
                if array is not None and name not in self._non_persistent_buffers)

    def _saved_buffers(self):
        """(dotted name, array) of every buffer ``state_dict`` holds, under every path to it."""
        for module_name, module in self.named_modules(remove_duplicate=False):
            for name, array in module._persistent_buffers():
                yield (f"{module_name}.{name}" if module_name else name), array

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays from ``state_dict`` into the parameters, in place (their dtype is kept).

        Every parameter written has its ``_version`` raised by one (an in-place change).

        With ``strict=True`` the keys must match ``state_dict()`` exactly; otherwise a KeyError lists
        the missing keys, the unexpected keys and the shape mismatches by name, and nothing is loaded.
        Shape mismatches and values that are not numbers are errors in both modes. Returns ``(missing_keys, unexpected_keys)``.

        One absence is allowed, as in PyTorch: a BatchNorm's ``num_batches_tracked`` (checkpoints written
        before that buffer existed lack it). The layer then keeps its current count, the key is not
        reported as missing, and the running statistics and weights are loaded as usual.

        >>> from tinygrad_edu import nn
        >>> model = nn.Sequential(nn.Linear(2, 2, seed=0), nn.BatchNorm1d(2))
        >>> old = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
        >>> model.load_state_dict(old)
        ([], [])
        """
        if not hasattr(state_dict, "items"):
            raise TypeError(f"load_state_dict expects a dict of name -> array, got {type(state_dict).__name__}")
        own = OrderedDict(self.named_parameters(remove_duplicate=False))
        own.update(self._saved_buffers())
        may_lack = {f"{module_name}.{name}" if module_name else name
                    for module_name, module in self.named_modules(remove_duplicate=False)
                    for name in module._buffers_a_state_dict_may_lack}
        missing = [name for name in own if name not in state_dict and name not in may_lack]
        unexpected = [name for name in state_dict if name not in own]
        mismatched, not_numbers = [], []
        for name, param in own.items():
            if name in state_dict:
                value = np.asarray(state_dict[name].data if isinstance(state_dict[name], Tensor) else state_dict[name])
                if value.dtype.kind not in "biuf":  # None, strings: checked up front, so none half-loads the model
                    held = state_dict[name]
                    not_numbers.append(f"{name}: checkpoint dtype {value.dtype}" if isinstance(held, (np.ndarray, Tensor))
                                       else f"{name}: checkpoint holds {type(held).__name__}")
                elif value.shape != param.shape:
                    mismatched.append(f"{name}: checkpoint {value.shape} vs model {param.shape}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if not_numbers:
            problems.append("values that are not numbers: " + "; ".join(not_numbers))
        if problems:
            raise KeyError(f"load_state_dict into {type(self).__name__} failed: " + " | ".join(problems))
        for name, param in own.items():
            if name in state_dict:
                value = state_dict[name]
                if isinstance(param, np.ndarray):  # a buffer: written in place
                    param[...] = value.data if isinstance(value, Tensor) else value
                    continue
                param.data[...] = value.data if isinstance(value, Tensor) else value
                param._version += 1  # an in-place change: graphs that saved the old values must not backward
        return missing, unexpected

    # ---- dtype ---------------------------------------------------------------------------------
    def double(self):
        """Cast every parameter to float64 in place; returns the module.

        The Parameter objects stay the same, only their ``.data`` arrays are replaced by float64
        copies, so an optimizer built before still updates them (its momentum and moment arrays follow
        the new dtype at its next step). A parameter's ``.grad`` is cast too, as PyTorch's
        ``Module.double()`` does. Each parameter whose dtype changes has its ``_version`` raised.
        Floating-point buffers (BatchNorm's running statistics) are cast too; integer ones
        (``num_batches_tracked``) keep their dtype.

        >>> from tinygrad_edu import nn
        >>> layer = nn.Linear(2, 1, seed=0)
        >>> weight = layer.weight
        >>> layer.double().weight is weight, weight.dtype
        (True, dtype('float64'))
        """
        return self._cast_floats(np.float64)

    def float(self):
        """Cast every parameter to float32 in place; returns the module.

        The counterpart of :meth:`double` (same objects kept, grads cast, versions raised); values
        are rounded to the nearest float32.
        """
        return self._cast_floats(np.float32)

    def _cast_floats(self, dtype):
        dtype = np.dtype(dtype)
        for param in self.parameters():
            if param.dtype != dtype:
                param.data = param.data.astype(dtype)
                param._version += 1
            if param.grad is not None and param.grad.dtype != dtype:
                param.grad.data = param.grad.data.astype(dtype)
        for module in self.modules():
            for name, array in module._buffers.items():
                if array is not None and array.dtype.kind == "f" and array.dtype != dtype:
                    setattr(module, name, array.astype(dtype))
        return self

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside this module's parentheses in ``repr`` (e.g. ``in_features=3, ...``)."""
        return ""

    def __repr__(self):
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class ModuleList(Module):
    """A list of modules that registers them under "0", "1", ...: indexable, ``len``, iterable, appendable.

    >>> from tinygrad_edu import nn
    >>> blocks = nn.ModuleList([nn.Linear(2, 2, seed=0), nn.ReLU()])
    >>> blocks.append(nn.Linear(2, 1, seed=1))
    ModuleList(
      (0): Linear(in_features=2, out_features=2, bias=True)
      (1): ReLU()
      (2): Linear(in_features=2, out_features=1, bias=True)
    )
    >>> len(blocks), [name for name, _ in blocks.named_parameters()]
    (3, ['0.weight', '0.bias', '2.weight', '2.bias'])
    """

    def __init__(self, modules=()):
        super().__init__()
        self.extend(modules)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def _index(self, index: int) -> int:
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a {type(self).__name__} of length {n}")
        return index % n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return list(self._modules.values())[self._index(index)]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))
