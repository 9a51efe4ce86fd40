"""``chainrule train``'s watchdog and ``--lr auto``, run as a user runs them (a subprocess):
each warning one line on stderr, exit status 3 for a saved model no better than chance,
--no-watchdog, and silence on healthy runs."""

import csv
import re

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

import chainrule as cr
from test_cli import run

DIVERGING = ("train", "--lr", "5", "--schedule", "constant", "--epochs", "4")


def warning_lines(stderr):
    """The lines 'warning: ...' of stderr (progress bars redraw with carriage returns)."""
    return [part for part in re.split(r"[\r\n]", stderr) if part.startswith("warning: ")]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_a_diverging_run_warns_in_one_line_each_and_exits_3_after_saving(tmp_path):
    result = run(*DIVERGING, "--quiet", "--output", "useless.npz", cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[:2] == warning_lines(result.stderr)  # every line of stderr but the last is a warning
    assert lines[0].startswith("warning: the weights' norm grew ")
    assert lines[1].startswith("warning: the training accuracy is at chance level after 3 epochs: ")
    assert all(line.endswith("the learning rate is probably too high (up to 5): try 0.5, a tenth of it, or find "
                             "one with `chainrule lr-find` (model.lr_find in Python)") for line in lines[:2])
    accuracy = float(re.search(r"^test accuracy: ([0-9.]+)%$", result.stdout, re.M).group(1))
    assert re.fullmatch(rf"chainrule: the model is no better than chance: test accuracy {accuracy:.2f}%, where "
                        r"always predicting the most common class scores [0-9.]+%; saved useless\.npz anyway "
                        r"\(exit status 3\)", lines[2]), lines[2]
    assert len(lines) == 3 and "saved: useless.npz" in result.stdout
    model = cr.load(tmp_path / "useless.npz")  # saved under the requested name
    assert [w["kind"] for w in model.history.warnings] == ["weights", "chance"]
    assert model.history.warnings[0]["message"] == lines[0].removeprefix("warning: ")


def test_the_warning_lines_stay_whole_beside_the_progress_bar(tmp_path):
    result = run(*DIVERGING, "--output", "useless.npz", cwd=tmp_path)
    assert result.returncode == 3
    found = warning_lines(result.stderr)
    assert len(found) == 2 and all(line.endswith("(model.lr_find in Python)") for line in found), found


def test_a_run_that_diverges_is_its_error_line_alone(tmp_path):
    result = run("train", "--lr", "1000", "--schedule", "constant", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("chainrule: error: training diverged at epoch 1, batch ")
    assert len(result.stderr.splitlines()) == 1


def test_no_watchdog_turns_it_off(tmp_path):
    result = run(*DIVERGING, "--quiet", "--no-watchdog", "--output", "useless.npz", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert cr.load(tmp_path / "useless.npz").history.warnings == []


def test_lr_auto_prints_the_suggestion_and_trains_with_it_silently(tmp_path):
    result = run("train", "--lr", "auto", "--quiet", "--output", "auto.npz", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    first = result.stdout.splitlines()[0]
    match = re.fullmatch(r"learning rate: ([0-9.e-]+), suggested by the range test \(confidence (high|low): .*\)",
                         first)
    assert match, first
    assert f"CosineDecay(initial_learning_rate={float(match.group(1)):.3g}" in \
        re.sub(r"initial_learning_rate=([0-9.e-]+)", lambda m: f"initial_learning_rate={float(m.group(1)):.3g}",
               result.stdout)
    assert float(re.search(r"^test accuracy: ([0-9.]+)%$", result.stdout, re.M).group(1)) > 94


@pytest.mark.parametrize("args, message", [
    (("--data", "t.csv", "--target", "y", "--lr", "auto"),
     "chainrule: error: --lr auto applies to --dataset runs only; with --data give a rate (default: 0.001 with "
     "adam), or leave --lr out\n"),
    (("--resume", "run.npz", "--lr", "auto"),
     "chainrule: error: --lr auto chooses the rate of a new run; a resumed run keeps its own (leave --lr out "
     "with --resume)\n"),
    (("--lr", "fast"), None),
])
def test_lr_auto_is_refused_where_it_does_not_apply(tmp_path, args, message):
    write_csv(tmp_path / "t.csv", ["x", "y"], [[i, i % 2] for i in range(20)])
    assert run("train", "--epochs", "1", "--quiet", "--checkpoint", "run.npz", "--output", "m.npz",
               cwd=tmp_path).returncode == 0
    result = run("train", *args, "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    if message is None:
        assert result.stderr.startswith("chainrule: error: argument --lr: ") and len(result.stderr.splitlines()) == 1
    else:
        assert result.stderr == message


def test_a_table_of_noise_exits_3_for_classification_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    write_csv(tmp_path / "noise.csv", ["a", "b", "c", "label", "value"],
              [[*X[i], rng.choice(["yes", "no"]), rng.normal()] for i in range(300)])
    result = run("train", "--data", "noise.csv", "--target", "label", "--quiet", "--output", "label.npz",
                 cwd=tmp_path)
    assert result.returncode == 3 and (tmp_path / "label.npz").is_file()
    accuracy = re.search(r"^validation accuracy: ([0-9.]+%)$", result.stdout, re.M).group(1)
    assert result.stderr.splitlines()[-1].startswith(
        f"chainrule: the model is no better than chance: validation accuracy {accuracy}, where always "
        "predicting the most common class scores ")
    assert [line.startswith("warning: the validation accuracy is at chance level")
            for line in result.stderr.splitlines()[:-1]] == [True]
    result = run("train", "--data", "noise.csv", "--target", "value", "--quiet", "--output", "value.npz",
                 cwd=tmp_path)
    assert result.returncode == 3 and (tmp_path / "value.npz").is_file()
    r2 = re.search(r"^validation R\^2: (-?[0-9.]+)$", result.stdout, re.M).group(1)
    assert float(r2) <= 0
    assert result.stderr.splitlines()[-1] == (f"chainrule: the model is no better than predicting the mean: "
                                              f"validation R^2 {r2}; saved value.npz anyway (exit status 3)")


def test_healthy_tables_and_image_folders_are_silent(tmp_path):
    iris = load_iris(as_frame=True).frame
    iris.to_csv(tmp_path / "iris.csv", index=False)
    diabetes = load_diabetes(as_frame=True).frame
    diabetes.to_csv(tmp_path / "diabetes.csv", index=False)
    for table, target in (("iris.csv", "target"), ("diabetes.csv", "target")):
        result = run("train", "--data", table, "--target", target, "--quiet", cwd=tmp_path)
        assert result.returncode == 0 and result.stderr == "", (table, result.stderr)
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (image, label) in enumerate(zip(digits.images[:400], digits.target[:400], strict=True)):
        folder = tmp_path / "digits" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i}.png")
    result = run("train", "--data", "digits", "--quiet", "--epochs", "30", cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == "", result.stderr
