"""chainrule.report: the numbers checked against hand-made examples and scikit-learn, the
PNGs and the HTML page opened and checked for what they claim to show."""

import base64
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule import datasets, report
from chainrule.errors import InputTypeError

REPO = Path(__file__).resolve().parents[1]
IMG = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="[^"]*" '
                 r'data-name="(\w+)" data-panels="(\d+)">')


def digits_model():
    (X, y), (X_test, y_test) = datasets.load("digits")
    model = cr.Sequential([cr.Dense(64, 32, "relu"), cr.Dense(32, 10, "softmax")], seed=0)
    model.fit(X, y, epochs=5, batch_size=32, optimizer=cr.optimizers.Adam(0.01), validation_split=0.2)
    return model, X_test, y_test


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(model, X_test, y_test, folder, html path): a digits classifier and its report."""
    with np.errstate(all="raise", under="ignore"):  # module fixtures run outside conftest's
        model, X_test, y_test = digits_model()
        folder = tmp_path_factory.mktemp("report")
        path = report.write_report(model, X_test, y_test, folder, dataset="digits")
    return model, X_test, y_test, folder, path


@pytest.fixture(scope="module")
def digits_figures(digits):
    model, X_test, y_test, _, _ = digits
    with np.errstate(all="raise", under="ignore"):
        data = report.compute(model, X_test, y_test)
        return data, *report.figures(data)


def check_png(path, min_side=200, max_side=2500):
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        pixels = np.asarray(image.convert("RGB"))
    assert min_side <= width <= max_side and min_side <= height <= max_side, (path, image.size)
    assert pixels.std() > 0
    assert (pixels != pixels[0, 0]).any(axis=-1).any()  # more than one colour
    return width, height


def images_in(page):
    return {name: (base64.b64decode(b64, validate=True), int(n)) for b64, name, n in IMG.findall(page)}


# --- the numbers ---------------------------------------------------------------------

def test_confusion_matrix_by_hand():
    y_true = [0, 0, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 2, 0, 2]
    expected = np.array([[1, 1, 0],
                         [0, 1, 0],
                         [1, 0, 2]])
    matrix = report.confusion_matrix(y_true, y_pred, 3)
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, expected)
    np.testing.assert_array_equal(report.confusion_matrix(y_true, y_pred, 4)[3], [0, 0, 0, 0])


@pytest.mark.parametrize("args, message", [
    (([0, 1], [0, 1], 0), "n_classes must be a positive integer; received n_classes=0"),
    (([0, 1], [0, 1], 2.0), "n_classes must be a positive integer; received n_classes=2.0"),
    (([0, 1], [0], 2),
     r"y_true and y_pred must be 1-D arrays of the same length; received shapes \(2,\) and \(1,\)"),
    (([0, 3], [0, 1], 3), r"y_true must hold class labels in \[0, 2\]"),
])
def test_confusion_matrix_rejects(args, message):
    with pytest.raises(cr.InputError, match=message):
        report.confusion_matrix(*args)


def test_most_confident_wrong_by_hand():
    y_true = np.array([0, 1, 2, 0, 1, 2])
    y_pred = np.array([1, 1, 0, 2, 0, 2])
    confidence = np.array([0.6, 0.99, 0.9, 0.6, 0.7, 0.8])
    # wrong: 0 (0.6), 2 (0.9), 3 (0.6), 4 (0.7); the tie 0/3 keeps index order
    for max_wrong, expected in ((10, [2, 4, 0, 3]), (2, [2, 4]), (0, [])):
        shown = report.most_confident_wrong(y_true, y_pred, confidence, max_wrong)
        np.testing.assert_array_equal(shown, expected)


def test_confusion_matches_predictions_and_sklearn(digits, digits_figures):
    from sklearn.metrics import confusion_matrix

    model, X_test, y_test, _, _ = digits
    data = digits_figures[0]
    predicted = model.predict(X_test)
    assert data.confusion.sum() == len(y_test)
    assert np.trace(data.confusion) == (predicted == y_test).sum()
    np.testing.assert_array_equal(data.confusion, confusion_matrix(y_test, predicted, labels=range(10)))
    np.testing.assert_allclose(data.per_class, np.diag(data.confusion) / np.bincount(y_test))
    assert data.metrics == model.evaluate(X_test, y_test)


def test_wrong_examples_are_wrong_and_sorted(digits, digits_figures):
    model, X_test, y_test, _, _ = digits
    data = digits_figures[0]
    proba = model.predict_proba(X_test)
    n_wrong = int((model.predict(X_test) != y_test).sum())
    assert n_wrong > 0
    assert len(data.wrong) == min(16, n_wrong)
    i = data.wrong
    assert (y_test[i] != proba[i].argmax(axis=1)).all()
    np.testing.assert_array_equal(data.confidence[i], proba[i].max(axis=1))
    assert (np.diff(data.confidence[i]) <= 0).all()
    others = np.setdiff1d(np.flatnonzero(data.y_pred != y_test), i)
    assert (data.confidence[others] <= data.confidence[i][-1]).all()
    np.testing.assert_array_equal(data.X_wrong, X_test[i])


# --- the pictures --------------------------------------------------------------------

def test_every_png_is_written_and_not_blank(digits):
    folder = digits[3]
    for name in report.PNG_NAMES:
        check_png(folder / f"{name}.png")


def test_panels(digits_figures):
    data, drawn, notes = digits_figures
    assert sorted(drawn) == sorted(report.PNG_NAMES) and notes == {}

    loss, accuracy = report.panels(drawn["curves"])
    assert [loss.get_title(), accuracy.get_title()] == ["loss", "accuracy"]
    for ax, key in ((loss, "loss"), (accuracy, "accuracy")):
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4, 5])
        np.testing.assert_allclose(train.get_ydata(), data.history[key])
        np.testing.assert_allclose(val.get_ydata(), data.history["val_" + key])

    (confusion,) = report.panels(drawn["confusion"])
    np.testing.assert_array_equal(confusion.get_images()[0].get_array(), data.confusion)
    assert len(confusion.texts) == 100  # a count in every cell

    (per_class,) = report.panels(drawn["per_class"])
    np.testing.assert_allclose([bar.get_height() for bar in per_class.patches], data.per_class)

    weights = report.panels(drawn["weights"])
    assert len(weights) == 32  # the hidden layer's 32 neurons
    for k, ax in enumerate(weights):
        (image,) = ax.get_images()
        assert image.get_array().shape == (8, 8)
        np.testing.assert_allclose(image.get_array(), data.W[k].reshape(8, 8))
        assert image.norm.vmin == -image.norm.vmax == -np.abs(data.W).max()
        assert image.get_cmap().name == "RdBu_r"

    wrong = report.panels(drawn["wrong"])
    assert len(wrong) == len(data.wrong)
    for k, (ax, i) in enumerate(zip(wrong, data.wrong, strict=True)):
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), data.X_wrong[k].reshape(8, 8))
        true, pred = data.y_true[i], data.y_pred[i]
        assert ax.get_title() == f"true {true}, pred {pred}\nP({pred}) = {data.confidence[i]:.2f}"


def test_html_embeds_every_png(digits):
    model, X_test, y_test, folder, path = digits
    assert path == folder / "report.html"
    page = path.read_text(encoding="utf-8")
    images = images_in(page)
    assert list(images) == list(report.PNG_NAMES)
    assert page.count("<img") == len(report.PNG_NAMES)
    expected_panels = {"curves": 2, "confusion": 1, "per_class": 1, "weights": 32,
                       "wrong": min(16, int((model.predict(X_test) != y_test).sum()))}
    for name, (png, n_panels) in images.items():
        assert png == (folder / f"{name}.png").read_bytes()
        assert n_panels == expected_panels[name]
    for forbidden in ("http://", "https://", "<script", "<link", "src=\"/", "src=\"file"):
        assert forbidden not in page


def test_html_summary(digits):
    model, X_test, y_test, _, path = digits
    page = path.read_text(encoding="utf-8")
    metrics = model.evaluate(X_test, y_test)
    assert "<h1>chainrule report: digits</h1>" in page
    assert f"<td>{metrics['loss']:.4f}</td>" in page
    assert f"<td>{metrics['accuracy']:.2%}</td>" in page
    assert "<tr><th>Epochs trained</th><td>5</td></tr>" in page
    assert "Dense(64, 32, activation=&#x27;relu&#x27;" in page  # model.summary(), escaped
    assert f"<tr><th>Test examples</th><td>{len(y_test)}</td></tr>" in page


def test_html_escapes_text(tmp_path):
    (X, y), _ = datasets.load("digits")
    model = cr.Sequential([cr.Dense(64, 10, "softmax")], seed=0)
    path = report.write_report(model, X[:50], y[:50], tmp_path, title="<script>alert('x')</script> & co",
                               dataset="<b>mine</b>", max_wrong=2)
    page = path.read_text(encoding="utf-8")
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page


def test_without_history_the_page_says_so(tmp_path):
    (X, y), _ = datasets.load("digits")
    model = cr.Sequential([cr.Dense(64, 10, "softmax")], seed=0)  # never trained
    (tmp_path / "curves.png").write_bytes(b"from an earlier report")
    path = report.write_report(model, X[:100], y[:100], tmp_path)
    page = path.read_text(encoding="utf-8")
    assert not (tmp_path / "curves.png").exists()
    assert '<p class="note" data-name="curves">This model has no training history' in page
    assert "curves" not in images_in(page)
    assert "<tr><th>Epochs trained</th><td>unknown (no history)</td></tr>" in page
    for name in ("confusion", "per_class", "weights", "wrong"):
        check_png(tmp_path / f"{name}.png")


def test_history_survives_the_model_file(digits, tmp_path):
    model = digits[0]
    model.save(tmp_path / "m.npz")
    loaded = cr.load(tmp_path / "m.npz")
    assert loaded.history.to_dict() == model.history.to_dict()
    with np.errstate(all="raise", under="ignore"):
        fig = report.plot_curves(loaded.history)
    assert len(report.panels(fig)) == 2
    assert all(len(ax.get_lines()) == 2 for ax in report.panels(fig))


def test_inputs_that_are_not_images_and_a_binary_classifier(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = (X[:, 0] + 0.5 * rng.normal(size=60) > 0).astype(int)
    model = cr.Sequential([cr.Dense(5, 1, "sigmoid")], loss="log_loss", seed=0)
    model.fit(X, y, epochs=2, batch_size=16)
    path = report.write_report(model, X, y, tmp_path, max_wrong=3)
    page = path.read_text(encoding="utf-8")
    assert sorted(images_in(page)) == ["confusion", "curves", "per_class"]
    assert not (tmp_path / "weights.png").exists() and not (tmp_path / "wrong.png").exists()
    assert "The inputs have 5 features, not an image of 784 or 64 pixels" in page
    data = report.compute(model, X, y, max_wrong=3)
    assert data.confusion.shape == (2, 2) and data.confusion.sum() == 60
    assert f"<p>The {len(data.wrong)} most confident of the {data.n_wrong} wrong predictions" in page
    for i in data.wrong:
        assert f"<tr><td>{i}</td><td>{data.y_true[i]}</td><td>{data.y_pred[i]}</td>" in page
    curves = report.panels(report.plot_curves(model.history))
    assert [len(ax.get_lines()) for ax in curves] == [1, 1]  # train only: no validation


def test_max_wrong_zero_shows_none(tmp_path):
    (X, y), _ = datasets.load("digits")
    model = cr.Sequential([cr.Dense(64, 10, "softmax")], seed=0)  # untrained: mostly wrong
    n_wrong = int((model.predict(X[:20]) != y[:20]).sum())
    path = report.write_report(model, X[:20], y[:20], tmp_path, max_wrong=0)
    page = path.read_text(encoding="utf-8")
    assert not (tmp_path / "wrong.png").exists()
    assert (f'<p class="note" data-name="wrong">max_wrong=0: none of the {n_wrong} wrong test '
            "examples is shown.</p>") in page


def test_all_correct(tmp_path):
    model = cr.Sequential([cr.Dense(2, 2, "softmax")], seed=0, dtype="float64")
    model.layers[0].W[...] = [[5, 0], [0, 5]]
    model.layers[0].b[...] = 0
    path = report.write_report(model, np.eye(2), np.array([0, 1]), tmp_path)
    page = path.read_text(encoding="utf-8")
    assert not (tmp_path / "wrong.png").exists()
    assert '<p class="note" data-name="wrong">Every test example is classified correctly.</p>' in page
    assert "<td>100.00%</td>" in page


def test_regressor_is_refused(tmp_path):
    model = cr.Sequential([cr.Dense(3, 1, "identity")], loss="mse", seed=0)
    with pytest.raises(cr.InputError, match=r"a report needs a classifier .* this network has "
                                            r"classifier=False \(loss='mse'\)"):
        report.write_report(model, np.zeros((4, 3)), np.zeros(4), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_wrong", [-1, 2.5, True, "3"])
def test_max_wrong_is_checked(max_wrong, tmp_path):
    model = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
    message = f"max_wrong must be an integer >= 0; received max_wrong={max_wrong!r}"
    with pytest.raises(cr.InputError, match=re.escape(message)):
        report.write_report(model, np.zeros((4, 3)), np.zeros(4), tmp_path, max_wrong=max_wrong)


def test_y_test_is_checked(tmp_path):
    model = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
    with pytest.raises(cr.InputError, match=r"y_test must hold class labels in \[0, 1\]"):
        report.write_report(model, np.zeros((4, 3)), np.array([0, 1, 2, 0]), tmp_path)
    with pytest.raises(cr.InputError, match=r"X_test must be 2-D"):
        report.write_report(model, np.zeros(4), np.zeros(4), tmp_path)
    sigmoid = cr.Sequential([cr.Dense(3, 1, "sigmoid")], loss="log_loss", seed=0)
    with pytest.raises(cr.InputError, match=r"y_test must hold class labels \(integers or one-hot "
                                            r"rows\) for a report"):
        report.write_report(sigmoid, np.zeros((2, 3)), np.array([0.3, 0.7]), tmp_path)


def test_title_is_checked(tmp_path):
    model = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
    with pytest.raises(InputTypeError, match="title must be a string or None; received title=3"):
        report.write_report(model, np.zeros((4, 3)), np.zeros(4), tmp_path, title=3)


def test_mnist_weights_are_28x28(mnist, tmp_path):
    (X, y), (X_test, y_test) = mnist
    model = cr.Sequential([cr.Dense(784, 16, "relu"), cr.Dense(16, 10, "softmax")], seed=0)
    model.fit(X[:2000], y[:2000], epochs=1, batch_size=64, optimizer=cr.optimizers.Adam(0.01))
    path = report.write_report(model, X_test[:500], y_test[:500], tmp_path, dataset="mnist")
    width, height = check_png(tmp_path / "weights.png")
    assert width > height * 0.8  # a 4x4 grid of neurons and a colour bar
    check_png(tmp_path / "wrong.png")
    images = images_in(path.read_text(encoding="utf-8"))
    assert images["weights"][1] == 16
    data = report.compute(model, X_test[:500], y_test[:500])
    weights = report.panels(report.plot_weights(data.W))
    assert len(weights) == 16
    assert all(ax.get_images()[0].get_array().shape == (28, 28) for ax in weights)
    wrong = report.panels(report.plot_wrong(data.X_wrong, data.y_true[data.wrong],
                                            data.y_pred[data.wrong], data.confidence[data.wrong]))
    assert all(ax.get_images()[0].get_array().shape == (28, 28) for ax in wrong)


def test_report_imports_and_computes_without_matplotlib(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.modules["matplotlib"] = None
        import numpy as np
        import chainrule as cr
        from chainrule import report
        model = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
        data = report.compute(model, np.eye(3), np.array([0, 1, 1]))
        print(data.confusion.sum())
        try:
            report.write_report(model, np.eye(3), np.array([0, 1, 1]), sys.argv[1])
        except ImportError as exc:
            print(exc)
    """)
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "3", "the report's pictures need matplotlib: pip install 'chainrule[report]'"]
