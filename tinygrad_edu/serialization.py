"""Save and load state dicts as ``.npz`` files: no pickle, atomic writes, exact round trips.

``tg.save(obj, path)`` stores nested dicts (and lists/tuples) of arrays and numbers -- a model's
``state_dict()``, an optimizer's, a scheduler's, or a dict holding several -- as one NumPy ``.npz``
archive. Every leaf becomes one array entry named by its path with "/" between levels
(``model/0.weight``, ``optimizer/state/0/exp_avg``), so ``np.load(path)`` shows readable names;
one more entry, ``__tinygrad_edu_tree__``, is a JSON text describing the nesting and the Python type of
each leaf (int, float, bool, str, None, tuple vs list, int vs str dict keys), so ``tg.load``
rebuilds exactly what was saved: arrays bit for bit, with their dtypes and shapes (a 0-d array stays
a 0-d array), NumPy scalars as NumPy scalars of their dtype (``np.float64(0.1)`` stays an
``np.float64``, not a Python float), Python numbers as Python numbers (an int stays an int).
Subclasses of bool, int, float and str (an ``IntEnum`` member, say) come back as the base type;
dicts of any kind (``OrderedDict`` included) come back as plain dicts in the same order.

Why not pickle: unpickling runs code named in the file, so opening a stranger's checkpoint could
run anything. ``tg.load`` reads with ``allow_pickle=False`` and refuses a file that holds a pickled
object. Why atomic: the archive is written to a temporary file in the same directory and then
renamed over ``path`` (``os.replace``), so a crash mid-write never leaves a truncated checkpoint.

>>> import numpy as np, os, tempfile
>>> import tinygrad_edu as tg
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> tg.save({"weights": {"0.weight": np.eye(2, dtype=np.float32)}, "epoch": 3}, path)
>>> back = tg.load(path)
>>> back["epoch"], back["weights"]["0.weight"].dtype
(3, dtype('float32'))
"""

from __future__ import annotations

import json
import os

import numpy as np

from .atomic import atomic_write
from .tensor import Tensor

TREE_KEY = "__tinygrad_edu_tree__"
_FORMAT = 1


def _encode(obj, path: list, entries: dict):
    """The JSON description of ``obj``; its arrays and numbers go into ``entries`` under their path."""
    where = "/".join(path) or "<root>"
    if isinstance(obj, dict):
        items = []
        for key, value in obj.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"tg.save: dict key {key!r} at {where} is a {type(key).__name__}; "
                                "only str and int keys can be saved")
            items.append([key if isinstance(key, str) else {"int": key}, _encode(value, path + [str(key)], entries)])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "list" if isinstance(obj, list) else "tuple"
        return {kind: [_encode(value, path + [str(i)], entries) for i, value in enumerate(obj)]}
    if obj is None:
        return {"none": True}
    if isinstance(obj, Tensor):
        obj = obj.data
    # NumPy first: np.float64 is a subclass of Python's float and np.str_ of str, and both must come
    # back as the NumPy scalars they are.
    if isinstance(obj, (np.ndarray, np.generic)):
        kind, array = ("array" if isinstance(obj, np.ndarray) else "scalar"), np.asarray(obj)
    elif isinstance(obj, str):
        return {"str": str(obj)}
    elif isinstance(obj, (bool, int, float)):
        # the base type's name: a subclass (an IntEnum member, say) is stored as the plain number it is
        kind = next(base.__name__ for base in (bool, int, float) if isinstance(obj, base))
        array = np.asarray({"bool": bool, "int": int, "float": float}[kind](obj))
    else:
        raise TypeError(f"tg.save: cannot save a {type(obj).__name__} at {where}; saveable are dicts, lists, "
                        "tuples, arrays, Tensors, numbers, str and None")
    if array.dtype.hasobject:
        raise TypeError(f"tg.save: the value at {where} would need dtype object (pickle); only numeric, bool and "
                        "string arrays, and numbers that fit in 64 bits, can be saved")
    name = _entry_name(path, entries)
    entries[name] = array
    return {kind: name}


def _entry_name(path: list, taken: dict) -> str:
    """The archive name of a leaf: its path joined by "/", control characters replaced, made unique.

    Names only need to be unique and readable: the tree records which name holds which leaf, so a
    key "a/b" beside a nested {"a": {"b": ...}}, or "0" beside 0, just gets a "~2" suffix.
    """
    name = "".join(c if c.isprintable() else "?" for c in "/".join(path)) or "value"
    candidate, n = name, 1
    while candidate in taken or candidate == TREE_KEY:
        n += 1
        candidate = f"{name}~{n}"
    return candidate


def _decode(node, arrays, path: str):
    (kind, value), = node.items()
    if kind == "dict":
        return {(key["int"] if isinstance(key, dict) else key): _decode(child, arrays, path) for key, child in value}
    if kind in ("list", "tuple"):
        items = [_decode(child, arrays, path) for child in value]
        return items if kind == "list" else tuple(items)
    if kind == "none":
        return None
    if kind == "str":
        return value
    if value not in arrays:
        raise ValueError(f"tg.load: {path} is damaged: its index names an entry {value!r} that the archive lacks")
    array = arrays[value]
    if kind == "array":
        return array
    if kind == "scalar":
        return array[()]
    return {"bool": bool, "int": int, "float": float}[kind](array.item())


def save(obj, path):
    """Write ``obj`` (nested dicts/lists of arrays, Tensors and numbers) to ``path`` as an ``.npz``, atomically.

    The file is written exactly at ``path`` (no suffix is added). Tensors are stored as their arrays.
    """
    path = os.fspath(path)
    entries: dict = {}
    tree = _encode(obj, [], entries)
    entries[TREE_KEY] = np.array(json.dumps({"format": _FORMAT, "tree": tree}))
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"tg.save: cannot write {path}: it is a directory; give a file name inside it")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise NotADirectoryError(f"tg.save: cannot write {path}: {directory} is a file, not a directory")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"tg.save: cannot write {path}: the directory {directory} does not exist")
    import zipfile  # loaded at the first save or load, so importing tinygrad_edu stays light

    # What np.savez does, written out: one .npy member per entry (np.savez's keyword arguments
    # would clash with entry names such as "file").
    with atomic_write(path) as file, zipfile.ZipFile(file, mode="w", compression=zipfile.ZIP_STORED,
                                                     allowZip64=True) as archive:
        for name, array in entries.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path):
    """Read a file written by ``save`` (or any ``.npz`` of plain arrays) without ever unpickling.

    A ``.npz`` without the tree entry (e.g. from ``np.savez``) loads as a flat dict name -> array.
    Raises ``FileNotFoundError`` or ``ValueError`` naming ``path`` when the file is missing, is not an
    ``.npz`` archive, or holds a pickled object.
    """
    import zipfile

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"tg.load: no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"tg.load: {path} is a directory, not an .npz file")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ValueError(f"tg.load: refusing {path}: it is neither an .npz archive nor an .npy array, so reading it "
                         "would mean unpickling it, which could run arbitrary code; only .npz archives of plain "
                         "arrays are read") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise ValueError(f"tg.load: {path} is not a readable .npz archive: truncated, damaged or another kind "
                         f"of file ({err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise TypeError(f"tg.load: {path} holds a single .npy array, not an .npz archive of a state dict")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as err:
                raise ValueError(f"tg.load: refusing {path}: entry {name!r} is a pickled object array, which could "
                                 "run arbitrary code when loaded; only plain numeric arrays are read") from err
            except (OSError, zipfile.BadZipFile, EOFError) as err:
                raise ValueError(f"tg.load: {path} is damaged: entry {name!r} cannot be read ({err})") from err
    if TREE_KEY not in arrays:
        return arrays
    try:
        header = json.loads(str(arrays.pop(TREE_KEY)))
        tree = header["tree"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"tg.load: {path} is damaged: its {TREE_KEY} entry is not valid ({err})") from err
    if header.get("format") != _FORMAT:
        raise ValueError(f"tg.load: {path} uses format {header.get('format')}, this version reads format {_FORMAT}")
    return _decode(tree, arrays, path)
