"""The model file of the command line: an MLP's weights plus everything needed to rebuild and feed it.

A model file is one ``.npz`` written by ``tg.save`` (atomically, no pickle) holding::

    {"format": "tinygrad_edu.mlp", "version": 1,
     "architecture": {"sizes": [784, 512, 256, 10], "activation": "relu"},
     "preprocessing": {"mean": 0.1307, "std": 0.3081},   # x -> (x - mean) / std, x = pixel / 255
     "state_dict": {"0.weight": ..., "0.bias": ..., ...},  # nn.MLP(sizes).state_dict()
     "training": {...}}                                   # config and per-epoch history (informative only)

The model comes back in the dtype its weights were saved in (float32, or float64 for a model cast
with ``model.double()``), so saving and loading changes no bit of it.

``load_model`` checks each part before using it, so a damaged file, a file that is not a model, or
weights that do not match the recorded architecture give one ``ModelFileError`` sentence naming the
file and the problem, never a half-built model.

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
>>> model = build_model([4, 3, 2], "relu", seed=0)
>>> save_model(path, model, [4, 3, 2], "relu", Preprocessing(0.5, 2.0))
>>> again, info = load_model(path)
>>> info["sizes"], info["activation"], info["preprocessing"]
([4, 3, 2], 'relu', Preprocessing(mean=0.5, std=2.0))
>>> bool(np.array_equal(again[0].weight.data, model[0].weight.data))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import nn
from ..serialization import load, save

FORMAT = "tinygrad_edu.mlp"
VERSION = 1


class ModelFileError(ValueError):
    """A model file is missing, damaged, not a model file, or its weights do not fit its architecture."""


@dataclass(frozen=True)
class Preprocessing:
    """What turns pixels in [0, 1] into the network's input: ``(x - mean) / std``, one number each.

    Standardising the inputs (mean 0, standard deviation 1 over the training pixels) keeps the first
    layer's pre-activations at the scale its initialisation assumes, which speeds up the first epochs.

    >>> Preprocessing(0.5, 0.25)(np.array([[0.0, 1.0]], np.float32)).tolist()
    [[-2.0, 2.0]]
    """

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def fit(cls, x) -> Preprocessing:
        """The mean and standard deviation of all pixels of the training images ``x``."""
        x = np.asarray(x, dtype=np.float64)
        return cls(float(x.mean()), float(x.std()) or 1.0)

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        return (x - np.float32(self.mean)) / np.float32(self.std)


def build_model(sizes, activation="relu", seed=None, dtype=np.float32):
    """``nn.MLP(sizes, activation, dtype=dtype)``: Linear layers of these sizes with ``activation`` between them."""
    return nn.MLP(list(sizes), activation=activation, seed=seed, dtype=dtype)


def save_model(path, model, sizes, activation, preprocessing: Preprocessing, training=None) -> None:
    """Write ``model`` with its architecture and preprocessing to ``path`` (atomically, via ``tg.save``)."""
    save({"format": FORMAT, "version": VERSION,
          "architecture": {"sizes": [int(s) for s in sizes], "activation": str(activation)},
          "preprocessing": {"mean": float(preprocessing.mean), "std": float(preprocessing.std)},
          "state_dict": model.state_dict(),
          "training": training if training is not None else {}}, Path(path))


def load_model(path):
    """Rebuild the model saved in ``path``: returns ``(model, info)`` with ``model`` in eval mode.

    ``info`` holds ``sizes``, ``activation``, ``preprocessing`` (a ``Preprocessing``) and ``training``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path}: no such file")
    try:
        content = load(path)
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise ModelFileError(f"model file {path} cannot be read (truncated or not an .npz?): "
                             f"{_short(error)}") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ModelFileError(f"{path} is not a tinygrad_edu model file (it has no format entry {FORMAT!r}); "
                             "model files are written by `tinygrad-edu train`")
    if content.get("version") != VERSION:
        raise ModelFileError(f"model file {path} has version {content.get('version')!r}; "
                             f"this tinygrad_edu reads version {VERSION}")
    try:
        arch, prep, state = content["architecture"], content["preprocessing"], content["state_dict"]
        sizes, activation = [int(s) for s in arch["sizes"]], str(arch["activation"])
        preprocessing = Preprocessing(float(prep["mean"]), float(prep["std"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"model file {path} is incomplete: missing or malformed entry {_short(error)}") from None
    if len(sizes) < 2 or min(sizes) < 1 or not isinstance(state, dict):
        raise ModelFileError(f"model file {path} records an impossible architecture {sizes}")
    if not np.isfinite(preprocessing.std) or preprocessing.std <= 0:
        raise ModelFileError(f"model file {path} records a preprocessing std of {preprocessing.std}")
    try:
        model = build_model(sizes, activation, dtype=_weights_dtype(state))
    except ValueError as error:
        raise ModelFileError(f"model file {path}: {_short(error)}") from None
    _check_state(path, model, state, sizes)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, {"sizes": sizes, "activation": activation, "preprocessing": preprocessing,
                   "training": content.get("training", {})}


def _weights_dtype(state) -> type:
    """The dtype to rebuild the model in: float64 when the file holds float64 weights, else float32.

    So a float64 model comes back float64, bit for bit, instead of being rounded to float32; float32
    (and narrower float) weights load into the float32 model exactly.
    """
    dtypes = {value.dtype for value in state.values() if isinstance(value, np.ndarray) and value.dtype.kind == "f"}
    return np.float64 if np.dtype(np.float64) in dtypes else np.float32


def _check_state(path, model, state, sizes):
    """Compare the saved weights with the architecture they claim, naming the first mismatch."""
    expected = model.state_dict()
    arch = "-".join(map(str, sizes))
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        parts = ([f"lacks {', '.join(missing)}"] if missing else []) + ([f"has extra {', '.join(extra)}"] if extra else [])
        raise ModelFileError(f"model file {path}: its weights do not belong to the architecture {arch} it records "
                             f"(it {' and '.join(parts)})")
    for name, array in expected.items():
        saved = state[name]
        if not isinstance(saved, np.ndarray) or saved.shape != array.shape:
            shape = getattr(saved, "shape", type(saved).__name__)
            raise ModelFileError(f"model file {path}: weight {name} has shape {shape} but the architecture {arch} "
                                 f"it records needs {array.shape} (weights from another architecture?)")
        if saved.dtype.kind != "f":
            raise ModelFileError(f"model file {path}: weight {name} has dtype {saved.dtype}, not a float type")


def _short(error) -> str:
    return " ".join(str(error).split())
