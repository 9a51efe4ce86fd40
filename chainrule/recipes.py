"""One settings object for a training run: the network, its optimizer and the loop's settings.

A ``Recipe`` holds what ``chainrule train`` takes as options, what a sweep's grid varies and
what the web page's Train tab sends, so that all three build their networks and optimizers
the same way::

    recipe = Recipe.from_mapping({"hidden": (32,), "optimizer": "adam", "epochs": 5})
    model = recipe.build_model(n_features=64, n_classes=10)
    model.fit(X, y, optimizer=recipe.build_optimizer(len(X)), callbacks=recipe.build_callbacks(),
              **recipe.fit_arguments())

The choices and defaults are defined here once; the faces take them from here. Every value
is checked when a Recipe is made (``Recipe(...)``, ``from_mapping`` or
``dataclasses.replace``), with chainrule's one message format: ``batch_size must be a
positive integer; received batch_size=0``.
"""

import dataclasses
import math
from collections.abc import Mapping

from . import optimizers, schedules
from .callbacks import EarlyStopping
from ._checks import fail, is_integer, non_negative_int, number, one_of, positive_int, positive_number
from .data import DTYPES
from .errors import InputError
from .layers import Dense, Dropout
from .network import Sequential

HIDDEN_ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu")
# The output layer of each loss: softmax with cross-entropy; sigmoid outputs with the
# log-loss, and with the quadratic cost as in Nielsen's book.
OUTPUT_ACTIVATIONS = {"cross_entropy": "softmax", "log_loss": "sigmoid", "mse": "sigmoid"}
LOSSES = tuple(OUTPUT_ACTIVATIONS)
OPTIMIZERS = tuple(optimizers.OPTIMIZERS)  # sgd, adam, adamw, rmsprop
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")  # the optimizers that take a momentum
SCHEDULES = ("constant", "cosine", "onecycle")
# SGD's learning rate when lr is None (the library's 0.01 is slow here), decayed to 0 by the
# default cosine schedule. Measured with `chainrule train --dataset NAME --seed S` (20 epochs,
# batch 32, 128-64 ReLU, momentum 0.9; seeds 0/1/2): 0.05 + cosine reaches 96.9/96.1/97.2% on
# digits, 98.3/98.3/98.3% on MNIST and 88.3/88.7/88.5% on Fashion-MNIST, where the earlier
# 0.1 without a schedule collapsed to 10% on both of the 28x28 sets (loss rising every
# epoch). The quadratic cost's larger gradients need 0.01 (0.02 gives 77% on digits, more
# lets its ReLUs die). The other optimizers keep their own default.
SGD_LEARNING_RATES = {"cross_entropy": 0.05, "log_loss": 0.05, "mse": 0.01}
SGD_MOMENTUM = 0.9  # SGD's momentum when momentum is None


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The settings of one training run, checked when it is made.

    Attributes:
        hidden: the sizes of the hidden layers, a tuple of positive integers (() for none).
        activation: the hidden layers' activation, one of HIDDEN_ACTIVATIONS.
        loss: one of LOSSES; it decides the output activation (OUTPUT_ACTIVATIONS).
        optimizer: one of OPTIMIZERS.
        lr: the learning rate, a positive number, or None for SGD_LEARNING_RATES[loss]
            with sgd and the optimizer's own default with the others.
        momentum: a number in [0, 1) for sgd or rmsprop, or None for SGD_MOMENTUM with sgd
            and the optimizer's own default with rmsprop; the others take none.
        schedule: "constant"; "cosine": the rate decays from lr to 0 over the run; "onecycle":
            PyTorch's one-cycle policy (OneCycle, its defaults) with lr as its peak, over the run.
        batch_size, epochs: positive integers; seed: a non-negative integer (the initial
            weights, the shuffling and dropout).
        dtype: "float32" or "float64".
        dropout: the share of each hidden layer's outputs dropped in training, in [0, 1).
        validation_split: the share of the training data held out, in [0, 1).
        warmup_epochs: epochs of linear warm-up from 0 to the schedule's first rate (Warmup),
            a non-negative integer below epochs; the schedule then spans the epochs after it.
        early_stopping: None, or the patience of an EarlyStopping on val_loss that keeps the
            best epoch's weights (a non-negative integer; needs validation_split > 0).
        weight_decay: a number >= 0 given to the optimizer (decoupled for adamw, the L2
            gradient for the others), or None for the optimizer's own default (0.01 for
            adamw, 0 for the others).
        clip_norm: the optimizer's clip_norm (a positive number), or None for no clipping.
    """

    hidden: tuple = (128, 64)
    activation: str = "relu"
    loss: str = "cross_entropy"
    optimizer: str = "sgd"
    lr: float = None
    momentum: float = None
    schedule: str = "cosine"
    batch_size: int = 32
    epochs: int = 20
    seed: int = 0
    dtype: str = "float32"
    dropout: float = 0.0
    validation_split: float = 0.0
    warmup_epochs: int = 0
    early_stopping: int = None
    weight_decay: float = None
    clip_norm: float = None

    def __post_init__(self):
        clean = {
            "hidden": _hidden_sizes(self.hidden),
            "activation": one_of("activation", self.activation, HIDDEN_ACTIVATIONS),
            "loss": one_of("loss", self.loss, LOSSES),
            "optimizer": one_of("optimizer", self.optimizer, OPTIMIZERS),
            "lr": positive_number("lr", self.lr, allow_none=True),
            "momentum": number("momentum", self.momentum, 0, 1, high_open=True, allow_none=True),
            "schedule": one_of("schedule", self.schedule, SCHEDULES),
            "batch_size": positive_int("batch_size", self.batch_size),
            "epochs": positive_int("epochs", self.epochs),
            "seed": non_negative_int("seed", self.seed),
            "dtype": one_of("dtype", self.dtype, DTYPES),
            "dropout": number("dropout", self.dropout, 0, 1, high_open=True),
            "validation_split": number("validation_split", self.validation_split, 0, 1, high_open=True),
            "warmup_epochs": non_negative_int("warmup_epochs", self.warmup_epochs),
            "early_stopping": None if self.early_stopping is None
            else non_negative_int("early_stopping", self.early_stopping),
            "weight_decay": number("weight_decay", self.weight_decay, 0, allow_none=True),
            "clip_norm": positive_number("clip_norm", self.clip_norm, allow_none=True),
        }
        if clean["warmup_epochs"] >= clean["epochs"]:
            fail("warmup_epochs", f"a non-negative integer below epochs={clean['epochs']} (the warm-up "
                 "is part of the run)", self.warmup_epochs)
        if clean["early_stopping"] is not None and clean["validation_split"] == 0:
            fail("early_stopping", "None when validation_split=0 (early stopping watches val_loss, "
                 "which needs a validation split)", self.early_stopping)
        if clean["momentum"] is not None and clean["optimizer"] not in MOMENTUM_OPTIMIZERS:
            fail("momentum", f"None with optimizer={clean['optimizer']!r} (momentum applies to "
                 f"{' and '.join(MOMENTUM_OPTIMIZERS)}; {clean['optimizer']}'s beta_1 plays that part)",
                 self.momentum)
        for name, value in clean.items():  # frozen: the checked values replace the given ones
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, mapping):
        """The Recipe of ``mapping`` ({setting: value}; the settings left out keep their
        defaults). A key that is not a setting raises InputError naming the settings."""
        if not isinstance(mapping, Mapping):
            fail("mapping", "a mapping of settings to values, such as a dict", mapping)
        for key in mapping:
            if key not in FIELDS:
                fail("setting", f"one of {', '.join(FIELDS)}", key)
        return cls(**mapping)

    def build_model(self, n_features, n_classes):
        """The classifier Sequential: n_features inputs, the hidden Dense layers (each
        followed by a Dropout when dropout > 0), and n_classes outputs."""
        sizes = [positive_int("n_features", n_features), *self.hidden]
        layers = []
        for n_in, n_out in zip(sizes, sizes[1:]):
            layers.append(Dense(n_in, n_out, activation=self.activation))
            if self.dropout > 0:
                layers.append(Dropout(self.dropout))
        layers.append(Dense(sizes[-1], positive_int("n_classes", n_classes),
                            activation=OUTPUT_ACTIVATIONS[self.loss]))
        return Sequential(layers, loss=self.loss, seed=self.seed, dtype=self.dtype, classifier=True)

    def build_optimizer(self, n_train):
        """The optimizer of the run on ``n_train`` training examples (before the validation
        split). The run has epochs * ceil(n_fit / batch_size) steps, n_fit the examples left
        after the split; a warm-up takes the first warmup_epochs of them (Warmup), and a
        cosine (to 0) or one-cycle schedule spans the rest."""
        n_train = positive_int("n_train", n_train)
        settings = {}
        if self.lr is not None:
            settings["learning_rate"] = self.lr
        elif self.optimizer == "sgd":
            settings["learning_rate"] = SGD_LEARNING_RATES[self.loss]
        if self.schedule != "constant" or self.warmup_epochs:
            lr = settings.get("learning_rate", optimizers.OPTIMIZERS[self.optimizer]().learning_rate)
            n_fit = n_train - round(self.validation_split * n_train)
            per_epoch = math.ceil(n_fit / self.batch_size)
            steps = (self.epochs - self.warmup_epochs) * per_epoch
            if self.schedule == "cosine":
                lr = optimizers.CosineDecay(lr, decay_steps=steps)
            elif self.schedule == "onecycle":
                lr = optimizers.OneCycle(lr, total_steps=steps)
            if self.warmup_epochs:
                lr = optimizers.Warmup(lr, warmup_steps=self.warmup_epochs * per_epoch)
            settings["learning_rate"] = lr
        if self.momentum is not None:
            settings["momentum"] = self.momentum
        elif self.optimizer == "sgd":
            settings["momentum"] = SGD_MOMENTUM
        for name in ("weight_decay", "clip_norm"):
            if getattr(self, name) is not None:
                settings[name] = getattr(self, name)
        return optimizers.OPTIMIZERS[self.optimizer](**settings)

    def build_callbacks(self):
        """The callbacks the recipe adds to fit: an EarlyStopping on val_loss with patience
        early_stopping that keeps the best epoch's weights, or none."""
        if self.early_stopping is None:
            return []
        return [EarlyStopping(monitor="val_loss", patience=self.early_stopping, restore_best_weights=True)]

    def check_resume_reaches(self, optimizer, n_train):
        """Refuse to continue a run (``optimizer`` from its checkpoint) past the end of its
        learning-rate schedule: the epochs after it would train at the schedule's final rate
        (0 for the default cosine decay). ``epochs`` is the run's new total."""
        spans = schedules.schedule_steps(optimizer.learning_rate)
        if spans is None:
            return
        per_epoch = math.ceil((n_train - round(self.validation_split * n_train)) / self.batch_size)
        if self.epochs * per_epoch > spans + per_epoch - 1:
            raise InputError(
                f"--epochs {self.epochs} goes past the end of the run's learning-rate schedule "
                f"({type(optimizer.learning_rate).__name__}, {spans:g} steps, about {spans / per_epoch:g} "
                f"epochs), after which it would train at its final rate "
                f"({optimizer.learning_rate(10**12):g}); resume with --epochs {math.ceil(spans / per_epoch)} at "
                "most, or start a new run with more --epochs")

    def fit_arguments(self):
        """The arguments of ``fit`` the recipe sets: epochs, batch_size, validation_split."""
        return {"epochs": self.epochs, "batch_size": self.batch_size,
                "validation_split": self.validation_split}


FIELDS = tuple(field.name for field in dataclasses.fields(Recipe))


def kept_epoch(history, callbacks):
    """The position in ``history`` of the epoch whose weights the network ended with after
    fit with ``callbacks``: an EarlyStopping's best epoch when it restored one, else -1."""
    for cb in callbacks:
        if isinstance(cb, EarlyStopping) and cb.restore_best_weights and cb.best_epoch is not None:
            return history.epoch.index(cb.best_epoch)
    return -1


def _hidden_sizes(value):
    """``value`` (a tuple or list of layer sizes) as a tuple of ints."""
    if not isinstance(value, (tuple, list)) or not all(is_integer(n) and n >= 1 for n in value):
        fail("hidden", "a tuple of positive integers, the hidden layer sizes (() for none)", value)
    return tuple(int(n) for n in value)


def describe(model):
    """A Sequential in one line: '64 -> 128 relu -> 10 softmax; loss cross_entropy;
    9,610 parameters (float32)'."""
    parts = [str(model.n_features)]
    for layer in model.layers:
        if isinstance(layer, Dense):
            parts.append(f"{layer.out_features} {layer.activation.name}")
        else:
            parts.append(f"dropout {layer.rate:g}")
    return (f"{' -> '.join(parts)}; loss {model.loss.name}; "
            f"{model.n_parameters():,} parameters ({model.dtype})")
