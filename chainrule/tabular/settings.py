"""The settings of a TabularModel: chainrule train's options, with defaults for tables.

The defaults were measured on real tables (docs/howto-own-data.md gives the numbers): Adam
at a learning rate of 1e-3, two hidden ReLU layers of 64 and 32, mini-batches of 32, up to
200 epochs with early stopping (patience 20) on a 0.2 validation split, and scikit-learn's
L2 penalty alpha = 1e-4.
"""

from .._checks import non_negative_int, number
from ..recipes import Recipe

DEFAULTS = {"hidden": (64, 32), "activation": "relu", "optimizer": "adam", "lr": 1e-3, "momentum": None,
            "schedule": "constant", "batch_size": 32, "epochs": 200, "seed": 0, "dtype": "float32",
            "dropout": 0.0, "validation_split": 0.2, "patience": 20, "alpha": 1e-4}
SETTINGS = tuple(DEFAULTS)
TABLE_ONLY = ("patience", "alpha")  # the settings a Recipe does not hold


def recipe(settings, loss):
    """The checked Recipe of ``settings`` ({name: value} of SETTINGS) with ``loss``;
    patience and alpha are checked too. InputError names a bad value."""
    non_negative_int("patience", settings["patience"])
    number("alpha", settings["alpha"], 0.0)
    return Recipe(**{k: v for k, v in settings.items() if k not in TABLE_ONLY}, loss=loss)
