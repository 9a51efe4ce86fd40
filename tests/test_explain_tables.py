"""The nudges of one row of a table, by column (chainrule.explain.table), in Python and from
``chainrule explain MODEL --data FILE --row I``, on a table the tests write: the column
names, a categorical's one-hot slots summed into one row, and the saliency of a numeric
column against central finite differences of the loss computed from the model's output."""

import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import explain
from chainrule.cli import main

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402  (after the skip: pyarrow is an extra)

from chainrule.tabular import TabularModel  # noqa: E402

COLORS = ["red", "green", "blue"]


def table_rows(n=240, seed=0):
    """label = big where x + 1.5 [red] - 1.5 [blue] + noise > 0; w is noise; m has gaps."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        x, w, color = float(rng.normal()), float(rng.normal(10, 3)), str(rng.choice(COLORS))
        score = x + 1.5 * (color == "red") - 1.5 * (color == "blue") + 0.3 * rng.normal()
        rows.append({"x": round(x, 4), "color": color, "w": round(w, 3),
                     "m": None if rng.random() < 0.1 else round(float(rng.normal()), 3),
                     "label": "big" if score > 0 else "small"})
    return rows


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """(model path, csv path, model) of a float64 TabularModel on the written table."""
    folder = tmp_path_factory.mktemp("explain")
    csv = folder / "train.csv"
    pa_csv.write_csv(pa.Table.from_pylist(table_rows()), csv)
    model = TabularModel(hidden=(16,), epochs=40, dtype="float64", seed=0).fit(csv, target="label")
    model.save(folder / "model.npz")
    return folder / "model.npz", csv, model


def loss_of(model, row):
    """-log p(label of the row), from the model's output on the raw row."""
    p = model.predict_proba(pa.Table.from_pylist([row]))[0]
    return -np.log(p[model.classes_.index(row["label"])])


def test_saliency_of_a_numeric_column_matches_finite_differences(files):
    _, _, model = files
    rows = table_rows()
    # a row near the boundary, where the loss is far from 0 and its gradient too
    row = min(rows, key=lambda r: abs(model.predict_proba(pa.Table.from_pylist([r]))[0][0] - 0.5))
    n = explain.nudges(model, row)
    for name in ("x", "w"):
        # The encoder writes the network's inputs in float32: a step of 1e-2 standard
        # deviations keeps its rounding (~1e-7) and the curvature's error below 1e-4.
        h = 1e-2 * model.encoder_.scale_of(name)
        up, down = dict(row, **{name: row[name] + h}), dict(row, **{name: row[name] - h})
        finite = (loss_of(model, up) - loss_of(model, down)) / (2 * h)
        column = n.column(name)
        assert column.per_unit == pytest.approx(finite, rel=1e-4, abs=1e-8)
        # per standard deviation: the network's input is (x - mean) / scale
        assert column.saliency == pytest.approx(finite * model.encoder_.scale_of(name), rel=1e-4, abs=1e-8)
    assert abs(n.column("x").saliency) > 1e-3  # the boundary's own column is not flat


def test_a_categorical_is_one_row_the_sum_of_its_slots(files):
    _, _, model = files
    row = table_rows()[3]
    n = explain.nudges(model, row)
    names = [c.name for c in n.columns]
    assert sorted(names) == ["color", "m", "w", "x"]
    color = n.column("color")
    block = model.encoder_.blocks["color"]
    assert color.inputs == ("color=blue", "color=green", "color=red", "color (unseen)")
    assert color.saliency == pytest.approx(n.nudges.saliency[block].sum(), rel=1e-12)
    assert color.value == row["color"] and color.per_unit is None
    # the missing indicator of m is summed into m
    m = n.column("m")
    assert m.inputs == ("m", "m (missing)")
    assert m.saliency == pytest.approx(n.nudges.saliency[model.encoder_.blocks["m"]].sum(), rel=1e-12)
    assert [abs(c.saliency) for c in n.columns] == sorted((abs(c.saliency) for c in n.columns), reverse=True)
    assert n.target == row["label"] and n.target_note == "from the row"
    # every first-layer push names the input it multiplies, in the encoder's names
    assert all(p.layer == 1 and p.source == model.encoder_.feature_names[p.k] for p in n.nudges.first_layer_pushes)


def test_a_row_without_its_target_is_taken_against_the_prediction(files):
    _, _, model = files
    row = {k: v for k, v in table_rows()[5].items() if k != "label"}
    n = explain.nudges(model, row)
    assert n.target == n.prediction == model.predict(pa.Table.from_pylist([row]))[0]
    assert "prediction" in n.target_note
    other = "small" if n.prediction == "big" else "big"
    assert explain.nudges(model, row, y=other).nudges.loss > n.nudges.loss


def test_a_pandas_row_and_a_dict_give_the_same_nudges(files):
    pd = pytest.importorskip("pandas")
    _, csv, model = files
    frame = pd.read_csv(csv)
    a = explain.nudges(model, frame.iloc[7])
    b = explain.nudges(model, {k: (None if pd.isna(v) else v) for k, v in frame.iloc[7].items()})
    np.testing.assert_array_equal(a.nudges.saliency, b.nudges.saliency)


@pytest.mark.parametrize("row, y, message", [
    ({"x": "a lot"}, None, "column 'x' held float values in training and holds string values now"),
    (42, None, "row must be a file path, a pandas or polars DataFrame, or a pyarrow Table"),
    ({}, None, "row must be a dict of at least one column name"),
    (None, "purple", "the target holds 'purple', which is not one of the classes"),
])
def test_bad_rows_are_named_errors(files, row, y, message):
    _, _, model = files
    good = table_rows()[0]
    with pytest.raises(cr.InputError, match=re.escape(message)):
        explain.nudges(model, {**good, **row} if isinstance(row, dict) and row else
                       (good if row is None else row), y=y)


def cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_explain_names_the_columns_and_sums_the_slots(files, capsys):
    path, csv, model = files
    code, out, err = cli(capsys, "explain", path, "--data", csv, "--row", 3, "--top-k", 4)
    assert code == 0, err
    assert out.startswith(f"row 3 of {csv.name} (240 rows)\n")
    table = out[out.index("    column"):].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.split()[0] for line in table) == ["color", "m", "w", "x"]  # one line a column
    color = next(line for line in table if line.split()[0] == "color")
    assert "4 (one-hot, summed)" in color
    expected = explain.nudges(model, table_rows()[3]).column("color").saliency
    assert float(color.split()[2]) == pytest.approx(expected, rel=1e-3)
    assert color.split()[1] == table_rows()[3]["color"]
    pushes = out[out.index("first-layer weights it pushes hardest"):].splitlines()[1:5]
    assert all(re.search(r"x_\{\d+\} \[(x|w|m|color=\w+|color \(unseen\)|m \(missing\))\]", p) for p in pushes), pushes


@pytest.mark.parametrize("args, message", [
    (["--row", "240"], "--row must be in [0, 239] (the rows of train.csv, from 0); received 240"),
    (["--png", "x.png"], "--png applies to --dataset runs; with --data give --row I"),
    (["--data-dir", "."], "--data-dir applies to --dataset runs only"),
])
def test_cli_explain_refuses_with_one_line(files, capsys, args, message):
    path, csv, _ = files
    code, out, err = cli(capsys, "explain", path, "--data", csv, *args)
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_cli_explain_of_a_bundled_model_on_a_table_says_how(files, capsys, tmp_path):
    _, csv, _ = files
    net = cr.Sequential([cr.Dense(64, 10, activation="softmax")], loss="cross_entropy")
    net.save(tmp_path / "digits.npz")
    code, _, err = cli(capsys, "explain", tmp_path / "digits.npz", "--data", csv)
    assert code == 2 and "use it with chainrule explain" in err and "--dataset NAME" in err
    code, _, err = cli(capsys, "explain", tmp_path / "digits.npz", "--row", 2)
    assert code == 2 and "--row applies to --data" in err
