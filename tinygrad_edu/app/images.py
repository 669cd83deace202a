"""Turning a photo or drawing of a digit into an MNIST-style input, and the reverse for tests and demos.

MNIST digits are white ink on black, the ink's bounding box scaled to fit 20 x 20 pixels (aspect
ratio kept, anti-aliased), then placed in a 28 x 28 field so that the ink's centre of mass sits at
the centre. ``preprocess_image`` does the same to any PNG/JPEG:

1. grey-scale (transparent pixels count as white paper);
2. invert when the background is light (the median of the border pixels is above one half), so ink is bright;
3. subtract the background level, stretch the ink to [0, 1] and drop what is fainter than ``NOISE_FLOOR``
   (paper texture, JPEG ringing);
4. crop to the ink's bounding box and resize so its longer side is 20 pixels;
5. shift it, by whole pixels, so the centre of mass lands on (14, 14) in the 28 x 28 field
   (where MNIST's own digits have theirs: measured over the test set, 13.99 and 14.01 on average).

Pillow is needed for decoding and resizing; it is imported only here, when first used.

>>> import numpy as np
>>> paper = np.full((90, 60), 230, np.uint8)      # light paper, a dark bar drawn off-centre
>>> paper[10:70, 40:48] = 20
>>> x = preprocess_image(paper)
>>> x.shape, x.dtype, float(x.max())
((784,), dtype('float32'), 1.0)
>>> rows = np.flatnonzero(x.reshape(28, 28).any(axis=1))
>>> int(rows[0]), int(rows[-1])                    # 20 rows of ink, centred
(4, 23)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.files import DataError

BOX = 20           # the ink's longer side, in pixels, as in MNIST
FIELD = 28         # the image side
CENTRE = 14.0      # where MNIST puts the ink's centre of mass (row and column index)
NOISE_FLOOR = 0.1  # ink fainter than this fraction of the darkest stroke is taken for paper
MIN_CONTRAST = 0.1  # a stroke must differ from the paper by this much of the grey range to count as ink


def _pillow():
    """The ``PIL.Image`` module, or an ImportError that says which extra provides it."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("working with images needs Pillow, which is not installed: "
                          "pip install tinygrad_edu[mnist]") from None
    return Image


def load_grey(source) -> np.ndarray:
    """An image as a float64 grey array ``(height, width)`` in [0, 1] (0 black, 1 white).

    ``source`` is a path to a PNG/JPEG/..., a ``PIL.Image``, or a NumPy array: ``(h, w)`` grey or
    ``(h, w, 3|4)`` RGB(A), uint8 0..255 or float 0..1. Transparent pixels are composited onto white.
    """
    if isinstance(source, np.ndarray):
        array = source.astype(np.float64) / 255 if source.dtype.kind in "ui" else source.astype(np.float64)
        if array.ndim == 3 and array.shape[2] in (3, 4):
            rgb, alpha = array[..., :3], array[..., 3:] if array.shape[2] == 4 else 1.0
            array = (rgb * alpha + (1 - alpha)).dot([0.299, 0.587, 0.114])  # ITU-R 601 luma, as Pillow's "L"
        if array.ndim != 2 or array.size == 0:
            raise DataError(f"an image array must be (height, width) or (height, width, 3 or 4), not {source.shape}")
        return np.clip(array, 0.0, 1.0)
    image = source if hasattr(source, "convert") else _open(source)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        Image = _pillow()
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def _open(path):
    Image = _pillow()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"{path} is not an image Pillow can read ({error})") from None


def preprocess_image(source, name=None) -> np.ndarray:
    """A digit image (path, ``PIL.Image`` or array; see ``load_grey``) as an MNIST input: float32 ``(784,)`` in [0, 1].

    ``name`` is how errors call the image (default: the path, or "the image"). An image with no ink
    (every stroke within ``MIN_CONTRAST`` of the paper) is a ``DataError``.
    """
    if name is None:
        name = str(source) if isinstance(source, (str, Path)) else "the image"
    grey = load_grey(source)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: make the ink bright, as in MNIST
        grey, background = 1.0 - grey, 1.0 - background
    ink = grey - background
    peak = float(ink.max())
    if peak < MIN_CONTRAST:
        raise DataError(f"{name} shows no digit: nothing in it differs from the background by "
                        f"{MIN_CONTRAST:.0%} of the grey range")
    ink = np.clip((ink / peak - NOISE_FLOOR) / (1 - NOISE_FLOOR), 0.0, 1.0)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return _centre_by_mass(_fit_box(crop)).reshape(-1)


def preprocess_images(sources) -> np.ndarray:
    """``preprocess_image`` for each source, stacked: float32 ``(len(sources), 784)``."""
    return np.stack([preprocess_image(source) for source in sources]) if len(sources) else np.zeros((0, 784), np.float32)


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is ``BOX`` pixels (aspect kept), ink peak back at 1."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow wants (width, height)
    Image = _pillow()
    # LANCZOS on a float image: area-weighted when shrinking (anti-aliasing), smooth when enlarging
    resized = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.LANCZOS))
    resized = np.clip(resized, 0.0, None)
    return resized / resized.max() if resized.max() > 0 else resized


def _centre_by_mass(box: np.ndarray) -> np.ndarray:
    """Place ``box`` in a ``FIELD`` x ``FIELD`` image, shifted by whole pixels to put its centre of mass at ``CENTRE``."""
    height, width = box.shape
    total = box.sum()
    centre_row = (box.sum(axis=1) @ np.arange(height)) / total
    centre_col = (box.sum(axis=0) @ np.arange(width)) / total
    # top-left corner that puts the centre of mass nearest CENTRE, kept so the box stays inside the field
    top = int(np.clip(np.round(CENTRE - centre_row), 0, FIELD - height))
    left = int(np.clip(np.round(CENTRE - centre_col), 0, FIELD - width))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top:top + height, left:left + width] = box
    return field


def render_digit_on_canvas(digit, canvas_size=(120, 160), digit_size=84, centre=(0.35, 0.65),
                           paper=235, ink=20, noise=0.0, seed=None) -> np.ndarray:
    """Draw an MNIST digit the way a person might photograph one: dark ink on light, larger, off-centre paper.

    Args:
        digit: ``(784,)`` or ``(28, 28)`` values in [0, 1], white ink on black (an MNIST row).
        canvas_size: ``(height, width)`` of the paper in pixels.
        digit_size: side of the 28 x 28 field once enlarged (bilinear) onto the paper.
        centre: where the field's centre goes, as fractions of the paper's height and width
            (clipped so the field stays on the paper).
        paper, ink: grey levels 0..255 of the paper and of full-strength ink.
        noise: standard deviation (grey levels) of Gaussian noise added to every pixel; ``seed`` seeds it.

    Returns uint8 ``(height, width)``; save it with ``PIL.Image.fromarray(canvas).save("digit.png")``.
    """
    field = np.asarray(digit, dtype=np.float32).reshape(FIELD, FIELD)
    height, width = canvas_size
    if not (0 < digit_size <= min(height, width)):
        raise ValueError(f"digit_size {digit_size} must be positive and fit the {height} x {width} canvas")
    Image = _pillow()
    enlarged = np.asarray(Image.fromarray(field).resize((digit_size, digit_size), Image.Resampling.BILINEAR))
    top = int(np.clip(round(centre[0] * height - digit_size / 2), 0, height - digit_size))
    left = int(np.clip(round(centre[1] * width - digit_size / 2), 0, width - digit_size))
    canvas = np.full((height, width), float(paper))
    canvas[top:top + digit_size, left:left + digit_size] += (ink - paper) * np.clip(enlarged, 0.0, 1.0)
    if noise:
        canvas += np.random.default_rng(seed).normal(0.0, noise, canvas.shape)
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)
