"""MNIST-style preprocessing of digit images for ``predict``, and the renderer that makes test images.

The fast tests draw shapes with Pillow. The slow ones use the real MNIST (from the cache, fetched once):
MNIST test digits drawn as dark ink on light, larger paper, off-centre, saved as PNG and JPEG, must be
classified as well as the originals by a small classifier trained here with plain Tensor ops.
"""

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import tinygrad_edu as tg
from tinygrad_edu.app.images import preprocess_image, preprocess_images, render_digit_on_canvas
from tinygrad_edu.data import DataError, DataLoader, load_mnist


def drawn_seven(size=(90, 120), box=(20, 15, 70, 100), width=9, ink=25, paper=230):
    """A 7 drawn with a thick pen in ``box`` (left, top, right, bottom) on a (width, height) ``size`` page."""
    left, top, right, bottom = box
    page = Image.new("L", size, paper)
    pen = ImageDraw.Draw(page)
    pen.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], fill=ink, width=width)
    pen.line([(left + (right - left) // 4, (top + bottom) // 2), ((left + 3 * right) // 4, (top + bottom) // 2)],
             fill=ink, width=width // 2 + 1)
    return page


def as_field(x):
    return x.reshape(28, 28)


def ink_box(x, level=0.0):
    field = as_field(x)
    rows, cols = np.flatnonzero((field > level).any(axis=1)), np.flatnonzero((field > level).any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def centre_of_mass(x):
    field = as_field(x).astype(np.float64)
    return (field.sum(axis=1) @ np.arange(28)) / field.sum(), (field.sum(axis=0) @ np.arange(28)) / field.sum()


def saved(image, format, tmp_path, name="digit"):
    path = tmp_path / f"{name}.{format.lower()}"
    image.save(path, format=format, **({"quality": 90} if format == "JPEG" else {}))
    return path


# ---- what comes out ------------------------------------------------------------------------------

def test_output_is_784_float32_values_in_the_unit_range(tmp_path):
    x = preprocess_image(saved(drawn_seven(), "PNG", tmp_path))
    assert x.shape == (784,) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0


def test_light_paper_is_inverted_and_dark_paper_is_not():
    page = np.asarray(drawn_seven())
    np.testing.assert_allclose(preprocess_image(page), preprocess_image(255 - page), atol=1e-6)
    field = as_field(preprocess_image(page))
    assert field[0, 0] == 0.0 and field.max() == 1.0  # ink bright, background black, as in MNIST


@pytest.mark.parametrize("rectangle,expected", [((30, 10, 60, 70), (20, 10)), ((5, 40, 101, 64), (5, 20)),
                                                ((40, 40, 44, 44), (20, 20))])
def test_ink_is_scaled_so_its_longer_side_is_20_pixels_keeping_its_shape(rectangle, expected):
    page = Image.new("L", (110, 110), 240)
    ImageDraw.Draw(page).rectangle(rectangle, fill=0)  # inclusive corners: 31 x 61, 97 x 25, 5 x 5 pixels
    top, bottom, left, right = ink_box(preprocess_image(page))
    assert (bottom - top + 1, right - left + 1) == expected


@given(left=st.integers(0, 140), top=st.integers(0, 100), width=st.integers(6, 60), height=st.integers(6, 60),
       ellipse=st.booleans())
def test_centre_of_mass_lands_on_the_centre_of_the_field(left, top, width, height, ellipse):
    page = Image.new("L", (200, 160), 235)
    shape = ImageDraw.Draw(page).ellipse if ellipse else ImageDraw.Draw(page).rectangle
    shape((left, top, left + width, top + height), fill=10)
    row, col = centre_of_mass(preprocess_image(page))
    # Shifts are whole pixels, so the centre lands within half a pixel; a centre exactly halfway
    # (13.5) is computed as 13.4999999999999982, hence the rounding allowance on the bound.
    half_pixel = 0.5 + 1e-9
    assert abs(row - 14) <= half_pixel and abs(col - 14) <= half_pixel


def test_where_and_how_large_the_digit_is_drawn_does_not_matter():
    large = drawn_seven(size=(400, 300), box=(250, 60, 370, 260), width=20)
    small = Image.new("L", (160, 100), 230)
    small.paste(large.resize((100, 75), Image.Resampling.LANCZOS), (5, 20))  # a quarter the size, elsewhere
    assert np.abs(preprocess_image(small) - preprocess_image(large)).mean() < 0.03


def test_jpeg_and_rgb_give_what_png_gives(tmp_path):
    page = drawn_seven()
    png = preprocess_image(saved(page, "PNG", tmp_path))
    jpeg = preprocess_image(saved(page.convert("RGB"), "JPEG", tmp_path))
    assert np.abs(png - jpeg).mean() < 0.01


def test_transparent_pixels_count_as_white_paper(tmp_path):
    page = drawn_seven()
    transparent = Image.new("RGBA", page.size, (0, 0, 0, 0))  # "black" but fully transparent
    transparent.putalpha(Image.eval(page, lambda v: 255 if v < 128 else 0))
    np.testing.assert_allclose(preprocess_image(saved(transparent, "PNG", tmp_path)),
                               preprocess_image(page.point(lambda v: 0 if v < 128 else 255)), atol=1e-6)


def test_many_images_stack_into_a_batch():
    batch = preprocess_images([drawn_seven(), np.asarray(drawn_seven())])
    assert batch.shape == (2, 784) and batch.dtype == np.float32
    assert preprocess_images([]).shape == (0, 784)


# ---- what goes wrong -------------------------------------------------------------------------------

def test_blank_page_shows_no_digit(tmp_path):
    path = saved(Image.new("L", (50, 50), 200), "PNG", tmp_path, name="blank")
    with pytest.raises(DataError, match=f"{path} shows no digit"):
        preprocess_image(path)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    with pytest.raises(DataError, match=f"{tmp_path / 'notes.png'} is not an image Pillow can read"):
        preprocess_image(tmp_path / "notes.png")
    with pytest.raises(DataError, match="missing.png: no such file"):
        preprocess_image(tmp_path / "missing.png")


def test_an_array_of_the_wrong_shape_is_refused():
    with pytest.raises(DataError, match=r"must be \(height, width\) or \(height, width, 3 or 4\), not \(4, 4, 2\)"):
        preprocess_image(np.zeros((4, 4, 2)))


def test_without_pillow_the_error_names_the_extra_to_install(monkeypatch, tmp_path):
    path = saved(drawn_seven(), "PNG", tmp_path)
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "from PIL import Image" fail as if not installed
    for call in (lambda: preprocess_image(path), lambda: render_digit_on_canvas(np.zeros(784))):
        with pytest.raises(ImportError, match=r"needs Pillow, which is not installed: pip install tinygrad_edu\[mnist\]"):
            call()


# ---- the renderer -----------------------------------------------------------------------------------

def test_render_draws_dark_ink_on_light_larger_paper_off_centre():
    digit = preprocess_image(drawn_seven())
    canvas = render_digit_on_canvas(digit, canvas_size=(150, 200), digit_size=90, centre=(0.3, 0.7))
    assert canvas.shape == (150, 200) and canvas.dtype == np.uint8
    assert np.median(canvas) == 235 and canvas.min() <= 40
    rows, cols = np.nonzero(canvas < 128)
    assert rows.mean() < 0.4 * 150 and cols.mean() > 0.6 * 200  # the ink sits up and to the right


def test_render_noise_is_reproducible_per_seed():
    digit = preprocess_image(drawn_seven())
    first, second = (render_digit_on_canvas(digit, noise=5, seed=3) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, render_digit_on_canvas(digit, noise=5, seed=4))


def test_render_refuses_a_digit_larger_than_the_paper():
    with pytest.raises(ValueError, match="digit_size 130 must be positive and fit the 120 x 160 canvas"):
        render_digit_on_canvas(np.zeros(784), digit_size=130)


def test_rendering_then_preprocessing_gives_the_digit_back():
    digit = preprocess_image(drawn_seven())
    for centre, size in (((0.3, 0.7), 84), ((0.7, 0.2), 60), ((0.5, 0.5), 110)):
        canvas = render_digit_on_canvas(digit, canvas_size=(120, 160), digit_size=size, centre=centre, noise=3, seed=0)
        assert np.abs(preprocess_image(canvas) - digit).mean() < 0.03


# ---- on the real MNIST ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@pytest.fixture(scope="module")
def classifier(mnist):
    """A 784-128-10 ReLU network trained for one epoch with a hand-written SGD step (about 96% on MNIST)."""
    x_train, y_train, _, _ = mnist
    rng = np.random.default_rng(0)
    w1 = tg.Tensor(rng.normal(0, np.sqrt(2 / 784), (784, 128)).astype(np.float32), requires_grad=True)
    b1 = tg.Tensor(np.zeros(128, np.float32), requires_grad=True)
    w2 = tg.Tensor(rng.normal(0, np.sqrt(1 / 128), (128, 10)).astype(np.float32), requires_grad=True)
    b2 = tg.Tensor(np.zeros(10, np.float32), requires_grad=True)
    params, one_hot = (w1, b1, w2, b2), np.eye(10, dtype=np.float32)

    def logits(x):
        return (x @ w1 + b1).relu() @ w2 + b2

    for xb, yb in DataLoader(x_train, y_train, 64, seed=0):
        loss = -(logits(xb).log_softmax(axis=1) * tg.Tensor(one_hot[yb.data])).sum() / len(yb)
        for p in params:
            p.zero_grad()
        loss.backward()
        with tg.no_grad():
            for p in params:
                p.data -= np.float32(0.1) * p.grad.data

    def predict(x):
        with tg.no_grad():
            return logits(tg.Tensor(np.asarray(x, np.float32))).data.argmax(axis=1)
    return predict


@pytest.mark.slow
def test_mnist_digits_pass_through_nearly_unchanged(mnist):
    x_test = mnist[2][:200]
    again = preprocess_images([x.reshape(28, 28) for x in x_test])
    assert np.abs(again - x_test).mean() < 0.02


@pytest.mark.slow
def test_rendered_digits_are_classified_as_well_as_the_originals(mnist, classifier, tmp_path):
    _, _, x_test, y_test = mnist
    digits, labels = x_test[:200], y_test[:200]
    rng = np.random.default_rng(1)
    paths = []
    for i, digit in enumerate(digits):
        height, width = int(rng.integers(100, 200)), int(rng.integers(100, 220))
        canvas = render_digit_on_canvas(digit, canvas_size=(height, width),
                                        digit_size=int(rng.integers(56, min(height, width) - 4)),
                                        centre=(rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8)), noise=4, seed=i)
        image = Image.fromarray(canvas).convert("RGB") if i % 2 else Image.fromarray(canvas)
        paths.append(saved(image, "JPEG" if i % 2 else "PNG", tmp_path, name=f"digit{i}"))
    original = (classifier(digits) == labels).mean()
    rendered = (classifier(preprocess_images(paths)) == labels).mean()
    print(f"200 MNIST test digits: {original:.1%} as given, {rendered:.1%} rendered on paper and preprocessed")
    assert original >= 0.9, f"the test classifier is too weak to judge preprocessing ({original:.1%})"
    assert rendered >= original - 0.02, f"rendered {rendered:.1%} vs original {original:.1%} over 200 digits"
