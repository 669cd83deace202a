"""The model file of the command line: a network's weights plus everything needed to rebuild and feed it.

A model file is one ``.npz`` written by ``tg.save`` (atomically, no pickle) holding::

    {"format": "tinygrad_edu.model", "version": 2,
     "architecture": {"kind": "mlp", "sizes": [784, 512, 256, 10], "activation": "relu"}
                  or {"kind": "cnn", "widths": [32, 64, 128], "classes": 10, "dropout": 0.25,
                      "image": [1, 28, 28]},                # see models.py
     "preprocessing": {"mean": 0.1307, "std": 0.3081},     # x -> (x - mean) / std, x = pixel / 255
     "state_dict": {"0.weight": ..., ...},                   # model.state_dict(): parameters, then the
                                                             # BatchNorm buffers (running_mean, running_var,
                                                             # num_batches_tracked)
     "training": {...}}                                     # config and per-epoch history (informative only)

Files of the first version (``"format": "tinygrad_edu.mlp", "version": 1``, an architecture of
``sizes`` and ``activation`` only) still load, as MLPs.

The model comes back in the dtype its weights were saved in (float32, or float64 for a model cast
with ``model.double()``), so saving and loading changes no bit of it.

``load_model`` checks each part before using it, so a damaged file, a file that is not a model, an
architecture this version cannot build, weights that do not match the recorded architecture, or a
weight holding nan or inf (which would make every prediction nan) give
one ``ModelFileError`` sentence naming the file and the problem (and the entry, for the architecture),
never a half-built model.

>>> import tempfile, pathlib, numpy as np
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.npz"
>>> arch = MLPArchitecture((4, 3, 2))
>>> model = arch.build(seed=0)
>>> save_model(path, model, arch, Preprocessing(0.5, 2.0))
>>> again, info = load_model(path)
>>> info["architecture"], info["preprocessing"]
(MLPArchitecture(sizes=(4, 3, 2), activation='relu'), Preprocessing(mean=0.5, std=2.0))
>>> bool(np.array_equal(again[0].weight.data, model[0].weight.data))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..serialization import load, save
from .models import CNNArchitecture, MLPArchitecture

FORMAT = "tinygrad_edu.model"
VERSION = 2
FIRST_FORMAT = "tinygrad_edu.mlp"  # version 1: MLPs only, architecture = {sizes, activation}
KINDS = {"mlp": MLPArchitecture, "cnn": CNNArchitecture}


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


def save_model(path, model, architecture, preprocessing: Preprocessing, training=None) -> None:
    """Write ``model`` with its ``architecture`` (an ``MLPArchitecture`` or ``CNNArchitecture``) and
    ``preprocessing`` to ``path``, atomically (via ``tg.save``). BatchNorm buffers go with the weights."""
    save({"format": FORMAT, "version": VERSION,
          "architecture": architecture.record(),
          "preprocessing": {"mean": float(preprocessing.mean), "std": float(preprocessing.std)},
          "state_dict": model.state_dict(),
          "training": training if training is not None else {}}, Path(path))


def load_model(path):
    """Rebuild the model saved in ``path``: returns ``(model, info)`` with ``model`` in eval mode.

    ``info`` holds ``architecture`` (an ``MLPArchitecture`` or ``CNNArchitecture``), ``preprocessing``
    (a ``Preprocessing``), ``training`` (what ``train`` recorded) and ``version`` (1 or 2).
    Raises ``ModelFileError`` naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path}: no such file")
    try:
        content = load(path)
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise ModelFileError(f"model file {path} cannot be read (truncated or not an .npz?): "
                             f"{_short(error)}") from None
    formats = {FORMAT: VERSION, FIRST_FORMAT: 1}
    if not isinstance(content, dict) or content.get("format") not in formats:
        raise ModelFileError(f"{path} is not a tinygrad_edu model file (it has no format entry {FORMAT!r}); "
                             "model files are written by `tinygrad-edu train`")
    version = formats[content["format"]]
    if content.get("version") != version:
        raise ModelFileError(f"model file {path} has version {content.get('version')!r}; "
                             f"this tinygrad_edu reads version {version} of the format {content['format']!r}")
    try:
        record, prep, state = content["architecture"], content["preprocessing"], content["state_dict"]
        preprocessing = Preprocessing(float(prep["mean"]), float(prep["std"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"model file {path} is incomplete: missing or malformed entry {_short(error)}") from None
    if not isinstance(state, dict):
        raise ModelFileError(f"model file {path}: its state_dict entry is a {type(state).__name__}, not a dict")
    if not math.isfinite(preprocessing.std) or preprocessing.std <= 0:
        raise ModelFileError(f"model file {path} records a preprocessing std of {preprocessing.std}")
    if not math.isfinite(preprocessing.mean):
        raise ModelFileError(f"model file {path} records a preprocessing mean of {preprocessing.mean}")
    architecture = _architecture(path, record, version)
    try:
        model = architecture.build(dtype=_weights_dtype(state))
    except (ValueError, TypeError) as error:
        raise ModelFileError(f"model file {path}: its architecture {record} cannot be built: {_short(error)}") from None
    _check_state(path, model, state, architecture)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, {"architecture": architecture, "preprocessing": preprocessing,
                   "training": content.get("training", {}), "version": version}


def _architecture(path, record, version):
    """The ``MLPArchitecture`` or ``CNNArchitecture`` a file records, each entry checked and named when wrong."""
    if not isinstance(record, dict):
        raise ModelFileError(f"model file {path}: its architecture entry is a {type(record).__name__}, not a dict")
    kind = record.get("kind", "mlp") if version == 1 else record.get("kind")  # version 1 held MLPs only
    if kind not in KINDS:
        raise ModelFileError(f"model file {path}: architecture.kind is {kind!r}; this tinygrad_edu builds "
                             f"{' or '.join(map(repr, KINDS))}")

    def whole_numbers(field, rule, count=None):  # a list of integers >= 1 (of ``count`` of them if given)
        values = record.get(field)
        ok = (isinstance(values, (list, tuple)) and (count is None or len(values) == count)
              and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values))
        if not ok:
            raise ModelFileError(f"model file {path}: architecture.{field} is {values!r}; {rule}")
        return tuple(values)

    if kind == "mlp":
        sizes = whole_numbers("sizes", "an mlp needs two or more positive layer sizes")
        if len(sizes) < 2:
            raise ModelFileError(f"model file {path}: architecture.sizes is {list(sizes)}; an mlp needs two or more "
                                 "positive layer sizes")
        activation = record.get("activation")
        if not isinstance(activation, str):
            raise ModelFileError(f"model file {path}: architecture.activation is {activation!r}, not a name")
        return MLPArchitecture(sizes, activation)
    widths = whole_numbers("widths", "a cnn needs three positive widths (conv1 channels, conv2 channels, "
                                     "hidden units)", 3)
    classes = record.get("classes")
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ModelFileError(f"model file {path}: architecture.classes is {classes!r}; a cnn needs a positive "
                             "number of classes")
    dropout = record.get("dropout")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ModelFileError(f"model file {path}: architecture.dropout is {dropout!r}; a probability from 0 to "
                             "below 1 was expected")
    image = CNNArchitecture().record()["image"]
    if record.get("image") != image:
        raise ModelFileError(f"model file {path}: architecture.image is {record.get('image')!r}; this "
                             f"tinygrad_edu's cnn reads {image} images")
    return CNNArchitecture(widths, classes, float(dropout))


def _weights_dtype(state) -> type:
    """The dtype to rebuild the model in: float64 when the file holds float64 weights, else float32.

    So a float64 model comes back float64, bit for bit, instead of being rounded to float32; float32
    (and narrower float) weights load into the float32 model exactly.
    """
    dtypes = {value.dtype for value in state.values() if isinstance(value, np.ndarray) and value.dtype.kind == "f"}
    return np.float64 if np.dtype(np.float64) in dtypes else np.float32


def _check_state(path, model, state, architecture):
    """Compare the saved weights and buffers with the architecture they claim, naming the first mismatch;
    a parameter or running statistic holding nan or inf is refused too, by name."""
    expected = model.state_dict()
    kinds = {name: "buffer" for name, _ in model._saved_buffers()}
    kinds.update((name, "parameter") for name, _ in model.named_parameters(remove_duplicate=False))
    arch = str(architecture)
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
        wanted = "f" if array.dtype.kind == "f" else "iu"  # num_batches_tracked is a count
        if saved.dtype.kind not in wanted:
            raise ModelFileError(f"model file {path}: weight {name} has dtype {saved.dtype}, not "
                                 f"{'a float' if wanted == 'f' else 'an integer'} type")
        if wanted == "f" and not np.isfinite(saved).all():  # nan or inf would make every prediction nan
            nans, infs = int(np.isnan(saved).sum()), int(np.isinf(saved).sum())
            counts = " and ".join(f"{n:,} {what}" for n, what in ((nans, "nan"), (infs, "inf")) if n)
            raise ModelFileError(f"model file {path}: {kinds[name]} {name} holds non-finite values ({counts} of "
                                 f"{saved.size:,}), so the model cannot compute a prediction")


def _short(error) -> str:
    return " ".join(str(error).split())
