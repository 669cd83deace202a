"""IDX files: what is written reads back identically (raw or gzip), and every kind of damage is named."""

import gzip
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu.data import DataError, read_idx, read_idx_pair, write_idx

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def idx_bytes(code, shape, payload=b""):
    return struct.pack(f">2xBB{len(shape)}I", code, len(shape), *shape) + payload


@given(array=st.sampled_from(IDX_DTYPES).flatmap(
           lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
                                    elements={"allow_nan": False} if np.dtype(dtype).kind == "f" else None)),
       compress=st.booleans())
def test_write_then_read_gives_back_the_same_array(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.gz" if compress else "a")
    write_idx(path, array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_header_is_the_mnist_layout(tmp_path):
    write_idx(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")


def test_multibyte_values_are_stored_big_endian(tmp_path):
    write_idx(tmp_path / "ints", np.array([1, -2], np.int32))
    assert (tmp_path / "ints").read_bytes()[8:] == bytes.fromhex("00000001" "fffffffe")
    assert read_idx(tmp_path / "ints").tolist() == [1, -2]


def test_gzip_is_recognised_by_content_not_by_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    (tmp_path / "packed-without-suffix").write_bytes(gzip.compress(idx_bytes(0x08, (3, 4), array.tobytes())))
    (tmp_path / "raw-named.gz").write_bytes(idx_bytes(0x08, (3, 4), array.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "packed-without-suffix"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-named.gz"), array)


def test_read_array_is_writeable(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros((2, 2), np.uint8))
    array = read_idx(tmp_path / "a.gz")
    array[0, 0] = 7
    assert array[0, 0] == 7


def test_write_leaves_no_temporary_files(tmp_path):
    write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8))
    write_idx(tmp_path / "a.gz", np.ones(3, np.uint8))  # overwriting goes through a rename too
    assert [p.name for p in tmp_path.iterdir()] == ["a.gz"]
    assert read_idx(tmp_path / "a.gz").tolist() == [1, 1, 1]


def test_write_refuses_dtypes_idx_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="IDX cannot store dtype int64"):
        write_idx(tmp_path / "a", np.zeros(3, np.int64))


DAMAGED = [
    ("too-short", b"\x00\x00", "too short to be an IDX file: 2 bytes"),
    ("wrong-magic", b"\x01\x02\x08\x01" + b"\x00" * 8, "wrong magic number 0x01020801"),
    ("text-file", b"label,pixel0\n1,2\n", "wrong magic number 0x6c616265"),
    ("unknown-type", idx_bytes(0x07, (2,), b"\x00\x00"), "unknown IDX type code 0x07"),
    ("no-dimensions", b"\x00\x00\x08\x00", "declares 0 dimensions"),
    ("cut-in-header", idx_bytes(0x08, (60000, 28, 28))[:10], "truncated inside its header: it declares 3 dimensions"),
    ("cut-in-payload", idx_bytes(0x08, (2, 28, 28), bytes(1000)),
     r"truncated: its header declares shape \(2, 28, 28\) of uint8 \(1568 bytes\) but only 1000 bytes follow"),
    ("cut-in-wide-items", idx_bytes(0x0C, (3,), bytes(10)), r"\(12 bytes\) but only 10 bytes follow"),
    ("too-long", idx_bytes(0x08, (2,), bytes(5)), "has 3 bytes more than its header declares"),
]


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("name,content,message", DAMAGED, ids=[d[0] for d in DAMAGED])
def test_damaged_file_is_named_with_what_is_wrong(tmp_path, name, content, message, compress):
    path = tmp_path / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError, match=message) as caught:
        read_idx(path)
    assert str(caught.value).startswith(str(path))


def test_damaged_gzip_stream_is_named(tmp_path):
    packed = gzip.compress(idx_bytes(0x08, (100,), bytes(range(100))))
    (tmp_path / "cut.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"cut.gz is a damaged gzip stream"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "flipped.gz").write_bytes(packed[:12] + bytes(b ^ 0xFF for b in packed[12:]))
    with pytest.raises(DataError, match=r"flipped.gz is a damaged gzip stream"):
        read_idx(tmp_path / "flipped.gz")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nothing-here-idx1-ubyte: no such file"):
        read_idx(tmp_path / "nothing-here-idx1-ubyte")


def test_pair_gives_flat_images_and_int64_labels(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "images.gz", images)
    write_idx(tmp_path / "labels.gz", np.array([4, 9], np.uint8))
    x, y = read_idx_pair(tmp_path / "images.gz", tmp_path / "labels.gz")
    assert x.shape == (2, 12) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x, images.reshape(2, 12))
    assert y.tolist() == [4, 9]


def test_pair_with_mismatched_counts_names_both_files(tmp_path):
    write_idx(tmp_path / "images", np.zeros((5, 28, 28), np.uint8))
    write_idx(tmp_path / "labels", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"images holds 5 images but .*labels holds 4 labels"):
        read_idx_pair(tmp_path / "images", tmp_path / "labels")


@pytest.mark.parametrize("images,labels,message", [
    (np.zeros((5, 784), np.uint8), np.zeros(5, np.uint8), r"holds uint8 of shape \(5, 784\); an image file holds"),
    (np.zeros((5, 28, 28), np.float32), np.zeros(5, np.uint8), "holds float32 of shape"),
    (np.zeros((5, 28, 28), np.uint8), np.zeros(5, np.float32), "a label file holds integers"),
    (np.zeros((5, 28, 28), np.uint8), np.zeros((5, 1), np.uint8), r"holds uint8 of shape \(5, 1\)"),
])
def test_pair_with_the_wrong_kind_of_arrays_is_refused(tmp_path, images, labels, message):
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    with pytest.raises(DataError, match=message):
        read_idx_pair(tmp_path / "images", tmp_path / "labels")
