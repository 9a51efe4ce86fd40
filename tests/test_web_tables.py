"""``chainrule serve --data FILE --target COLUMN``: the web API on a table, through
Starlette's TestClient (state, a row of the table, predict with its nudges by column,
training a TabularModel through the one loop, saving and loading), and every bad row
answered with a 4xx that names what is wrong."""

import copy

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
from starlette.testclient import TestClient  # noqa: E402

from chainrule import explain  # noqa: E402
from chainrule.tabular import TabularModel  # noqa: E402
from chainrule.web.app import create_table_app  # noqa: E402

from test_explain_tables import table_rows  # noqa: E402  (the table the explain tests write)

COLUMNS = ["x", "color", "w", "m"]


@pytest.fixture(scope="module")
def table():
    return pa.Table.from_pylist(table_rows())


@pytest.fixture(scope="module")
def trained(table):
    return TabularModel(hidden=(16,), epochs=30, seed=0).fit(table, target="label")


@pytest.fixture
def client(table, trained, tmp_path):
    app = create_table_app(table, "label", model=copy.deepcopy(trained), models_dir=tmp_path / "models")
    with TestClient(app) as c:
        c.app = app
        yield c


def a_row(**changes):
    return {**{k: v for k, v in table_rows()[0].items() if k != "label"}, **changes}


def test_state_describes_the_table_and_its_columns(client):
    s = client.get("/api/state").json()
    assert s["kind"] == "table" and s["target"] == ["label"] and s["task"] == "classification"
    assert s["classes"] == ["big", "small"] and s["n_rows"] == 240
    assert [c["name"] for c in s["columns"]] == COLUMNS
    color = s["columns"][1]
    assert color["kind"] == "categorical" and color["categories"] == ["blue", "green", "red"]
    assert s["columns"][3]["missing"] is True  # m had gaps
    assert s["train_defaults"]["hidden"] == [64, 32] and s["train_defaults"]["optimizer"] == "adam"


def test_a_row_of_the_table(client):
    r = client.post("/api/row", json={"index": 2}).json()
    expected = table_rows()[2]
    assert r["row"] == {k: expected[k] for k in COLUMNS} and r["target"] == [expected["label"]]
    assert client.post("/api/row", json={"index": 240}).status_code == 422


def test_predict_gives_the_prediction_and_the_nudges_by_column(client, trained):
    row = a_row(x=2.5, color="red")
    r = client.post("/api/predict", json={"row": row})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = explain.nudges(trained, row)
    assert body["prediction"] == expected.prediction == "big"
    assert body["probabilities"] == pytest.approx(list(expected.probabilities.values()), abs=1e-5)
    n = body["nudges"]
    assert [c["name"] for c in n["columns"]] == [c.name for c in expected.columns]
    assert [c["saliency"] for c in n["columns"]] == pytest.approx([c.saliency for c in expected.columns])
    assert n["target"] == "big" and "prediction" in n["target_note"]
    assert all(p["source"] in trained.encoder_.feature_names for p in n["pushes"])
    # the prediction follows the row: the other side of the boundary
    assert client.post("/api/predict", json={"row": a_row(x=-2.5, color="blue")}).json()["prediction"] == "small"
    # a chosen target: its loss
    other = client.post("/api/predict", json={"row": row, "target": "small"}).json()["nudges"]
    assert other["target_note"] == "given" and other["loss"] > n["loss"]


def test_missing_values_and_unseen_categories_are_rows_too(client):
    r = client.post("/api/predict", json={"row": a_row(x=None, m=None, color="purple")})
    assert r.status_code == 200, r.text
    color = next(c for c in r.json()["nudges"]["columns"] if c["name"] == "color")
    assert color["value"] == "purple"


@pytest.mark.parametrize("body, message", [
    ({}, "row is missing from the request"),
    ({"row": [1, 2]}, "row must be an object of the columns ['x', 'color', 'w', 'm']; received list"),
    ({"row": a_row(x="big")}, "row['x'] must be a finite number or null (missing); received 'big'"),
    ({"row": a_row(x=True)}, "row['x'] must be a finite number or null (missing); received True"),
    ({"row": a_row(color=3)}, "row['color'] must be a string or null (missing); received 3"),
    ({"row": a_row(z=1)}, "row holds 'z', which is not a column the model takes"),
    ({"row": {k: v for k, v in a_row().items() if k != "w"}}, "row is missing the column 'w'"),
    ({"row": a_row(), "target": "huge"}, "target must be one of the classes ['big', 'small'] or null"),
])
def test_bad_rows_get_422_with_a_clear_message(client, body, message):
    r = client.post("/api/predict", json=body)
    assert r.status_code == 422 and message in r.json()["error"], r.text


def test_infinite_numbers_are_refused(client):
    r = client.post("/api/predict", content=b'{"row": {"x": Infinity, "color": "red", "w": 1, "m": 0}}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "row['x'] must be a finite number" in r.json()["error"]


def test_train_fits_a_table_model_through_the_one_loop_and_it_goes_live(client):
    before = client.get("/api/state").json()["model"]["description"]
    # batches of one: 5 epochs of 960 steps, so that the run is still going when paused
    r = client.post("/api/train", json={"hidden": [8], "epochs": 5, "batch_size": 1, "learning_rate": 0.01})
    assert r.status_code == 202, r.text
    assert client.post("/api/train/pause", json={}).json()["status"] == "paused"
    second = client.post("/api/train", json={"epochs": 5})
    assert second.status_code == 409 and "already in progress" in second.json()["error"]
    assert client.post("/api/train/resume", json={}).status_code == 200
    client.app.state.session.wait_for_training(120)
    job = client.get("/api/train").json()["job"]
    assert job["status"] == "done" and job["epochs_done"] == 5 and len(job["curves"]["val_loss"]) == 5
    assert job["warnings"] == []  # the watchdog watched a healthy run: no banner
    after = client.get("/api/state").json()["model"]
    assert after["layers"] == [8, 2] and after["description"] != before
    assert client.post("/api/predict", json={"row": a_row()}).status_code == 200
    bad = client.post("/api/train", json={"hidden": [8], "optimizer": "lbfgs"})
    assert bad.status_code == 422 and "optimizer must be one of" in bad.json()["error"]


def test_save_and_load_a_table_model(client, table, tmp_path):
    assert client.post("/api/models/save", json={"name": "rows"}).status_code == 201
    r = client.post("/api/models/load", json={"name": "rows"})
    assert r.status_code == 200 and r.json()["loaded"] == "rows.npz"
    # a model of another target does not fit the page's table
    other = TabularModel(hidden=(4,), epochs=2).fit(table, target="color")
    other.save(client.app.state.session.models_dir / "color.npz")
    r = client.post("/api/models/load", json={"name": "color"})
    assert r.status_code == 422 and "predicts ['color'], not ['label']" in r.json()["error"]


def test_a_regression_shows_its_prediction_and_nudges_once_given_a_target(table, tmp_path):
    model = TabularModel(hidden=(8,), epochs=10).fit(table, target="w")
    app = create_table_app(table, "w", model=model, models_dir=tmp_path / "models")
    with TestClient(app) as c:
        row = {k: v for k, v in table_rows()[0].items() if k not in ("w",)}
        plain = c.post("/api/predict", json={"row": row}).json()
        assert plain["nudges"] is None and "give a value of w" in plain["note"]
        assert np.isfinite(plain["prediction"])
        given = c.post("/api/predict", json={"row": row, "target": 12.5}).json()
        assert given["nudges"]["target"] == 12.5 and given["prediction"] == pytest.approx(plain["prediction"])
        assert c.post("/api/predict", json={"row": row, "target": "a lot"}).status_code == 422
