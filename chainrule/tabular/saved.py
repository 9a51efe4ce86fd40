"""A TabularModel as one chainrule model file: the network's file, plus what makes raw rows
its inputs.

The file is chainrule.io's format, unchanged (format version 1): the arrays W1, b1, ... and
the ``meta`` JSON of the Sequential, to which this adds

    meta["tabular"]          {"version": 1, "task", "targets", "classes", "settings",
                              "encoder": {"columns": [...]}, "columns" (the schema: every
                              column's type and kind, a reason for each one dropped),
                              "source" (file name, SHA-256, rows), "n_rows_missing_target"}
    tabular.numeric.fill     float64 of shape (n_numeric,): the medians that fill gaps
    tabular.numeric.mean     float64 of shape (n_numeric,)
    tabular.numeric.scale    float64 of shape (n_numeric,): the standard deviations
    tabular.target.center    float64 of shape (1,), regression only: the target's mean
    tabular.target.scale     float64 of shape (1,), regression only: its standard deviation

A file without meta["tabular"] is a plain Sequential's, and loads as before
(chainrule.load dispatches, see chainrule.loading). Reading checks every field of the
document and every array before anything is built: a hostile file raises ModelFormatError.
"""

import math

import numpy as np

from .. import io
from .._checks import is_integer
from ..errors import ChainruleError, ModelFormatError
from ..saving import network_from
from .columns import KINDS, TYPES
from .encode import Encoder
from .settings import SETTINGS, recipe

VERSION = 1
MAX_NAME = 10_000  # characters of a column name or a class label
SCALARS = (str, int, float, bool)


def write(model, path):
    """Save the fitted ``model`` (a TabularModel) to ``path``, atomically."""
    meta = io.model_meta(model.network_)
    encoder_doc, arrays = model.encoder_.to_meta()
    meta["tabular"] = {
        "version": VERSION, "task": model.task_, "targets": model.targets_,
        "classes": model.classes_, "settings": model.settings(), "encoder": encoder_doc,
        "columns": model.columns_, "source": model.source_,
        "n_rows_missing_target": model.n_rows_missing_target_,
    }
    meta["tabular"]["settings"]["hidden"] = list(model.settings()["hidden"])
    if model.task_ == "regression":
        arrays["tabular.target.center"] = np.array([model.target_center_])
        arrays["tabular.target.scale"] = np.array([model.target_scale_])
    arrays.update(io.model_arrays(model.network_))
    arrays["meta"] = io.json_array(meta)
    io.write_npz_atomic(path, arrays)


def read(meta, arrays, path):
    """(document, network, encoder, (target center, scale) or None) from a model file's
    parts (``io.read_npz``), or ModelFormatError naming what is wrong."""
    doc = meta.get("tabular")
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ModelFormatError(f"{path}: 'tabular' must be an object with version {VERSION}")
    task = doc.get("task")
    if task not in ("classification", "regression", "multilabel"):
        raise ModelFormatError(f"{path}: unknown tabular task {task!r}")
    targets, classes = doc.get("targets"), doc.get("classes")
    if not isinstance(targets, list) or not targets or not all(short_text(t) for t in targets):
        raise ModelFormatError(f"{path}: 'targets' must be a non-empty list of column names")
    if task == "regression" and classes is not None:
        raise ModelFormatError(f"{path}: a regression model has no classes")
    if task == "multilabel" and classes != targets:
        raise ModelFormatError(f"{path}: a multi-label model's classes are its target columns")
    if task == "classification" and not (
            isinstance(classes, list) and len(classes) >= 2 and all(scalar(c) for c in classes)
            and len({type(c) for c in classes}) == 1 and classes == sorted(set(classes))):
        raise ModelFormatError(f"{path}: 'classes' must be at least two distinct, sorted labels of one type")
    settings = doc.get("settings")
    if not isinstance(settings, dict) or set(settings) != set(SETTINGS):
        raise ModelFormatError(f"{path}: 'settings' must hold exactly {list(SETTINGS)}")
    if not isinstance(settings["hidden"], list):
        raise ModelFormatError(f"{path}: settings 'hidden' must be a list of layer sizes")
    settings["hidden"] = tuple(settings["hidden"])
    check_schema(doc.get("columns"), path)
    check_source(doc.get("source"), doc.get("n_rows_missing_target"), path)
    network = network_from(meta, {k: v for k, v in arrays.items() if not k.startswith("tabular.")}, path)
    encoder = Encoder.from_meta(doc.get("encoder"), arrays, path)
    expected = {f"tabular.numeric.{k}" for k in ("fill", "mean", "scale")}
    if task == "regression":
        expected |= {"tabular.target.center", "tabular.target.scale"}
    extra = {k for k in arrays if k.startswith("tabular.")} - expected
    if extra:
        raise ModelFormatError(f"{path}: unexpected arrays {sorted(extra)}")
    n_outputs = 1 if task == "regression" else len(classes)
    if network.n_features != encoder.n_features or network.n_outputs != n_outputs:
        raise ModelFormatError(
            f"{path}: the network takes {network.n_features} inputs and gives {network.n_outputs} "
            f"outputs, but the encoder makes {encoder.n_features} and the task needs {n_outputs}")
    try:
        recipe(settings, "cross_entropy")
    except ChainruleError as exc:
        raise ModelFormatError(f"{path}: invalid settings: {exc}") from None
    return doc, network, encoder, target_stats(arrays, task, path)


def target_stats(arrays, task, path):
    if task != "regression":
        return None
    values = []
    for name in ("center", "scale"):
        a = arrays.get(f"tabular.target.{name}")
        if a is None or a.dtype.kind != "f" or a.shape != (1,) or not np.isfinite(a).all():
            raise ModelFormatError(f"{path}: array 'tabular.target.{name}' must be one finite float")
        values.append(float(a[0]))
    if values[1] <= 0:
        raise ModelFormatError(f"{path}: array 'tabular.target.scale' must be positive")
    return tuple(values)


def short_text(value):
    return isinstance(value, str) and len(value) <= MAX_NAME


def scalar(value):
    """Whether ``value`` is a label a model file may hold: a short string, a finite number, a bool."""
    if isinstance(value, str):
        return short_text(value)
    return isinstance(value, SCALARS) and (not isinstance(value, float) or math.isfinite(value))


def check_schema(columns, path):
    """The schema: a list of {"name", "type", "kind"} (and "reason" where dropped)."""
    if not isinstance(columns, list) or not all(
            isinstance(c, dict) and short_text(c.get("name")) and c.get("type") in TYPES
            and c.get("kind") in KINDS and (c["kind"] != "dropped" or short_text(c.get("reason")))
            for c in columns):
        raise ModelFormatError(f"{path}: 'columns' must list each column's name, type, kind "
                               f"(and a reason where it is dropped)")


def check_source(source, n_missing, path):
    """Where the data came from: a flat object of short strings and non-negative integers."""
    if not isinstance(source, dict) or not all(
            short_text(k) and (short_text(v) or (is_integer(v) and v >= 0)) for k, v in source.items()) \
            or not is_integer(n_missing) or n_missing < 0:
        raise ModelFormatError(f"{path}: 'source' must be an object of names and row counts")
