"""Pictures of one digit turned into network inputs, made the way the training sets were.

MNIST (LeCun, Cortes, Burges): each digit, bright ink on a dark background, was scaled
to fit a 20x20 box keeping its aspect ratio (anti-aliased, hence the grey levels), then
placed in a 28x28 field so that its centre of mass falls on the centre of the field.
scikit-learn's 8x8 digits (UCI optdigits): 32x32 bitmaps in which the digit fills the
box, with the ink counted in 4x4 blocks, so values 0..16; chainrule.datasets divides
them by 16.

``to_model_input`` repeats those steps on any picture of one digit:
    1. grey levels in [0, 1] (transparent pixels are shown on white);
    2. the ink of a pixel is how much darker it is than the background (the median
       of the border pixels) if that is light, how much brighter if it is dark: dark
       on light is inverted, as the training images are bright ink on black;
    3. crop to the bounding box of the pixels with at least MIN_CONTRAST of ink
       (fainter ones inside the box are kept: they are anti-aliased edges);
    4. scale to fit a box x box square, keeping the aspect ratio, so that the
       brightest pixel is 1;
    5. paste into a side x side field of zeros with the centre of mass on the spot
       where the training images have it.
"""

import os
from collections import namedtuple

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataFormatError, InputError, InputTypeError

_Format = namedtuple("_Format", "side box centre resample")

# n_features -> the field (side x side), the box the digit is scaled to fit, and where
# its centre of mass goes, as a (row, column) index measured on the test images of
# each set: 14.0 for MNIST's 28x28 and 3.5 for the 8x8 digits. Box averaging is the
# digits set's counting of pixels in blocks; MNIST's anti-aliasing is a smooth filter.
FORMATS = {
    784: _Format(side=28, box=20, centre=14.0, resample=Image.Resampling.LANCZOS),
    64: _Format(side=8, box=8, centre=3.5, resample=Image.Resampling.BOX),
}
MIN_SIZE = 8  # pixels, in each direction
MIN_CONTRAST = 0.02  # of the grey range (5 levels of 255): ink, not compression noise


def to_model_input(image_or_path, n_features):
    """The picture of one digit as a network input, preprocessed as in the module docstring.

    Arguments:
        image_or_path: a path (str or os.PathLike) to an image file Pillow reads (PNG,
            JPEG, ...), or a PIL.Image.Image; grey or colour, any size from 8x8.
        n_features: the network's inputs: 784 (28x28, as MNIST) or 64 (8x8, as
            scikit-learn's digits).

    Returns:
        X of shape (1, n_features), float32, values in [0, 1]: rows of the image
        one after the other, bright ink on a background of 0.

    Raises:
        InputError: n_features is not 784 or 64, the image is smaller than 8x8, or
            it holds no ink (one grey level everywhere).
        DataFormatError: the file is not an image Pillow can read.
        InputTypeError: image_or_path is neither a path nor a PIL image.
        OSError: the file cannot be read (FileNotFoundError when it does not exist).
    """
    if n_features not in FORMATS:
        raise InputError(
            "n_features must be 784 (28x28 images, as MNIST) or 64 (8x8 images, as "
            f"scikit-learn's digits); received n_features={n_features!r}"
        )
    grey, where = _read_grey(image_or_path)
    if min(grey.shape) < MIN_SIZE:
        raise InputError(
            f"{where} is {grey.shape[1]}x{grey.shape[0]} pixels; it must be at "
            f"least {MIN_SIZE}x{MIN_SIZE}"
        )
    field = _normalise(_ink(grey, where), FORMATS[n_features])
    return field.reshape(1, n_features).astype(np.float32)


def _read_grey(image_or_path):
    """(grey levels of shape (height, width) in [0, 1], a name for messages)."""
    if isinstance(image_or_path, Image.Image):
        return _grey_levels(image_or_path), "the image"
    if not isinstance(image_or_path, (str, os.PathLike)):
        raise InputTypeError(
            "image_or_path must be a path (str or os.PathLike) or a PIL.Image.Image; "
            f"received {type(image_or_path).__name__}"
        )
    where = os.fspath(image_or_path)
    try:
        with Image.open(where) as image:
            image.load()
            return _grey_levels(image), where
    except UnidentifiedImageError:
        raise DataFormatError(f"{where} is not an image file Pillow can read (PNG, JPEG, ...)") from None
    except Image.DecompressionBombError as exc:
        raise DataFormatError(f"{where}: {exc}") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno is not None:
            raise  # the file system's error: missing file, no permission, ...
        raise DataFormatError(f"{where} is a damaged image file: {exc}") from None


def _grey_levels(image):
    """Grey levels in [0, 1], 0 black; transparent pixels are composed over white."""
    image = ImageOps.exif_transpose(image)  # photos store their rotation apart
    if image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey
        return np.clip(np.asarray(image, dtype=np.float64) / 65535, 0, 1)
    if image.mode == "F":
        return np.clip(np.asarray(image, dtype=np.float64), 0, 1)
    if "A" in image.getbands() or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def _ink(grey, where):
    """Ink levels of shape (height, width) in [0, 1]: bright ink, background 0."""
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    background = np.median(border)
    light = background > 0.5
    ink = np.clip(background - grey if light else grey - background, 0, 1)
    if ink.max() < MIN_CONTRAST:
        raise InputError(
            f"{where} holds no ink: no pixel is {MIN_CONTRAST} or more "
            f"{'darker' if light else 'brighter'} than the background (grey level "
            f"{background:.2f}, 0 black, 1 white)"
        )
    return ink


def _normalise(ink, fmt):
    """Crop, scale and centre the ink: an array of shape (fmt.side, fmt.side) in [0, 1]."""
    visible = ink >= MIN_CONTRAST
    rows = np.flatnonzero(visible.any(axis=1))
    cols = np.flatnonzero(visible.any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    scale = fmt.box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow: (w, h)
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(size, fmt.resample))
    small = np.clip(small, 0, None)  # a smooth filter rings slightly below 0
    small = small / small.max()

    # Integer shifts putting the centre of mass on fmt.centre, kept inside the field.
    mass = small.sum()
    com_row = (small.sum(axis=1) @ np.arange(small.shape[0])) / mass
    com_col = (small.sum(axis=0) @ np.arange(small.shape[1])) / mass
    top = min(max(round(fmt.centre - com_row), 0), fmt.side - small.shape[0])
    left = min(max(round(fmt.centre - com_col), 0), fmt.side - small.shape[1])
    field = np.zeros((fmt.side, fmt.side))
    field[top:top + small.shape[0], left:left + small.shape[1]] = small
    return field
