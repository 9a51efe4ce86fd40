"""chainrule.images: pictures of digits made into inputs the way MNIST and digits were."""

import numpy as np
import pytest
from PIL import Image

from chainrule import datasets
from chainrule.errors import DataFormatError, InputError, InputTypeError
from chainrule.images import to_model_input


@pytest.fixture(scope="module")
def mnist_test(mnist):
    """The first 200 MNIST test images, of shape (200, 784), and their labels."""
    _, (X, y) = mnist
    return X[:200], y[:200]


@pytest.fixture(scope="module")
def digits_test():
    _, (X, y) = datasets.load("digits")
    return X, y


def seven(height=120, width=90, top=30, left=50, canvas=(200, 240)):
    """A white '7' (a bar and a diagonal, 10 pixels thick) on black, as uint8."""
    image = np.zeros(canvas, dtype=np.uint8)
    image[top:top + 10, left:left + width] = 255
    for row in range(top, top + height):
        column = left + width - 10 - (row - top) * (width - 10) // (2 * height)
        image[row, column:column + 10] = 255
    return image


def centre_of_mass(field):
    rows, cols = np.indices(field.shape)
    return (rows * field).sum() / field.sum(), (cols * field).sum() / field.sum()


def bounding_box(field):
    rows = np.flatnonzero(field.any(axis=1))
    cols = np.flatnonzero(field.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def as_png(array, path):
    Image.fromarray(array).save(path)
    return path


@pytest.mark.parametrize("n_features, side, box, centre", [(784, 28, 20, 14.0), (64, 8, 8, 3.5)])
def test_scaled_to_the_box_and_centred_on_the_centre_of_mass(tmp_path, n_features, side, box, centre):
    X = to_model_input(as_png(seven(), tmp_path / "seven.png"), n_features)
    assert X.shape == (1, n_features) and X.dtype == np.float32
    field = X.reshape(side, side)
    assert field.min() == 0 and field.max() == 1
    height, width = bounding_box(field)
    assert height == box and width < box  # the taller side fills the box
    row, col = centre_of_mass(field)
    assert abs(col - centre) <= 0.5  # integer shifts
    if box < side:  # else the digit fills the field from top to bottom: no room to move
        assert abs(row - centre) <= 0.5


def test_keeps_the_aspect_ratio():
    bar = np.zeros((200, 200), dtype=np.uint8)
    bar[20:180, 95:115] = 255  # 160 high, 20 wide: 20 x 2.5 after scaling
    field = to_model_input(Image.fromarray(bar), 784).reshape(28, 28)
    height, width = bounding_box(field)
    assert height == 20 and 2 <= width <= 4


def test_the_same_input_whatever_the_colours_and_the_background():
    ink = seven()
    expected = to_model_input(Image.fromarray(ink), 784)
    dark_on_light = Image.fromarray(255 - ink)
    # Blue ink on a cream page: the grey levels run from light (page) to dark (ink).
    level = ink[..., None] / 255
    paper, blue = np.array([250, 245, 220]), np.array([20, 40, 160])
    coloured = Image.fromarray((paper + level * (blue - paper)).round().astype(np.uint8))
    # Black ink on a transparent layer, as drawing programs save it: shown on white.
    transparent = np.zeros(ink.shape + (4,), dtype=np.uint8)
    transparent[..., 3] = ink
    for image in (dark_on_light, coloured, Image.fromarray(transparent)):
        np.testing.assert_allclose(to_model_input(image, 784), expected, atol=0.02)


def test_sixteen_bit_grey_reads_as_eight_bit():
    ink = seven()
    sixteen = Image.fromarray(ink.astype(np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    np.testing.assert_allclose(to_model_input(sixteen, 64), to_model_input(Image.fromarray(ink), 64),
                               atol=1e-6)


def test_mnist_test_images_survive_a_round_trip_through_png(tmp_path, mnist_test):
    """An MNIST digit pasted off-centre into a larger, inverted picture comes back as it was."""
    X, _ = mnist_test
    errors = []
    for i, x in enumerate(X):
        picture = np.full((60, 50), 255, dtype=np.uint8)
        picture[7:35, 15:43] = 255 - (x.reshape(28, 28) * 255).round().astype(np.uint8)
        errors.append(np.abs(to_model_input(as_png(picture, tmp_path / f"{i}.png"), 784) - x).max())
    # The crop, scale (20 / 20 = 1) and centring reproduce MNIST's own: the same pixels,
    # within one grey level, unless a faint pixel (under MIN_CONTRAST) at the edge of the
    # ink or the rounding of the centre of mass moves the digit (measured: 97% the same).
    assert np.mean(np.array(errors) <= 1 / 255 + 1e-6) >= 0.9


def test_mnist_test_images_scaled_up_stay_close(mnist_test):
    X, _ = mnist_test
    errors = []
    for x in X[:50]:
        digit = Image.fromarray((x.reshape(28, 28) * 255).round().astype(np.uint8))
        big = digit.resize((84, 84), Image.Resampling.BICUBIC)
        errors.append(np.abs(to_model_input(big, 784) - x).mean())
    assert np.mean(errors) < 0.04  # measured: 0.028


def test_digits_test_images_survive_a_round_trip(digits_test):
    """An 8x8 digit drawn at 8 times the size, dark on light, comes back as it was, except
    that its brightest pixel becomes 1 and its centre of mass may move by one column."""
    X, _ = digits_test
    same = 0
    for x in X:
        picture = np.full((12, 12), 255, dtype=np.uint8)
        picture[2:10, 2:10] = 255 - (x.reshape(8, 8) * 255).round().astype(np.uint8)
        big = Image.fromarray(picture).resize((96, 96), Image.Resampling.NEAREST)
        result = to_model_input(big, 64)
        same += np.allclose(result, x / x.max(), atol=1 / 255)
    assert same / len(X) >= 0.8


def test_a_blank_image_is_an_error():
    with pytest.raises(InputError, match=r"^the image holds no ink: no pixel is 0\.02 or more "
                       r"darker than the background \(grey level 0\.78, 0 black, 1 white\)$"):
        to_model_input(Image.new("L", (40, 40), 200), 784)
    with pytest.raises(InputError, match="brighter than the background"):
        to_model_input(Image.new("RGB", (40, 40), (10, 10, 10)), 64)


def test_an_image_smaller_than_8x8_is_an_error(tmp_path):
    path = as_png(np.zeros((30, 7), dtype=np.uint8), tmp_path / "thin.png")
    with pytest.raises(InputError, match=r"thin\.png is 7x30 pixels; it must be at least 8x8$"):
        to_model_input(path, 784)


def test_a_file_that_is_not_an_image_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    with pytest.raises(DataFormatError,
                       match=r"notes\.txt is not an image file Pillow can read \(PNG, JPEG, \.\.\.\)$"):
        to_model_input(path, 784)


def test_a_truncated_image_is_an_error(tmp_path):
    path = as_png(seven(), tmp_path / "seven.png")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError, match=r"seven\.png is a damaged image file: "):
        to_model_input(path, 784)


def test_an_image_too_large_to_decode_safely_is_an_error(tmp_path, monkeypatch):
    path = as_png(seven(), tmp_path / "seven.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses twice as many
    with pytest.raises(DataFormatError, match=r"^.*seven\.png: Image size \(48000 pixels\) exceeds limit"):
        to_model_input(path, 784)


def test_a_missing_file_is_the_file_systems_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        to_model_input(tmp_path / "missing.png", 784)


def test_other_input_sizes_and_types_are_errors():
    image = Image.fromarray(seven())
    with pytest.raises(InputError, match=r"^n_features must be 784 \(28x28 images, as MNIST\) or 64 "
                       r"\(8x8 images, as scikit-learn's digits\); received n_features=100$"):
        to_model_input(image, 100)
    with pytest.raises(InputTypeError, match=r"^image_or_path must be a path \(str or os\.PathLike\) or "
                       r"a PIL\.Image\.Image; received ndarray$"):
        to_model_input(seven(), 784)
