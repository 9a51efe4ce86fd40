"""A table model's file: what it records, and hostile files refused with ModelFormatError."""

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import io
from chainrule.errors import ModelFormatError

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
from chainrule.tabular import TabularModel  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60), "c": rng.choice(["a", "b"], 60), "y": rng.normal(size=60)})
    path = tmp_path_factory.mktemp("m") / "t.csv"
    df.to_csv(path, index=False)
    model = TabularModel(epochs=3, hidden=(4,)).fit(path, target="y")
    out = path.parent / "m.npz"
    model.save(out)
    return out, io.read_npz(out)


def test_the_file_records_the_source_schema_and_settings(saved):
    path, (meta, arrays) = saved
    doc = meta["tabular"]
    assert meta["format_version"] == 1 and doc["task"] == "regression" and doc["targets"] == ["y"]
    assert doc["source"]["name"] == "t.csv" and doc["source"]["rows"] == 60 and len(doc["source"]["sha256"]) == 64
    assert [c["name"] for c in doc["columns"]] == ["x", "c"] and doc["settings"]["epochs"] == 3
    assert sorted(k for k in arrays if k.startswith("tabular.")) == [
        "tabular.numeric.fill", "tabular.numeric.mean", "tabular.numeric.scale",
        "tabular.target.center", "tabular.target.scale"]
    assert type(cr.load(path)) is TabularModel


def rewritten(tmp_path, meta, arrays):
    path = tmp_path / "bad.npz"
    io.write_npz_atomic(path, {**arrays, "meta": io.json_array(meta)})
    return path


@pytest.mark.parametrize("change, message", [
    (lambda m, a: m["tabular"].update(version=2), "'tabular' must be an object with version 1"),
    (lambda m, a: m["tabular"].update(task="cluster"), "unknown tabular task 'cluster'"),
    (lambda m, a: m["tabular"].update(targets=[]), "'targets' must be a non-empty list of column names"),
    (lambda m, a: m["tabular"].update(classes=["a"]), "a regression model has no classes"),
    (lambda m, a: m["tabular"].update(task="classification", classes=["b", "a"]),
     "'classes' must be at least two distinct, sorted labels of one type"),
    (lambda m, a: m["tabular"]["settings"].pop("alpha"), "'settings' must hold exactly"),
    (lambda m, a: m["tabular"]["settings"].update(lr=-1), "invalid settings: lr must be a positive number"),
    (lambda m, a: m["tabular"].update(columns=[{"name": 1}]), "'columns' must list each column's name"),
    (lambda m, a: m["tabular"].update(source={"rows": -1}), "'source' must be an object of names and row counts"),
    (lambda m, a: a.update({"tabular.extra": np.zeros(2)}), r"unexpected arrays \['tabular.extra'\]"),
    (lambda m, a: a.update({"tabular.target.scale": np.zeros(1)}), "'tabular.target.scale' must be positive"),
    (lambda m, a: a.pop("tabular.target.center"), "'tabular.target.center' must be one finite float"),
    (lambda m, a: m["tabular"]["encoder"]["columns"].pop(0), "array 'tabular.numeric.fill' must be 0 finite"),
    (lambda m, a: m["tabular"]["encoder"]["columns"].pop(), "the network takes 4 inputs"),
])
def test_hostile_files_are_refused(saved, tmp_path, change, message):
    _, (meta, arrays) = saved
    meta, arrays = copy.deepcopy(meta), dict(arrays)
    change(meta, arrays)
    with pytest.raises(ModelFormatError, match=message):
        cr.load(rewritten(tmp_path, meta, arrays))
