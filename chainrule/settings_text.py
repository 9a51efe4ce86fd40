"""The settings of a run written as text, as a command-line flag or a sweep's grid gives them.

``read(key, text)`` turns the text of one setting into its value, or raises InputError with
a message that shows the text as it was given (the caller names the setting):

    must be a positive integer; received '2.5'
    must be a number in [0, 1); received '1'
    invalid choice: 'sgdd' (choose from 'sgd', 'adam', 'adamw', 'rmsprop')

The rules are chainrule._checks' (the ones ``Recipe`` applies to values); only the wording
differs. The choices are those of chainrule.recipes and chainrule.datasets.
"""

import math
from pathlib import Path

from . import _checks, recipes
from .datasets import NAMES as DATASETS
from .errors import InputError


def _ruled(text, value, check, *args, **kwargs):
    """``check(name, value, ...)`` (a rule of chainrule._checks), its refusal worded for the text."""
    try:
        return check("value", value, *args, **kwargs)
    except InputError as exc:
        raise InputError(f"must be {exc.allowed}; received {text!r}") from None


def _integer(text):
    try:
        return int(text)
    except ValueError:
        return None  # every integer rule refuses it, in its own words


def _number(text):
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"must be a number; received {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"must be a finite number; received {text!r}")
    return value


def positive_number(text):
    return _ruled(text, _number(text), _checks.positive_number)


def non_negative_number(text):
    """A number in [0, inf)."""
    return _ruled(text, _number(text), _checks.number, 0)


def fraction(text):
    """A number in [0, 1)."""
    return _ruled(text, _number(text), _checks.number, 0, 1, high_open=True)


def positive_integer(text):
    return _ruled(text, _integer(text), _checks.positive_int)


def non_negative_integer(text):
    return _ruled(text, _integer(text), _checks.non_negative_int)


def hidden_sizes(text):
    """'128,64' -> (128, 64); '' or '0' -> () for a network without hidden layers."""
    if text.strip() in ("", "0"):
        return ()
    sizes = tuple(_integer(part) for part in text.split(","))
    if not all(_checks.is_integer(n) and n >= 1 for n in sizes):
        raise InputError("must be positive layer sizes separated by commas, such as 128,64 "
                         f"(or '' for no hidden layer); received {text!r}")
    return sizes


def folder(text):
    """The path of an existing folder, as given."""
    if not Path(text).is_dir():
        raise InputError(f"no such folder: {text!r}")
    return text


def choice(choices):
    """A reader of one of ``choices``, worded as argparse words its own ``choices``."""
    def read(text):
        if text not in choices:
            raise InputError(f"invalid choice: {text!r} (choose from {', '.join(map(repr, choices))})")
        return text
    return read


# Every setting a run's text may give: the fields of a Recipe, and the data set to train on.
READERS = {
    "dataset": choice(DATASETS),
    "data_dir": folder,
    "hidden": hidden_sizes,
    "activation": choice(recipes.HIDDEN_ACTIVATIONS),
    "loss": choice(recipes.LOSSES),
    "optimizer": choice(recipes.OPTIMIZERS),
    "lr": positive_number,
    "momentum": fraction,
    "schedule": choice(recipes.SCHEDULES),
    "batch_size": positive_integer,
    "epochs": positive_integer,
    "seed": non_negative_integer,
    "dropout": fraction,
    "validation_split": fraction,
    "dtype": choice(recipes.DTYPES),
    "warmup_epochs": non_negative_integer,
    "early_stopping": non_negative_integer,
    "weight_decay": non_negative_number,
    "clip_norm": positive_number,
}


def read(key, text):
    """The value of setting ``key`` (a key of READERS) written as ``text``."""
    return READERS[key](text)


def port(text):
    """'8000' -> 8000: a TCP port, 0 for any free one."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise InputError(f"must be an integer in [0, 65535]; received {text!r}")
    return value


def weight(text):
    """'L:J,K' -> (L, J, K) for the weight w_jk of layer L; 'L:J' -> (L, J, None) for the bias b_j."""
    try:
        layer, _, rest = text.partition(":")
        parts = [int(p) for p in rest.split(",")]
        if not rest or len(parts) > 2:
            raise ValueError
        return (int(layer), parts[0], parts[1] if len(parts) == 2 else None)
    except ValueError:
        raise InputError(f"must be L:J,K for the weight from neuron K to neuron J of layer L, or L:J "
                         f"for the bias of neuron J; received {text!r}") from None
