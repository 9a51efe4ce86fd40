"""The command line on your own tables, end to end on real files that the tests write: train,
evaluate and predict with --data, each output format read back with pyarrow, and every bad
input as one line and status 2. Training runs in one process (``python -m chainrule``, as a
user runs it) and predicting in another; the rest calls ``chainrule.cli.main``."""

import io
import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402  (after the skip: pyarrow is an extra)
import pyarrow.json as pa_json  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from test_cli import line, run, succeeded  # noqa: E402  (the helpers of the dataset CLI tests)

# A penguins-like table: each species' mean bill length, bill depth, flipper length and mass,
# and the islands it lives on (the palmerpenguins table's, rounded).
SPECIES = {"Adelie": (38.8, 18.3, 190.0, 3700.0), "Chinstrap": (48.8, 18.4, 196.0, 3730.0),
           "Gentoo": (47.5, 15.0, 217.0, 5080.0)}
ISLANDS = {"Adelie": ["Torgersen", "Biscoe", "Dream"], "Chinstrap": ["Dream"], "Gentoo": ["Biscoe"]}
USED = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "adult"]
EPOCHS = 40


def penguins(n, seed, unlabelled=0):
    """n rows of strings, floats with missing values, a bool, an ID and a constant column;
    the first ``unlabelled`` rows have no species."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, species in enumerate(rng.choice(list(SPECIES), size=n)):
        bill, depth, flipper, mass = SPECIES[species]
        rows.append({
            "id": f"P{seed}-{i:04d}", "species": None if i < unlabelled else str(species),
            "island": str(rng.choice(ISLANDS[species])),
            "bill_length_mm": round(rng.normal(bill, 2.0), 1), "bill_depth_mm": round(rng.normal(depth, 0.8), 1),
            "flipper_length_mm": round(rng.normal(flipper, 5.0)),
            "body_mass_g": None if rng.random() < 0.05 else round(rng.normal(mass, 300.0)),
            "sex": None if rng.random() < 0.05 else str(rng.choice(["female", "male"])),
            "adult": bool(rng.random() < 0.8), "study": "PAL0708",
        })
    return rows


def write_csv(rows, path):
    pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def read_csv_text(text):
    return pa_csv.read_csv(io.BytesIO(text.encode()))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    write_csv(penguins(300, seed=0, unlabelled=6), folder / "penguins.csv")
    write_csv(penguins(80, seed=1), folder / "test.csv")
    new = penguins(30, seed=2)
    for row in new[:5]:
        row.update(island="Atlantis", bill_depth_mm=None)  # a category never seen, values missing
    for row in new:
        row.update(comment="seen from the boat")  # a column the model never saw
        del row["species"]
    write_csv(new, folder / "new.csv")
    return folder


@pytest.fixture(scope="module")
def trained(folder):
    """`chainrule train --data penguins.csv --target species`, progress bar included:
    (model path, stdout, stderr)."""
    result = run("train", "--data", "penguins.csv", "--target", "species", "--epochs", EPOCHS,
                 "--output", "penguins.npz", cwd=folder)
    return folder / "penguins.npz", succeeded(result), result.stderr


def reported(stdout, name):
    match = re.search(rf"^{re.escape(name)}: ([0-9.]+)%?$", stdout, re.MULTILINE)
    assert match, f"no line '{name}: ...' in:\n{stdout}"
    return float(match.group(1))


def test_train_prints_the_data_the_task_and_the_validation_scores(trained):
    model, stdout, stderr = trained
    assert "data: penguins.csv (300 rows; 6 without a species value, dropped)" in stdout
    assert f"columns: 7 used ({', '.join(USED)}), 2 dropped" in stdout
    assert "dropped column: id (an ID: a different string in every row)" in stdout
    assert "dropped column: study (constant: every row holds 'PAL0708')" in stdout
    assert "task: classification of species, 3 classes (Adelie, Chinstrap, Gentoo)" in stdout
    assert line(stdout, "training").startswith("training: ")
    assert f"(of at most {EPOCHS}) of adam, learning rate 0.001, batch size 32, seed 0" in stdout
    assert reported(stdout, "validation accuracy") >= 90
    assert 0.9 <= reported(stdout, "validation macro-F1") <= 1
    assert re.search(r"^early stopping: kept the weights of epoch \d+ ", stdout, re.MULTILINE)
    assert stdout.endswith("saved: penguins.npz\n") and model.is_file()
    assert "epoch 1/40" in stderr  # the progress bar


def test_predict_in_another_process_gives_one_row_per_input_row_in_order(trained, folder):
    model, _, _ = trained
    stdout = succeeded(run("predict", model.name, "--data", "penguins.csv", cwd=folder))
    predictions = read_csv_text(stdout)
    assert predictions.column_names == ["prediction"] and predictions.num_rows == 300
    assert pa.types.is_string(predictions.column("prediction").type)  # the labels, as strings
    predicted = predictions.column("prediction").to_pylist()
    truth = pa_csv.read_csv(folder / "penguins.csv").column("species").to_pylist()
    right = [p == t for p, t in zip(predicted, truth, strict=True) if t is not None]
    assert np.mean(right) >= 0.9  # the rows in another order would score about a third
    assert predicted == list(cr.load(model).predict(folder / "penguins.csv"))


def test_evaluate_prints_the_scores_on_labelled_rows(trained, folder, capsys):
    model, _, _ = trained
    assert main(["evaluate", str(model), "--data", str(folder / "test.csv")]) == 0
    stdout = capsys.readouterr().out
    scores = cr.load(model).evaluate(folder / "test.csv")
    assert reported(stdout, "accuracy") == pytest.approx(100 * scores["accuracy"], abs=0.005)
    assert reported(stdout, "macro-F1") == pytest.approx(scores["f1_macro"], abs=5e-5)
    assert scores["accuracy"] >= 0.9


def read_back(path):
    """The table written at ``path``, read with pyarrow by its suffix."""
    suffix = path.suffix
    if suffix == ".csv":
        return pa_csv.read_csv(path)
    if suffix == ".tsv":
        return pa_csv.read_csv(path, parse_options=pa_csv.ParseOptions(delimiter="\t"))
    if suffix == ".json":
        records = json.loads(path.read_text())
        assert isinstance(records, list)  # one array of records
        return pa.Table.from_pylist(records)
    if suffix == ".jsonl":
        assert len(path.read_text().splitlines()) == 300  # one record per line
        return pa_json.read_json(path)
    return pq.read_table(path)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_each_output_format_reads_back_with_a_probability_per_class(trained, folder, suffix, capsys):
    model, _, _ = trained
    out = folder / f"preds{suffix}"
    assert main(["predict", str(model), "--data", str(folder / "penguins.csv"), "--proba",
                 "--output", str(out)]) == 0
    assert f"saved: {out} (300 rows: prediction, proba_Adelie, proba_Chinstrap, proba_Gentoo)" \
        in capsys.readouterr().out
    table = read_back(out)
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    assert table.column_names == ["prediction"] + [f"proba_{c}" for c in classes]
    P = np.column_stack([table.column(f"proba_{c}").to_numpy() for c in classes])
    assert P.shape == (300, 3) and np.allclose(P.sum(axis=1), 1, atol=1e-6)
    assert table.column("prediction").to_pylist() == [classes[k] for k in P.argmax(axis=1)]
    assert not list(folder.glob(".tmp-*"))  # written through a temporary file, renamed


def test_unseen_categories_missing_values_and_an_extra_column(trained, folder, capsys):
    model, _, _ = trained
    out = folder / "new.jsonl"
    assert main(["predict", str(model), "--data", str(folder / "new.csv"), "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "chainrule: note: ignoring columns the model was not trained on: comment\n"
    predicted = pa_json.read_json(out).column("prediction").to_pylist()
    assert len(predicted) == 30 and set(predicted) <= set(SPECIES)


def one_error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    return err


def test_a_missing_column_or_a_changed_type_is_one_line(trained, folder, capsys):
    model, _, _ = trained
    rows = penguins(10, seed=3)
    write_csv([{k: v for k, v in row.items() if k != "bill_length_mm"} for row in rows], folder / "lacking.csv")
    write_csv([{**row, "bill_length_mm": f"{row['bill_length_mm']} mm"} for row in rows], folder / "typed.csv")
    assert main(["predict", str(model), "--data", str(folder / "lacking.csv")]) == 2
    assert "column 'bill_length_mm' is missing; the model was trained on the columns" in one_error_line(capsys)
    assert main(["predict", str(model), "--data", str(folder / "typed.csv")]) == 2
    assert "column 'bill_length_mm' held float values in training and holds string values now" \
        in one_error_line(capsys)


def test_regression_on_a_parquet_file_in_the_target_units(folder, capsys):
    rng = np.random.default_rng(4)
    weight = rng.uniform(1500, 5000, 240)
    cylinders = rng.choice([4, 6, 8], 240)
    origin = rng.choice(["usa", "europe", "japan"], 240)
    mpg = 55 - 0.006 * weight - 1.2 * cylinders + 2.0 * (origin == "japan") + rng.normal(0, 1.0, 240)
    pq.write_table(pa.table({"weight": weight, "cylinders": cylinders, "origin": origin, "mpg": mpg}),
                   folder / "cars.parquet")
    stdout = succeeded(run("train", "--data", "cars.parquet", "--target", "mpg", "--task", "regression",
                           "--hidden", "32,16", "--epochs", 150, "--lr", 0.01, "--quiet",
                           "--output", "cars.npz", cwd=folder))
    assert "task: regression of mpg" in stdout
    assert reported(stdout, "validation R^2") >= 0.8
    assert 0 < reported(stdout, "validation RMSE") < 3  # in miles per gallon
    out = folder / "cars.json"
    assert main(["predict", str(folder / "cars.npz"), "--data", str(folder / "cars.parquet"),
                 "--output", str(out)]) == 0
    predicted = np.array([record["prediction"] for record in json.loads(out.read_text())])
    assert predicted.shape == (240,) and np.corrcoef(predicted, mpg)[0, 1] > 0.9
    assert abs(predicted.mean() - mpg.mean()) < 1.5
    assert main(["predict", str(folder / "cars.npz"), "--data", str(folder / "cars.parquet"), "--proba"]) == 2
    assert "predict_proba needs a classifier; this model does regression" in one_error_line(capsys)


def test_multilabel_on_json_lines(folder, capsys):
    rng = np.random.default_rng(5)
    x1, x2 = rng.normal(size=240), rng.normal(size=240)
    colour = rng.choice(["red", "green", "blue"], 240)
    with open(folder / "tags.jsonl", "w") as f:
        for i in range(240):
            f.write(json.dumps({"x1": x1[i], "x2": x2[i], "colour": str(colour[i]), "a": int(x1[i] > 0),
                                "b": int(x2[i] > 0), "c": int(colour[i] == "red")}) + "\n")
    assert main(["train", "--data", str(folder / "tags.jsonl"), "--target", "a,b,c", "--epochs", "80",
                 "--lr", "0.01", "--quiet", "--output", str(folder / "tags.npz")]) == 0
    stdout = capsys.readouterr().out
    assert "task: multi-label, 3 labels (a, b, c)" in stdout
    assert reported(stdout, "validation accuracy") >= 70  # every label right, on 48 rows
    assert reported(stdout, "validation macro-F1") >= 0.85
    out = folder / "tags.csv"
    assert main(["predict", str(folder / "tags.npz"), "--data", str(folder / "tags.jsonl"), "--proba",
                 "--output", str(out)]) == 0
    table = pa_csv.read_csv(out)
    assert table.column_names == ["prediction_a", "prediction_b", "prediction_c", "proba_a", "proba_b", "proba_c"]
    for label in "abc":
        predicted = table.column(f"prediction_{label}").to_numpy()
        assert set(predicted) <= {0, 1}
        assert (predicted == (table.column(f"proba_{label}").to_numpy() > 0.5)).all()


def bad_file(folder, name, text):
    (folder / name).write_bytes(text)
    return str(folder / name)


@pytest.mark.parametrize("case, message", [
    (lambda d: ["train", "--data", str(d / "absent.csv"), "--target", "y"],
     "--data must be an existing file or folder; received"),
    (lambda d: ["train", "--data", bad_file(d, "broken.csv", b"a,b\n1,2\n3\n"), "--target", "a"],
     "broken.csv could not be read as CSV"),
    (lambda d: ["train", "--data", bad_file(d, "broken.parquet", b"not parquet"), "--target", "a"],
     "broken.parquet could not be read as Parquet"),
    (lambda d: ["train", "--data", bad_file(d, "empty.csv", b""), "--target", "a"], "empty.csv is empty"),
    (lambda d: ["train", "--data", bad_file(d, "header.csv", b"a,b,y\n"), "--target", "y"],
     "header.csv has a header but no rows"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "kind"],
     "target 'kind' is not a column of penguins.csv; its columns are ['id', 'species', 'island',"),
    (lambda d: ["train", "--data", bad_file(d, "one.csv", b"x,y\n1.5,a\n2.5,a\n3.5,a\n"), "--target", "y"],
     "target 'y' has one class ('a'); a classifier needs at least two"),
    (lambda d: ["train", "--data", bad_file(d, "mixed.csv", b"n,y\n12,a\n7,b\nunknown,a\n3,b\n"),
                "--target", "y"], "column 'n' mixes types"),
    (lambda d: ["train", "--data", str(d / "penguins.csv")], "needs --target COLUMN, the column to predict"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "island,,sex"],
     "--target must be a column name, or names separated by commas; received 'island,,sex'"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--data-dir", str(d)],
     "--data-dir applies to --dataset runs only"),
    (lambda d: ["train", "--dataset", "digits", "--alpha", "0.1"], "--alpha applies to --data"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--dataset", "digits"],
     "argument --dataset: not allowed with argument --data"),
    (lambda d: ["train", "--target", "species"], "--target applies to --data"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--loss", "mse"],
     "--loss applies to --dataset runs only; with --data the task decides the loss"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--weight-decay", "0.1"],
     "with --data use --alpha"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--validation-split", "0",
                "--early-stopping", "5"], "--early-stopping needs --validation-split above 0"),
    (lambda d: ["train", "--data", str(d / "penguins.csv"), "--target", "species", "--momentum", "0.5"],
     "--momentum applies to sgd and rmsprop; adam has none"),
    (lambda d: ["predict", str(d / "penguins.npz"), "--data", str(d / "penguins.csv"), "--output",
                str(d / "preds.xlsx")], "--output must be a file ending in one of .csv, .tsv, .json"),
    (lambda d: ["predict", str(d / "penguins.npz"), "--data", str(d / "penguins.csv"), "--output",
                str(d / "no-such-folder" / "preds.csv")], "--output must be a file in an existing folder"),
    (lambda d: ["evaluate", str(d / "penguins.npz"), "--dataset", "digits"],
     "penguins.npz is a model of your own data (trained on penguins.csv); use it with chainrule evaluate"),
    (lambda d: ["predict", str(d / "penguins.npz"), "digit.png", "--proba"], "--proba applies to --data"),
    (lambda d: ["predict", str(d / "penguins.npz"), "digit.png"],
     "penguins.npz is a model of your own data (trained on penguins.csv); use it with chainrule predict"),
    (lambda d: ["explain", str(d / "penguins.npz"), "--nudges"],
     "penguins.npz is a model of your own data (trained on penguins.csv); chainrule explain takes a network "
     "trained on a bundled data set"),
])
def test_bad_input_is_one_line_and_status_2(trained, folder, capsys, case, message):
    assert main(case(folder)) == 2
    assert message in one_error_line(capsys)


def test_a_network_of_a_bundled_data_set_is_refused_with_data(folder, capsys):
    cr.Sequential([cr.Dense(64, 10, "softmax")], loss="cross_entropy").save(folder / "digits.npz")
    assert main(["evaluate", str(folder / "digits.npz"), "--data", str(folder / "test.csv")]) == 2
    assert "digits.npz is a network trained on a bundled data set (64 inputs); use it with chainrule " \
        "evaluate" in one_error_line(capsys)


def test_the_network_options_set_the_models_settings_and_the_rest_keep_the_table_defaults(folder, capsys):
    from chainrule.tabular.settings import DEFAULTS

    path = folder / "small.npz"
    assert main(["train", "--data", str(folder / "penguins.csv"), "--target", "species", "--hidden", "8",
                 "--optimizer", "sgd", "--momentum", "0.5", "--lr", "0.05", "--epochs", "5", "--alpha", "0.01",
                 "--validation-split", "0", "--quiet", "--output", str(path)]) == 0
    stdout = capsys.readouterr().out
    assert "network: 16 -> 8 relu -> 3 softmax;" in stdout
    assert "training: 5 epochs (of at most 5) of sgd, learning rate 0.05, batch size 32, seed 0" in stdout
    assert "validation: none (--validation-split 0)" in stdout and "early stopping" not in stdout
    given = {"hidden": (8,), "optimizer": "sgd", "momentum": 0.5, "lr": 0.05, "epochs": 5, "alpha": 0.01,
             "validation_split": 0.0}
    assert cr.load(path).settings() == {**DEFAULTS, **given}
