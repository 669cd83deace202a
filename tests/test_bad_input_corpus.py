"""The bad-input corpus of the Python API: every way a user can hand it something wrong, in one table.

Each row is ``(case, call, exception type, regex)``: ``call(files)`` must raise exactly that type with a
message matching the regex, which names the problem (the shapes, the dtype, the file, the field).
Every case also runs against a folder of prepared files and must leave it as it was: a refused write
leaves no temporary or partial file, a refused read changes nothing.

The command line's bad inputs (exit status 2, one line on stderr, no traceback, no partial output) live
in ``tests/test_cli.py``: ``BAD_TRAIN`` (learning rate and batch size zero/negative/not a number,
``--arch`` that does not parse, unwritable or misplaced ``--out``, a data folder missing, empty, partial,
truncated or corrupt), ``_bad_uses`` (a model file missing, corrupt, truncated, not a model, of another
architecture, for other inputs or fewer classes; an image that is not an image or shows no digit; a CSV
that is not Kaggle's; unwritable plot or submission) and the subprocess cases.

What is *not* an error, and what the API promises instead, is pinned down at the end of this file:
nan and inf propagate silently unless ``tg.detect_anomaly()`` is on; the sum of nothing is 0; a matmul
over a 0-length axis is a matrix of zeros.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tinygrad_edu as tg
import tinygrad_edu.nn.functional as F
from tinygrad_edu import Tensor, nn, optim
from tinygrad_edu.app import checkpoint
from tinygrad_edu.app.checkpoint import ModelFileError
from tinygrad_edu.app.images import preprocess_image
from tinygrad_edu.app.models import MLPArchitecture
from tinygrad_edu.data import DataError, DataLoader, load_mnist, read_idx, write_idx
from tinygrad_edu.optim.lr_scheduler import CosineAnnealingLR, StepLR

HERE = Path(__file__).name


def ones(*shape, grad=False):
    return Tensor(np.ones(shape), requires_grad=grad)


def param():
    return [Tensor(np.zeros(2), requires_grad=True)]


def sgd():
    return optim.SGD(param(), lr=0.1)


def backward_twice():
    loss = (ones(2, grad=True) * 2).sum()
    loss.backward()
    loss.backward()


def anomaly(fn):
    def run(_):
        with tg.detect_anomaly(), np.errstate(all="ignore"):
            fn()
    return run


def sqrt_at_zero_backward():
    Tensor(np.zeros(2), requires_grad=True).sqrt().sum().backward()


def load_other_optimizer_state():
    trained = nn.Linear(3, 2, seed=0)
    opt = optim.SGD(trained.parameters(), lr=0.1, momentum=0.9)
    trained(Tensor(np.ones((1, 3), np.float32))).sum().backward()
    opt.step()
    optim.SGD(nn.Linear(4, 2, seed=0).parameters(), lr=0.1, momentum=0.9).load_state_dict(opt.state_dict())


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Prepared inputs, good and broken; the MNIST cache points at a folder that does not exist."""
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "cache"))
    f = SimpleNamespace(root=tmp_path, good=tmp_path / "good.npz", truncated=tmp_path / "truncated.npz",
                        flipped=tmp_path / "flipped.npz", text=tmp_path / "notes.txt", folder=tmp_path / "folder",
                        a_file=tmp_path / "a_file", model=tmp_path / "model.npz", other=tmp_path / "other_arch.npz",
                        empty=tmp_path / "empty", partial=tmp_path / "partial",
                        idx=tmp_path / "images-idx3-ubyte", idx_cut=tmp_path / "cut-idx3-ubyte",
                        idx_gz_cut=tmp_path / "cut-idx3-ubyte.gz", fake_png=tmp_path / "digit.png")
    tg.save({"weights": np.arange(1000.0), "epoch": 3}, f.good)
    payload = f.good.read_bytes()
    f.truncated.write_bytes(payload[: len(payload) // 2])
    f.flipped.write_bytes(payload[:4000] + b"\xff" * 16 + payload[4016:])  # inside the weights' bytes
    f.text.write_text("these are notes, not data\n" * 20)
    f.fake_png.write_text("this is text, not a PNG\n")
    f.a_file.write_text("x")
    for folder in (f.folder, f.empty, f.partial):
        folder.mkdir()
    arch = MLPArchitecture((4, 3, 2))
    checkpoint.save_model(f.model, arch.build(seed=0), arch, checkpoint.Preprocessing())
    content = tg.load(f.model)
    content["architecture"]["sizes"] = [4, 5, 2]  # the weights stay those of 4-3-2
    tg.save(content, f.other)
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_idx(f.idx, images)
    f.idx_cut.write_bytes(f.idx.read_bytes()[:1000])
    f.idx_gz_cut.write_bytes(gzip.compress(f.idx.read_bytes())[:60])
    write_idx(f.partial / "train-images-idx3-ubyte.gz", images)
    return f


# ---- the table ---------------------------------------------------------------------------------------

SHAPES = [
    ("add (3,) + (4,)", lambda f: ones(3) + ones(4), ValueError,
     r"add: operands with shapes \(3,\) and \(4,\) cannot be broadcast"),
    ("sub (2, 3) - (3, 2)", lambda f: ones(2, 3) - ones(3, 2), ValueError,
     r"operands with shapes \(2, 3\) and \(3, 2\) cannot be broadcast"),
    ("mul by an ndarray (2, 3) * (2,)", lambda f: ones(2, 3) * np.ones(2), ValueError,
     r"mul: operands with shapes \(2, 3\) and \(2,\)"),
    ("div by a grad tensor (3,) / (2,)", lambda f: ones(3) / ones(2, grad=True), ValueError,
     r"operands with shapes \(3,\) and \(2,\) cannot be broadcast"),
    ("ndarray (4,) / tensor (3,)", lambda f: np.ones(4) / ones(3), ValueError, r"shapes \(4,\) and \(3,\)"),
    ("add a list of the wrong length", lambda f: ones(2, 3) + [1.0, 2.0], ValueError, r"\(2, 3\) and \(2,\)"),
    ("matmul 2-D (2, 3) @ (2, 3)", lambda f: ones(2, 3) @ ones(2, 3), ValueError,
     r"matmul: shapes \(2, 3\) and \(2, 3\) do not align: x has 3 columns but y has 2 rows"),
    ("matmul 1-D (3,) @ (4,)", lambda f: ones(3) @ ones(4), ValueError, r"matmul: shapes \(3,\) and \(4,\) do not align"),
    ("matmul 1-D @ 2-D (3,) @ (4, 2)", lambda f: ones(3) @ ones(4, 2), ValueError, r"\(3,\) and \(4, 2\) do not align"),
    ("matmul 2-D @ 1-D (2, 3) @ (4,)", lambda f: ones(2, 3) @ ones(4), ValueError, r"\(2, 3\) and \(4,\) do not align"),
    ("batched matmul, inner sizes", lambda f: ones(2, 3, 4) @ ones(2, 5, 2), ValueError,
     r"matmul: shapes \(2, 3, 4\) and \(2, 5, 2\) do not align: x has 4 columns but y has 5 rows"),
    ("batched matmul, batch axes", lambda f: ones(4, 2, 3, 4) @ ones(3, 4, 2), ValueError,
     r"matmul \(batch axes\): operands with shapes \(4, 2, 3, 4\) and \(3, 4, 2\)"),
    ("matmul with a number", lambda f: ones(3) @ 2.0, ValueError, r"at least 1-D, got shapes \(3,\) and \(\)"),
    ("Linear fed the wrong feature count", lambda f: nn.Linear(3, 2)(Tensor(np.ones((4, 5), np.float32))),
     ValueError, r"linear: input of shape \(4, 5\) has 5 features but the weight of shape \(2, 3\) expects 3"),
    ("mse_loss (3,) against (3, 1)", lambda f: F.mse_loss(ones(3), np.ones((3, 1))), ValueError,
     r"mse_loss: input has shape \(3,\) but target has shape \(3, 1\)"),
    ("backward(grad) of the wrong shape", lambda f: (ones(3, grad=True) * 2).backward(np.ones(2)), ValueError,
     r"grad has shape \(2,\) but the tensor has shape \(3,\)"),
]

DTYPES = [
    ("integer tensor asked for grad", lambda f: Tensor([1, 2], requires_grad=True), TypeError,
     r"only floating-point tensors can require gradients; this tensor is int64"),
    ("uint8 images made a Parameter", lambda f: nn.Parameter(np.zeros((2, 2), np.uint8)), TypeError,
     r"floating-point .* uint8"),
    ("optimizer given an integer parameter", lambda f: optim.SGD([Tensor([1, 2])], lr=0.1), TypeError,
     r"SGD: parameter 0 has dtype int64; only floating-point"),
    ("integer tensor to a negative power", lambda f: Tensor([1, 2]) ** -1, ValueError,
     r"pow: an integer tensor \(int64\) cannot be raised to the negative power -1"),
    ("object array", lambda f: Tensor(np.array([1.0, None], dtype=object)), TypeError,
     r"Tensor from ndarray of dtype object: it is not numeric"),
    ("a string", lambda f: Tensor("3.5"), TypeError, r"Tensor from str of dtype <U3: it is not numeric"),
    ("a list of strings", lambda f: Tensor(["1", "2"]), TypeError, r"dtype <U1: it is not numeric"),
    ("tensor + a string", lambda f: ones(2) + "1", TypeError, r"not numeric"),
    ("ragged nested list", lambda f: Tensor([[1.0, 2.0], [3.0]]), ValueError,
     r"cannot make a Tensor from this list: .*inhomogeneous"),
    ("cross_entropy with float class indices", lambda f: F.cross_entropy(ones(2, 3), np.array([0.0, 1.0])),
     ValueError, (r"cross_entropy: a float target holds probabilities .* \(2, 3\), got \(2,\) "
                  r"\(for class indices use an integer array\)")),
    ("cross_entropy with string targets", lambda f: F.cross_entropy(ones(2, 3), ["a", "b"]), TypeError,
     r"cross_entropy target must be numeric, got <U1"),
    ("DataLoader labels that are strings", lambda f: DataLoader(np.ones((2, 2)), np.array(["a", "b"]), 1),
     TypeError, r"y must hold numbers, got dtype <U1"),
]

AUTOGRAD = [
    ("backward on a non-scalar", lambda f: (ones(2, grad=True) * 2).backward(), RuntimeError,
     r"needs a one-element tensor, but this one has shape \(2,\)"),
    ("backward twice", lambda f: backward_twice(), RuntimeError, r"already used by a backward pass.*retain_graph=True"),
    ("backward with nothing requiring grad", lambda f: (ones(2) * 2).sum().backward(), RuntimeError,
     r"backward\(\) on a tensor that does not require grad"),
    ("nan from log(-1) under detect_anomaly", anomaly(lambda: Tensor([-1.0, 1.0]).log()), tg.AnomalyError,
     rf"^Log forward produced nan/inf: input shapes \(\(2,\)\), result shape \(2,\); op created at .*{HERE}"),
    ("inf input under detect_anomaly", anomaly(lambda: Tensor([np.inf, 1.0]) * 0), tg.AnomalyError,
     rf"^Mul forward produced nan/inf: input shapes \(\(2,\), \(\)\).*{HERE}"),
    ("nan input to a layer under detect_anomaly",
     anomaly(lambda: nn.Linear(2, 1)(Tensor(np.array([[np.nan, 1.0]], np.float32)))), tg.AnomalyError,
     r"^Linear forward produced nan/inf: input shapes \(\(1, 2\), \(1, 2\), \(1,\)\)"),
    ("inf gradient under detect_anomaly", anomaly(sqrt_at_zero_backward), tg.AnomalyError,
     rf"^Pow backward produced nan/inf: .*{HERE}"),
]

EMPTY = [
    ("max of an empty tensor", lambda f: Tensor(np.zeros((2, 0))).max(axis=1), ValueError,
     r"max: cannot reduce an empty tensor of shape \(2, 0\) over axis \(1,\)"),
    ("mean of an empty tensor", lambda f: Tensor(np.zeros(0)).mean(), ValueError,
     r"mean: cannot average zero elements \(an empty tensor of shape \(0,\)\)"),
    ("argmax of an empty tensor", lambda f: Tensor(np.zeros(0)).argmax(), ValueError,
     r"argmax: an empty tensor of shape \(0,\) has no largest element"),
    ("cross_entropy mean of an empty batch", lambda f: F.cross_entropy(Tensor(np.zeros((0, 3))), np.zeros(0, int)),
     ValueError, r"cross_entropy: the mean over an empty batch .* is undefined"),
]

STATE = [
    ("load_state_dict with a wrong key", lambda f: nn.Linear(2, 1).load_state_dict({"w": np.ones((1, 2)),
                                                                                    "bias": np.ones(1)}),
     KeyError, r"missing keys: weight \| unexpected keys: w"),
    ("load_state_dict with a wrong shape", lambda f: nn.Linear(2, 1).load_state_dict({"weight": np.ones((2, 2)),
                                                                                      "bias": np.ones(1)}),
     KeyError, r"shape mismatches: weight: checkpoint \(2, 2\) vs model \(1, 2\)"),
    ("load_state_dict of strings", lambda f: nn.Linear(2, 1).load_state_dict({"weight": np.array([["a", "b"]]),
                                                                              "bias": np.ones(1)}),
     KeyError, r"values that are not numbers: weight: checkpoint dtype <U1"),
    ("load_state_dict from another MLP", lambda f: nn.MLP([4, 5, 2]).load_state_dict(
        tg.load(f.model)["state_dict"]), KeyError, r"0.weight: checkpoint \(3, 4\) vs model \(5, 4\)"),
    ("load_state_dict of a list", lambda f: nn.Linear(2, 1).load_state_dict([1, 2]), TypeError,
     r"expects a dict of name -> array, got list"),
    ("float64 data into a float32 layer", lambda f: nn.Linear(3, 2)(ones(4, 3)), TypeError,
     r"linear: input is float64 but the weight is float32"),
    ("int64 data into a float32 layer", lambda f: nn.Linear(3, 2)(Tensor(np.ones((4, 3), np.int64))), TypeError,
     r"linear: input is int64 but the weight is float32"),
    ("optimizer state of another model", lambda f: load_other_optimizer_state(), ValueError,
     r"'momentum_buffer' of parameter 0 has shape \(2, 3\)"),
]

FILES = [
    ("tg.load a truncated npz", lambda f: tg.load(f.truncated), ValueError,
     r"truncated.npz is not a readable .npz archive: truncated, damaged"),
    ("tg.load an npz with a flipped byte", lambda f: tg.load(f.flipped), ValueError,
     r"flipped.npz is damaged: entry 'weights' cannot be read \(Bad CRC-32"),
    ("tg.load a text file", lambda f: tg.load(f.text), ValueError,
     r"refusing .*notes.txt: it is neither an .npz archive nor an .npy array"),
    ("tg.load a missing path", lambda f: tg.load(f.root / "nope.npz"), FileNotFoundError, r"no such file: .*nope.npz"),
    ("tg.load a folder", lambda f: tg.load(f.folder), IsADirectoryError, r"folder is a directory, not an .npz file"),
    ("tg.save under a file", lambda f: tg.save({"a": 1}, f.a_file / "x.npz"), NotADirectoryError,
     r"cannot write .*a_file/x.npz: .*a_file is a file, not a directory"),
    ("tg.save onto a folder", lambda f: tg.save({"a": 1}, f.folder), IsADirectoryError,
     r"cannot write .*folder: it is a directory"),
    ("tg.save into a missing folder", lambda f: tg.save({"a": 1}, f.root / "gone" / "x.npz"), FileNotFoundError,
     r"the directory .*gone does not exist"),
    ("tg.save over a good file, of a function", lambda f: tg.save({"f": print}, f.good), TypeError,
     r"cannot save a builtin_function_or_method at f"),
    ("model file of another architecture", lambda f: checkpoint.load_model(f.other), ModelFileError,
     r"other_arch.npz: weight 0.weight has shape \(3, 4\) but the architecture 4-5-2 it records needs \(5, 4\)"),
    ("model file that is a plain npz", lambda f: checkpoint.load_model(f.good), ModelFileError,
     r"good.npz is not a tinygrad_edu model file"),
    ("model file truncated", lambda f: checkpoint.load_model(f.truncated), ModelFileError,
     r"model file .*truncated.npz cannot be read"),
    ("IDX truncated", lambda f: read_idx(f.idx_cut), DataError,
     r"cut-idx3-ubyte is truncated: its header declares shape \(3, 28, 28\)"),
    ("IDX gzip cut short", lambda f: read_idx(f.idx_gz_cut), DataError, r"cut-idx3-ubyte.gz is a damaged gzip stream"),
    ("IDX that is a text file", lambda f: read_idx(f.text), DataError, r"notes.txt has the wrong magic number"),
    ("image that is a text file", lambda f: preprocess_image(f.fake_png), DataError,
     r"digit.png is not an image Pillow can read"),
    ("image path that is a folder", lambda f: preprocess_image(f.folder), DataError, r"folder is not a file"),
    ("data folder without data", lambda f: load_mnist(f.empty, download=False), DataError,
     r"MNIST not found: looked in .*empty \(no IDX files, train.csv or mnist.pkl.gz\)"),
    ("data folder without data, only that folder", lambda f: load_mnist(f.empty, fallback=False), DataError,
     r"empty holds no MNIST-like data: no IDX files"),
    ("data folder missing, only that folder", lambda f: load_mnist(f.root / "nowhere", fallback=False), DataError,
     r"nowhere: no such folder"),
    ("data folder with one of four IDX files", lambda f: load_mnist(f.partial, download=False), DataError,
     r"partial holds train-images-idx3-ubyte but not t10k-images-idx3-ubyte, .*needs all four"),
    ("only-this-folder without a folder", lambda f: load_mnist(None, fallback=False), ValueError,
     r"fallback=False\) reads only root, so it needs a root folder"),
]

HYPERPARAMETERS = [
    ("SGD lr 0", lambda f: optim.SGD(param(), lr=0), ValueError, r"SGD: invalid learning rate 0 \(must be a positive"),
    ("SGD lr negative", lambda f: optim.SGD(param(), lr=-0.1), ValueError, r"SGD: invalid learning rate -0.1"),
    ("SGD lr infinite", lambda f: optim.SGD(param(), lr=float("inf")), ValueError, r"invalid learning rate inf"),
    ("SGD lr a string", lambda f: optim.SGD(param(), lr="0.1"), TypeError,
     r"SGD: the learning rate must be a number, got str '0.1'"),
    ("SGD param group lr negative", lambda f: optim.SGD([{"params": param(), "lr": -1}], lr=0.1), ValueError,
     r"invalid learning rate -1 of param group 0"),
    ("Adam lr 0", lambda f: optim.Adam(param(), lr=0.0), ValueError, r"Adam: invalid learning rate 0.0"),
    ("Adam lr negative", lambda f: optim.Adam(param(), lr=-1e-3), ValueError, r"Adam: invalid learning rate -0.001"),
    ("AdamW lr 0", lambda f: optim.AdamW(param(), lr=0), ValueError, r"AdamW: invalid learning rate 0"),
    ("AdamW lr nan", lambda f: optim.AdamW(param(), lr=float("nan")), ValueError, r"AdamW: invalid learning rate nan"),
    ("StepLR step_size 0", lambda f: StepLR(sgd(), step_size=0), ValueError,
     r"StepLR: step_size must be a positive integer, got 0"),
    ("StepLR step_size 1.5", lambda f: StepLR(sgd(), step_size=1.5), ValueError, r"step_size .* got 1.5"),
    ("StepLR gamma 0", lambda f: StepLR(sgd(), step_size=2, gamma=0), ValueError,
     r"StepLR: gamma must be a positive number"),
    ("CosineAnnealingLR T_max 0", lambda f: CosineAnnealingLR(sgd(), T_max=0), ValueError,
     r"CosineAnnealingLR: T_max must be positive .*got 0"),
    ("CosineAnnealingLR T_max a string", lambda f: CosineAnnealingLR(sgd(), T_max="10"), ValueError,
     r"T_max must be positive .*got '10'"),
    ("CosineAnnealingLR eta_min negative", lambda f: CosineAnnealingLR(sgd(), T_max=5, eta_min=-0.1), ValueError,
     r"eta_min must be a number >= 0 .*got -0.1"),
    ("DataLoader batch size 0", lambda f: DataLoader(np.ones((4, 2)), np.ones(4), 0), ValueError,
     r"batch_size must be a positive integer, got 0"),
    ("DataLoader batch size negative", lambda f: DataLoader(np.ones((4, 2)), np.ones(4), batch_size=-8), ValueError,
     r"batch_size must be a positive integer, got -8"),
    ("Linear in_features 0", lambda f: nn.Linear(0, 3), ValueError, r"Linear needs positive sizes, got in_features=0"),
    ("Linear out_features negative", lambda f: nn.Linear(3, -2), ValueError, r"got out_features=-2"),
    ("Linear size 2.5", lambda f: nn.Linear(2.5, 3), TypeError, r"Linear: in_features must be an integer, got float"),
    ("MLP with one size", lambda f: nn.MLP([784]), ValueError, r"MLP needs at least an input and an output size"),
    ("MLP with no sizes", lambda f: nn.MLP([]), ValueError, r"at least an input and an output size, got sizes=\[\]"),
    ("MLP given an int", lambda f: nn.MLP(784), TypeError, r"MLP: sizes must be a list of layer sizes .*got int 784"),
    ("MLP given an --arch string", lambda f: nn.MLP("784-10"), TypeError, r"sizes must be a list .*got str"),
    ("MLP with a zero width", lambda f: nn.MLP([784, 0, 10]), ValueError, r"MLP needs positive sizes, got sizes\[1\]=0"),
    ("cross_entropy class out of range", lambda f: F.cross_entropy(ones(2, 10), np.array([3, 10])), ValueError,
     r"cross_entropy: target holds class 10, but there are 10 classes \(valid classes are 0 to 9\)"),
    ("cross_entropy negative class", lambda f: F.cross_entropy(ones(2, 10), np.array([-1, 0])), ValueError,
     r"target holds class -1"),
    ("cross_entropy targets of the wrong shape", lambda f: F.cross_entropy(ones(2, 10), np.zeros((2, 1), int)),
     ValueError, r"cross_entropy: input of shape \(2, 10\) needs class-index targets of shape \(2,\), got \(2, 1\)"),
    ("loss with an unknown reduction", lambda f: F.cross_entropy(ones(2, 3), np.array([0, 1]), reduction="avg"),
     ValueError, r"reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
]

CASES = SHAPES + DTYPES + AUTOGRAD + EMPTY + STATE + FILES + HYPERPARAMETERS


def _contents(root: Path) -> dict:
    return {path.relative_to(root): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
            for path in root.rglob("*")}


def test_the_corpus_is_large_and_each_case_is_named_once():
    names = [case[0] for case in CASES]
    assert len(names) >= 30 and len(set(names)) == len(names)


@pytest.mark.parametrize("call, error, pattern", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_raises_an_error_naming_the_problem_and_leaves_files_alone(call, error, pattern, files):
    before = _contents(files.root)
    with pytest.raises(error, match=pattern) as caught:
        call(files)
    assert type(caught.value) is error, f"got the subclass {type(caught.value).__name__}"
    assert _contents(files.root) == before, "a refused call created, changed or left behind a file"


# ---- what the API promises where the input is unusual but not an error --------------------------------


def test_without_detect_anomaly_nan_and_inf_propagate_silently_into_values_and_gradients():
    x = Tensor(np.array([np.nan, 1.0, np.inf]), requires_grad=True)
    loss = (x * 2).sum()
    loss.backward()  # no exception: checking every op is what detect_anomaly is for
    assert np.isnan(loss.item())
    assert x.grad.data.tolist() == [2.0, 2.0, 2.0]  # d(2x)/dx does not depend on x
    y = Tensor(np.array([np.nan, 4.0]), requires_grad=True)
    (y * y).sum().backward()
    assert np.isnan(y.grad.data[0]) and y.grad.data[1] == 8.0


def test_empty_tensors_sum_to_zero_and_a_zero_length_matmul_axis_gives_zeros():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    total = x.sum()
    total.backward()
    assert total.item() == 0.0 and x.grad.shape == (0, 3)
    product = Tensor(np.ones((2, 0))) @ Tensor(np.ones((0, 3)))
    assert product.shape == (2, 3) and not product.data.any()
    assert x.max(axis=1).shape == (0,)  # reducing a non-empty axis of an empty tensor is fine
    assert F.cross_entropy(Tensor(np.zeros((0, 3))), np.zeros(0, int), reduction="sum").item() == 0.0


def test_integer_data_meets_floats_as_in_numpy():
    assert (1 / Tensor([1, 2])).tolist() == [1.0, 0.5]
    out = nn.Linear(2, 1, seed=0)(Tensor(np.array([[1, 2]], np.uint8)))
    assert out.dtype.kind == "f"


def test_a_refused_load_state_dict_changes_no_parameter():
    layer = nn.Linear(2, 1, seed=0)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    with pytest.raises(KeyError, match="load_state_dict into Linear failed: values that are not numbers: bias"):
        layer.load_state_dict({"weight": np.full((1, 2), 7.0), "bias": np.array(["x"])})
    assert all(np.array_equal(layer.state_dict()[k], before[k]) for k in before)


def test_a_failed_save_over_an_existing_file_keeps_it_intact(files):
    with pytest.raises(TypeError, match="tg.save: cannot save a object at bad; saveable are dicts"):
        tg.save({"weights": np.zeros(3), "bad": object()}, files.good)
    assert tg.load(files.good)["weights"].tolist() == list(np.arange(1000.0))
