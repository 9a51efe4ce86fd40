"""Tests of chainrule.datasets.

Oracles: the published facts about MNIST (labels, counts, mean pixel), a plain
``gzip.decompress`` + ``np.frombuffer`` reading of the same files, and IDX files written
here by an independent writer. No test touches the internet: every mirror is pointed at
a closed port, and the download tests serve files from a loopback HTTP server.
"""

import gzip
import hashlib
import http.server
import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule import datasets
from chainrule.errors import ChainruleError, DataFormatError, InputError, InputTypeError

if os.environ.get("CHAINRULE_DATA"):
    SHARED = Path(os.environ["CHAINRULE_DATA"])
else:  # CI clones the repository with ../shared beside it
    SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CLOSED_PORT = "http://127.0.0.1:9/"  # the discard port: nothing listens, refused at once
SHIPPED_MIRRORS = dict(datasets.MIRRORS)  # before the fixture below replaces them
SHIPPED_SYSTEM_DIRS = dict(datasets._SYSTEM_DIRS)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """An empty data home, no system folders, mirrors that refuse; numpy errors raise."""
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "home"))
    monkeypatch.setattr(datasets, "MIRRORS", {name: (CLOSED_PORT,) for name in datasets.MIRRORS})
    monkeypatch.setattr(datasets, "_SYSTEM_DIRS", {})
    with np.errstate(all="raise"):
        yield


# ---------------------------------------------------------------- an independent writer


def idx_bytes(array, code):
    """The IDX encoding of array: 00 00 code ndim, big-endian uint32 dims, big-endian items."""
    array = np.asarray(array)
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def synthetic_set(n_train=12, n_test=5, seed=0):
    """Uncompressed IDX bytes of a small MNIST-like set, and the arrays load should return."""
    rng = np.random.default_rng(seed)
    images = {n: rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8) for n in (n_train, n_test)}
    labels = {n: (np.arange(n) * 7 + seed) % 10 for n in (n_train, n_test)}
    files = {
        STEMS[0]: idx_bytes(images[n_train], 0x08),
        STEMS[1]: idx_bytes(labels[n_train].astype(np.uint8), 0x08),
        STEMS[2]: idx_bytes(images[n_test], 0x08),
        STEMS[3]: idx_bytes(labels[n_test].astype(np.uint8), 0x08),
    }
    expected = tuple(
        (images[n].reshape(n, 784).astype(np.float32) / np.float32(255), labels[n])
        for n in (n_train, n_test)
    )
    return files, expected


def write_set(folder, files, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, data in files.items():
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / stem).write_bytes(data)


def assert_same_sets(loaded, expected):
    for (X, y), (X_expected, y_expected) in zip(loaded, expected, strict=True):
        assert X.dtype == np.float32 and y.dtype == np.int64
        np.testing.assert_array_equal(X, X_expected)
        np.testing.assert_array_equal(y, y_expected)


# ---------------------------------------------------------------- real MNIST


# The `mnist` fixture (tests/conftest.py) loads these files from SHARED once per session.


def test_mnist_shapes_and_dtypes(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64


def test_mnist_pixels_lie_in_unit_interval(mnist):
    (X_train, _), (X_test, _) = mnist
    for X in (X_train, X_test):
        assert X.min() == 0.0 and X.max() == 1.0


def test_mnist_first_labels(mnist):
    (_, y_train), (_, y_test) = mnist
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_mnist_label_counts(mnist):
    (_, y_train), (_, y_test) = mnist
    train_counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_train).tolist() == train_counts
    assert np.bincount(y_test).tolist() == test_counts


def test_mnist_mean_pixel(mnist):
    (X_train, _), _ = mnist
    assert abs(X_train.mean(dtype=np.float64) - 0.1307) < 1e-4


def test_mnist_test_set_agrees_with_a_plain_gzip_reading(mnist):
    _, (X_test, y_test) = mnist
    raw_images = gzip.decompress((SHARED / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw_labels = gzip.decompress((SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    pixels = np.frombuffer(raw_images, dtype=np.uint8, offset=16).reshape(10000, 784)
    np.testing.assert_array_equal(X_test, pixels / np.float32(255))
    np.testing.assert_array_equal(y_test, np.frombuffer(raw_labels, dtype=np.uint8, offset=8))


def test_mnist_checksums_are_those_of_the_shared_files():
    for stem in STEMS:
        data = gzip.decompress((SHARED / "mnist" / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == datasets.SHA256["mnist"][stem]


@pytest.mark.skipif(
    not DEBIAN_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed"
)
def test_fashion_mnist_from_the_debian_package():
    for stem in STEMS:
        data = gzip.decompress((DEBIAN_FASHION / f"{stem}.gz").read_bytes())
        assert hashlib.sha256(data).hexdigest() == datasets.SHA256["fashion-mnist"][stem]
    loaded = datasets.load("fashion-mnist", data_dir=DEBIAN_FASHION, download=False)
    (X_train, y_train), (X_test, y_test) = loaded
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


# ---------------------------------------------------------------- digits


def test_digits_shapes_dtypes_and_range():
    (X_train, y_train), (X_test, y_test) = datasets.load("digits")
    assert X_train.shape == (1438, 64) and X_test.shape == (359, 64)
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0


def test_digits_split_is_stratified_and_a_partition():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    (X_train, y_train), (X_test, y_test) = datasets.load("digits")
    class_counts = np.bincount(bunch.target)
    expected_test = [round(0.2 * count) for count in class_counts]
    assert np.bincount(y_test).tolist() == expected_test
    assert (np.bincount(y_train) + np.bincount(y_test)).tolist() == class_counts.tolist()

    def sorted_rows(X, y):
        rows = np.column_stack([X.astype(np.float64), y])
        return rows[np.lexsort(rows.T[::-1])]

    together = sorted_rows(np.vstack([X_train, X_test]), np.concatenate([y_train, y_test]))
    np.testing.assert_array_equal(together, sorted_rows(bunch.data / 16, bunch.target))


def test_digits_split_is_the_same_on_every_call():
    first, second = datasets.load("digits"), datasets.load("digits")
    for (X1, y1), (X2, y2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(X1, X2)
        np.testing.assert_array_equal(y1, y2)


# ---------------------------------------------------------------- arguments


def test_unknown_name_lists_the_valid_names():
    message = "name must be one of 'mnist', 'fashion-mnist', 'digits'; received name='cifar10'"
    with pytest.raises(InputError, match=message):
        datasets.load("cifar10")
    with pytest.raises(InputError, match="received name=3"):
        datasets.load(3)
    assert datasets.NAMES == ("mnist", "fashion-mnist", "digits")


def test_download_must_be_a_bool():
    message = "download must be True or False; received download='yes'"
    with pytest.raises(InputTypeError, match=message):
        datasets.load("mnist", download="yes")


def test_data_dir_must_be_a_path():
    with pytest.raises(InputTypeError, match="data_dir must be a path .* or None; received int"):
        datasets.load("mnist", data_dir=5)


@pytest.mark.parametrize(
    ("mirrors", "message"),
    [
        ("http://a/", "mirrors must be a sequence of base URLs .*; received mirrors='http://a/'"),
        ((), "mirrors must hold at least one base URL; received an empty sequence"),
        (
            ("ftp://a/",),
            "mirrors must hold base URLs starting with http:// or https://; received 'ftp://a/'",
        ),
    ],
)
def test_mirrors_are_checked(mirrors, message):
    with pytest.raises(InputError, match=message):
        datasets.load("mnist", mirrors=mirrors)


# ---------------------------------------------------------------- where files are found


def test_data_home_is_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path / "data"))
    assert datasets.data_home() == tmp_path / "data"


def test_data_home_falls_back_to_the_xdg_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("CHAINRULE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert datasets.data_home() == tmp_path / "cache" / "chainrule"


def test_data_home_falls_back_to_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("CHAINRULE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, per XDG
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.data_home() == tmp_path / ".cache" / "chainrule"


def test_load_reads_the_data_home(tmp_path):
    files, expected = synthetic_set()
    write_set(tmp_path / "home" / "mnist", files)
    assert_same_sets(datasets.load("mnist", download=False), expected)


def test_load_reads_data_dir_holding_the_files(tmp_path):
    files, expected = synthetic_set()
    write_set(tmp_path / "flat", files, compress=False)
    assert_same_sets(datasets.load("mnist", data_dir=tmp_path / "flat", download=False), expected)


def test_load_reads_data_dir_holding_a_subfolder(tmp_path):
    files, expected = synthetic_set()
    write_set(tmp_path / "data" / "fashion-mnist", files)
    loaded = datasets.load("fashion-mnist", data_dir=str(tmp_path / "data"), download=False)
    assert_same_sets(loaded, expected)


def test_load_accepts_raw_and_gzip_files_side_by_side(tmp_path):
    files, expected = synthetic_set()
    folder = tmp_path / "mixed"
    write_set(folder, {stem: files[stem] for stem in STEMS[:2]}, compress=True)
    write_set(folder, {stem: files[stem] for stem in STEMS[2:]}, compress=False)
    assert_same_sets(datasets.load("mnist", data_dir=folder, download=False), expected)


def test_fashion_mnist_is_searched_in_the_system_folder_after_the_data_home(monkeypatch, tmp_path):
    assert SHIPPED_SYSTEM_DIRS == {"fashion-mnist": (DEBIAN_FASHION,)}
    system_files, system_expected = synthetic_set(seed=1)
    write_set(tmp_path / "system", system_files)
    monkeypatch.setattr(datasets, "_SYSTEM_DIRS", {"fashion-mnist": (tmp_path / "system",)})
    assert_same_sets(datasets.load("fashion-mnist", download=False), system_expected)

    home_files, home_expected = synthetic_set(seed=2)
    write_set(tmp_path / "home" / "fashion-mnist", home_files)
    assert_same_sets(datasets.load("fashion-mnist", download=False), home_expected)


def test_data_dir_replaces_the_data_home(tmp_path):
    files, _ = synthetic_set()
    write_set(tmp_path / "home" / "mnist", files)
    (tmp_path / "elsewhere").mkdir()
    message = (
        "the mnist files .* are in none of: "
        f"{tmp_path / 'elsewhere'}, {tmp_path / 'elsewhere' / 'mnist'}; and download=False"
    )
    with pytest.raises(datasets.DatasetNotFoundError, match=message):
        datasets.load("mnist", data_dir=tmp_path / "elsewhere", download=False)


def test_missing_files_without_download(tmp_path):
    files, _ = synthetic_set()
    write_set(tmp_path / "home" / "mnist", {stem: files[stem] for stem in STEMS[:3]})
    with pytest.raises(datasets.DatasetNotFoundError, match="and download=False") as caught:
        datasets.load("mnist", download=False)
    assert isinstance(caught.value, ChainruleError) and isinstance(caught.value, FileNotFoundError)


# ---------------------------------------------------------------- files that are wrong


def test_label_out_of_range_is_refused(tmp_path):
    files, _ = synthetic_set()
    labels = np.array([1, 2, 3, 10, 4, 5, 6, 7, 8, 9, 0, 1], dtype=np.uint8)
    files[STEMS[1]] = idx_bytes(labels, 0x08)
    write_set(tmp_path / "d", files)
    message = "train-labels-idx1-ubyte.gz: labels must lie in 0..9; found 10 at index 3"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", data_dir=tmp_path / "d", download=False)


def test_image_and_label_counts_must_match(tmp_path):
    files, _ = synthetic_set()
    files[STEMS[3]] = idx_bytes(np.zeros(4, dtype=np.uint8), 0x08)
    write_set(tmp_path / "d", files)
    message = "holds 5 images but .*t10k-labels-idx1-ubyte.gz holds 4 labels; the counts must match"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", data_dir=tmp_path / "d", download=False)


def test_images_must_be_three_dimensional_ubyte(tmp_path):
    files, _ = synthetic_set()
    files[STEMS[0]] = idx_bytes(np.zeros((12, 784), dtype=np.int32), 0x0C)
    write_set(tmp_path / "d", files)
    message = r"expected images, .*; found shape \(12, 784\) of int32"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", data_dir=tmp_path / "d", download=False)


def test_labels_must_be_one_dimensional_ubyte(tmp_path):
    files, _ = synthetic_set()
    files[STEMS[1]] = idx_bytes(np.zeros((12, 1), dtype=np.uint8), 0x08)
    write_set(tmp_path / "d", files)
    message = r"expected labels, .*; found shape \(12, 1\) of uint8"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", data_dir=tmp_path / "d", download=False)


def test_train_and_test_images_must_have_the_same_size(tmp_path):
    files, _ = synthetic_set()
    files[STEMS[2]] = idx_bytes(np.zeros((5, 8, 8), dtype=np.uint8), 0x08)
    write_set(tmp_path / "d", files)
    with pytest.raises(DataFormatError, match="images of 784 pixels but .* images of 64 pixels"):
        datasets.load("mnist", data_dir=tmp_path / "d", download=False)


# ---------------------------------------------------------------- downloads, over loopback


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 5  # seconds; a stuck client cannot hold the server

    def do_GET(self):
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, declared_length = route
        self.send_response(200)
        self.send_header("Content-Length", str(declared_length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A server on 127.0.0.1 answering ``routes[path] = (body, content_length)``.

    It runs in a daemon thread and is shut down when the test ends.
    """
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes, httpd.requests = {}, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def serve_set(server, prefix, files, compresslevel=9):
    for stem, data in files.items():
        body = gzip.compress(data, compresslevel=compresslevel, mtime=12345)
        server.routes[f"{prefix}/{stem}.gz"] = (body, len(body))


def checksums(files):
    return {stem: hashlib.sha256(data).hexdigest() for stem, data in files.items()}


def test_download_verifies_renames_and_is_not_repeated(server, monkeypatch, tmp_path):
    files, expected = synthetic_set()
    serve_set(server, "/mnist", files, compresslevel=1)  # unlike the files checksummed
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    assert_same_sets(datasets.load("mnist", mirrors=(server.url + "/mnist/",)), expected)

    folder = tmp_path / "home" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS)
    assert len(server.requests) == 4
    assert_same_sets(datasets.load("mnist", mirrors=(server.url + "/mnist/",)), expected)
    assert len(server.requests) == 4


def test_download_goes_into_data_dir_when_given(server, monkeypatch, tmp_path):
    files, expected = synthetic_set()
    serve_set(server, "/f", files)
    monkeypatch.setitem(datasets.SHA256, "fashion-mnist", checksums(files))
    mirrors = (server.url + "/f",)
    loaded = datasets.load("fashion-mnist", data_dir=tmp_path / "mine", mirrors=mirrors)
    assert_same_sets(loaded, expected)
    assert len(list((tmp_path / "mine" / "fashion-mnist").glob("*.gz"))) == 4
    assert not (tmp_path / "home").exists()


def test_download_uses_the_default_mirrors(server, monkeypatch):
    files, expected = synthetic_set()
    serve_set(server, "/m", files)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    monkeypatch.setitem(datasets.MIRRORS, "mnist", (server.url + "/m/",))
    assert_same_sets(datasets.load("mnist"), expected)


def test_download_falls_back_to_the_next_mirror(server, monkeypatch):
    files, expected = synthetic_set()
    serve_set(server, "/good", files)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    mirrors = (server.url + "/missing/", server.url + "/good/")
    assert_same_sets(datasets.load("mnist", mirrors=mirrors), expected)
    assert sum(path.startswith("/missing/") for path in server.requests) == 4


def test_download_with_a_wrong_checksum_is_deleted(server, monkeypatch, tmp_path):
    files, _ = synthetic_set()
    serve_set(server, "/mnist", files)
    wrong = checksums(files)
    wrong[STEMS[1]] = "0" * 64
    monkeypatch.setitem(datasets.SHA256, "mnist", wrong)
    actual = hashlib.sha256(files[STEMS[1]]).hexdigest()
    folder = tmp_path / "home" / "mnist"
    message = (
        f"{folder / 'train-labels-idx1-ubyte.gz'}: the download was wrong and has been deleted: "
        f"from {server.url}/mnist/train-labels-idx1-ubyte.gz: SHA-256 of the uncompressed bytes "
        f"is {actual}, expected {'0' * 64}"
    )
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", mirrors=(server.url + "/mnist",))
    assert sorted(p.name for p in folder.iterdir()) == ["train-images-idx3-ubyte.gz"]


def test_download_that_is_not_idx_is_deleted(server, monkeypatch, tmp_path):
    files, _ = synthetic_set()
    serve_set(server, "/mnist", files)
    server.routes["/mnist/train-images-idx3-ubyte.gz"] = (b"<html>not found</html>", 22)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    message = "the download was wrong .*: not a valid IDX file .*not an IDX file"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", mirrors=(server.url + "/mnist/",))
    assert list((tmp_path / "home" / "mnist").iterdir()) == []


def test_partial_download_leaves_no_file(server, monkeypatch, tmp_path):
    files, _ = synthetic_set()
    serve_set(server, "/mnist", files)
    body, length = server.routes["/mnist/train-images-idx3-ubyte.gz"]
    server.routes["/mnist/train-images-idx3-ubyte.gz"] = (body[: length // 2], length)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    message = (
        "could not download it from any mirror .*"
        f"incomplete download: received {length // 2} of {length} bytes"
    )
    with pytest.raises(datasets.DatasetNotFoundError, match=message):
        datasets.load("mnist", mirrors=(server.url + "/mnist/",))
    assert list((tmp_path / "home" / "mnist").iterdir()) == []


def test_download_larger_than_the_cap_is_abandoned(server, monkeypatch, tmp_path):
    files, _ = synthetic_set()
    serve_set(server, "/mnist", files)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    monkeypatch.setattr(datasets, "_MAX_DOWNLOAD_BYTES", 2000)
    message = "the response is larger than 2000 bytes"
    with pytest.raises(datasets.DatasetNotFoundError, match=message):
        datasets.load("mnist", mirrors=(server.url + "/mnist/",))
    assert list((tmp_path / "home" / "mnist").iterdir()) == []


def test_download_inflating_beyond_the_cap_is_refused(server, monkeypatch, tmp_path):
    files, _ = synthetic_set()
    # 9 KB of zeros, which compress to about 60 bytes
    files[STEMS[0]] = idx_bytes(np.zeros((12, 28, 28), dtype=np.uint8), 0x08)
    serve_set(server, "/mnist", files)
    monkeypatch.setitem(datasets.SHA256, "mnist", checksums(files))
    monkeypatch.setattr(datasets, "_MAX_DOWNLOAD_BYTES", 2000)
    message = "9408 bytes of data, more than the 2000 allowed here"
    with pytest.raises(DataFormatError, match=message):
        datasets.load("mnist", mirrors=(server.url + "/mnist/",))
    assert list((tmp_path / "home" / "mnist").iterdir()) == []


def test_unreachable_mirrors_are_reported():
    message = f"could not download it from any mirror \\({CLOSED_PORT}"
    with pytest.raises(datasets.DatasetNotFoundError, match=message):
        datasets.load("mnist")


def test_shipped_mirrors_and_checksums_cover_every_file():
    assert sorted(SHIPPED_MIRRORS) == ["fashion-mnist", "mnist"]
    for name in ("mnist", "fashion-mnist"):
        for url in SHIPPED_MIRRORS[name]:
            assert url.startswith(("http://", "https://")) and url.endswith("/")
        assert sorted(datasets.SHA256[name]) == sorted(STEMS)
        for value in datasets.SHA256[name].values():
            assert len(value) == 64 and int(value, 16) >= 0


# ---------------------------------------------------------------- read_idx


@pytest.mark.parametrize(
    ("code", "dtype", "values"),
    [
        (0x08, np.uint8, [0, 1, 254, 255, 7, 8]),
        (0x09, np.int8, [-128, -1, 0, 1, 127, 5]),
        (0x0B, np.int16, [-32768, -1, 0, 1, 32767, 300]),
        (0x0C, np.int32, [-(2**31), -1, 0, 1, 2**31 - 1, 70000]),
        (0x0D, np.float32, [-1.5, 0.0, 1e-30, 3.25, np.inf, 7.0]),
        (0x0E, np.float64, [-1.5, 0.0, 1e-300, 3.25, -np.inf, 1 / 3]),
    ],
)
def test_read_idx_round_trips_every_type(code, dtype, values, tmp_path):
    array = np.array(values, dtype=dtype).reshape(2, 3)
    data = idx_bytes(array, code)
    (tmp_path / "a.idx").write_bytes(data)
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(data))
    sources = [data, bytearray(data), memoryview(data), gzip.compress(data)]
    sources += [tmp_path / "a.idx", str(tmp_path / "a.idx.gz")]
    for source in sources:
        result = datasets.read_idx(source)
        assert result.dtype == np.dtype(dtype) and result.dtype.isnative
        assert result.shape == (2, 3) and result.flags.writeable
        np.testing.assert_array_equal(result, array)


def test_read_idx_reads_four_dimensions_and_empty_arrays():
    array = np.arange(24, dtype=np.uint8).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(datasets.read_idx(idx_bytes(array, 0x08)), array)
    assert datasets.read_idx(idx_bytes(np.zeros((0, 5), dtype=np.int16), 0x0B)).shape == (0, 5)


def test_read_idx_reads_multi_member_gzip():
    data = idx_bytes(np.arange(10, dtype=np.uint8), 0x08)
    two_members = gzip.compress(data[:6]) + gzip.compress(data[6:]) + gzip.compress(b"")
    np.testing.assert_array_equal(datasets.read_idx(two_members), np.arange(10))


VALID = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "IDX data: not an IDX file: it holds 0 bytes, fewer than the 4 of the magic number"),
        (
            b"\x01\x00\x08\x01" + VALID[4:],
            "not an IDX file: the magic number must start with bytes 00 00; found 01 00",
        ),
        (
            b"\x00\x00\x0a\x02" + VALID[4:],
            r"unknown IDX type code 0x0A; allowed: 0x08 \(ubyte\), 0x09 \(byte\), "
            r"0x0B \(short\), 0x0C \(int\), 0x0D \(float\), 0x0E \(double\)",
        ),
        (b"\x00\x00\x08\x00", "the IDX header declares 0 dimensions; allowed: 1 to 4"),
        (b"\x00\x00\x08\x05" + bytes(20), "the IDX header declares 5 dimensions; allowed: 1 to 4"),
        (
            VALID[:9],
            "truncated IDX header: 2 dimensions need 8 bytes after the magic number; found 5",
        ),
        (
            VALID[:-1],
            r"declares shape \(3, 4\) of ubyte, 12 bytes of data, "
            "but only 11 bytes follow the header",
        ),
        (
            VALID + b"\x00\x00",
            "IDX data: 2 bytes of trailing garbage after the data the IDX header declares",
        ),
    ],
)
def test_read_idx_refuses_malformed_raw_data(data, message):
    with pytest.raises(DataFormatError, match=message):
        datasets.read_idx(data)


def test_read_idx_refuses_malformed_gzip_data():
    packed = gzip.compress(VALID)
    cases = [
        (packed[:-6], "truncated gzip data: the stream ends before its end marker and checksum"),
        (packed[:12], "truncated gzip data: the stream ends before its end marker and checksum"),
        (  # one bit of the CRC-32 flipped
            packed[:-8] + bytes([packed[-8] ^ 1]) + packed[-7:],
            r"corrupt gzip data \(.*incorrect data check",
        ),
        (packed + b"junk", "4 bytes of trailing garbage after the gzip data"),
        (
            gzip.compress(VALID + b"\x00"),
            "trailing garbage: the gzip data holds more bytes than the IDX header declares",
        ),
        (
            gzip.compress(VALID[:-1]),
            r"truncated: the IDX header declares shape \(3, 4\) of ubyte, 12 bytes of data; "
            "only 11 follow",
        ),
        (packed[:10] + b"\xff" * (len(packed) - 10), "corrupt gzip data"),
    ]
    for data, message in cases:
        with pytest.raises(DataFormatError, match=message):
            datasets.read_idx(data)


def test_read_idx_names_the_file(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(VALID + b"x")
    with pytest.raises(DataFormatError, match=f"{path}: 1 bytes of trailing garbage"):
        datasets.read_idx(path)


def test_read_idx_refuses_other_sources():
    with pytest.raises(InputTypeError, match="source must be a path .* or bytes; received int"):
        datasets.read_idx(3)


def test_read_idx_refuses_a_trillion_items_quickly(tmp_path):
    header = b"\x00\x00\x08\x02" + struct.pack(">2I", 10**6, 10**6)
    path = tmp_path / "huge.idx.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    sources = [header + bytes(1000), gzip.compress(header + bytes(10**6)), path]
    for source in sources:
        start = time.perf_counter()
        message = r"declares shape \(1000000, 1000000\) of ubyte, 1000000000000 bytes of data, but"
        with pytest.raises(DataFormatError, match=message):
            datasets.read_idx(source)
        assert time.perf_counter() - start < 0.5


def test_read_idx_refuses_a_claim_the_gzip_data_cannot_hold():
    header = b"\x00\x00\x08\x01" + struct.pack(">I", 50_000_000)
    packed = gzip.compress(header + bytes(1000))
    message = f"but {len(packed)} bytes of gzip data can hold at most {1032 * len(packed) - 8} more"
    with pytest.raises(DataFormatError, match=message):
        datasets.read_idx(packed)


def test_read_idx_refuses_a_short_gzip_without_inflating_more_than_it_holds():
    header = b"\x00\x00\x08\x01" + struct.pack(">I", 1_000_500)
    packed = gzip.compress(header + bytes(1_000_000))  # zeros compress ~1000:1, so the claim fits
    with pytest.raises(DataFormatError, match="1000500 bytes of data; only 1000000 follow"):
        datasets.read_idx(packed)


# ---------------------------------------------------------------- read_idx on any bytes

SMALL_VALID = [
    VALID,
    idx_bytes(np.array([1.5, -2.0, 0.25], dtype=np.float32), 0x0D),
    idx_bytes(np.arange(6, dtype=np.int16).reshape(1, 2, 3), 0x0B),
    idx_bytes(np.array([-1.0], dtype=np.float64), 0x0E),
]


@st.composite
def mutated_idx(draw):
    """A small valid IDX file, raw or gzip'd, with a few bytes set, cut, inserted or appended."""
    data = bytearray(draw(st.sampled_from(SMALL_VALID)))
    stage = draw(st.sampled_from(["raw", "gzip, then mutate", "mutate, then gzip"]))
    if stage == "gzip, then mutate":
        data = bytearray(gzip.compress(bytes(data), mtime=0))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["set", "cut", "insert", "append", "delete"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[position] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif kind == "append":
            data += draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete" and data:
            del data[position]
    if stage == "mutate, then gzip":
        data = bytearray(gzip.compress(bytes(data), mtime=0))
    return bytes(data)


def array_or_data_format_error(data):
    """read_idx(data) returns an array consistent with the data, or raises DataFormatError."""
    try:
        result = datasets.read_idx(data)
    except DataFormatError:
        return
    assert isinstance(result, np.ndarray) and 1 <= result.ndim <= 4
    if data[:2] != b"\x1f\x8b":
        assert len(data) == 4 + 4 * result.ndim + result.nbytes


@settings(max_examples=300, deadline=1000)
@given(
    st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=4, max_size=40).map(lambda tail: b"\x00\x00" + tail),  # passes the magic
    )
)
def test_read_idx_on_random_bytes(data):
    array_or_data_format_error(data)


@settings(max_examples=400, deadline=1000)
@given(mutated_idx())
def test_read_idx_on_mutated_files(data):
    array_or_data_format_error(data)


def test_an_empty_shape_with_huge_other_dims_is_refused():
    """Found by the test above: dims (369098753, 1, 3220176896, 0) of float64 hold 0
    bytes, but no array has that shape; refused as a format error, not numpy's ValueError."""
    data = b"\x00\x00\x0e\x04\x16\x00\x00\x01\x00\x00\x00\x01\xbf\xf0\x00\x00\x00\x00\x00\x00"
    with pytest.raises(DataFormatError, match="larger than an array can be"):
        datasets.read_idx(data)


@pytest.mark.parametrize("data", SMALL_VALID)
def test_read_idx_on_unmutated_files(data):
    np.testing.assert_array_equal(datasets.read_idx(data), datasets.read_idx(gzip.compress(data)))
    array_or_data_format_error(data)


# ---------------------------------------------------------------- bombs and empty sets

def gzip_of_zeros(header, n_bytes, chunk=1 << 20):
    """gzip bytes of ``header`` followed by n_bytes zeros, compressed in chunks (a bomb:
    about 1,000 times smaller than what it holds)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(header)]
    zeros = bytes(chunk)
    for start in range(0, n_bytes, chunk):
        parts.append(packer.compress(zeros[:min(chunk, n_bytes - start)]))
    parts.append(packer.flush())
    return b"".join(parts)


BOMB = textwrap.dedent("""
    import resource, sys
    from chainrule import datasets
    # From here on this process may map at most 100 MiB more: inflating the bomb (300 MB)
    # would fail with MemoryError instead of the format error.
    status = open("/proc/self/status").read().split("VmSize:")[1].split()
    resource.setrlimit(resource.RLIMIT_AS, (int(status[0]) * 1024 + (100 << 20), resource.RLIM_INFINITY))
    try:
        datasets.read_idx(sys.argv[1])
    except datasets.DataFormatError as exc:
        print(exc)
""")


def test_a_gzip_bomb_is_refused_before_it_is_inflated(tmp_path):
    """300 MB of zeros in a ~300 KB gzip file, a valid IDX file that declares more than
    MAX_IDX_BYTES: refused from its header, in a process that may not map 100 MiB more."""
    n = 300 * 1000 * 1000
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 300, 1000, 1000)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip_of_zeros(header, n))
    assert path.stat().st_size < 1_000_000
    result = subprocess.run([sys.executable, "-c", BOMB, str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"declares shape (300, 1000, 1000) of ubyte, {n} bytes of data, more than the " \
           f"{datasets.MAX_IDX_BYTES} allowed here" in result.stdout


def test_the_cap_is_a_setting_of_read_idx():
    data = idx_bytes(np.zeros((20, 10, 10), np.uint8), 0x08)
    with pytest.raises(DataFormatError, match="2000 bytes of data, more than the 1000 allowed here"):
        datasets.read_idx(data, max_bytes=1000)
    assert datasets.read_idx(data, max_bytes=None).shape == (20, 10, 10)
    with pytest.raises(InputError, match="max_bytes must be a positive integer or None; received max_bytes=0"):
        datasets.read_idx(data, max_bytes=0)


def test_load_refuses_files_that_declare_more_than_the_cap(tmp_path, monkeypatch):
    files, _ = synthetic_set()
    for stem, data in files.items():
        (tmp_path / stem).write_bytes(data)
    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 5000)
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte: the IDX header declares shape "
                                              r"\(12, 28, 28\) of ubyte, 9408 bytes of data, more than the "
                                              r"5000 allowed here"):
        datasets.load("mnist", data_dir=tmp_path, download=False)


def test_a_set_without_images_is_a_format_error(tmp_path):
    files, _ = synthetic_set()
    files[STEMS[0]] = idx_bytes(np.zeros((0, 28, 28), np.uint8), 0x08)
    files[STEMS[1]] = idx_bytes(np.zeros(0, np.uint8), 0x08)
    for stem, data in files.items():
        (tmp_path / stem).write_bytes(data)
    with pytest.raises(DataFormatError, match=r"train-images-idx3-ubyte: holds no images \(shape \(0, 28, 28\)\)"):
        datasets.load("mnist", data_dir=tmp_path, download=False)
