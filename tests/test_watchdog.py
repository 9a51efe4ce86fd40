"""The Watchdog on real runs provoked by real settings, each of its messages pinned; and
silence on healthy default runs (no false alarms)."""

import re
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import datasets
from chainrule.cli.bundled import auto_lr
from chainrule.recipes import Recipe
from chainrule.watchdog import at_chance, chance_level, global_norm

LR_ADVICE = "find one with `chainrule lr-find` (model.lr_find in Python)"


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def watched(X, y, validation_split=0.0, **settings):
    """(model, warnings as History records, History) of a digits-shaped run of the Recipe."""
    recipe = Recipe.from_mapping({"validation_split": validation_split, **settings})
    model = recipe.build_model(X.shape[1], 10)
    seen = []
    history = model.fit(X, y, optimizer=recipe.build_optimizer(len(X)),
                        callbacks=[cr.Watchdog(on_warning=seen.append)], **recipe.fit_arguments())
    return model, seen, history


def by_kind(seen):
    return {w["kind"]: w for w in seen}


def test_a_weight_explosion_names_the_growth_and_the_learning_rate(digits):
    (X, y), _ = digits
    model, seen, history = watched(X, y, lr=5.0, schedule="constant", epochs=4)
    w = by_kind(seen)["weights"]
    assert w["epoch"] == 1
    assert re.fullmatch(r"the weights' norm grew [0-9.e+]+ times, from [0-9.]+ at the start to [0-9.e+]+ at "
                        r"epoch 1: training is diverging; the learning rate is probably too high \(up to 5\): "
                        r"try 0\.5, a tenth of it, or " + re.escape(LR_ADVICE), w["message"]), w["message"]
    growth = float(re.search(r"grew ([0-9.e+]+) times", w["message"]).group(1))
    assert growth > 1000
    assert history.warnings == seen  # the History records them, in order


def test_an_accuracy_at_chance_names_the_majority_class(digits):
    (X, y), _ = digits
    _, seen, history = watched(X, y, lr=0.5, schedule="constant", epochs=3)
    assert [w["kind"] for w in seen] == ["chance"]
    share, majority = chance_level(y)
    accuracy = history["accuracy"][2]
    assert seen[0]["message"] == (
        f"the training accuracy is at chance level after 3 epochs: {100 * accuracy:.2f}%, where always "
        f"predicting the most common class ({majority}) scores {100 * share:.2f}%; the learning rate is "
        f"probably too high (up to 0.5): try 0.05, a tenth of it, or {LR_ADVICE}")
    assert seen[0]["epoch"] == 3


def test_a_rising_loss_and_a_loss_that_ends_above_its_start(digits):
    (X, y), _ = digits
    _, seen, history = watched(X, y, lr=0.25, schedule="constant", epochs=15)
    kinds = by_kind(seen)
    losses = history["loss"]
    rising = kinds["rising"]
    e = rising["epoch"]  # from 1: the three rises end there
    assert all(losses[i] > losses[i - 1] for i in range(e - 3, e))
    shown = " -> ".join(f"{v:.4g}" for v in losses[e - 4:e])
    assert rising["message"] == (f"the training loss rose for 3 epochs in a row ({shown}, epochs {e - 3} to {e}): "
                                 f"the learning rate is probably too high (up to 0.25): try 0.025, a tenth of it, "
                                 f"or {LR_ADVICE}")
    above = kinds["above_start"]
    assert losses[-1] > losses[0] and above["epoch"] == 15
    assert above["message"] == (f"the training loss ended above its first epoch's ({losses[-1]:.4g} at epoch 15, "
                                f"{losses[0]:.4g} at epoch 1): the learning rate is probably too high (up to 0.25): "
                                f"try 0.025, a tenth of it, or {LR_ADVICE}")


def test_a_loss_that_becomes_infinite_is_reported_as_training_stops(digits):
    (X, y), _ = digits
    with pytest.raises(cr.TrainingDivergedError):
        watched(X, y, lr=1000.0, schedule="constant", epochs=3)
    # the run raised, so its History is the model's
    recipe = Recipe(lr=1000.0, schedule="constant", epochs=3)
    model = recipe.build_model(64, 10)
    seen = []
    with pytest.raises(cr.TrainingDivergedError, match="training diverged at epoch 1"):
        model.fit(X, y, optimizer=recipe.build_optimizer(len(X)), callbacks=[cr.Watchdog(on_warning=seen.append)],
                  **recipe.fit_arguments())
    assert seen == [{"epoch": 1, "kind": "not_finite", "message": (
        "the loss or the weights became NaN or infinite in epoch 1 and training stopped: the learning rate "
        f"is probably too high (up to 1e+03): try 100, a tenth of it, or {LR_ADVICE}")}]
    assert model.history.warnings == seen


def test_unscaled_inputs_are_named_with_their_range(digits):
    (X, y), _ = digits
    _, seen, _ = watched(X * 255, y, epochs=3)
    assert {w["kind"] for w in seen} == {"weights", "chance"}
    cause = ("the inputs are not scaled: X ranges over [0, 255]; scale them to about [0, 1] or [-1, 1] "
             "(divide by the largest |x|, or standardise each column)")
    assert all(w["message"].endswith(cause) for w in seen), seen


def test_shuffled_labels_sit_at_chance_on_the_validation_data(digits):
    (X, y), _ = digits
    shuffled = np.random.default_rng(0).permutation(y)
    _, seen, history = watched(X, shuffled, validation_split=0.2, epochs=3)
    assert [w["kind"] for w in seen] == ["chance"]
    message = seen[0]["message"]
    assert message.startswith(f"the validation accuracy is at chance level after 3 epochs: "
                              f"{100 * history['val_accuracy'][2]:.2f}%, where always predicting the most common class")
    assert message.endswith(
        f"the training loss falls ({history['loss'][0]:.4g} -> {history['loss'][2]:.4g}) but the validation "
        "accuracy stays at chance: the labels may not follow from the inputs (check that each label belongs to "
        "its row: no shuffled or misaligned labels), or the learning rate is too low")


def test_constant_labels_are_named(digits):
    (X, y), _ = digits
    _, seen, _ = watched(X, np.zeros_like(y), epochs=3)
    assert seen == [{"epoch": 3, "kind": "chance", "message": (
        "the training accuracy is at chance level after 3 epochs: 100.00%, where always predicting the most "
        "common class (0) scores 100.00%; every training label is class 0: a classifier needs labels of at "
        "least two classes (check how the labels were read)")}]


def test_without_on_warning_it_warns_a_training_warning_once_per_kind(digits):
    (X, y), _ = digits
    recipe = Recipe(lr=0.5, schedule="constant", epochs=5)
    model = recipe.build_model(64, 10)
    dog = cr.Watchdog()
    with pytest.warns(cr.TrainingWarning) as caught:
        model.fit(X, y, optimizer=recipe.build_optimizer(len(X)), callbacks=[dog], **recipe.fit_arguments())
    chance = [w.message for w in caught if w.message.kind == "chance"]
    assert len(chance) == 1 and chance[0].epoch == 3  # reported once, though at chance for 3 epochs
    assert issubclass(cr.TrainingWarning, UserWarning)
    assert dog.reported == model.history.warnings and str(chance[0]) == dog.reported[0]["message"]


def test_the_warnings_are_saved_with_the_model_and_the_checkpoint(digits, tmp_path):
    (X, y), _ = digits
    recipe = Recipe(lr=0.5, schedule="constant", epochs=3)
    model = recipe.build_model(64, 10)
    model.fit(X, y, optimizer=recipe.build_optimizer(len(X)), checkpoint=tmp_path / "run.npz",
              callbacks=[cr.Watchdog(on_warning=lambda w: None)], **recipe.fit_arguments())
    assert [w["kind"] for w in model.history.warnings] == ["chance"]
    model.save(tmp_path / "m.npz")
    assert cr.load(tmp_path / "m.npz").history.warnings == model.history.warnings
    assert cr.load(tmp_path / "run.npz").history.warnings == model.history.warnings
    # a resumed run keeps them, and does not report the same kind again
    resumed = recipe.build_model(64, 10)
    seen = []
    resumed.fit(X, y, optimizer=recipe.build_optimizer(len(X)), resume=tmp_path / "run.npz", epochs=5,
                batch_size=32, callbacks=[cr.Watchdog(on_warning=seen.append)])
    assert seen == [] and resumed.history.warnings == model.history.warnings


def test_history_from_a_file_drops_malformed_warnings():
    h = cr.History.from_dict({"history": {"loss": [1.0]}, "epoch": [0],
                              "warnings": [{"epoch": 1, "kind": "chance", "message": "m"}, {"epoch": "x"}, 3]})
    assert h.warnings == [{"epoch": 1, "kind": "chance", "message": "m"}]
    assert cr.History.from_dict({"history": {}, "epoch": [], "warnings": "no"}).warnings == []
    assert cr.History.from_dict(h.to_dict()).to_dict() == h.to_dict()


def test_the_chance_rule_and_the_norm():
    assert at_chance(0.12, 0.10) and not at_chance(0.13, 0.10)  # 2 points above chance
    assert at_chance(0.55, 0.5) and not at_chance(0.56, 0.5)    # 1.1 x chance
    assert chance_level(np.array([0, 1, 1, 2])) == (0.5, 1)
    assert global_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0


@pytest.mark.parametrize("name, value, message", [
    ("rising_epochs", 0, "rising_epochs must be a positive integer; received rising_epochs=0"),
    ("chance_epochs", 1.5, "chance_epochs must be a positive integer; received chance_epochs=1.5"),
    ("weight_growth", 1, "weight_growth must be a number in (1, inf); received weight_growth=1"),
    ("input_limit", 0, "input_limit must be a number in (0, inf); received input_limit=0"),
])
def test_bad_settings_are_refused(name, value, message):
    with pytest.raises(cr.InputError, match=re.escape(message)):
        cr.Watchdog(**{name: value})
    with pytest.raises(cr.InputTypeError, match="on_warning must be None or a function; received on_warning=3"):
        cr.Watchdog(on_warning=3)


# --- no false alarms ------------------------------------------------------------------------

def test_the_defaults_on_digits_are_silent(digits):
    (X, y), _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a TrainingWarning would raise
        _, seen, _ = watched(X, y)
        _, seen_val, _ = watched(X, y, validation_split=0.1, lr=0.1, epochs=10)  # the page's defaults
    assert seen == [] and seen_val == []


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_the_defaults_on_mnist_subsets_are_silent(name):
    (X, y), _ = datasets.load(name)
    _, seen, _ = watched(X[:2000], y[:2000], epochs=5)
    assert seen == []


# --- --lr auto: the range test's suggestion trains real data well ------------------------

@pytest.mark.parametrize("name, optimizer, bar", [
    ("mnist", "sgd", 0.85), ("mnist", "adam", 0.85), ("fashion-mnist", "sgd", 0.75), ("fashion-mnist", "adam", 0.75),
])
def test_the_suggested_rate_trains_well(name, optimizer, bar, capsys):
    (X, y), (X_test, y_test) = datasets.load(name)
    X, y, X_test, y_test = X[:5000], y[:5000], X_test[:2000], y_test[:2000]
    recipe = Recipe(optimizer=optimizer, epochs=3)
    model = recipe.build_model(784, 10)
    before = [p.copy() for p in model.parameters()]
    tuned = auto_lr(model, recipe, X, y)
    line = capsys.readouterr().out
    assert re.fullmatch(r"learning rate: [0-9.e-]+, suggested by the range test \(confidence (high|low): .*\)\n",
                        line), line
    assert tuned.lr is not None and f"{tuned.lr:.3g}" in line
    assert all(np.array_equal(p, q) for p, q in zip(model.parameters(), before, strict=True))
    seen = []
    model.fit(X, y, optimizer=tuned.build_optimizer(len(X)), callbacks=[cr.Watchdog(on_warning=seen.append)],
              **tuned.fit_arguments())
    assert model.evaluate(X_test, y_test)["accuracy"] > bar
    assert seen == []
