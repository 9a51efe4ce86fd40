"""The web API of ``chainrule serve``, through Starlette's TestClient: every endpoint, and
every bad request answered with a 4xx that changes nothing."""

import copy
import importlib.resources
import json
import os
import re
import socket
import subprocess
import sys
import time
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from starlette.testclient import TestClient

import chainrule as cr
from chainrule import datasets, explain, images, report
from chainrule.web import checks
from chainrule.web.app import create_app
from chainrule.web.session import starter_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def trained(digits):
    (X_train, y_train), _ = digits
    return starter_model(X_train, y_train, 10)


@pytest.fixture
def app(digits, trained, tmp_path):
    return create_app(model=copy.deepcopy(trained), dataset="digits", data=digits,
                      models_dir=tmp_path / "models")


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def a_one():
    """A drawn '1': a vertical stroke on the 28x28 grid, as the page sends it."""
    grid = np.zeros((28, 28))
    grid[4:24, 13:16] = 1.0
    grid[4:7, 10:13] = 0.6
    return grid.ravel().tolist()


def weights(app):
    return [p.copy() for p in app.state.session.model.parameters()]


def unchanged(app, before):
    return all(np.array_equal(a, b) for a, b in zip(weights(app), before, strict=True))


def files(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# --- the endpoints -------------------------------------------------------------------

def test_state_describes_the_data_set_and_the_model(client):
    s = client.get("/api/state").json()
    assert s["dataset"] == "digits" and s["n_features"] == 64 and s["n_classes"] == 10
    assert s["input_side"] == 8 and s["grid_side"] == 28
    assert s["model"]["layers"] == [64, 10] and s["model"]["name"] is None
    assert s["models"] == [] and s["job"] is None


def test_the_page_is_served_with_its_module_and_style_and_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(path).status_code == 200, path
    for name in ("index.html", "app.js", "style.css"):
        text = client.get(f"/static/{name}").text
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, f"{name} names outside addresses: {urls}"


def test_predict_gives_the_models_probabilities_and_every_layers_activations(client, app):
    r = client.post("/api/predict", json={"pixels": a_one()})
    assert r.status_code == 200
    out = r.json()
    grid = np.asarray(a_one(), dtype=np.float32).reshape(28, 28)
    X = images.to_model_input(Image.fromarray(grid), 64)
    expected = app.state.session.model.predict_proba(X)[0]
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    assert out["prediction"] == int(np.argmax(expected))
    assert [len(layer["a"]) for layer in out["layers"]] == [64, 10]
    assert [layer["activation"] for layer in out["layers"]] == ["relu", "softmax"]
    np.testing.assert_allclose(out["layers"][-1]["a"], expected, atol=1e-5)
    np.testing.assert_allclose(out["input"], X[0], atol=1e-5)
    assert out["input_side"] == 8


def test_nudges_are_those_of_the_explain_module(client, app):
    out = client.post("/api/nudges", json={"pixels": a_one(), "label": 7}).json()
    X = images.to_model_input(Image.fromarray(np.asarray(a_one(), np.float32).reshape(28, 28)), 64)
    n = explain.nudges(app.state.session.model, X[0], 7)
    np.testing.assert_allclose(out["output"], n.output, atol=1e-5)
    assert len(out["hidden"]) == 1
    np.testing.assert_allclose(out["hidden"][0], n.hidden[0], atol=1e-5)
    assert [(p["layer"], p["j"], p["k"]) for p in out["pushes"]] == [(p.layer, p.j, p.k) for p in n.pushes]
    assert len(out["saliency"]) == 64 and out["label"] == 7
    assert out["output_note"] == n.output_note


def test_one_step_is_plain_gradient_descent_on_the_drawing(client, app):
    model = copy.deepcopy(app.state.session.model)
    X = images.to_model_input(Image.fromarray(np.asarray(a_one(), np.float32).reshape(28, 28)), 64)
    _, grads = model.loss_and_gradients(X, np.array([7]))
    expected = [p - 0.05 * g for p, g in zip(model.parameters(), grads, strict=True)]
    out = client.post("/api/step", json={"pixels": a_one(), "label": 7, "learning_rate": 0.05}).json()
    for p, e in zip(weights(app), expected, strict=True):
        np.testing.assert_allclose(p, e, rtol=1e-6, atol=1e-7)
    assert out["after"][7] > out["before"][7] and out["loss_after"] < out["loss_before"]
    np.testing.assert_allclose(out["before"], model.predict_proba(X)[0], atol=1e-5)


def test_inspect_gives_weights_confusion_matrix_and_mistakes(client, app, digits):
    out = client.get("/api/inspect").json()
    _, (X_test, y_test) = digits
    r = report.compute(app.state.session.model, X_test, y_test, max_wrong=24)
    assert out["confusion"] == r.confusion.tolist()
    assert out["n_test"] == len(y_test) == sum(map(sum, out["confusion"]))
    assert out["side"] == 8 and len(out["weights"]) == 64 and len(out["weights"][0]) == 64
    assert [w["index"] for w in out["wrong"]] == r.wrong.tolist()
    assert all(w["label"] != w["predicted"] for w in out["wrong"])
    assert out["accuracy"] > 0.9


def test_save_then_load_round_trips_and_never_overwrites_silently(client, app, tmp_path):
    folder = tmp_path / "models"
    r = client.post("/api/models/save", json={"name": "mine"})
    assert r.status_code == 201 and r.json()["saved"] == "mine.npz"
    saved = (folder / "mine.npz").read_bytes()
    client.post("/api/step", json={"pixels": a_one(), "label": 7, "learning_rate": 0.5})
    r = client.post("/api/models/save", json={"name": "mine.npz"})
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    assert (folder / "mine.npz").read_bytes() == saved
    assert client.post("/api/models/save", json={"name": "mine", "overwrite": True}).status_code == 201
    assert (folder / "mine.npz").read_bytes() != saved
    assert client.get("/api/models").json() == {"models": ["mine.npz"]}
    reference = cr.load(folder / "mine.npz")
    client.post("/api/step", json={"pixels": a_one(), "label": 3, "learning_rate": 0.5})
    r = client.post("/api/models/load", json={"name": "mine"})
    assert r.status_code == 200 and r.json()["model"]["name"] == "mine.npz"
    for p, q in zip(weights(app), reference.parameters(), strict=True):
        np.testing.assert_array_equal(p, q)
    assert client.get("/api/state").json()["model"]["name"] == "mine.npz"


def follow_events(client):
    """The events of /api/train/events as (name, data) pairs, until the stream ends."""
    events, name = [], None
    with client.stream("GET", "/api/train/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_a_training_run_streams_its_curves_and_becomes_the_live_model(client, app):
    before = app.state.session.model
    r = client.post("/api/train", json={"hidden": [32], "epochs": 4, "batch_size": 64,
                                        "learning_rate": 0.1, "optimizer": "sgd"})
    assert r.status_code == 202 and r.json()["status"] == "running"
    events = follow_events(client)
    assert events[-1] == ("end", {"status": "done", "error": None})
    points = [p for name, data in events if name == "progress" for p in data["points"]]
    assert len(points) == 4 and set(points[0]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    job = client.get("/api/train").json()["job"]
    assert job["status"] == "done" and job["epochs_done"] == 4 and len(job["curves"]["val_loss"]) == 4
    assert [p["loss"] for p in points] == job["curves"]["loss"]
    assert job["warnings"] == [] and all(data["warnings"] == [] for name, data in events if name == "progress")
    assert app.state.session.model is not before
    assert client.get("/api/state").json()["model"]["layers"] == [32, 10]
    assert follow_events(client)[-1][0] == "end"  # a finished job's stream ends at once


def test_a_diverging_run_carries_the_watchdogs_warnings(client, app):
    r = client.post("/api/train", json={"hidden": [32], "epochs": 4, "batch_size": 32, "learning_rate": 5,
                                        "optimizer": "sgd"})
    assert r.status_code == 202 and r.json()["warnings"] == []
    events = follow_events(client)
    job = client.get("/api/train").json()["job"]
    kinds = [w["kind"] for w in job["warnings"]]
    assert "chance" in kinds and len(kinds) == len(set(kinds))  # each kind once
    chance = next(w for w in job["warnings"] if w["kind"] == "chance")
    assert chance["epoch"] == 3 and chance["message"].startswith(
        "the validation accuracy is at chance level after 3 epochs: ")
    assert "the learning rate is probably too high (up to 5" in chance["message"]
    streamed = [w for name, data in events if name == "progress" for w in data["warnings"]]
    assert chance in streamed  # the page sees it as the run goes
    assert app.state.session.model.history.warnings == job["warnings"]  # and the History keeps it


def test_one_run_at_a_time_and_pause_resume_stop(client, app):
    r = client.post("/api/train", json={"hidden": [16], "epochs": 1000, "batch_size": 8})
    assert r.status_code == 202
    start = time.perf_counter()  # the page stays responsive while the run goes on
    assert client.post("/api/predict", json={"pixels": a_one()}).status_code == 200
    assert time.perf_counter() - start < 2
    second = client.post("/api/train", json={"epochs": 1})
    assert second.status_code == 409 and "already in progress" in second.json()["error"]
    assert client.post("/api/train/pause", json={}).json()["status"] == "paused"
    time.sleep(0.2)
    job = app.state.session.job
    held = job.snapshot()
    time.sleep(0.3)
    now = job.snapshot()
    assert (now["epochs_done"], now["batch"]) == (held["epochs_done"], held["batch"])  # paused
    r = client.post("/api/train/pause", json={})
    assert r.status_code == 409 and "only a running job can be paused" in r.json()["error"]
    assert client.post("/api/train/resume", json={}).json()["status"] == "running"
    assert client.post("/api/train/stop", json={}).json()["status"] == "stopping"
    job.join(10)
    assert job.snapshot()["status"] == "stopped" and job.snapshot()["epochs_done"] < 1000
    r = client.post("/api/train/stop", json={})
    assert r.status_code == 409 and "already ended" in r.json()["error"]
    assert client.post("/api/train", json={"hidden": [8], "epochs": 1}).status_code == 202
    app.state.session.wait_for_training(10)


def test_a_run_that_fails_says_why_and_leaves_the_live_model(digits):
    from chainrule.web.jobs import TrainingJob

    (X, y), _ = digits
    X = X.copy()
    X[5, 3] = np.nan
    model = cr.Sequential([cr.Dense(64, 10, "softmax")], seed=0)
    ended = []
    job = TrainingJob(model, X, y, {"epochs": 1}, on_end=ended.append)
    job.join(10)
    snapshot = job.snapshot()
    assert snapshot["status"] == "failed" and "X" in snapshot["error"] and ended == [job]


def test_controls_without_a_run_are_refused(client):
    for action in ("pause", "resume", "stop"):
        r = client.post(f"/api/train/{action}", json={})
        assert r.status_code == 409 and r.json()["error"] == f"there is no training run to {action}"
    assert follow_events(client) == [("idle", {})]


# --- bad requests: 4xx, and nothing changes -------------------------------------------

BAD_DRAWINGS = [
    ({"pixels": a_one()[:-1]}, "pixels must hold exactly 784 numbers (28x28); received 783"),
    ({"pixels": a_one() + [0]}, "received 785"),
    ({"pixels": [a_one()[:28]] * 28}, "pixels must hold exactly 784 numbers (28x28); received 28"),
    ({"pixels": [[0.5]] * 784}, "pixels must be numbers in [0, 1]; received pixels[0]=[0.5]"),
    ({"pixels": ["0.5"] * 784}, "pixels must be numbers in [0, 1]; received pixels[0]='0.5'"),
    ({"pixels": [True] * 784}, "received pixels[0]=True"),
    ({"pixels": [None] * 784}, "received pixels[0]=None"),
    ({"pixels": [0.0] * 783 + [-0.1]}, "pixels must be in [0, 1]; received pixels[783]=-0.1"),
    ({"pixels": [1.5] + [0.0] * 783}, "pixels must be in [0, 1]; received pixels[0]=1.5"),
    ({"pixels": "0" * 784}, "pixels must be a list of 784 numbers in [0, 1] (28x28, row by row); received str"),
    ({}, "pixels is missing from the request"),
    ({"pixels": [0.0] * 784}, "pixels hold no ink: draw a digit first"),
]


@pytest.mark.parametrize("path", ["/api/predict", "/api/nudges", "/api/step"])
@pytest.mark.parametrize("body, message", BAD_DRAWINGS)
def test_bad_drawings_get_422_and_change_nothing(client, app, path, body, message):
    before = weights(app)
    r = client.post(path, json={"label": 1, **body})
    assert r.status_code == 422
    assert message in r.json()["error"]
    assert unchanged(app, before)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused(client, app, literal):
    before = weights(app)
    body = json.dumps({"pixels": a_one()[:-1] + [float(literal)], "label": 1})  # NaN, Infinity: not JSON
    assert literal in body
    for path in ("/api/predict", "/api/step"):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422
        assert r.json()["error"] == f"pixels must be finite numbers in [0, 1]; received pixels[783]={float(literal)!r}"
    assert unchanged(app, before)


@pytest.mark.parametrize("content, status, message", [
    (b"{not json", 400, "the request body must be JSON; it is not"),
    (b"[1, 2]", 400, "the request body must be a JSON object; received list"),
    (b"", 400, "the request body must be JSON"),
    (b"\xff\xfe", 400, "the request body must be JSON"),
    (b"[" * 30_000 + b"]" * 30_000, 400, "the request body must be JSON"),
    (b"[" * 100_000 + b"]" * 100_000, 413, "at most 65536 bytes"),
    (json.dumps({"pixels": [0.123456789012345] * 5000}).encode(), 413,
     "the request body must be at most 65536 bytes"),
])
def test_unreadable_or_oversized_bodies(client, app, content, status, message):
    before = weights(app)
    for path in ("/api/predict", "/api/step", "/api/train", "/api/models/save"):
        r = client.post(path, content=content, headers={"content-type": "application/json"})
        assert r.status_code == status, path
        assert message in r.json()["error"]
    assert unchanged(app, before) and app.state.session.job is None
    assert files(app.state.session.models_dir) == []


@pytest.mark.parametrize("path", ["/api/predict", "/api/nudges", "/api/step", "/api/train",
                                  "/api/train/stop", "/api/models/save", "/api/models/load"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_posts_that_are_not_json_are_refused(client, app, path, content_type):
    """A page of another site may post text/plain to a local server without asking first."""
    before = weights(app)
    headers = {} if content_type is None else {"content-type": content_type}
    body = json.dumps({"pixels": a_one(), "label": 1, "name": "x", "epochs": 1})
    r = client.post(path, content=body, headers=headers)
    assert r.status_code == 415
    assert r.json()["error"] == ("the request must be sent with Content-Type: application/json; "
                                 f"received {content_type or 'none'}")
    assert unchanged(app, before) and app.state.session.job is None
    assert files(app.state.session.models_dir) == []


def test_hosts_other_than_loopback_are_refused_when_asked(digits, trained, tmp_path):
    from chainrule.web.app import allowed_hosts

    assert allowed_hosts("127.0.0.1") == ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.1"]
    assert allowed_hosts("0.0.0.0") is None
    app = create_app(model=copy.deepcopy(trained), dataset="digits", data=digits,
                     models_dir=tmp_path / "models", allowed_hosts=allowed_hosts("127.0.0.1"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/state").status_code == 200
        assert c.get("/api/state", headers={"host": "localhost:8000"}).status_code == 200
        r = c.post("/api/models/save", json={"name": "x"}, headers={"host": "rebound.example"})
        assert r.status_code == 400
    assert files(tmp_path / "models") == []


def test_an_oversized_body_without_a_length_is_cut_at_the_limit(client):
    def chunks():
        for _ in range(100):
            yield b" " * 1024
    r = client.post("/api/predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "at most 65536 bytes" in r.json()["error"]


@pytest.mark.parametrize("label", [10, -1, 1.5, "3", None, True])
def test_bad_labels(client, app, label):
    before = weights(app)
    for path in ("/api/nudges", "/api/step"):
        r = client.post(path, json={"pixels": a_one(), "label": label})
        assert r.status_code == 422
        assert r.json()["error"] == f"label must be an integer in [0, 9]; received label={label!r}"
    assert unchanged(app, before)


@pytest.mark.parametrize("rate", [0, -0.1, 11, "0.1", None])
def test_bad_step_learning_rates(client, app, rate):
    before = weights(app)
    r = client.post("/api/step", json={"pixels": a_one(), "label": 1, "learning_rate": rate})
    assert r.status_code == 422
    assert r.json()["error"] == f"learning_rate must be a number in (0, 10.0]; received learning_rate={rate!r}"
    assert unchanged(app, before)


@pytest.mark.parametrize("settings, message", [
    ({"hidden": [0]}, "hidden must be a list of at most 4 layer sizes, integers in [1, 2048]; received hidden=[0]"),
    ({"hidden": "128"}, "received hidden='128'"),
    ({"hidden": [8] * 5}, "at most 4 layer sizes"),
    ({"epochs": 0}, "epochs must be an integer in [1, 1000]; received epochs=0"),
    ({"epochs": 2.5}, "received epochs=2.5"),
    ({"batch_size": -1}, "batch_size must be an integer in [1, 60000]; received batch_size=-1"),
    ({"learning_rate": float("nan")}, "learning_rate must be a number in (0, 10.0]; received learning_rate=nan"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of sgd, adam, adamw, rmsprop; received optimizer='lbfgs'"),
    ({"activation": "softmax"}, "activation must be one of relu, sigmoid, tanh, leaky_relu; received activation='softmax'"),
    ({"loss": "hinge"}, "loss must be one of cross_entropy, log_loss, mse; received loss='hinge'"),
])
def test_bad_training_settings_start_nothing(client, app, settings, message):
    r = client.post("/api/train", content=json.dumps(settings), headers={"content-type": "application/json"})
    assert r.status_code == 422 and message in r.json()["error"]
    assert app.state.session.job is None


BAD_NAMES = ["../x.npz", "../x", "/etc/passwd", "a/b.npz", "a\\b.npz", "..", ".", ".hidden", "",
             "x" * 101, "con:x", "name with space", "\u00e9t\u00e9", 5, None, ["a"]]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_model_names_that_leave_the_folder_are_refused(client, app, tmp_path, name):
    before = weights(app)
    outside = files(tmp_path)
    for path in ("/api/models/save", "/api/models/load"):
        r = client.post(path, json={"name": name, "overwrite": True})
        assert r.status_code == 400, (path, r.json())
        assert r.json()["error"].startswith("name must be a file name of at most 100 letters")
    assert unchanged(app, before)
    assert files(tmp_path) == outside and files(tmp_path / "models") == []


def test_a_symlink_out_of_the_models_folder_is_refused(client, app, tmp_path):
    secret = tmp_path / "secret.npz"
    app.state.session.model.save(secret)
    (tmp_path / "models" / "link.npz").symlink_to(secret)
    before = secret.read_bytes()
    for path in ("/api/models/save", "/api/models/load"):
        r = client.post(path, json={"name": "link", "overwrite": True})
        assert r.status_code == 400 and "leads out of it" in r.json()["error"]
    assert secret.read_bytes() == before
    assert "link.npz" not in client.get("/api/models").json()["models"]


def test_loading_a_missing_a_foreign_or_a_broken_model_changes_nothing(client, app, tmp_path):
    folder = tmp_path / "models"
    before = weights(app)
    r = client.post("/api/models/load", json={"name": "nothing"})
    assert r.status_code == 404 and r.json()["error"] == "there is no model nothing.npz in the models folder"
    cr.Sequential([cr.Dense(784, 10, "softmax")], seed=0).save(folder / "mnist.npz")
    r = client.post("/api/models/load", json={"name": "mnist.npz"})
    assert r.status_code == 422
    assert r.json()["error"] == ("mnist.npz must be a classifier of 64 inputs and 10 outputs for the "
                                 "digits data set; it has 784 inputs and 10 outputs")
    (folder / "broken.npz").write_bytes(b"not a zip file")
    r = client.post("/api/models/load", json={"name": "broken"})
    assert r.status_code == 422 and r.json()["error"].startswith("broken.npz is not a chainrule model file")
    r = client.post("/api/models/save", json={"name": "x", "overwrite": "yes"})
    assert r.status_code == 422 and r.json()["error"] == "overwrite must be true or false; received overwrite='yes'"
    assert unchanged(app, before) and files(folder) == ["broken.npz", "mnist.npz"]
    assert client.get("/api/state").json()["model"]["name"] is None


def test_check_functions_directly():
    with pytest.raises(checks.RequestError) as info:
        checks.model_path("/tmp", "../etc/passwd")
    assert info.value.status == 400
    assert checks.model_path("/tmp", "ok-name_1.v2").name == "ok-name_1.v2.npz"


# --- the package and the command line ----------------------------------------------------

def test_the_page_ships_in_the_package():
    static = importlib.resources.files("chainrule.web") / "static"
    names = sorted(p.name for p in static.iterdir())
    assert names == ["app.js", "index.html", "style.css", "table.js"]
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["chainrule.web"]
    for name in names:  # a plain `pip install .` copies only what package-data lists
        assert any(fnmatch(f"static/{name}", g) for g in globs), name


def serve(*args, cwd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "chainrule", "serve", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


def one_line_error(result, message):
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "argument --port: must be an integer in [0, 65535]; received '70000'"),
    (["--port", "web"], "argument --port: must be an integer in [0, 65535]; received 'web'"),
    (["--dataset", "cifar"], "argument --dataset: invalid choice: 'cifar'"),
    (["--model", "missing.npz"], "chainrule: error: no such model file: missing.npz"),
    (["--data-dir", "no-such-folder"], "no such folder: 'no-such-folder'"),
])
def test_serve_argument_errors_are_one_line(tmp_path, args, message):
    one_line_error(serve(*args, cwd=tmp_path), message)


def test_serve_refuses_a_model_of_another_data_set(tmp_path):
    cr.Sequential([cr.Dense(784, 10, "softmax")], seed=0).save(tmp_path / "m.npz")
    one_line_error(serve("--model", "m.npz", cwd=tmp_path),
                   "m.npz takes 784 inputs but the digits data set has 64 features")


def test_serve_refuses_a_model_that_is_not_a_digit_classifier(tmp_path):
    cr.Sequential([cr.Dense(64, 3, "softmax")], seed=0).save(tmp_path / "m.npz")
    one_line_error(serve("--model", "m.npz", cwd=tmp_path),
                   "chainrule: error: the model must be a classifier of 64 inputs and 10 outputs for "
                   "the digits data set; it has 64 inputs and 3 outputs")


def test_serve_on_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        one_line_error(serve("--port", port, cwd=tmp_path), f"cannot listen on 127.0.0.1:{port}:")


def test_serve_without_the_extra_says_how_to_install_it(tmp_path):
    script = ("import sys; sys.modules['starlette'] = None; from chainrule.cli import main; "
              "sys.exit(main(['serve']))")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == ("chainrule: error: chainrule serve needs chainrule[serve]: "
                             "pip install 'chainrule[serve]'\n")


def test_the_servers_connections_send_small_answers_at_once():
    """The socket serve binds says it is TCP, so asyncio (uvicorn's loop) sets TCP_NODELAY
    on every connection it accepts: no ~40 ms Nagle delay on a kept-alive connection's
    small answers (benchmarks/serve_latency.py measures it)."""
    import asyncio

    from chainrule.web.app import bind

    sock = bind("127.0.0.1", 0)
    assert sock.proto == socket.IPPROTO_TCP
    accepted = []

    async def main():
        def on_connect(reader, writer):
            accepted.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
    assert accepted and accepted[0] != 0


@pytest.mark.parametrize("name", ["CON", "nul.npz", "Com1.npz", "lpt9", "aux.model.npz"])
def test_windows_device_names_are_refused(client, app, name):
    before = weights(app)
    for path in ("/api/models/save", "/api/models/load"):
        r = client.post(path, json={"name": name, "overwrite": True})
        assert r.status_code == 400
        assert r.json()["error"] == ("name must not be a device name of Windows (AUX, COM0, COM1, COM2, COM3, "
                                     "COM4, COM5, COM6, COM7, COM8, COM9, CON, LPT0, LPT1, LPT2, LPT3, LPT4, "
                                     f"LPT5, LPT6, LPT7, LPT8, LPT9, NUL, PRN, with any extension); received "
                                     f"name={name!r}")
    assert unchanged(app, before)
    assert client.post("/api/models/save", json={"name": "console.npz"}).status_code == 201  # only whole names


@pytest.mark.parametrize("path", ["/", "/api/state", "/static/app.js", "/api/nothing"])
def test_no_other_site_may_frame_the_page(client, path):
    r = client.get(path)
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    if path == "/":
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]


HUGE = ["1" + "0" * 4400, "1" + "0" * 400, "-" + "9" * 350]


@pytest.mark.parametrize("huge", HUGE, ids=["4401 digits", "10**400", "-(10**350 - 1)"])
def test_integers_too_large_for_a_float_are_refused_by_their_field(client, app, huge):
    """A valid JSON integer of any size: 422 naming the field, never a 500 (Python will not
    convert an int of over 4,300 digits, and math.isfinite fails on ints past 1e308)."""
    before = weights(app)
    pixels = ",".join(map(str, a_one()))
    cases = [("/api/predict", '{"pixels": [%s]}' % ",".join(["0"] * 783 + [huge]), "pixels"),
             ("/api/step", '{"pixels": [%s], "label": %s}' % (pixels, huge), "label must be an integer"),
             ("/api/step", '{"pixels": [%s], "label": 1, "learning_rate": %s}' % (pixels, huge), "learning_rate"),
             ("/api/train", '{"epochs": %s}' % huge, "epochs must be an integer"),
             ("/api/train", '{"hidden": [%s]}' % huge, "hidden must be a list")]
    for path, body, message in cases:
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (path, r.status_code, r.text[:200])
        assert message in r.json()["error"]
    assert unchanged(app, before) and app.state.session.job is None
