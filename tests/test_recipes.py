"""chainrule.recipes: the one settings object of a run, its checks, and what it builds."""

import dataclasses
import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import optimizers, recipes
from chainrule.recipes import Recipe, describe


def test_the_defaults_are_those_of_chainrule_train():
    assert dataclasses.asdict(Recipe()) == {
        "hidden": (128, 64), "activation": "relu", "loss": "cross_entropy", "optimizer": "sgd",
        "lr": None, "momentum": None, "schedule": "cosine", "batch_size": 32, "epochs": 20,
        "seed": 0, "dtype": "float32", "dropout": 0.0, "validation_split": 0.0, "warmup_epochs": 0,
        "early_stopping": None, "weight_decay": None, "clip_norm": None}
    assert recipes.FIELDS == tuple(dataclasses.asdict(Recipe()))
    assert Recipe.from_mapping({}) == Recipe()


def test_the_choices_are_defined_once():
    assert recipes.LOSSES == tuple(recipes.OUTPUT_ACTIVATIONS) == tuple(recipes.SGD_LEARNING_RATES)
    assert recipes.OPTIMIZERS == tuple(optimizers.OPTIMIZERS)
    assert set(recipes.MOMENTUM_OPTIMIZERS) <= set(recipes.OPTIMIZERS)


def test_numpy_scalars_and_lists_are_taken_as_python_values():
    r = Recipe.from_mapping({"hidden": [np.int64(16), 8], "lr": np.float32(0.5), "momentum": np.float64(0.25),
                             "batch_size": np.int32(10), "epochs": np.uint8(3), "seed": np.int64(4),
                             "dropout": 0, "validation_split": np.float16(0.5)})
    assert r.hidden == (16, 8) and r.lr == 0.5 and r.momentum == 0.25 and r.validation_split == 0.5
    assert (r.batch_size, r.epochs, r.seed, r.dropout) == (10, 3, 4, 0.0)
    assert all(type(v) is int for v in (*r.hidden, r.batch_size, r.epochs, r.seed))
    assert all(type(v) is float for v in (r.lr, r.momentum, r.dropout, r.validation_split))


@pytest.mark.parametrize("settings, message", [
    ({"lrate": 0.1}, "setting must be one of hidden, activation, loss, optimizer, lr, momentum, schedule, "
     "batch_size, epochs, seed, dtype, dropout, validation_split, warmup_epochs, early_stopping, weight_decay, "
     "clip_norm; received setting='lrate'"),
    ({"batch_size": 0}, "batch_size must be a positive integer; received batch_size=0"),
    ({"batch_size": True}, "batch_size must be a positive integer; received batch_size=True"),
    ({"epochs": 2.0}, "epochs must be a positive integer; received epochs=2.0"),
    ({"seed": -1}, "seed must be a non-negative integer; received seed=-1"),
    ({"seed": np.bool_(False)}, "seed must be a non-negative integer; received seed=np.False_"),
    ({"lr": 0}, "lr must be a positive number or None; received lr=0"),
    ({"lr": True}, "lr must be a positive number or None; received lr=True"),
    ({"lr": "0.1"}, "lr must be a positive number or None; received lr='0.1'"),
    ({"lr": math.inf}, "lr must be a positive number or None; received lr=inf"),
    ({"momentum": 1}, "momentum must be a number in [0, 1) or None; received momentum=1"),
    ({"dropout": -0.1}, "dropout must be a number in [0, 1); received dropout=-0.1"),
    ({"validation_split": 1.0}, "validation_split must be a number in [0, 1); received validation_split=1.0"),
    ({"hidden": (64, 0)}, "hidden must be a tuple of positive integers, the hidden layer sizes (() for "
     "none); received hidden=(64, 0)"),
    ({"hidden": (True,)}, "hidden must be a tuple of positive integers, the hidden layer sizes (() for "
     "none); received hidden=(True,)"),
    ({"hidden": "128,64"}, "hidden must be a tuple of positive integers, the hidden layer sizes (() for "
     "none); received hidden='128,64'"),
    ({"activation": "softmax"}, "activation must be one of ['leaky_relu', 'relu', 'sigmoid', 'tanh']; "
     "received activation='softmax'"),
    ({"loss": "hinge"}, "loss must be one of ['cross_entropy', 'log_loss', 'mse']; received loss='hinge'"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of ['adam', 'adamw', 'rmsprop', 'sgd']; "
     "received optimizer='lbfgs'"),
    ({"schedule": "step"}, "schedule must be one of ['constant', 'cosine', 'onecycle']; received schedule='step'"),
    ({"warmup_epochs": -1}, "warmup_epochs must be a non-negative integer; received warmup_epochs=-1"),
    ({"warmup_epochs": 20}, "warmup_epochs must be a non-negative integer below epochs=20 (the warm-up is "
     "part of the run); received warmup_epochs=20"),
    ({"early_stopping": 2.0, "validation_split": 0.2}, "early_stopping must be a non-negative integer; "
     "received early_stopping=2.0"),
    ({"early_stopping": 3}, "early_stopping must be None when validation_split=0 (early stopping watches "
     "val_loss, which needs a validation split); received early_stopping=3"),
    ({"weight_decay": -0.01}, "weight_decay must be a number in [0, inf) or None; received weight_decay=-0.01"),
    ({"weight_decay": "0.1"}, "weight_decay must be a number in [0, inf) or None; received weight_decay='0.1'"),
    ({"clip_norm": 0}, "clip_norm must be a positive number or None; received clip_norm=0"),
    ({"dtype": "float16"}, "dtype must be one of ['float32', 'float64']; received dtype='float16'"),
    ({"optimizer": "adam", "momentum": 0.5}, "momentum must be None with optimizer='adam' (momentum "
     "applies to sgd and rmsprop; adam's beta_1 plays that part); received momentum=0.5"),
])
def test_from_mapping_refuses_with_one_message_format(settings, message):
    with pytest.raises(cr.InputError, match=re.escape(message) + "$"):
        Recipe.from_mapping(settings)


def test_a_mapping_is_required_and_every_recipe_is_checked():
    with pytest.raises(cr.InputError, match=re.escape("mapping must be a mapping of settings to values, "
                                                      "such as a dict; received mapping=[('lr', 0.1)]")):
        Recipe.from_mapping([("lr", 0.1)])
    with pytest.raises(cr.InputError, match="epochs must be a positive integer"):
        Recipe(epochs=0)
    with pytest.raises(cr.InputError, match="batch_size must be a positive integer"):
        dataclasses.replace(Recipe(), batch_size=-2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe().epochs = 3


def test_build_model_follows_the_recipe():
    r = Recipe(hidden=(32, 16), activation="tanh", loss="log_loss", dropout=0.25, seed=3, dtype="float64")
    model = r.build_model(64, 10)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [d.activation.name for d in model.dense_layers] == ["tanh", "tanh", "sigmoid"]
    assert [d.W.shape for d in model.dense_layers] == [(32, 64), (16, 32), (10, 16)]
    assert model.layers[1].rate == 0.25 and model.classifier and model.loss.name == "log_loss"
    assert model.dtype == "float64" and model.n_parameters() == 64 * 32 + 32 + 32 * 16 + 16 + 16 * 10 + 10
    again = r.build_model(64, 10)  # the seed decides the initial weights
    assert all(np.array_equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True))
    assert describe(model) == ("64 -> 32 tanh -> dropout 0.25 -> 16 tanh -> dropout 0.25 -> 10 sigmoid; "
                               "loss log_loss; 2,778 parameters (float64)")


def test_build_model_without_hidden_layers_and_its_checks():
    model = Recipe(hidden=(), loss="mse").build_model(4, 3)
    assert describe(model) == "4 -> 3 sigmoid; loss mse; 15 parameters (float32)"
    with pytest.raises(cr.InputError, match=re.escape("n_classes must be a positive integer; "
                                                      "received n_classes=0")):
        Recipe().build_model(4, 0)
    with pytest.raises(cr.InputError, match=re.escape("n_features must be a positive integer; "
                                                      "received n_features=4.0")):
        Recipe().build_model(4.0, 3)


@pytest.mark.parametrize("settings, kind, lr, momentum", [
    ({}, optimizers.SGD, 0.05, 0.9),                                 # SGD_LEARNING_RATES, SGD_MOMENTUM
    ({"loss": "mse"}, optimizers.SGD, 0.01, 0.9),
    ({"lr": 0.3, "momentum": 0.0}, optimizers.SGD, 0.3, 0.0),
    ({"optimizer": "adam"}, optimizers.Adam, 0.001, None),           # the optimizer's own defaults
    ({"optimizer": "adamw", "lr": 0.02}, optimizers.AdamW, 0.02, None),
    ({"optimizer": "rmsprop"}, optimizers.RMSprop, 0.001, 0.0),
    ({"optimizer": "rmsprop", "momentum": 0.5, "lr": 0.002}, optimizers.RMSprop, 0.002, 0.5),
])
def test_build_optimizer_defaults(settings, kind, lr, momentum):
    """The rate, decayed from lr to 0 by the default cosine schedule (constant on request)."""
    optimizer = Recipe(**settings).build_optimizer(100)
    assert type(optimizer) is kind and isinstance(optimizer.learning_rate, optimizers.CosineDecay)
    assert optimizer.learning_rate.initial_learning_rate == lr and optimizer.current_learning_rate() == lr
    assert Recipe(**settings, schedule="constant").build_optimizer(100).learning_rate == lr
    if momentum is not None:
        assert optimizer.momentum == momentum


@pytest.mark.parametrize("n_train, batch_size, epochs, validation_split, steps", [
    (1438, 32, 20, 0.0, 20 * 45),     # ceil(1438 / 32) = 45 steps an epoch
    (1438, 32, 20, 0.2, 20 * 36),     # 1438 - round(287.6) = 1150 examples fit: 36 steps
    (100, 100, 3, 0.0, 3),
    (101, 100, 3, 0.1, 3 * 1),        # 101 - round(10.1) = 91 examples: one step
])
def test_a_cosine_schedule_spans_the_steps_of_the_run(n_train, batch_size, epochs, validation_split, steps):
    r = Recipe(schedule="cosine", batch_size=batch_size, epochs=epochs, validation_split=validation_split)
    schedule = r.build_optimizer(n_train).learning_rate
    assert isinstance(schedule, optimizers.CosineDecay)
    assert schedule.decay_steps == steps and schedule.initial_learning_rate == 0.05
    adam = Recipe(schedule="cosine", optimizer="adam", lr=None).build_optimizer(n_train).learning_rate
    assert adam.initial_learning_rate == 0.001  # Adam's own default, decayed
    with pytest.raises(cr.InputError, match=re.escape("n_train must be a positive integer; "
                                                      "received n_train=None")):
        r.build_optimizer(None)


def test_fit_arguments_train_as_the_recipe_says():
    r = Recipe(hidden=(8,), epochs=2, batch_size=50, validation_split=0.25)
    assert r.fit_arguments() == {"epochs": 2, "batch_size": 50, "validation_split": 0.25}
    X = np.random.default_rng(0).normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int)
    model = r.build_model(4, 2)
    history = model.fit(X, y, optimizer=r.build_optimizer(len(X)), **r.fit_arguments())
    assert history.epoch == [0, 1] and "val_loss" in history


@pytest.mark.parametrize("schedule", ["constant", "cosine", "onecycle"])
def test_a_warm_up_takes_the_first_epochs_and_the_schedule_the_rest(schedule):
    """1150 examples fit at batch 32: 36 steps an epoch; 2 of 10 epochs warm up (72 steps)."""
    r = Recipe(schedule=schedule, warmup_epochs=2, epochs=10, validation_split=0.2)
    rate = r.build_optimizer(1438).learning_rate
    assert isinstance(rate, optimizers.Warmup) and rate.warmup_steps == 72 and rate.start_factor == 0
    after = {"constant": 0.05, "cosine": optimizers.CosineDecay(0.05, decay_steps=8 * 36),
             "onecycle": optimizers.OneCycle(0.05, total_steps=8 * 36)}[schedule]
    assert repr(rate.learning_rate) == repr(after)
    assert rate(0) == 0.0 and rate(36) == pytest.approx(rate(72) / 2, rel=1e-15)
    adam = Recipe(optimizer="adam", warmup_epochs=1, epochs=2).build_optimizer(64).learning_rate
    assert adam.learning_rate.initial_learning_rate == 0.001 and adam.warmup_steps == 2  # Adam's own
    # rate, warmed up, then decayed by the default cosine schedule


def test_a_one_cycle_schedule_peaks_at_lr_over_the_run():
    schedule = Recipe(schedule="onecycle", lr=0.5, epochs=3, batch_size=10).build_optimizer(100).learning_rate
    assert isinstance(schedule, optimizers.OneCycle)
    assert (schedule.max_lr, schedule.total_steps, schedule.pct_start, schedule.div_factor,
            schedule.final_div_factor, schedule.anneal_strategy, schedule.three_phase) == \
        (0.5, 30, 0.3, 25.0, 1e4, "cos", False)


@pytest.mark.parametrize("optimizer, given, kept", [
    ("sgd", None, 0.0), ("adam", None, 0.0), ("rmsprop", None, 0.0), ("adamw", None, 0.01),
    ("sgd", 0.001, 0.001), ("adamw", 0.0, 0.0), ("adam", 0.1, 0.1),
])
def test_weight_decay_and_clip_norm_reach_the_optimizer(optimizer, given, kept):
    built = Recipe(optimizer=optimizer, weight_decay=given).build_optimizer(100)
    assert built.weight_decay == kept and built.clip_norm is None
    assert Recipe(optimizer=optimizer, clip_norm=np.float32(2)).build_optimizer(100).clip_norm == 2.0


def test_adamw_decouples_and_the_others_add_the_l2_gradient():
    W, b = np.ones((2, 2)), np.ones(2)
    Recipe(optimizer="sgd", momentum=0.0, lr=0.1, weight_decay=0.5).build_optimizer(10).step(
        [W, b], [np.zeros((2, 2)), np.zeros(2)])
    np.testing.assert_allclose(W, 1 - 0.1 * 0.5)  # p <- p - lr (g + wd p)
    W = np.ones((2, 2))
    Recipe(optimizer="adamw", lr=0.1, weight_decay=0.5).build_optimizer(10).step([W], [np.zeros((2, 2))])
    np.testing.assert_allclose(W, 1 - 0.1 * 0.5)  # p <- p (1 - lr wd), then Adam's step on g = 0


def test_early_stopping_is_a_callback_that_keeps_the_best_weights():
    assert Recipe().build_callbacks() == []
    stopper, = Recipe(early_stopping=2, validation_split=0.25).build_callbacks()
    assert isinstance(stopper, cr.EarlyStopping)
    assert (stopper.monitor, stopper.patience, stopper.restore_best_weights) == ("val_loss", 2, True)
    r = Recipe(hidden=(8,), epochs=30, batch_size=10, lr=2.0, validation_split=0.25, early_stopping=0)
    X = np.random.default_rng(0).normal(size=(80, 4))
    y = (X[:, 0] > 0).astype(int)
    model, callbacks = r.build_model(4, 2), r.build_callbacks()
    history = model.fit(X, y, optimizer=r.build_optimizer(len(X)), callbacks=callbacks, **r.fit_arguments())
    kept = recipes.kept_epoch(history, callbacks)
    assert len(history.epoch) < 30 and history["val_loss"][kept] == min(history["val_loss"])
    assert recipes.kept_epoch(history, []) == -1
