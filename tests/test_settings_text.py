"""chainrule.settings_text: a run's settings read from text, worded as the command line words them."""

import re

import pytest

from chainrule import recipes, settings_text
from chainrule.errors import InputError


@pytest.mark.parametrize("key, text, value", [
    ("hidden", "128,64", (128, 64)), ("hidden", "", ()), ("hidden", "0", ()), ("hidden", " 7 ", (7,)),
    ("lr", "0.05", 0.05), ("lr", "1e-3", 0.001), ("momentum", "0", 0.0), ("dropout", "0.5", 0.5),
    ("batch_size", "33", 33), ("epochs", "1", 1), ("seed", "0", 0), ("optimizer", "adam", "adam"),
    ("dtype", "float64", "float64"), ("dataset", "digits", "digits"), ("data_dir", ".", "."),
    ("schedule", "onecycle", "onecycle"), ("warmup_epochs", "0", 0), ("warmup_epochs", "3", 3),
    ("early_stopping", "5", 5), ("weight_decay", "0", 0.0), ("weight_decay", "1e-4", 1e-4),
    ("clip_norm", "1.5", 1.5),
])
def test_read(key, text, value):
    assert settings_text.read(key, text) == value


@pytest.mark.parametrize("key, text, message", [
    ("lr", "-1", "must be a positive number; received '-1'"),
    ("lr", "fast", "must be a number; received 'fast'"),
    ("lr", "inf", "must be a finite number; received 'inf'"),
    ("momentum", "1", "must be a number in [0, 1); received '1'"),
    ("epochs", "2.5", "must be a positive integer; received '2.5'"),
    ("batch_size", "0", "must be a positive integer; received '0'"),
    ("seed", "-3", "must be a non-negative integer; received '-3'"),
    ("hidden", "128,x", "must be positive layer sizes separated by commas, such as 128,64 "
     "(or '' for no hidden layer); received '128,x'"),
    ("optimizer", "sgdd", "invalid choice: 'sgdd' (choose from 'sgd', 'adam', 'adamw', 'rmsprop')"),
    ("data_dir", "no-such-folder", "no such folder: 'no-such-folder'"),
    ("schedule", "one-cycle", "invalid choice: 'one-cycle' (choose from 'constant', 'cosine', 'onecycle')"),
    ("warmup_epochs", "-1", "must be a non-negative integer; received '-1'"),
    ("early_stopping", "2.5", "must be a non-negative integer; received '2.5'"),
    ("weight_decay", "-0.1", "must be a number in [0, inf); received '-0.1'"),
    ("weight_decay", "nan", "must be a finite number; received 'nan'"),
    ("clip_norm", "0", "must be a positive number; received '0'"),
])
def test_refusals_show_the_text(key, text, message):
    with pytest.raises(InputError, match=re.escape(message) + "$"):
        settings_text.read(key, text)


def test_every_recipe_field_can_be_read():
    assert set(recipes.FIELDS) <= set(settings_text.READERS)
    assert set(settings_text.READERS) - set(recipes.FIELDS) == {"dataset", "data_dir"}
