"""TabularModel end to end: each task, the inputs it takes, missing values and unseen
categories at prediction time, its model file loaded in another process, and the bad
inputs with their messages."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule as cr
from chainrule import metrics
from chainrule.errors import DataFormatError, InputError
from chainrule.tabular import TabularModel
from chainrule.tabular.settings import DEFAULTS

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

FAST = {"epochs": 60, "hidden": (16,), "patience": 10, "lr": 0.01}


def frame(n=160, seed=0):
    """A table of every column kind, and targets for every task, learnable from x and colour."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    score = x + 1.5 * (colour == "red") - 1.5 * (colour == "blue")
    return pd.DataFrame({
        "x": x, "noise": rng.normal(size=n), "colour": colour, "flag": rng.random(n) > 0.5,
        "code": rng.integers(1, 4, n), "row_id": [f"r{i}" for i in range(n)],
        "label": np.where(score > 0.3, "high", np.where(score < -0.7, "low", "mid")),
        "binary": np.where(score > 0, "yes", "no"), "value": 3.0 * score + 10.0,
        "a": (score > 0).astype(int), "b": (x > 0).astype(int),
    })


@pytest.fixture(scope="module")
def table():
    return frame()


@pytest.fixture(scope="module")
def classifier(table):
    return TabularModel(**FAST).fit(table.drop(columns=["binary", "value", "a", "b"]), target="label")


def test_the_defaults_are_the_settings_and_the_signature(table):
    assert TabularModel().settings() == DEFAULTS
    assert repr(TabularModel(epochs=5)) == "TabularModel(epochs=5)"


def test_multiclass_labels_come_back_as_strings(classifier, table):
    assert classifier.task_ == "classification" and classifier.classes_ == ["high", "low", "mid"]
    pred = classifier.predict(table)
    assert pred.dtype.kind == "U" and set(pred) <= {"high", "low", "mid"}
    proba = classifier.predict_proba(table)
    assert proba.shape == (len(table), 3) and np.allclose(proba.sum(axis=1), 1)
    assert (np.asarray(classifier.classes_)[proba.argmax(axis=1)] == pred).all()
    scores = classifier.evaluate(table)
    assert scores["accuracy"] > 0.85
    labels = table["label"].map({"high": 0, "low": 1, "mid": 2}).to_numpy()
    assert scores["f1_macro"] == pytest.approx(metrics.f1_macro(
        labels, proba.argmax(axis=1), 3))


def test_the_column_kinds_and_the_dropped_columns(classifier):
    kinds = {c["name"]: c["kind"] for c in classifier.columns_}
    assert kinds == {"x": "numeric", "noise": "numeric", "colour": "categorical", "flag": "categorical",
                     "code": "categorical", "row_id": "dropped"}
    assert classifier.dropped_columns_ == {"row_id": "an ID: a different string in every row"}
    assert "colour (unseen)" in classifier.feature_names_ and "x" in classifier.feature_names_


def test_binary_classification(table):
    m = TabularModel(**FAST).fit(table[["x", "colour", "binary"]], target="binary")
    assert m.classes_ == ["no", "yes"] and m.predict_proba(table).shape == (len(table), 2)
    assert m.evaluate(table)["accuracy"] > 0.9


def test_regression_predicts_in_the_targets_units(table):
    m = TabularModel(**FAST).fit(table[["x", "colour", "value"]], target="value")
    assert m.task_ == "regression" and m.classes_ is None
    pred = m.predict(table)
    assert pred.dtype == np.float64 and abs(pred.mean() - table["value"].mean()) < 1.0
    scores = m.evaluate(table)
    assert scores["r2"] > 0.9
    assert scores["rmse"] == pytest.approx(np.sqrt(((pred - table["value"]) ** 2).mean()))
    with pytest.raises(InputError, match="predict_proba needs a classifier; this model does regression"):
        m.predict_proba(table)


def test_multilabel(table):
    m = TabularModel(**FAST).fit(table[["x", "colour", "a", "b"]], target=["a", "b"])
    assert m.task_ == "multilabel" and m.classes_ == ["a", "b"]
    pred = m.predict(table)
    assert pred.shape == (len(table), 2) and set(np.unique(pred)) <= {0, 1}
    assert m.predict_proba(table).shape == (len(table), 2)
    assert m.evaluate(table)["accuracy"] > 0.8


def test_task_overrides_the_targets_kind(table):
    m = TabularModel(**FAST).fit(table[["x", "code"]], target="code", task="regression")
    assert m.task_ == "regression"
    m = TabularModel(**FAST).fit(table[["x", "b"]].assign(b=table["b"] * 1.0), target="b",
                                 task="classification")
    assert m.classes_ == [0.0, 1.0]


def test_integer_and_boolean_classes_keep_their_type(table):
    m = TabularModel(**FAST).fit(table[["x", "colour", "code"]], target="code")
    assert m.task_ == "classification" and m.predict(table).dtype == np.int64
    m = TabularModel(**FAST).fit(table[["x", "flag"]], target="flag")
    assert m.predict(table).dtype == np.bool_


def test_missing_values_and_unseen_categories_at_prediction_time(classifier, table):
    new = table.head(4).copy()
    new.loc[0, "x"] = np.nan
    new["colour"] = ["purple", None, "red", "green"]
    new["flag"] = new["flag"].astype(object)
    new.loc[3, "flag"] = None
    pred = classifier.predict(new)
    assert len(pred) == 4 and np.isfinite(classifier.predict_proba(new)).all()


def test_rows_with_a_missing_target_are_dropped_and_counted(table):
    data = table[["x", "colour", "label"]].copy()
    data.loc[:9, "label"] = None
    m = TabularModel(**FAST).fit(data, target="label")
    assert m.n_rows_missing_target_ == 10 and m.source_["rows_used"] == len(table) - 10


def test_extra_columns_are_ignored_and_named(classifier, table):
    classifier.predict(table.assign(extra=1.0))
    assert classifier.ignored_columns_ == ["row_id", "label", "binary", "value", "a", "b", "extra"]


def test_a_missing_column_and_a_changed_type_are_refused(classifier, table):
    with pytest.raises(InputError, match=r"column 'colour' is missing; the model was trained on the columns"):
        classifier.predict(table.drop(columns="colour"))
    with pytest.raises(InputError, match="column 'x' held float values in training and holds string values now"):
        classifier.predict(table.assign(x=["a"] * len(table)))
    with pytest.raises(InputError, match=r"column 'label' \(the target\) is missing; evaluate needs labelled rows"):
        classifier.evaluate(table.drop(columns="label"))


def test_each_file_type_trains_the_same_model(table, tmp_path):
    data = table[["x", "colour", "flag", "label"]]
    data.to_csv(tmp_path / "t.csv", sep=";", index=False)
    data.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    data.to_parquet(tmp_path / "t.parquet")
    data.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    settings = {**FAST, "epochs": 5}
    reference = TabularModel(**settings).fit(data, target="label").predict_proba(data)
    for name in ("t.csv", "t.tsv", "t.parquet", "t.jsonl"):
        m = TabularModel(**settings).fit(tmp_path / name, target="label")
        assert m.source_["name"] == name and len(m.source_["sha256"]) == 64
        np.testing.assert_allclose(m.predict_proba(tmp_path / name), reference, rtol=1e-4, atol=1e-6)


def test_a_polars_frame_is_a_table(table):
    pl = pytest.importorskip("polars")
    data = table[["x", "colour", "label"]]
    m = TabularModel(**{**FAST, "epochs": 5}).fit(pl.from_pandas(data), target="label")
    assert m.source_["kind"] == "polars"
    np.testing.assert_array_equal(m.predict(pl.from_pandas(data)), m.predict(data))


def test_pandas_categoricals_are_categories(table):
    data = table[["x", "colour", "label"]].astype({"colour": "category"})
    m = TabularModel(**{**FAST, "epochs": 5}).fit(data, target="label")
    assert {c["name"]: c["kind"] for c in m.columns_}["colour"] == "categorical"
    np.testing.assert_array_equal(m.predict(data), m.predict(data.astype({"colour": str})))


SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import pandas as pd
    import chainrule as cr
    model = cr.load(sys.argv[1])
    print(type(model).__name__)
    np.save(sys.argv[3], model.predict_proba(pd.read_parquet(sys.argv[2])))
""")


def test_saved_then_loaded_in_another_process_predicts_the_same(classifier, table, tmp_path):
    path = tmp_path / "m.npz"
    classifier.save(path)
    new = table.head(20).copy()
    new.loc[0, "colour"] = "purple"
    new.to_parquet(tmp_path / "new.parquet")
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(tmp_path / "new.parquet"),
                             str(tmp_path / "p.npy")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "TabularModel"
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), classifier.predict_proba(new))
    same = cr.load(path)
    assert same.classes_ == classifier.classes_ and same.settings() == classifier.settings()
    assert same.source_ == classifier.source_ and same.columns_ == classifier.columns_
    np.testing.assert_array_equal(same.predict(table), classifier.predict(table))


def test_a_regression_model_file_keeps_the_targets_units(table, tmp_path):
    m = TabularModel(**{**FAST, "epochs": 5}).fit(table[["x", "value"]], target="value")
    m.save(tmp_path / "r.npz")
    np.testing.assert_array_equal(cr.load(tmp_path / "r.npz").predict(table), m.predict(table))


def test_a_plain_network_file_still_loads_as_a_sequential(tmp_path):
    net = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
    net.save(tmp_path / "n.npz")
    assert type(cr.load(tmp_path / "n.npz")) is cr.Sequential
    assert type(cr.saving.load(tmp_path / "n.npz")) is cr.Sequential


# --- bad input -------------------------------------------------------------------------------

def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match=r"data must be an existing file or a data frame; received "
                                         r"data='.*nothing.csv \(no such file\)'"):
        TabularModel().fit(tmp_path / "nothing.csv", target="y")
    with pytest.raises(DataFormatError, match=r"e.csv is empty"):
        TabularModel().fit(write(tmp_path, "e.csv", ""), target="y")
    with pytest.raises(DataFormatError, match=r"h.csv has a header but no rows"):
        TabularModel().fit(write(tmp_path, "h.csv", "a,y\n"), target="y")
    with pytest.raises(DataFormatError, match=r"u.csv could not be read as CSV: .*"):
        TabularModel().fit(write(tmp_path, "u.csv", 'a,y\n1,2\n3,4,5,6\n'), target="y")
    with pytest.raises(DataFormatError, match=r"u.jsonl could not be read as JSON Lines"):
        TabularModel().fit(write(tmp_path, "u.jsonl", '{"a": 1}\n{"a": "x"}\n'), target="a")
    with pytest.raises(InputError, match=r"data must be a file ending in one of .csv"):
        TabularModel().fit(write(tmp_path, "t.xlsx", "x"), target="y")


def test_bad_targets(table):
    with pytest.raises(InputError, match=r"target 'nope' is not a column of the pandas table; its columns are"):
        TabularModel().fit(table, target="nope")
    with pytest.raises(InputError, match=r"target 'y' has one class \('a'\); a classifier needs at least two"):
        TabularModel().fit(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a"] * 3}), target="y")
    with pytest.raises(InputError, match=r"target 'y' is missing in every row"):
        TabularModel().fit(pd.DataFrame({"x": [1.0, 2.0], "y": [None, None]}), target="y")
    with pytest.raises(InputError, match=r"target 'colour' holds string values; regression needs numbers"):
        TabularModel().fit(table, target="colour", task="regression")
    with pytest.raises(InputError, match=r"task must be one of \['classification', 'multilabel', 'regression'\] "
                                         r"or None; received task='cluster'"):
        TabularModel().fit(table, target="label", task="cluster")
    with pytest.raises(InputError, match=r"target must be a column name or a list of column names; received target=3"):
        TabularModel().fit(table, target=3)
    with pytest.raises(InputError, match=r"multi-label targets must hold 0/1 or booleans"):
        TabularModel().fit(table, target=["a", "value"])


def test_a_column_of_mixed_types(tmp_path):
    with pytest.raises(DataFormatError, match=r"column 'age' mixes types: most of its values are numbers, "
                                              r"but some are text, such as 'unknown'"):
        TabularModel().fit(write(tmp_path, "m.csv", "age,y\n1,a\n2,b\nunknown,a\n4,b\n"), target="y")
    with pytest.raises(DataFormatError, match=r"the pandas DataFrame could not be read as a table \(a column "
                                              r"of mixed types\?\)"):
        TabularModel().fit(pd.DataFrame({"a": [1, "x", 3.5], "y": [0, 1, 0]}), target="y")


def test_no_usable_column_and_bad_settings(table):
    with pytest.raises(InputError, match=r"no column can be used as an input: \{'row_id': 'an ID"):
        TabularModel().fit(table[["row_id", "label"]], target="label")
    with pytest.raises(InputError, match=r"patience must be a non-negative integer; received patience=-1"):
        TabularModel(patience=-1).fit(table, target="label")
    with pytest.raises(InputError, match=r"hidden must be a tuple of positive integers"):
        TabularModel(hidden=(0,)).fit(table, target="label")
    with pytest.raises(InputError, match=r"this TabularModel is not trained yet; call fit first"):
        TabularModel().predict(table)
    with pytest.raises(InputError, match=r"data must be a file path, a pandas or polars DataFrame, or a "
                                         r"pyarrow Table; received data='<list>'"):
        TabularModel().fit([1, 2], target="y")


def test_validation_scores_are_evaluate_on_the_rows_held_out(table):
    import pyarrow as pa

    from chainrule.data import train_validation_split

    data = table[["x", "colour", "label"]]
    model = TabularModel(**FAST, validation_split=0.25).fit(data, target="label")
    labels = model.class_indices(pa.array(data["label"]))  # fit's split: its seed's first draw
    _, val = train_validation_split(len(data), 0.25, np.random.default_rng(0), labels)
    assert model.validation_scores_ == pytest.approx(model.evaluate(data.iloc[val]))
    assert TabularModel(**FAST, validation_split=0).fit(data, target="label").validation_scores_ is None
