"""The command line, run as a user runs it: ``python -m chainrule ...`` in a subprocess."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import chainrule
from chainrule import datasets

TIMEOUT = 120  # seconds for one command; they take one to five


def command(*args):
    return [sys.executable, "-m", "chainrule", *map(str, args)]


def environment():
    # conftest.py has set CHAINRULE_DATA to the absolute path of the shared data sets.
    # One BLAS thread: with two, OpenBLAS's waiting threads made one MNIST epoch take 15
    # to 50 s instead of 1 s whenever another process was busy on a 2-core machine.
    return dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")


def run(*args, cwd):
    return subprocess.run(command(*args), cwd=cwd, env=environment(), capture_output=True,
                          text=True, timeout=TIMEOUT)


def succeeded(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def line(stdout, name):
    """The line 'name: ...' of the output."""
    match = re.search(rf"^{name}: .*$", stdout, re.MULTILINE)
    assert match, f"no line '{name}: ...' in:\n{stdout}"
    return match.group()


def reported(stdout, name):
    """The number printed on the line 'name: <number>' (a percentage without its %)."""
    match = re.search(rf"^{name}: ([0-9.]+)%?$", stdout, re.MULTILINE)
    assert match, f"no line '{name}: ...' in:\n{stdout}"
    return float(match.group(1))


def predictions(stdout):
    """{image name: predicted class} from the lines 'path: digit  probabilities 0:p0 ...'."""
    found = {}
    for text in stdout.splitlines():
        match = re.fullmatch(r"(\S+): (\d)  probabilities((?: \d:[0-9.]+){10})", text)
        assert match, f"unexpected line: {text!r}"
        probabilities = [float(item.split(":")[1]) for item in match.group(3).split()]
        digit = int(match.group(2))
        assert probabilities[digit] == max(probabilities)
        found[match.group(1)] = digit
    return found


def save_png(pixels, path, scale, light=False, colour=False):
    """An image of values in [0, 1] (ink 1), scaled up ``scale`` times (blocks), as a PNG:
    white ink on black, or with ``light`` black on white, or with ``colour`` too blue on cream."""
    grey = (pixels * 255).round().astype(np.uint8)
    if light:
        grey = 255 - grey
    image = Image.fromarray(grey)
    if colour:  # dark blue ink on a cream page
        level = (255 - np.asarray(image, dtype=float)[..., None]) / 255
        page, ink = np.array([250, 245, 225]), np.array([20, 30, 120])
        image = Image.fromarray((page + level * (ink - page)).round().astype(np.uint8))
    image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST).save(path)
    return path


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """`chainrule train` with its defaults, progress bar included: (model path, stdout, stderr)."""
    folder = tmp_path_factory.mktemp("digits")
    result = run("train", "--output", "digits.npz", cwd=folder)
    return folder / "digits.npz", succeeded(result), result.stderr


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist):
    """One epoch on MNIST, found through CHAINRULE_DATA: (model path, stdout)."""
    folder = tmp_path_factory.mktemp("mnist")
    result = run("train", "--dataset", "mnist", "--epochs", 1, "--batch-size", 128, "--quiet",
                 "--output", "mnist.npz", cwd=folder)
    return folder / "mnist.npz", succeeded(result)


def test_train_defaults_give_a_good_digits_classifier(digits_run):
    model, stdout, stderr = digits_run
    assert reported(stdout, "test accuracy") >= 95  # measured: 96.9 (96.1, 97.2 with seeds 1, 2)
    assert "dataset: digits (1,438 training and 359 test examples, 64 features, 10 classes)" in stdout
    assert ("network: 64 -> 128 relu -> 64 relu -> 10 softmax; loss cross_entropy; "
            "17,226 parameters (float32)") in stdout
    training = line(stdout, "training")
    assert training.startswith("training: 20 epochs of SGD(") and training.endswith(", batch size 32, seed 0")
    assert "learning_rate=CosineDecay(initial_learning_rate=0.05, decay_steps=900.0, alpha=0.0)," in training
    assert "momentum=0.9," in training
    assert re.search(r"^time: [0-9.]+ s \([0-9,]+ examples/s\)$", stdout, re.MULTILINE)
    assert stdout.endswith(f"saved: {model.name}\n") and model.is_file()
    assert "epoch 20/20" in stderr  # the progress bar


def test_evaluate_reports_what_train_reported(digits_run):
    model, train_stdout, _ = digits_run
    stdout = succeeded(run("evaluate", model, cwd=model.parent))
    assert reported(stdout, "test accuracy") == reported(train_stdout, "test accuracy")
    assert reported(stdout, "test loss") == reported(train_stdout, "test loss")
    assert reported(stdout, "train accuracy") >= 99
    assert f"model: {model} (64 -> 128 relu -> 64 relu -> 10 softmax;" in stdout


def test_predict_digits_drawn_large(digits_run):
    model, _, _ = digits_run
    _, (X_test, y_test) = datasets.load("digits")
    right = np.flatnonzero(chainrule.load(model).predict(X_test) == y_test)[:3]
    images = {}
    for i in right:
        images[f"grey{i}.png"] = save_png(X_test[i].reshape(8, 8), model.parent / f"grey{i}.png", 8)
        images[f"light{i}.png"] = save_png(X_test[i].reshape(8, 8), model.parent / f"light{i}.png", 5,
                                           light=True, colour=True)
    stdout = succeeded(run("predict", model, *images, cwd=model.parent))
    assert predictions(stdout) == {name: y_test[int(re.search(r"\d+", name).group())] for name in images}


def test_mnist_one_epoch_then_predict_scanned_digits(mnist_run, mnist):
    model, stdout = mnist_run
    assert reported(stdout, "test accuracy") >= 90  # measured: 96
    assert "dataset: mnist (60,000 training and 10,000 test examples, 784 features, 10 classes)" in stdout
    _, (X_test, y_test) = mnist
    images = {}
    for i in range(5):  # 7 2 1 0 4
        digit = X_test[i].reshape(28, 28)
        images[f"grey{i}.png"] = save_png(digit, model.parent / f"grey{i}.png", 2)
        page = np.zeros((40, 36))  # off-centre on a larger page
        page[3:31, 6:34] = digit
        images[f"light{i}.png"] = save_png(page, model.parent / f"light{i}.png", 3, light=True, colour=True)
    stdout = succeeded(run("predict", model, *images, cwd=model.parent))
    assert predictions(stdout) == {name: y_test[int(name[-5])] for name in images}


def test_train_options_reach_the_network(tmp_path):
    stdout = succeeded(run("train", "--hidden", "32", "--activation", "tanh", "--dropout", 0.2,
                           "--loss", "log_loss", "--optimizer", "rmsprop", "--momentum", 0.5,
                           "--lr", 0.002, "--batch-size", 64, "--epochs", 3, "--seed", 7,
                           "--validation-split", 0.25, "--dtype", "float64", "--quiet",
                           "--output", "m.npz", cwd=tmp_path))
    assert ("network: 64 -> 32 tanh -> dropout 0.2 -> 10 sigmoid; loss log_loss; "
            "2,410 parameters (float64)") in stdout
    training = line(stdout, "training")
    assert training.startswith("training: 3 epochs of RMSprop(")
    assert training.endswith(", batch size 64, seed 7")
    assert "learning_rate=0.002," in training and "momentum=0.5," in training
    assert 0 <= reported(stdout, "validation accuracy") <= 100


def test_train_without_hidden_layers_and_with_mse(tmp_path):
    result = run("train", "--hidden", "", "--loss", "mse", "--epochs", 2, "--quiet", cwd=tmp_path)
    stdout = succeeded(result)
    assert result.stderr == ""  # --quiet: no progress bar
    assert "network: 64 -> 10 sigmoid; loss mse; 650 parameters (float32)" in stdout
    training = line(stdout, "training")
    assert training.startswith("training: 2 epochs of SGD(")
    assert "learning_rate=0.01," in training and "momentum=0.9," in training
    assert (tmp_path / "model.npz").is_file()


def test_schedule_warm_up_weight_decay_clipping_and_early_stopping_reach_the_run(tmp_path):
    stdout = succeeded(run("train", "--hidden", "16", "--optimizer", "adamw", "--lr", 0.01, "--schedule",
                           "onecycle", "--warmup-epochs", 1, "--weight-decay", 1e-4, "--clip-norm", 5,
                           "--early-stopping", 1, "--validation-split", 0.2, "--epochs", 8, "--quiet",
                           "--output", "m.npz", cwd=tmp_path))
    training = line(stdout, "training")
    # digits: 1438 training examples, 1150 after the split, 36 steps an epoch
    assert "learning_rate=Warmup(learning_rate=OneCycle(max_lr=0.01, total_steps=252, pct_start=0.3, " in training
    assert "warmup_steps=36, start_factor=0.0)" in training
    assert "weight_decay=0.0001" in training and "clip_norm=5.0" in training
    history = chainrule.load(tmp_path / "m.npz").history
    kept = history["val_loss"].index(min(history["val_loss"]))
    assert line(stdout, "early stopping") == (f"early stopping: kept the weights of epoch {kept + 1} (the "
                                              "lowest validation loss)")
    assert reported(stdout, "validation loss") == round(history["val_loss"][kept], 4)
    assert reported(stdout, "validation accuracy") == round(100 * history["val_accuracy"][kept], 2)


def test_version(tmp_path):
    assert succeeded(run("--version", cwd=tmp_path)) == f"chainrule {chainrule.__version__}\n"


@pytest.fixture
def files(tmp_path, digits_run):
    """Names the error cases refer to, made in tmp_path."""
    (tmp_path / "notes.txt").write_text("not a model, not an image\n")
    Image.new("L", (40, 40), 255).save(tmp_path / "blank.png")
    Image.new("L", (6, 40), 0).save(tmp_path / "thin.png")
    chainrule.Sequential([chainrule.Dense(10, 3, activation="softmax")]).save(tmp_path / "small.npz")
    return {"{model}": str(digits_run[0]), "{tmp}": str(tmp_path)}


@pytest.mark.parametrize("args, message", [
    ([], "the following arguments are required: COMMAND (see 'chainrule --help')"),
    (["train", "--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet' "
     "(choose from 'mnist', 'fashion-mnist', 'digits')"),
    (["train", "--hidden", "128,x"], "argument --hidden: must be positive layer sizes separated by "
     "commas, such as 128,64 (or '' for no hidden layer); received '128,x'"),
    (["train", "--lr", "-1"], "argument --lr: must be a positive number; received '-1' "
     "(see 'chainrule train --help')"),
    (["train", "--lr", "fast"], "argument --lr: must be a number; received 'fast'"),
    (["train", "--lr", "inf"], "argument --lr: must be a finite number; received 'inf'"),
    (["train", "--epochs", "2.5"], "argument --epochs: must be a positive integer; received '2.5'"),
    (["train", "--seed", "-3"], "argument --seed: must be a non-negative integer; received '-3'"),
    (["train", "--dropout", "1"], "argument --dropout: must be a number in [0, 1); received '1'"),
    (["train", "--optimizer", "adam", "--momentum", "0.5"],
     "--momentum applies to sgd and rmsprop; adam has none (its beta_1 plays that part)"),
    (["train", "--schedule", "step"], "argument --schedule: invalid choice: 'step' (choose from 'constant', "
     "'cosine', 'onecycle')"),
    (["train", "--warmup-epochs", "-1"], "argument --warmup-epochs: must be a non-negative integer; received '-1'"),
    (["train", "--warmup-epochs", "20"], "--warmup-epochs must be below --epochs (20), as the warm-up is part "
     "of the run; received 20"),
    (["train", "--early-stopping", "3"], "--early-stopping needs --validation-split above 0 (it watches the "
     "validation loss)"),
    (["train", "--early-stopping", "1.5"], "argument --early-stopping: must be a non-negative integer; "
     "received '1.5'"),
    (["train", "--weight-decay", "-1"], "argument --weight-decay: must be a number in [0, inf); received '-1'"),
    (["train", "--clip-norm", "0"], "argument --clip-norm: must be a positive number; received '0'"),
    (["train", "--output", "no/such/folder/m.npz"],
     "--output must be a file in an existing folder; received 'no/such/folder/m.npz'"),
    (["train", "--data-dir", "no-such-folder"], "argument --data-dir: no such folder: 'no-such-folder'"),
    (["evaluate", "missing.npz"], "no such model file: missing.npz"),
    (["evaluate", "notes.txt"], "notes.txt is not a readable chainrule model file"),
    (["evaluate", "{model}", "--dataset", "mnist"], "takes 64 inputs but the mnist data set has "
     "784 features; use a model on the data set it was trained on"),
    (["predict", "notes.txt", "blank.png"], "notes.txt is not a readable chainrule model file"),
    (["predict", "small.npz", "blank.png"], "small.npz takes 10 inputs; predict reads images for "
     "models of 784 inputs (28x28, as MNIST) or 64 (8x8, as digits)"),
    (["predict", "{model}", "notes.txt"], "notes.txt is not an image file Pillow can read (PNG, JPEG, ...)"),
    (["predict", "{model}", "missing.png"], "missing.png: No such file or directory"),
    (["predict", "{model}", "{tmp}"], ": Is a directory"),
    (["predict", "{model}", "blank.png"], "blank.png holds no ink: no pixel is 0.02 or more darker "
     "than the background (grey level 1.00, 0 black, 1 white)"),
    (["predict", "{model}", "thin.png"], "thin.png is 6x40 pixels; it must be at least 8x8"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, files, args, message):
    result = run(*[files.get(arg, arg) for arg in args], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chainrule: error: ") and message in lines[0]


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_during_training_saves_what_was_trained_and_exits_130(tmp_path):
    process = subprocess.Popen(command("train", "--epochs", 100000), cwd=tmp_path, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        seen, deadline = b"", time.monotonic() + TIMEOUT
        while b"epoch 3/" not in seen and time.monotonic() < deadline:  # training is under way
            chunk = os.read(process.stderr.fileno(), 4096)
            if not chunk:
                break
            seen += chunk
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stdout == b""
    assert b"Traceback" not in seen + stderr
    last = (seen + stderr).decode().splitlines()[-1]
    match = re.fullmatch(r"chainrule: interrupted after (\d+) complete epochs; saved model.npz", last)
    assert match and int(match.group(1)) >= 2, last
    model = chainrule.load(tmp_path / "model.npz")  # whole weights, the epochs in its history
    assert len(model.history.epoch) == int(match.group(1))
    (_, _), (X_test, y_test) = datasets.load("digits")
    assert model.evaluate(X_test, y_test)["accuracy"] > 0.9


def test_checkpoint_then_resume_equals_one_uninterrupted_run(tmp_path):
    """A constant rate: a run of 3 epochs continued to 6 is a run of 6 (with the default
    cosine schedule, which spans the first run's epochs, the next test's refusal holds)."""
    common = ("--epochs", 6, "--batch-size", 64, "--validation-split", 0.1, "--dropout", 0.1, "--quiet",
              "--schedule", "constant")
    succeeded(run("train", *common, "--output", "straight.npz", cwd=tmp_path))
    first = ("train", "--epochs", 3, "--batch-size", 64, "--validation-split", 0.1, "--dropout", 0.1,
             "--quiet", "--checkpoint", "ck.npz", "--output", "half.npz", "--schedule", "constant")
    succeeded(run(*first, cwd=tmp_path))
    out = succeeded(run("train", "--resume", "ck.npz", "--epochs", 6, "--quiet", "--output", "resumed.npz",
                        cwd=tmp_path))
    assert "training: 6 epochs" in out
    straight, resumed = chainrule.load(tmp_path / "straight.npz"), chainrule.load(tmp_path / "resumed.npz")
    for a, b in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert a.tobytes() == b.tobytes()
    assert straight.history.history == resumed.history.history


def test_resuming_past_the_end_of_the_schedule_is_refused(tmp_path):
    """The default cosine schedule spans the first run's 3 epochs: 6 would train 3 epochs
    at rate 0. Refused with one line; the run's own length (or less) resumes."""
    succeeded(run("train", "--epochs", 3, "--quiet", "--checkpoint", "ck.npz", "--output", "half.npz",
                  cwd=tmp_path))
    result = run("train", "--resume", "ck.npz", "--epochs", 6, "--quiet", "--output", "more.npz", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("chainrule: error: --epochs 6 goes past the end of the run's learning-rate "
                             "schedule (CosineDecay, 135 steps, about 3 epochs), after which it would "
                             "train at its final rate (0); resume with --epochs 3 at most, or start a "
                             "new run with more --epochs\n")
    assert not (tmp_path / "more.npz").exists()
    assert "training: 3 epochs" in succeeded(run("train", "--resume", "ck.npz", "--epochs", 3, "--quiet",
                                                 "--output", "same.npz", cwd=tmp_path))


def test_a_resumed_run_keeps_its_schedule_and_early_stopping_takes_its_split(tmp_path):
    """The schedule is the first run's (spanning its --epochs), kept in the checkpoint; the
    validation split too, which --early-stopping then watches without --validation-split.
    The first run is one of 4 epochs stopped after 2 (its checkpoint made as train makes it)."""
    from chainrule.recipes import Recipe

    recipe = Recipe(schedule="onecycle", warmup_epochs=1, batch_size=64, validation_split=0.1,
                    weight_decay=1e-3, clip_norm=2, epochs=4)
    (X, y), _ = datasets.load("digits")
    model, optimizer = recipe.build_model(64, 10), recipe.build_optimizer(len(X))
    planned = repr(optimizer)
    model.fit(X, y, optimizer=optimizer, **{**recipe.fit_arguments(), "epochs": 2}, checkpoint=tmp_path / "ck.npz")
    out = succeeded(run("train", "--resume", "ck.npz", "--epochs", 4, "--early-stopping", 3, "--quiet",
                        "--output", "resumed.npz", cwd=tmp_path))
    assert line(out, "training").split(" of ", 1)[1] == f"{planned}, batch size 64, seed 0"
    assert "Warmup(learning_rate=OneCycle(" in line(out, "training")
    assert line(out, "early stopping").startswith("early stopping: kept the weights of epoch ")


def test_resume_from_a_model_file_is_a_one_line_error(tmp_path):
    succeeded(run("train", "--epochs", 1, "--quiet", "--output", "m.npz", cwd=tmp_path))
    result = run("train", "--resume", "m.npz", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "is a model file, not a checkpoint" in result.stderr


def test_explain_prints_the_chain_for_a_weight_and_the_nudges(digits_run, tmp_path):
    model_path, _, _ = digits_run
    out = succeeded(run("explain", model_path, "--example", 5, "--weight", "2:3,4", "--nudges",
                        "--png", "n.png", cwd=tmp_path))
    model = chainrule.load(model_path)
    (_, _), (X_test, y_test) = datasets.load("digits")
    assert out.startswith(f"example 5 of the digits test set: label {y_test[5]}")
    assert "dL/dw_{jk}^{(l)} with l = 2, j = 3, k = 4" in out
    from chainrule import explain

    expected = explain.chain(model, X_test[5], y_test[5], layer=2, j=3, k=4)
    assert f"{expected.backprop:+.12e}" in out
    assert "increase the right digit" in out and "saliency image: n.png" in out
    with Image.open(tmp_path / "n.png") as image:
        assert image.width > 100 and image.height > 50


@pytest.mark.parametrize("args, message", [
    (("--weight", "2:x"), "must be L:J,K for the weight"),
    (("--example", 99999), "--example must be in [0, 358]"),
    (("--weight", "9:0,0"), "layer"),
])
def test_explain_errors_are_one_line(digits_run, tmp_path, args, message):
    result = run("explain", digits_run[0], *args, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_log_json_writes_one_line_per_epoch(tmp_path):
    import json

    succeeded(run("train", "--epochs", 3, "--quiet", "--log-json", "log.jsonl", cwd=tmp_path))
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "time", "learning_rate"} <= set(rows[0])
    history = chainrule.load(tmp_path / "model.npz").history
    assert [r["loss"] for r in rows] == history["loss"]


def test_report_writes_html_and_pngs(digits_run, tmp_path):
    out = succeeded(run("report", digits_run[0], "--output-dir", "rep", cwd=tmp_path))
    assert f"report: rep{os.sep}report.html" in out
    html = (tmp_path / "rep" / "report.html").read_text()
    pngs = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert {"confusion.png", "curves.png", "per_class.png", "weights.png"} <= set(pngs)
    assert html.count("data:image/png;base64,") == len(pngs)


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`chainrule ... | head -1`: the pipe is closed while the command still prints (here
    before it prints anything, so that no write can get through); it ends with 141
    (128 + SIGPIPE, as a shell reports it), with no "Broken pipe" and no traceback."""
    succeeded(run("train", "--quiet", "--epochs", "1", "--output", tmp_path / "m.npz", cwd=tmp_path))
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    proc = subprocess.Popen(command("explain", tmp_path / "m.npz", "--nudges", "--png", tmp_path / "n.png"),
                            cwd=tmp_path, env=environment(), stdout=write, stderr=subprocess.PIPE, text=True)
    os.close(write)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 141 and stderr == ""


def test_lr_find_prints_a_suggestion_and_draws_the_curve(tmp_path):
    out = succeeded(run("lr-find", "--steps", 120, "--png", "curve.png", cwd=tmp_path))
    assert line(out, "dataset") == "dataset: digits (1,438 training examples)"
    suggestion = re.search(r"^suggested learning rate: ([0-9.e-]+) \(confidence (high|low): ", out, re.MULTILINE)
    assert suggestion, out
    assert 1e-4 < float(suggestion.group(1)) < 1.0
    assert line(out, "curve") == "curve: curve.png"
    with Image.open(tmp_path / "curve.png") as image:
        assert image.size == (600, 400)
    # the suggestion trains: 20 epochs of the default network at that rate
    trained = succeeded(run("train", "--lr", suggestion.group(1), "--quiet", "--output", "m.npz", cwd=tmp_path))
    assert reported(trained, "test accuracy") >= 95


@pytest.mark.parametrize("args, message", [
    (["--start-lr", "1", "--end-lr", "0.5"], "--end-lr must be above --start-lr (1); received 0.5"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum applies to sgd and rmsprop; adam has none"),
    (["--png", "missing/curve.png"], "--png must be a file in an existing folder; received 'missing/curve.png'"),
    (["--steps", "0"], "argument --steps: must be a positive integer; received '0'"),
])
def test_lr_find_refuses_bad_options_with_one_line(tmp_path, args, message):
    result = run("lr-find", *args, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr
