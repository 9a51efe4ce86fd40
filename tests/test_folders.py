"""Image folders as training data (chainrule.folders.ImageFolderModel), on real PNG and JPEG
files the tests write: scikit-learn's 8x8 digits drawn larger, grey and in colour, in several
sizes, one subfolder per class. fit, predict, evaluate, save and load in another process,
the command line end to end, and every bad input as a named error from Python and one line
with status 2 from the command line."""

import json
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import chainrule as cr
from chainrule import io
from chainrule.cli import main
from chainrule.data import train_validation_split
from chainrule.errors import DataFormatError, InputError, ModelFormatError
from chainrule.folders import ImageFolderModel, read_images

from test_cli import environment, line, reported, run, succeeded

CLASSES = {"zero": 0, "one": 1, "six": 6}  # folder name: digit
EPOCHS = 30


def draw(pixels, path, side, colour=False):
    """An 8x8 digit (values 0..16) drawn side x side: white ink on black, or red ink on a
    pale blue page in colour; saved in the format of the suffix."""
    grey = Image.fromarray((pixels * 255 / 16).round().astype(np.uint8), "L")
    grey = grey.resize((side, side), Image.Resampling.BILINEAR)
    if colour:
        level = np.asarray(grey, dtype=float)[..., None] / 255
        page, ink = np.array([200, 220, 255]), np.array([255, 40, 0])
        grey = Image.fromarray((page + level * (ink - page)).round().astype(np.uint8), "RGB")
    grey.save(path)


def write_folder(root, start, count, colour_every=0, sides=(16,)):
    """root/<class>/ holding ``count`` digits of each class from the ``start``-th on, each
    ``colour_every``-th in colour as a JPEG, the sides taken in turn; returns root."""
    digits = load_digits()
    for name, digit in CLASSES.items():
        (root / name).mkdir(parents=True)
        images = digits.images[digits.target == digit][start:start + count]
        for i, pixels in enumerate(images):
            colour = colour_every and i % colour_every == 0
            draw(pixels, root / name / f"{i:03d}.{'jpg' if colour else 'png'}", sides[i % len(sides)], colour)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{"train": mixed grey PNGs and colour JPEGs of 16, 20 and 12 pixels, with a hidden file and
    a text file; "test": other digits, grey, 16 pixels; "grey": grey PNGs only}."""
    base = tmp_path_factory.mktemp("folders")
    train = write_folder(base / "train", 0, 40, colour_every=4, sides=(16, 20, 12))
    (train / "one" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (train / "six" / "notes.txt").write_text("drawn by hand")
    return {"train": train, "test": write_folder(base / "test", 40, 20),
            "grey": write_folder(base / "grey", 0, 25, sides=(10, 8)), "base": base}


@pytest.fixture(scope="module")
def model(folders):
    return ImageFolderModel(epochs=EPOCHS, seed=0).fit(folders["train"])


def truth(folder):
    """(paths, class names) of a labelled folder, in the model's order (sorted paths)."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix in (".png", ".jpg"))
    return [str(p) for p in paths], [p.parent.name for p in paths]


# --- fit --------------------------------------------------------------------------------------

def test_fit_takes_classes_size_and_mode_from_the_folder(model, folders):
    assert model.classes_ == ["one", "six", "zero"]  # the folders' names, sorted
    assert model.image_size_ == (16, 16)  # the first image's: one/000.jpg
    assert model.colour_mode_ == "RGB"  # some images hold colour
    assert model.network_.n_features == 16 * 16 * 3 and model.network_.n_outputs == 3
    assert model.skipped_files_ == [str(folders["train"] / "six" / "notes.txt")]  # .DS_Store passed over
    assert model.source_ == {"kind": "folder", "name": "train", "images": 120, "classes": 3}
    assert set(model.validation_scores_) == {"accuracy", "f1_macro"}
    assert model.validation_scores_["accuracy"] >= 0.9
    assert 1 <= len(model.history_.epoch) <= EPOCHS


def test_a_folder_of_grey_images_is_read_grey_at_the_size_asked(folders):
    grey = ImageFolderModel(epochs=2, image_size=6, validation_split=0).fit(folders["grey"])
    assert grey.colour_mode_ == "L" and grey.image_size_ == (6, 6) and grey.network_.n_features == 36
    assert grey.validation_scores_ is None and len(grey.history_.epoch) == 2
    assert ImageFolderModel(epochs=1, image_size=(4, 7)).fit(folders["grey"]).network_.n_features == 28


def test_the_validation_scores_are_those_of_a_stratified_share_held_out(folders):
    m = ImageFolderModel(epochs=3, seed=1).fit(folders["grey"])  # 25 images per class
    paths, names = truth(folders["grey"])
    labels = np.array([m.classes_.index(n) for n in names])
    _, val = train_validation_split(len(labels), 0.2, np.random.default_rng(1), labels)
    assert np.bincount(labels[val]).tolist() == [5, 5, 5]  # a fifth of each class
    held_out = [paths[i] for i in val]
    predicted = m.predict(held_out)
    right = np.mean(predicted == np.array(names)[val])
    assert m.validation_scores_["accuracy"] == pytest.approx(right, abs=1e-12)
    assert "val_loss" in m.history_.history


def test_the_inputs_are_the_pixels_scaled_resized_and_in_one_mode(tmp_path):
    grey = np.array([[0, 51], [102, 255]], dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    Image.fromarray(rgb, "RGB").save(tmp_path / "rgb.png")
    paths = [str(tmp_path / "grey.png"), str(tmp_path / "rgb.png")]
    X, mode = read_images(paths, (2, 2), "auto")
    assert mode == "RGB" and X.dtype == np.float32 and X.shape == (2, 12)
    np.testing.assert_array_equal(X[0], np.repeat(grey.reshape(-1), 3) / np.float32(255))  # rows, channels inner
    np.testing.assert_array_equal(X[1], rgb.reshape(-1) / np.float32(255))
    X, mode = read_images(paths[:1], (2, 2), "auto")
    assert mode == "L" and X.shape == (1, 4)
    np.testing.assert_array_equal(X[0], grey.reshape(-1) / np.float32(255))
    X, _ = read_images(paths[1:], (2, 2), "L")  # colour made grey: Pillow's luma
    luma = np.asarray(Image.fromarray(rgb).convert("L"))
    np.testing.assert_array_equal(X[0], luma.reshape(-1) / np.float32(255))
    X, _ = read_images(paths[:1], (3, 5), "L")  # resized as Pillow resizes, (width, height)
    expected = np.asarray(Image.fromarray(grey).resize((5, 3), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(X[0], expected.reshape(-1) / np.float32(255))


def test_transparent_pixels_are_white_and_16_bit_grey_is_scaled(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (0, 0, 0, 255)  # one opaque black pixel, the rest transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.array([[0, 65535], [32768, 65535]], dtype=np.uint16)).save(tmp_path / "b.png")
    X, mode = read_images([str(tmp_path / "a.png"), str(tmp_path / "b.png")], (2, 2), "auto")
    assert mode == "L"
    np.testing.assert_array_equal(X[0], [0, 1, 1, 1])
    np.testing.assert_allclose(X[1], [0, 1, 128 / 255, 1])


# --- predict, evaluate ------------------------------------------------------------------------

def test_predict_gives_class_names_for_a_folder_a_file_and_a_list(model, folders):
    paths, names = truth(folders["test"])
    predicted = model.predict(folders["test"])
    assert model.image_paths_ == paths and predicted.shape == (len(paths),)
    assert set(predicted) <= set(model.classes_)
    assert np.mean(predicted == np.array(names)) >= 0.75  # chance: 1/3
    P = model.predict_proba(folders["test"])
    assert P.shape == (len(paths), 3) and P.dtype == np.float64
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-5)
    assert (np.asarray(model.classes_)[P.argmax(axis=1)] == predicted).all()
    assert model.predict(paths[5]).tolist() == [predicted[5]]
    assert model.predict(paths[:3]).tolist() == predicted[:3].tolist()


def test_evaluate_scores_the_predictions_against_the_folder_names(model, folders):
    paths, names = truth(folders["test"])
    predicted = model.predict(folders["test"])
    scores = model.evaluate(folders["test"])
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == np.array(names)), abs=1e-12)
    from sklearn.metrics import f1_score

    assert scores["f1_macro"] == pytest.approx(f1_score(names, predicted, average="macro"), abs=1e-12)


def test_evaluate_takes_a_folder_with_some_of_the_classes(model, folders, tmp_path):
    part = tmp_path / "part"
    (part / "six").mkdir(parents=True)
    for p in sorted((folders["test"] / "six").iterdir())[:4]:
        (part / "six" / p.name).write_bytes(p.read_bytes())
    right = np.mean(model.predict(part / "six") == "six")
    assert model.evaluate(part)["accuracy"] == pytest.approx(right)


# --- the model file -------------------------------------------------------------------------

LOAD = """
import json, sys
import chainrule as cr
model = cr.load(sys.argv[1])
print(json.dumps({"kind": type(model).__name__, "classes": model.classes_, "size": model.image_size_,
                  "mode": model.colour_mode_, "predicted": model.predict(sys.argv[2]).tolist(),
                  "proba": model.predict_proba(sys.argv[2]).tolist()}))
"""


def test_save_and_load_in_another_process(model, folders, tmp_path):
    path = tmp_path / "digits.npz"
    model.save(path)
    result = subprocess.run([sys.executable, "-c", LOAD, str(path), str(folders["test"])], capture_output=True,
                            text=True, timeout=120, env=environment())
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout)
    assert loaded["kind"] == "ImageFolderModel" and loaded["classes"] == model.classes_
    assert tuple(loaded["size"]) == (16, 16) and loaded["mode"] == "RGB"
    assert loaded["predicted"] == model.predict(folders["test"]).tolist()
    # float32 sums in another process (its own BLAS threads) agree to a few float32 ulps
    np.testing.assert_allclose(loaded["proba"], model.predict_proba(folders["test"]), rtol=1e-5, atol=1e-7)


def test_the_file_records_the_images_and_the_settings_as_data(model, tmp_path):
    path = tmp_path / "m.npz"
    model.save(path)
    meta, arrays = io.read_npz(path)  # numeric arrays and JSON only: no pickle
    doc = meta["image_folder"]
    assert doc["image_size"] == [16, 16] and doc["colour_mode"] == "RGB" and doc["classes"] == model.classes_
    assert doc["source"] == {"kind": "folder", "name": "train", "images": 120, "classes": 3}
    assert doc["settings"]["epochs"] == EPOCHS and doc["settings"]["hidden"] == list(model.hidden)
    assert sorted(arrays) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    same = cr.load(path)
    assert isinstance(same, ImageFolderModel) and same.settings() == model.settings()
    assert repr(same) == f"ImageFolderModel(epochs={EPOCHS})"


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(colour_mode="CMYK"), "'colour_mode' must be 'L' or 'RGB'; received 'CMYK'"),
    (lambda d: d.update(classes=["b", "a"]), "'classes' must be at least two distinct, sorted names"),
    (lambda d: d.update(image_size=[8, 8]), "the network takes 768 inputs and gives 3 outputs, but 8x8 RGB"),
    (lambda d: d.update(image_size="big"), "'image_size' must be [height, width]"),
    (lambda d: d["settings"].update(lr=-1), "invalid settings: lr must be a positive number"),
    (lambda d: d.update(version=2), "'image_folder' must be an object with version 1"),
])
def test_a_damaged_model_file_is_refused(model, tmp_path, change, message):
    path = tmp_path / "m.npz"
    model.save(path)
    meta, arrays = io.read_npz(path)
    change(meta["image_folder"])
    io.write_npz_atomic(path, {**arrays, "meta": io.json_array(meta)})
    with pytest.raises(ModelFormatError) as info:
        cr.load(path)
    assert message in str(info.value)


# --- the command line -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(folders):
    """`chainrule train --data train --image-size 12` in its own process: (model path, stdout, stderr)."""
    result = run("train", "--data", "train", "--image-size", 12, "--epochs", EPOCHS, "--output", "cli.npz",
                 cwd=folders["base"])
    return folders["base"] / "cli.npz", succeeded(result), result.stderr


def test_train_prints_the_images_the_run_and_the_validation_scores(trained):
    path, stdout, stderr = trained
    assert "data: train (120 images; 3 classes: one, six, zero)" in stdout
    assert "images: 12x12 pixels, colour (RGB), scaled to [0, 1]: 432 inputs" in stdout
    assert line(stdout, "network") == ("network: 432 -> 256 relu -> 128 relu -> 3 softmax; loss cross_entropy; "
                                       "144,131 parameters (float32)")
    assert f"(of at most {EPOCHS}) of adam, learning rate 0.001, batch size 32, seed 0" in stdout
    assert reported(stdout, "validation accuracy") >= 90
    assert stdout.endswith("saved: cli.npz\n") and cr.load(path).image_size_ == (12, 12)
    assert "chainrule: note: skipped 1 file(s) that are not images in a class folder: " in stderr
    assert "notes.txt" in stderr and f"epoch 1/{EPOCHS}" in stderr


def test_evaluate_and_predict_from_the_command_line(trained, folders, capsys, tmp_path):
    path, _, _ = trained
    model = cr.load(path)
    assert main(["evaluate", str(path), "--data", str(folders["test"])]) == 0
    out = capsys.readouterr().out
    assert reported(out, "accuracy") == pytest.approx(100 * model.evaluate(folders["test"])["accuracy"], abs=0.01)
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(path), "--data", str(folders["test"]), "--proba", "--output", str(preds)]) == 0
    import pyarrow.csv

    table = pyarrow.csv.read_csv(preds)
    assert table.column_names == ["image", "prediction", "proba_one", "proba_six", "proba_zero"]
    assert table.column("image").to_pylist() == truth(folders["test"])[0]
    assert table.column("prediction").to_pylist() == model.predict(folders["test"]).tolist()
    np.testing.assert_allclose(np.column_stack([table.column(c).to_numpy() for c in table.column_names[2:]]),
                               model.predict_proba(folders["test"]), atol=1e-6)


def test_predict_one_image_writes_csv_on_stdout(trained, folders, capsys):
    path, _, _ = trained
    image = truth(folders["test"])[0][0]
    assert main(["predict", str(path), "--data", image]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ['"image","prediction"', f'"{image}","{cr.load(path).predict(image)[0]}"']


# --- bad input --------------------------------------------------------------------------------

def png_claiming(path, width, height):
    """A PNG whose header claims width x height pixels (a decompression bomb's trick)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # IHDR: width, height after length and type
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def bad_folder(base, name, make):
    """base/name: two class folders of two good PNGs, then ``make(folder)``."""
    folder = base / name
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        for i in range(2):
            level = 60 * i + 40 * (c == "b")
            Image.fromarray(np.full((8, 8), level, dtype=np.uint8)).save(folder / c / f"{i}.png")
    make(folder)
    return folder


def truncated(path):
    noise = np.random.default_rng(0).integers(0, 256, size=(64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


BAD = [  # (folder maker, error type, message)
    ("missing", None,
     InputError, "folder must be an existing folder of class subfolders; received '{f}' (no such folder)"),
    ("empty", lambda f: [p.unlink() for p in f.rglob("*.png")] and [d.rmdir() for d in (f / "a", f / "b")],
     InputError, "{f} holds no class folders: put each class's images in a subfolder named after the class"),
    ("flat", lambda f: (Image.new("L", (8, 8)).save(f / "x.png"), [p.unlink() for p in f.rglob("*/*.png")],
                        (f / "a").rmdir(), (f / "b").rmdir()),
     InputError, "{f} holds no class folders"),
    ("one-class", lambda f: ([p.unlink() for p in (f / "b").iterdir()], (f / "b").rmdir()),
     InputError, "{f} holds one class folder ('a'); a classifier needs at least two"),
    ("no-images", lambda f: (f / "c").mkdir() or (f / "c" / "read.me").write_text("x"),
     InputError, "class folder '{f}/c' holds no images (files ending in .bmp, .gif, .jpeg, .jpg"),
    ("corrupt", lambda f: (f / "b" / "bad.png").write_bytes(b"not a png at all"),
     DataFormatError, "{f}/b/bad.png is not an image file Pillow can read (PNG, JPEG, ...)"),
    ("truncated", lambda f: truncated(f / "b" / "cut.png"),
     DataFormatError, "{f}/b/cut.png is a damaged image file"),
    ("bomb", lambda f: png_claiming(f / "b" / "bomb.png", 30000, 30000),
     DataFormatError, "{f}/b/bomb.png is too large to read safely: Image size (900000000 pixels) exceeds limit"),
    ("near-bomb", lambda f: png_claiming(f / "b" / "big.png", 10000, 10000),
     DataFormatError, "{f}/b/big.png is too large to read safely: Image size (100000000 pixels) exceeds limit"),
    ("too-large", lambda f: Image.new("L", (600, 600)).save(f / "a" / "0.png"),
     InputError, "{f}/a/0.png is 600x600 pixels: 360,000 inputs per image, more than the 200,000 a network"),
]


@pytest.mark.parametrize("name, make, error, message", BAD, ids=[case[0] for case in BAD])
def test_bad_folders_raise_named_errors_and_are_one_line_from_the_command_line(tmp_path, capsys, name, make,
                                                                                 error, message):
    folder = tmp_path / name if make is None else bad_folder(tmp_path, name, make)
    with pytest.raises(error) as info:
        ImageFolderModel(epochs=1).fit(folder)
    assert message.format(f=folder) in str(info.value)
    if name == "missing":
        message = "--data must be an existing file or folder; received '{f}' (no such file or folder)"
    assert main(["train", "--data", str(folder), "--output", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and len(err.splitlines()) == 1
    assert message.format(f=folder) in err


@pytest.fixture(scope="module")
def other_models(folders):
    """A table model and a bundled-data-set network, for the refusals of the wrong kind."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv

    base = folders["base"]
    rng = np.random.default_rng(0)
    pyarrow.csv.write_csv(pa.table({"x": rng.normal(size=40), "y": ["a", "b"] * 20}), base / "t.csv")
    cr.tabular.TabularModel(epochs=2).fit(base / "t.csv", target="y").save(base / "table.npz")
    cr.Sequential([cr.Dense(64, 10, "softmax")]).save(base / "net.npz")
    (base / "drawing.png").write_text("a drawing, one day")
    return base


@pytest.mark.parametrize("argv, message", [
    (["predict", "{b}/cli.npz", "--data", "{b}/t.csv"],
     "{b}/cli.npz is a model of images (trained on the folder train); --data must be a folder of images or an "
     "image file, not the file {b}/t.csv"),
    (["evaluate", "{b}/cli.npz", "--data", "{b}/t.csv"],
     "is a model of images (trained on the folder train); --data must be a folder of images, not the file"),
    (["predict", "{b}/table.npz", "--data", "{b}/test"],
     "{b}/table.npz is a model of a table (trained on t.csv); --data must be a table file, not the folder "
     "{b}/test"),
    (["evaluate", "{b}/table.npz", "--data", "{b}/test"], "is a model of a table (trained on t.csv)"),
    (["predict", "{b}/net.npz", "--data", "{b}/test"],
     "{b}/net.npz is a network trained on a bundled data set (64 inputs); use it with chainrule predict"),
    (["predict", "{b}/cli.npz", "--data", "{b}/drawing.png"],
     "{b}/drawing.png is not an image file Pillow can read"),
    (["train", "--data", "{b}/t.csv", "--target", "y", "--image-size", "28"],
     "--image-size applies to a folder of images; received the table {b}/t.csv"),
    (["train", "--dataset", "digits", "--image-size", "28"], "--image-size applies to --data (your own data)"),
    (["train", "--data", "{b}/train", "--target", "y"], "--target and --task apply to a table"),
    (["train", "--data", "{b}/train", "--image-size", "0"], "argument --image-size: must be a positive integer"),
    (["evaluate", "{b}/cli.npz", "--data", "{b}/train/six"], "{b}/train/six holds no class folders"),
])
def test_the_wrong_kind_of_model_or_data_is_one_line(trained, other_models, capsys, argv, message):
    base = other_models
    assert main([a.format(b=base) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and len(err.splitlines()) == 1
    assert message.format(b=base) in err


def test_settings_are_checked_before_any_image_is_read(tmp_path):
    with pytest.raises(InputError, match=r"image_size must be None, a positive integer or a pair \(height, "
                       r"width\) of them, with at most 200,000 pixels; received image_size=0"):
        ImageFolderModel(image_size=0).fit(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"colour_mode must be one of"):
        ImageFolderModel(colour_mode="grey").fit(tmp_path / "nowhere")
    with pytest.raises(InputError, match="this ImageFolderModel is not trained yet; call fit first"):
        ImageFolderModel().predict(tmp_path)
