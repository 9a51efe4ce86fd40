"""Data sets as arrays: MNIST, Fashion-MNIST and scikit-learn's 8x8 digits.

Every loader returns ``((X_train, y_train), (X_test, y_test))``: X of shape
(n_samples, n_features) in float32, scaled to [0, 1]; y of shape (n_samples,) in int64,
the class labels 0..9.

MNIST and Fashion-MNIST come as four IDX files each (``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``),
raw or gzip-compressed (``*.gz``). An IDX file is a 4-byte magic number
``00 00 <type code> <ndim>``, then ``ndim`` big-endian uint32 dimensions, then the items
in C order, big-endian. The files are looked for, in order:

1. in ``data_dir`` if given, holding the four files directly or in a ``mnist/`` or
   ``fashion-mnist/`` subfolder; otherwise
2. in the data home (see ``data_home()``), one subfolder per data set, then, for
   Fashion-MNIST, where Debian's ``dataset-fashion-mnist`` package puts them
   (``/usr/share/datasets/fashion-mnist``).

If they are in none of these places (and ``download=True``), they are downloaded from
the first mirror in ``MIRRORS`` that answers into ``<data_dir or data home>/<name>/``.
Each download goes to a temporary file in that folder, its SHA-256 is checked against
``SHA256`` (computed on the uncompressed bytes, so it does not depend on how a mirror
compressed the file) and only then is it renamed to its final name. Files found on
disk are not hashed; they are checked as IDX files (shapes, counts, labels 0..9).
"""

import hashlib
import http.client
import math
import os
import struct
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ._checks import positive_int
from .errors import DataFormatError, DatasetNotFoundError, InputError, InputTypeError

NAMES = ("mnist", "fashion-mnist", "digits")

# Base URLs; a file's URL is the base followed by its name and ".gz". The checksums
# below, not the transport, are what make a download trustworthy.
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
}

# SHA-256 of each file's uncompressed bytes.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Folders searched after the data home, where a system package installs a data set.
_SYSTEM_DIRS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}

_DIGITS_TEST_FRACTION = 0.2
_DIGITS_SEED = 0

_IDX_TYPES = {
    0x08: ("ubyte", np.dtype("u1")),
    0x09: ("byte", np.dtype("i1")),
    0x0B: ("short", np.dtype(">i2")),
    0x0C: ("int", np.dtype(">i4")),
    0x0D: ("float", np.dtype(">f4")),
    0x0E: ("double", np.dtype(">f8")),
}
_MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes
# holds at most 1032 * n bytes: a header claiming more is refused before inflating.
_DEFLATE_MAX_RATIO = 1032
_DOWNLOAD_TIMEOUT = 60  # seconds without data before a mirror is given up
# A download may be no larger than this, compressed or not (the largest file,
# train-images, is 26 MB compressed and 47 MB uncompressed).
_MAX_DOWNLOAD_BYTES = 1 << 27  # 128 MiB
# The most data an IDX file may declare (its header's shape times the item size): 256 MiB,
# five times MNIST's largest file. A small gzip file of zeros can declare far more and
# still be valid; it is refused before anything is inflated.
MAX_IDX_BYTES = 1 << 28


def data_home():
    """The folder that holds one subfolder per downloaded data set.

    The ``CHAINRULE_DATA`` environment variable if set, else ``$XDG_CACHE_HOME/chainrule``
    (if that variable holds an absolute path), else ``~/.cache/chainrule``. The folder is
    not created here.

    Returns:
        a ``pathlib.Path``.
    """
    configured = os.environ.get("CHAINRULE_DATA")
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache and Path(cache).is_absolute():
        return Path(cache) / "chainrule"
    return Path.home() / ".cache" / "chainrule"


def load(name, data_dir=None, *, download=True, mirrors=None):
    """Load a data set as ``((X_train, y_train), (X_test, y_test))``.

    Arguments:
        name: one of ``NAMES``:
            - ``"mnist"``: handwritten digits, 60,000 training and 10,000 test images
              of 28x28 pixels;
            - ``"fashion-mnist"``: Zalando's clothing images, same sizes and format;
            - ``"digits"``: scikit-learn's bundled 1,797 8x8 digits (offline). Pixel
              values 0..16 are divided by 16. The test set is 20% of each class
              (rounded to the nearest whole example), drawn with a fixed seed, so every
              call returns the same 1,438 training and 359 test examples, each set in
              the bundled order. ``data_dir``, ``download`` and ``mirrors`` do not apply.
        data_dir: a folder (str or os.PathLike) holding the four IDX files directly or in
            a subfolder named like the data set. If given, only this folder is searched
            and downloads go to ``data_dir/<name>/``. If None, the data home and the
            system locations are searched (see the module docstring).
        download: whether to download missing MNIST-format files from ``mirrors``.
        mirrors: base URLs (http or https) to download from, tried in order; defaults to
            ``MIRRORS[name]``.

    Returns:
        ``((X_train, y_train), (X_test, y_test))``: X of shape (n_samples, n_features) in
        float32 with values in [0, 1] (784 = 28 * 28 features for MNIST and
        Fashion-MNIST, 64 for digits), y of shape (n_samples,) in int64 with values 0..9.

    Raises:
        InputError: unknown ``name`` or malformed ``mirrors``.
        DataFormatError: a file is not a valid IDX file of images or labels 0..9, the
            counts of images and labels differ, or a download's SHA-256 does not match
            (the downloaded file is then deleted).
        DatasetNotFoundError: the files are missing and downloading is off or failed.
    """
    if not isinstance(name, str) or name not in NAMES:
        raise InputError(
            f"name must be one of {', '.join(map(repr, NAMES))}; received name={name!r}"
        )
    if not isinstance(download, (bool, np.bool_)):
        raise InputTypeError(f"download must be True or False; received download={download!r}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InputTypeError(
            "data_dir must be a path (str or os.PathLike) or None; "
            f"received {type(data_dir).__name__}"
        )
    if name == "digits":
        return _load_digits()
    mirrors = MIRRORS[name] if mirrors is None else _check_mirrors(mirrors)
    return _load_idx_set(name, data_dir, bool(download), mirrors)


def read_idx(source, max_bytes=MAX_IDX_BYTES):
    """Read one IDX file, raw or gzip-compressed, into a NumPy array.

    The format: magic number ``00 00 <type> <ndim>``, ``ndim`` big-endian uint32
    dimensions, then the items in C order, big-endian. Type codes: 0x08 ubyte, 0x09 byte,
    0x0B short, 0x0C int, 0x0D float, 0x0E double. gzip is recognised by its first two
    bytes (1f 8b), not by the file name, and is inflated no further than the header
    says the data reaches.

    Arguments:
        source: a path (str or os.PathLike) or the file's bytes (bytes, bytearray or
            memoryview).
        max_bytes: the most data the header may declare (default MAX_IDX_BYTES, 256 MiB);
            None for no limit but the file's own size.

    Returns:
        a new array of the shape the header declares (1 to 4 dimensions), of dtype
        uint8, int8, int16, int32, float32 or float64 in native byte order.

    Raises:
        DataFormatError: the bytes are not exactly one IDX file: bad magic number,
            unknown type code, 0 or more than 4 dimensions, fewer or more bytes than
            the header declares, more than max_bytes declared, or truncated or corrupt
            gzip data.
        InputTypeError: ``source`` is neither a path nor bytes.
        OSError: the file cannot be read.
    """
    max_bytes = positive_int("max_bytes", max_bytes, allow_none=True)
    array = _read_idx_view(source, max_bytes=max_bytes)
    return array.astype(array.dtype.newbyteorder("="), copy=True)


def _read_idx_view(source, digest=None, max_bytes=None):
    """Like read_idx, but the array may be a read-only, big-endian view of the bytes.

    If digest (a hashlib object) is given, it is fed the uncompressed IDX bytes. If
    max_bytes is given, a header declaring more bytes of data than that is refused.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, where = source, "IDX data"
    elif isinstance(source, (str, os.PathLike)):
        data, where = Path(source).read_bytes(), str(source)
    else:
        raise InputTypeError(
            "source must be a path (str or os.PathLike) or bytes; "
            f"received {type(source).__name__}"
        )
    if bytes(data[:2]) == _GZIP_MAGIC:
        stream = _GzipStream(data, where)
    else:
        stream = _RawStream(data, where)

    header, shape, type_name, dtype = _read_idx_header(stream, where)
    n_bytes = math.prod(shape) * dtype.itemsize
    # The checks come before any data is read, so a false header allocates nothing. An
    # empty shape whose other dims multiply past what an array can index is no array.
    if math.prod(d for d in shape if d) * dtype.itemsize > np.iinfo(np.intp).max:
        raise DataFormatError(
            f"{where}: the IDX header declares shape {shape} of {type_name}, larger than an "
            "array can be"
        )
    if n_bytes > stream.max_remaining:
        raise DataFormatError(
            f"{where}: the IDX header declares shape {shape} of {type_name}, {n_bytes} bytes "
            f"of data, but {stream.describe_limit()}"
        )
    if max_bytes is not None and n_bytes > max_bytes:
        raise DataFormatError(
            f"{where}: the IDX header declares shape {shape} of {type_name}, {n_bytes} bytes "
            f"of data, more than the {max_bytes} allowed here"
        )
    body = stream.read(n_bytes)
    if len(body) < n_bytes:
        raise DataFormatError(
            f"{where}: truncated: the IDX header declares shape {shape} of {type_name}, "
            f"{n_bytes} bytes of data; only {len(body)} follow"
        )
    stream.expect_end()
    if digest is not None:
        digest.update(header)
        digest.update(body)
    return np.frombuffer(body, dtype=dtype, count=math.prod(shape)).reshape(shape)


def _read_idx_header(stream, where):
    """Read and check ``00 00 <type> <ndim>`` and the dims.

    Returns:
        (the header's bytes, shape, the IDX type name, the big-endian dtype).
    """
    magic = bytes(stream.read(4))
    if len(magic) < 4:
        raise DataFormatError(
            f"{where}: not an IDX file: it holds {len(magic)} bytes, fewer than the 4 of "
            "the magic number"
        )
    zero0, zero1, code, ndim = magic
    if zero0 != 0 or zero1 != 0:
        raise DataFormatError(
            f"{where}: not an IDX file: the magic number must start with bytes 00 00; "
            f"found {magic[:2].hex(' ')}"
        )
    if code not in _IDX_TYPES:
        allowed = ", ".join(f"0x{c:02X} ({type_name})" for c, (type_name, _) in _IDX_TYPES.items())
        raise DataFormatError(f"{where}: unknown IDX type code 0x{code:02X}; allowed: {allowed}")
    if not 1 <= ndim <= _MAX_NDIM:
        raise DataFormatError(
            f"{where}: the IDX header declares {ndim} dimensions; allowed: 1 to {_MAX_NDIM}"
        )
    raw_dims = bytes(stream.read(4 * ndim))
    if len(raw_dims) < 4 * ndim:
        raise DataFormatError(
            f"{where}: truncated IDX header: {ndim} dimensions need {4 * ndim} bytes after "
            f"the magic number; found {len(raw_dims)}"
        )
    type_name, dtype = _IDX_TYPES[code]
    return magic + raw_dims, struct.unpack(f">{ndim}I", raw_dims), type_name, dtype


class _RawStream:
    """Reads an uncompressed IDX file held in memory, without copying."""

    def __init__(self, data, where):
        self._view = memoryview(data).cast("B")
        self._position = 0
        self._where = where

    @property
    def max_remaining(self):
        return len(self._view) - self._position

    def describe_limit(self):
        return f"only {self.max_remaining} bytes follow the header"

    def read(self, n):
        chunk = self._view[self._position : self._position + n]
        self._position += len(chunk)
        return chunk

    def expect_end(self):
        if self.max_remaining:
            raise DataFormatError(
                f"{self._where}: {self.max_remaining} bytes of trailing garbage after the "
                "data the IDX header declares"
            )


class _GzipStream:
    """Inflates a gzip file (one or more members) held in memory, on demand.

    ``read(n)`` inflates at most n bytes, so nothing larger than the header's claim is
    ever produced; zlib checks each member's CRC-32 and length when it reaches its end.
    """

    def __init__(self, data, where):
        self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip wrapper
        self._pending = bytes(data)
        self._where = where
        self._produced = 0
        self._capacity = _DEFLATE_MAX_RATIO * len(self._pending)

    @property
    def max_remaining(self):
        return self._capacity - self._produced

    def describe_limit(self):
        return (
            f"{self._capacity // _DEFLATE_MAX_RATIO} bytes of gzip data can hold at most "
            f"{self.max_remaining} more"
        )

    def read(self, n):
        """Up to n inflated bytes; fewer only where the last gzip member ends."""
        chunks = []
        remaining = n
        while remaining > 0:
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if not rest:
                    break
                if rest[:2] != _GZIP_MAGIC:
                    raise DataFormatError(
                        f"{self._where}: {len(rest)} bytes of trailing garbage after the gzip data"
                    )
                self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
                self._pending = rest
            pending_before = len(self._pending)
            try:
                chunk = self._inflater.decompress(self._pending, remaining)
            except zlib.error as error:
                raise DataFormatError(f"{self._where}: corrupt gzip data ({error})") from None
            self._pending = self._inflater.unconsumed_tail
            if not chunk and not self._inflater.eof and len(self._pending) == pending_before:
                raise DataFormatError(
                    f"{self._where}: truncated gzip data: the stream ends before its end "
                    "marker and checksum"
                )
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        self._produced += len(data)
        return data

    def expect_end(self):
        if self.read(1):
            raise DataFormatError(
                f"{self._where}: trailing garbage: the gzip data holds more bytes than the "
                "IDX header declares"
            )


def _check_mirrors(mirrors):
    if isinstance(mirrors, (str, bytes)) or not hasattr(mirrors, "__iter__"):
        raise InputError(
            "mirrors must be a sequence of base URLs such as ('https://host/mnist/',); "
            f"received mirrors={mirrors!r}"
        )
    mirrors = tuple(mirrors)
    if not mirrors:
        raise InputError("mirrors must hold at least one base URL; received an empty sequence")
    for url in mirrors:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InputError(
                f"mirrors must hold base URLs starting with http:// or https://; received {url!r}"
            )
    return mirrors


def _file_in(folder, stem):
    """The path of ``stem.gz`` or ``stem`` in folder, whichever exists (gzip first), or None."""
    for path in (folder / f"{stem}.gz", folder / stem):
        if path.is_file():
            return path
    return None


def _load_idx_set(name, data_dir, download, mirrors):
    if data_dir is not None:
        searched = [Path(data_dir), Path(data_dir) / name]
        target = Path(data_dir) / name
    else:
        target = data_home() / name
        searched = [target, *_SYSTEM_DIRS.get(name, ())]
    folder = next(
        (f for f in searched if all(_file_in(f, stem) for stem in _IDX_FILES)), None
    )
    if folder is None:
        if not download:
            raise DatasetNotFoundError(
                f"the {name} files ({', '.join(_IDX_FILES)}, each raw or .gz) are in none "
                f"of: {', '.join(map(str, searched))}; and download=False"
            )
        target.mkdir(parents=True, exist_ok=True)
        for stem in _IDX_FILES:
            if _file_in(target, stem) is None:
                _download(target / f"{stem}.gz", mirrors, SHA256[name][stem])
        folder = target

    paths = [_file_in(folder, stem) for stem in _IDX_FILES]
    X_train, y_train = _images(paths[0]), _labels(paths[1])
    X_test, y_test = _images(paths[2]), _labels(paths[3])
    for X, y, images_path, labels_path in (
        (X_train, y_train, paths[0], paths[1]),
        (X_test, y_test, paths[2], paths[3]),
    ):
        if len(X) != len(y):
            raise DataFormatError(
                f"{images_path} holds {len(X)} images but {labels_path} holds {len(y)} "
                "labels; the counts must match"
            )
    if X_train.shape[1] != X_test.shape[1]:
        raise DataFormatError(
            f"{paths[0]} holds images of {X_train.shape[1]} pixels but {paths[2]} holds "
            f"images of {X_test.shape[1]} pixels; the sizes must match"
        )
    return (X_train, y_train), (X_test, y_test)


def _images(path):
    """X of shape (n_images, rows * columns) in float32, pixel / 255."""
    images = _read_idx_view(path, max_bytes=MAX_IDX_BYTES)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataFormatError(
            f"{path}: expected images, a 3-dimensional IDX array of ubyte (n_images, rows, "
            f"columns); found shape {images.shape} of {images.dtype.name}"
        )
    if not images.size:
        raise DataFormatError(f"{path}: holds no images (shape {images.shape}); a data set needs some")
    X = images.reshape(len(images), -1).astype(np.float32)
    X /= np.float32(255)
    return X


def _labels(path):
    """y of shape (n_labels,) in int64, each in 0..9."""
    labels = _read_idx_view(path, max_bytes=MAX_IDX_BYTES)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataFormatError(
            f"{path}: expected labels, a 1-dimensional IDX array of ubyte; found shape "
            f"{labels.shape} of {labels.dtype.name}"
        )
    if labels.size and labels.max() > 9:
        index = int(np.argmax(labels > 9))
        raise DataFormatError(
            f"{path}: labels must lie in 0..9; found {labels[index]} at index {index}"
        )
    return labels.astype(np.int64)


def _download(path, mirrors, expected_sha256):
    """Fetch path.name from the first mirror that serves the right bytes, then rename.

    The bytes go to a temporary file beside ``path``, which is deleted unless its
    uncompressed SHA-256 matches, so ``path`` never names a partial or wrong file.
    """
    failures, mismatches = [], []
    for base in mirrors:
        url = base.rstrip("/") + "/" + path.name
        handle, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".part", dir=path.parent
        )
        temporary = Path(temporary)
        try:
            with os.fdopen(handle, "wb") as out:
                _fetch(url, out)
            digest = hashlib.sha256()
            try:
                _read_idx_view(temporary, digest, max_bytes=_MAX_DOWNLOAD_BYTES)
            except DataFormatError as error:
                mismatches.append(f"from {url}: not a valid IDX file ({error})")
                continue
            actual = digest.hexdigest()
            if actual != expected_sha256:
                mismatches.append(
                    f"from {url}: SHA-256 of the uncompressed bytes is {actual}, expected "
                    f"{expected_sha256}"
                )
                continue
            os.chmod(temporary, 0o644)  # mkstemp makes it private to the user
            os.replace(temporary, path)
            return
        except (OSError, http.client.HTTPException) as error:
            failures.append(f"{url}: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    if mismatches:
        raise DataFormatError(
            f"{path}: the download was wrong and has been deleted: "
            + "; ".join(mismatches + failures)
        )
    raise DatasetNotFoundError(
        f"{path}: could not download it from any mirror ({'; '.join(failures)}); put the "
        f"file in {path.parent} by hand or try again"
    )


def _fetch(url, out):
    """Copy the body at url into the binary file out; raise OSError if it is incomplete."""
    request = urllib.request.Request(url, headers={"User-Agent": "chainrule"})
    try:
        response = urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT)
    except urllib.error.HTTPError as error:
        error.close()  # it holds the open connection
        raise OSError(f"HTTP error {error.code}: {error.reason}") from None
    with response:
        declared = response.headers.get("Content-Length")
        received = 0
        while chunk := response.read(1 << 20):
            received += len(chunk)
            if received > _MAX_DOWNLOAD_BYTES:
                raise OSError(f"the response is larger than {_MAX_DOWNLOAD_BYTES} bytes")
            out.write(chunk)
    if declared is not None and declared.isdigit() and received != int(declared):
        raise OSError(f"incomplete download: received {received} of {declared} bytes")


def _load_digits():
    from sklearn.datasets import load_digits  # scikit-learn only when digits are asked for

    bunch = load_digits()
    X = (bunch.data / 16).astype(np.float32)
    y = bunch.target.astype(np.int64)
    test = _stratified_test_mask(y, _DIGITS_TEST_FRACTION, np.random.default_rng(_DIGITS_SEED))
    return (X[~test], y[~test]), (X[test], y[test])


def _stratified_test_mask(y, fraction, rng):
    """Boolean mask of shape (n_samples,): round(fraction * n_c) examples of each class c."""
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        test[rng.permutation(members)[: round(fraction * len(members))]] = True
    return test
