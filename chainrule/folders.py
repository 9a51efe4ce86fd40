"""ImageFolderModel: a network trained on a folder of images, one subfolder per class.

The folder follows the convention of torchvision's ImageFolder and Keras's
image_dataset_from_directory::

    my_digits/
        0/  a.png  b.png ...
        1/  c.jpg  more/d.png ...

The class names are the subfolders' names, sorted; a class's images are the image files
anywhere below its subfolder, sorted by path. Names that start with "." (.DS_Store,
.ipynb_checkpoints) are passed over. Files whose suffix is not one of IMAGE_SUFFIXES (the
union of Keras's and torchvision's lists) are skipped, as both libraries skip them, and
listed in ``skipped_files_`` (the command line names them in a note); a file with an image
suffix that Pillow cannot read is an error that names it, as is an image larger than
Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS), refused before it is decoded.

Every image becomes one row of X, of shape (n_images, height * width * channels):
    1. read with Pillow, turned upright (EXIF), transparent pixels composed over white,
       16-bit grey scaled to 8 bits;
    2. in one colour mode: "L" (grey, 1 channel) when every training image is grey, else
       "RGB" (3 channels); an RGB file whose channels differ by at most GREY_TOLERANCE
       levels (a JPEG of a grey picture) counts as grey. A grey image given to an RGB
       model gets three equal channels; a colour image given to an L model is made grey
       (Pillow's ITU-R 601-2 luma);
    3. resized, bilinear and without keeping the aspect ratio (Keras's default), to
       ``image_size`` or else to the size of the first training image;
    4. scaled to [0, 1] (level / 255), row after row, the channels innermost.
The model file records the size, the mode and the class names, so ``predict`` treats new
images the same way. Training goes through ``chainrule.training.fit``, the one loop, with
early stopping on a stratified validation split, as chainrule.tabular.TabularModel does.
"""

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import io, metrics, training
from ._checks import fail, is_integer, one_of
from .callbacks import EarlyStopping
from .data import train_validation_split
from .errors import ChainruleError, DataFormatError, InputError, ModelFormatError
from .regularizers import L2
from .saving import network_from
from .tabular import settings as table_settings
from .tabular.model import build_network
from .tabular.saved import short_text

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
COLOUR_MODES = ("auto", "L", "RGB")
CHANNELS = {"L": 1, "RGB": 3}
GREY_TOLERANCE = 4  # levels of 255 between the channels of a pixel that still counts as grey
MAX_INPUTS = 200_000  # inputs per image (about 258x258 RGB): beyond, the first layer is too large
MAX_DATA_BYTES = 1 << 31  # 2 GiB of float32 inputs, as chainrule.io's largest array
# The defaults, measured on image folders (docs/howto-own-data.md#image-folders): the table
# defaults but a wider network, as an image has more inputs than a table's row.
DEFAULTS = {**table_settings.DEFAULTS, "hidden": (256, 128), "image_size": None, "colour_mode": "auto"}
SETTINGS = tuple(DEFAULTS)
VERSION = 1


class ImageFolderModel:
    """A multi-layer perceptron on a folder of images, from image files to class names.

    Arguments (checked by ``fit``; the names of chainrule train's options):
        hidden, activation, optimizer, lr, momentum, schedule, batch_size, epochs, seed,
            dtype, dropout, validation_split, patience, alpha: as in
            chainrule.tabular.TabularModel (the split is stratified by class).
        image_size: the side of the square every image is resized to (an int, 28 for
            28x28), a pair (height, width), or None for the size of the first image.
        colour_mode: "auto" (grey when every image is grey, else RGB), "L" or "RGB".

    Attributes after ``fit``:
        classes_: the class names (the subfolders' names), sorted.
        image_size_: (height, width) of the network's images. colour_mode_: "L" or "RGB".
        network_: the trained Sequential. history_: the training History.
        validation_scores_: {"accuracy", "f1_macro"} on the images held out by
            validation_split, after training (None when it is 0; not saved).
        source_: where the images came from: {"kind": "folder", "name", "images", "classes"}.
        skipped_files_: the files below the folder of the last call that are not images
            (by their suffix) and were left out. image_paths_: the images of the last
            call, in the order of its rows.
    """

    def __init__(self, hidden=DEFAULTS["hidden"], activation="relu", optimizer="adam", lr=1e-3,
                 momentum=None, schedule="constant", batch_size=32, epochs=200, seed=0, dtype="float32",
                 dropout=0.0, validation_split=0.2, patience=20, alpha=1e-4, image_size=None,
                 colour_mode="auto"):
        self.hidden, self.activation, self.optimizer, self.lr = hidden, activation, optimizer, lr
        self.momentum, self.schedule, self.batch_size, self.epochs = momentum, schedule, batch_size, epochs
        self.seed, self.dtype, self.dropout = seed, dtype, dropout
        self.validation_split, self.patience, self.alpha = validation_split, patience, alpha
        self.image_size, self.colour_mode = image_size, colour_mode
        self.skipped_files_, self.image_paths_ = [], []

    def settings(self):
        """{setting: value} of the model (what the model file records)."""
        return {name: getattr(self, name) for name in SETTINGS}

    def recipe(self):
        """The checked Recipe of these settings (image_size and colour_mode checked too)."""
        checked_size(self.image_size)
        one_of("colour_mode", self.colour_mode, COLOUR_MODES)
        settings = self.settings()
        return table_settings.recipe({k: settings[k] for k in table_settings.SETTINGS}, "cross_entropy")

    # --- training -------------------------------------------------------------------------

    def fit(self, folder, verbose=0, callbacks=()):
        """Train on the images of ``folder`` (a path), one subfolder per class (see the
        module docstring). ``callbacks`` (chainrule Callbacks) run in training.fit after the
        early stopping. Returns self."""
        recipe = self.recipe()  # every setting checked before any work
        paths, labels, classes, self.skipped_files_ = scan(folder)
        size = checked_size(self.image_size) or image_size_of(paths[0])
        X, self.colour_mode_ = read_images(paths, size, self.colour_mode)
        X = X.astype(recipe.dtype, copy=False)
        self.classes_, self.image_size_, self.image_paths_ = classes, size, paths
        rng = np.random.default_rng(recipe.seed)
        if recipe.validation_split:
            train, val = train_validation_split(len(labels), recipe.validation_split, rng, labels)
        else:
            train, val = np.arange(len(labels)), None
        self.network_ = build_network(recipe, X.shape[1], len(classes), "classification")
        callbacks = ([] if val is None else [EarlyStopping("val_loss", self.patience, restore_best_weights=True)]) \
            + list(callbacks)
        self.history_ = training.fit(
            self.network_, X[train], labels[train], epochs=recipe.epochs, batch_size=recipe.batch_size,
            optimizer=recipe.build_optimizer(len(train)), callbacks=callbacks, verbose=verbose,
            validation_data=None if val is None else (X[val], labels[val]),
            penalty=L2(self.alpha) if self.alpha else None)
        self.validation_scores_ = None if val is None else \
            self.scores(labels[val], self.network_.predict_proba(X[val]))
        self.source_ = {"kind": "folder", "name": os.path.basename(os.path.normpath(os.fspath(folder))),
                        "images": len(paths), "classes": len(classes)}
        return self

    # --- use --------------------------------------------------------------------------------

    def inputs(self, data):
        """X of shape (n_images, n_features) for ``data``: a folder (every image below it), an
        image file, or a list of image files; image_paths_ lists them in order."""
        if not hasattr(self, "network_"):
            raise InputError("this ImageFolderModel is not trained yet; call fit first")
        self.image_paths_, self.skipped_files_ = image_paths(data)
        X, _ = read_images(self.image_paths_, self.image_size_, self.colour_mode_)
        return X.astype(self.network_.dtype, copy=False)

    def predict(self, data):
        """The class name of every image of ``data`` (see ``inputs``), of shape (n_images,)."""
        X = self.inputs(data)
        return np.asarray(self.classes_)[self.network_.predict_proba(X).argmax(axis=1)]

    def predict_proba(self, data):
        """Of shape (n_images, n_classes), the columns in the order of classes_."""
        return self.network_.predict_proba(self.inputs(data)).astype(np.float64)

    def evaluate(self, folder):
        """{"accuracy", "f1_macro"} on a labelled folder: one subfolder per class, named as
        (some of) the classes the model was trained on."""
        if not hasattr(self, "network_"):
            raise InputError("this ImageFolderModel is not trained yet; call fit first")
        paths, labels, classes, self.skipped_files_ = scan(folder, min_classes=1)
        unknown = [c for c in classes if c not in self.classes_]
        if unknown:
            raise InputError(f"class folder {unknown[0]!r} of {os.fspath(folder)} is not one of the classes "
                             f"the model was trained on: {self.classes_}")
        lookup = np.array([self.classes_.index(c) for c in classes])
        self.image_paths_ = paths
        X, _ = read_images(paths, self.image_size_, self.colour_mode_)
        return self.scores(lookup[labels], self.network_.predict_proba(X.astype(self.network_.dtype)))

    def scores(self, y, A):
        """{"accuracy", "f1_macro"} of outputs A of shape (n_images, n_classes) against the
        class indices y of shape (n_images,)."""
        pred = A.argmax(axis=1)
        return {"accuracy": metrics.accuracy(y, pred), "f1_macro": metrics.f1_macro(y, pred, len(self.classes_))}

    # --- the model file ---------------------------------------------------------------------

    def save(self, path):
        """Write one chainrule model file (chainrule.io's format), atomically: the network's
        arrays and meta, plus meta["image_folder"]: {"version", "classes", "image_size"
        [height, width], "colour_mode", "settings", "source"}."""
        meta = io.model_meta(self.network_)
        settings = self.settings()
        settings["hidden"] = list(settings["hidden"])
        if isinstance(settings["image_size"], tuple):
            settings["image_size"] = list(settings["image_size"])
        meta["image_folder"] = {"version": VERSION, "classes": self.classes_,
                                "image_size": list(self.image_size_), "colour_mode": self.colour_mode_,
                                "settings": settings, "source": self.source_}
        arrays = io.model_arrays(self.network_)
        arrays["meta"] = io.json_array(meta)
        io.write_npz_atomic(path, arrays)

    @classmethod
    def from_parts(cls, meta, arrays, path):
        """The ImageFolderModel of a model file read by ``io.read_npz``, every field checked."""
        doc = meta.get("image_folder")
        if not isinstance(doc, dict) or doc.get("version") != VERSION:
            raise ModelFormatError(f"{path}: 'image_folder' must be an object with version {VERSION}")
        classes, mode, size = doc.get("classes"), doc.get("colour_mode"), doc.get("image_size")
        if not (isinstance(classes, list) and len(classes) >= 2 and all(short_text(c) for c in classes)
                and classes == sorted(set(classes))):
            raise ModelFormatError(f"{path}: 'classes' must be at least two distinct, sorted names")
        if mode not in CHANNELS:
            raise ModelFormatError(f"{path}: 'colour_mode' must be 'L' or 'RGB'; received {mode!r}")
        settings, source = doc.get("settings"), doc.get("source")
        if not isinstance(settings, dict) or set(settings) != set(SETTINGS) \
                or not isinstance(settings["hidden"], list):
            raise ModelFormatError(f"{path}: 'settings' must hold exactly {list(SETTINGS)}")
        settings["hidden"] = tuple(settings["hidden"])
        if isinstance(settings["image_size"], list):
            settings["image_size"] = tuple(settings["image_size"])
        if not (isinstance(size, list) and len(size) == 2):
            raise ModelFormatError(f"{path}: 'image_size' must be [height, width]")
        model = cls(**settings)
        try:
            model.recipe()
            size = checked_size(tuple(size), "image_size")
        except ChainruleError as exc:
            raise ModelFormatError(f"{path}: invalid settings: {exc}") from None
        if not isinstance(source, dict) or not all(
                short_text(k) and (short_text(v) or (is_integer(v) and v >= 0)) for k, v in source.items()):
            raise ModelFormatError(f"{path}: 'source' must be an object of names and image counts")
        network = network_from(meta, arrays, path)
        if network.n_features != size[0] * size[1] * CHANNELS[mode] or network.n_outputs != len(classes):
            raise ModelFormatError(
                f"{path}: the network takes {network.n_features} inputs and gives {network.n_outputs} outputs, "
                f"but {size[0]}x{size[1]} {mode} images of {len(classes)} classes need "
                f"{size[0] * size[1] * CHANNELS[mode]} and {len(classes)}")
        model.network_, model.history_, model.classes_ = network, network.history, classes
        model.image_size_, model.colour_mode_, model.source_ = size, mode, source
        return model

    def __repr__(self):
        changed = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if v != DEFAULTS[k])
        return f"ImageFolderModel({changed})"


def checked_size(image_size, name="image_size"):
    """(height, width) of ``image_size`` (an int side, a pair, or None, returned as None)."""
    if image_size is None:
        return None
    pair = (image_size, image_size) if is_integer(image_size) else image_size
    if not (isinstance(pair, tuple) and len(pair) == 2 and all(is_integer(v) and v >= 1 for v in pair)) \
            or pair[0] * pair[1] > MAX_INPUTS:
        fail(name, f"None, a positive integer or a pair (height, width) of them, with at most "
             f"{MAX_INPUTS:,} pixels", image_size)
    return int(pair[0]), int(pair[1])


# --- the files of a folder ------------------------------------------------------------------

def hidden(name):
    return name.startswith(".")


def is_image_name(name):
    return name.lower().endswith(IMAGE_SUFFIXES)


def files_below(folder):
    """(image files, other files) anywhere below ``folder``, each sorted by path; hidden
    files and folders are passed over, symbolic links to folders are not followed."""
    images, others = [], []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not hidden(d))
        for name in sorted(files):
            if not hidden(name):
                (images if is_image_name(name) else others).append(os.path.join(root, name))
    return images, others


def existing_folder(folder):
    """The path of ``folder`` as a str, or InputError if it is not a folder."""
    if not isinstance(folder, (str, os.PathLike)):
        fail("folder", "a path to a folder (str or os.PathLike)", folder)
    where = os.fspath(folder)
    if not os.path.isdir(where):
        raise InputError(f"folder must be an existing folder of class subfolders; received {where!r} "
                         f"({'a file' if os.path.exists(where) else 'no such folder'})")
    return where


def scan(folder, min_classes=2):
    """(paths, labels, classes, skipped) of a labelled image folder: the image files (a list
    of paths), their class indices (int64 of shape (n_images,)), the sorted class names and
    the files that are not images. InputError for a folder with fewer than ``min_classes``
    class folders or a class folder without images."""
    where = existing_folder(folder)
    classes = sorted(e.name for e in os.scandir(where) if e.is_dir() and not hidden(e.name))
    loose = sorted(e.path for e in os.scandir(where) if e.is_file() and not hidden(e.name))
    if not classes:
        raise InputError(f"{where} holds no class folders: put each class's images in a subfolder named "
                         f"after the class ({os.path.join(where, 'cat', '1.png')}, ...)")
    if len(classes) < min_classes:
        raise InputError(f"{where} holds one class folder ({classes[0]!r}); a classifier needs at least two")
    paths, labels, skipped = [], [], loose  # files outside every class folder have no class
    for i, name in enumerate(classes):
        images, others = files_below(os.path.join(where, name))
        if not images:
            raise InputError(f"class folder {os.path.join(where, name)!r} holds no images (files ending in "
                             f"{', '.join(IMAGE_SUFFIXES)})")
        paths += images
        labels += [i] * len(images)
        skipped += others
    return paths, np.array(labels, dtype=np.int64), classes, sorted(skipped)


def image_paths(data):
    """(image files, skipped files) of ``data``: a folder (every image below it), an image
    file, or a list or tuple of image files."""
    if isinstance(data, (list, tuple)):
        if not data or not all(isinstance(p, (str, os.PathLike)) for p in data):
            fail("data", "a folder, an image file or a non-empty list of image files", data)
        return [os.fspath(p) for p in data], []
    if isinstance(data, (str, os.PathLike)) and os.path.isdir(data):
        images, others = files_below(os.fspath(data))
        if not images:
            raise InputError(f"{os.fspath(data)} holds no images (files ending in {', '.join(IMAGE_SUFFIXES)})")
        return images, others
    if isinstance(data, (str, os.PathLike)):
        if not os.path.exists(data):
            raise InputError(f"data must be an existing image file or folder; received {os.fspath(data)!r}")
        return [os.fspath(data)], []
    fail("data", "a folder, an image file or a list of image files", data)


# --- the pixels of an image -----------------------------------------------------------------

def opened(path):
    """The image at ``path`` decoded, upright, in mode "L" or "RGB" (transparent pixels
    over white, 16-bit grey scaled to 8 bits); DataFormatError naming the file if it is not
    an image Pillow reads, is damaged, or is larger than Pillow's decompression-bomb limit."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # refused, not decoded
            with Image.open(path) as image:
                image.load()
                return eight_bits(ImageOps.exif_transpose(image))
    except UnidentifiedImageError:
        raise DataFormatError(f"{path} is not an image file Pillow can read (PNG, JPEG, ...)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataFormatError(f"{path} is too large to read safely: {exc}") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) or exc.errno is not None:
            raise  # the file system's error: missing file, no permission, ...
        raise DataFormatError(f"{path} is a damaged image file: {exc}") from None
    except (ValueError, SyntaxError, EOFError) as exc:  # what Pillow's decoders raise on bad data
        raise DataFormatError(f"{path} is a damaged image file: {exc}") from None


def eight_bits(image):
    """``image`` as a PIL image of mode "L" or "RGB", 8 bits per channel."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        levels = np.asarray(image, dtype=np.float64) / (1.0 if image.mode == "F" else 65535.0)
        return Image.fromarray(np.round(np.clip(levels, 0, 1) * 255).astype(np.uint8), "L")
    if "A" in image.getbands() or "transparency" in image.info:
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return image.convert("L" if image.mode in ("1", "L") else "RGB")


def image_size_of(path):
    """(height, width) of the image at ``path``."""
    image = opened(path)
    return image.height, image.width


def check_inputs(paths, size, channels):
    """InputError if images of ``size`` (height, width) with ``channels`` make more than
    MAX_INPUTS inputs each, or more than MAX_DATA_BYTES of inputs in all."""
    (height, width), inputs = size, size[0] * size[1] * channels
    if inputs > MAX_INPUTS:
        raise InputError(f"{paths[0]} is {width}x{height} pixels: {inputs:,} inputs per image, more than "
                         f"the {MAX_INPUTS:,} a network here takes; give a smaller image_size "
                         f"(--image-size 64, say)")
    if 4 * inputs * len(paths) > MAX_DATA_BYTES:
        raise InputError(f"{len(paths):,} images of {width}x{height} pixels need "
                         f"{4 * inputs * len(paths) / 2**30:.1f} GiB as float32 inputs, more than "
                         f"{MAX_DATA_BYTES / 2**30:.0f} GiB; give a smaller image_size (--image-size 28, say)")


def read_images(paths, size, colour_mode):
    """(X, mode): the images at ``paths`` as the rows of X, float32 of shape (n_images,
    height * width * channels) in [0, 1], resized to ``size`` (height, width), in ``mode``,
    "L" or "RGB" ("auto": L when every image is grey)."""
    height, width = size
    check_inputs(paths, size, 3 if colour_mode == "RGB" else 1)
    levels, colour = [], []
    for path in paths:
        image = opened(path)
        if image.mode == "RGB" and colour_mode != "RGB":
            rgb = np.asarray(image, dtype=np.int16)
            if colour_mode == "L" or np.ptp(rgb, axis=2).max() <= GREY_TOLERANCE:
                image = image.convert("L")
        if image.mode == "L" and colour_mode == "RGB":
            image = image.convert("RGB")
        if image.size != (width, height):  # Pillow sizes are (width, height)
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        levels.append(np.asarray(image, dtype=np.uint8))
        colour.append(image.mode == "RGB")
    mode = "RGB" if any(colour) else "L"
    check_inputs(paths, size, CHANNELS[mode])
    X = np.empty((len(paths), height * width * CHANNELS[mode]), dtype=np.float32)
    for i, a in enumerate(levels):
        if mode == "RGB" and a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)  # a grey image among colour ones
        X[i] = a.reshape(-1)
    X /= 255
    return X, mode
