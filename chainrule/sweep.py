"""Hyperparameter sweeps: ``chainrule sweep GRID.toml`` trains every combination of a grid.

A grid file holds the settings every configuration shares at its top level and, in a
``[grid]`` table, a list of values for each setting to vary::

    dataset = "digits"
    epochs = 10
    validation_split = 0.2

    [grid]
    hidden = ["64", "128,64"]
    lr = [0.05, 0.1]
    optimizer = ["sgd", "adam"]

The settings are the options of ``chainrule train`` (``batch_size`` for ``--batch-size``),
read by the same rules (chainrule.settings_text), so a value is allowed in a grid exactly
when it is allowed on the command line; every configuration is a chainrule.recipes.Recipe,
built as the command line builds its own. Each one is trained with a validation split
(0.2 unless the grid says otherwise), scored by its validation accuracy, and evaluated on
the test set.

The configurations are independent, so they are dealt out whole, one per worker at a
time: to the ranks of an MPI job (round-robin, results gathered on rank 0), or to a pool
of processes on one machine. Each worker saves its model; the best one is kept as
``best.npz``.
"""

import csv
import itertools
import json
import os
import time
from pathlib import Path

from . import datasets, recipes, settings_text
from .errors import InputError, TrainingDivergedError
from .recipes import Recipe

# The settings of `chainrule train` a grid may hold: the data set and the fields of a Recipe
# (the others: output, checkpoint, ... are the sweep's business).
SETTINGS = tuple(settings_text.READERS)
DEFAULT_DATASET = "digits"  # as for chainrule train
DEFAULT_VALIDATION_SPLIT = 0.2


def _toml():
    try:
        import tomllib  # Python 3.11+
    except ImportError:
        import tomli as tomllib  # the backport, a dependency on Python 3.10
    return tomllib


def _flag_value(path, key, value):
    """A TOML value as the text of its command-line flag."""
    if key == "hidden" and isinstance(value, list) and all(isinstance(v, int) for v in value):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{path}: {key} must be a string or a number; received {key} = {value!r}")
    return str(value)


def _read(path, key, text):
    """The value of setting ``key`` written as ``text``, as the command line reads its flag."""
    try:
        return settings_text.read(key, text)
    except InputError as exc:
        raise InputError(f"{path}: {key} = {text!r}: {exc}") from None


def recipe_of(settings, path="grid"):
    """(dataset, data_dir, Recipe) of one configuration, ``settings`` ({setting: flag text})."""
    values = {key: _read(path, key, text) for key, text in settings.items()}
    dataset, data_dir = values.pop("dataset", DEFAULT_DATASET), values.pop("data_dir", None)
    try:
        return dataset, data_dir, Recipe.from_mapping(values)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_grid(path):
    """(fixed, grid) from a grid file: {setting: flag text} and {setting: [flag text, ...]}.
    Unknown settings, empty lists and values the command line refuses raise InputError."""
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    grid = document.pop("grid", {})
    if not isinstance(grid, dict):
        raise InputError(f"{path}: grid must be a table, [grid]; received grid = {grid!r}")
    for key in [*document, *grid]:
        if key not in SETTINGS:
            raise InputError(f"{path}: unknown setting {key!r}; allowed: {', '.join(SETTINGS)}")
        if key in document and key in grid:
            raise InputError(f"{path}: {key} is both fixed and in [grid]; give it once")
    fixed = {key: _flag_value(path, key, value) for key, value in document.items()}
    values = {}
    for key, options in grid.items():
        if not isinstance(options, list) or not options:
            raise InputError(f"{path}: grid.{key} must be a non-empty list of values; "
                             f"received {key} = {options!r}")
        values[key] = [_flag_value(path, key, v) for v in options]
    for key, options in {**{k: [v] for k, v in fixed.items()}, **values}.items():
        for text in options:
            _read(path, key, text)
    split = fixed.get("validation_split", str(DEFAULT_VALIDATION_SPLIT))
    if float(split) == 0 or any(float(v) == 0 for v in values.get("validation_split", ())):
        raise InputError(f"{path}: validation_split must be above 0 in a sweep, which scores "
                         "configurations by their validation accuracy; received 0")
    fixed.setdefault("validation_split", str(DEFAULT_VALIDATION_SPLIT))
    for settings in configurations(fixed, values):  # the settings that clash (momentum with adam)
        recipe_of(settings, path)
    return fixed, values


def configurations(fixed, grid):
    """Every combination of the grid's values, each with the fixed settings: a list of
    {setting: flag text}, the grid's first setting varying slowest."""
    keys = list(grid)
    return [{**fixed, **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*(grid[k] for k in keys))]


def train_configuration(index, settings, folder):
    """Train configuration ``index``, save its model as ``folder/config-<index>.npz`` and
    return its result: settings, validation and test loss and accuracy, seconds, status."""
    dataset, data_dir, recipe = recipe_of(settings)
    (X_train, y_train), (X_test, y_test) = datasets.load(dataset, data_dir)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = recipe.build_model(X_train.shape[1], n_classes)
    optimizer = recipe.build_optimizer(len(X_train))
    result = {"index": index, "settings": settings, "val_loss": None, "val_accuracy": None,
              "test_loss": None, "test_accuracy": None, "seconds": None, "status": "ok"}
    start = time.perf_counter()
    try:
        callbacks = recipe.build_callbacks()
        history = model.fit(X_train, y_train, optimizer=optimizer, callbacks=callbacks, **recipe.fit_arguments())
    except TrainingDivergedError as exc:
        result.update(seconds=time.perf_counter() - start, status=f"diverged: {exc}")
        return result
    result["seconds"] = time.perf_counter() - start
    test = model.evaluate(X_test, y_test)
    kept = recipes.kept_epoch(history, callbacks)  # the epoch of the weights saved (early stopping)
    result.update(val_loss=history["val_loss"][kept], val_accuracy=history["val_accuracy"][kept],
                  test_loss=test["loss"], test_accuracy=test["accuracy"])
    model.save(Path(folder) / f"config-{index}.npz")
    return result


def _score(result):
    """Sort key: best validation accuracy first, then lower validation loss, then order."""
    if result["val_accuracy"] is None:
        return (1, 0.0, 0.0, result["index"])
    return (0, -result["val_accuracy"], result["val_loss"], result["index"])


def run(configs, folder, workers=1, comm=None):
    """Train every configuration of ``configs`` (a list of settings) and return the results
    sorted best first, on the process that gathers them (None on the other ranks).

    comm: an mpi4py communicator: rank r trains configurations r, r + size, ... and rank 0
        gathers the results. Without one, ``workers`` processes share them (1: this one).
    The best model is saved as ``folder/best.npz`` and the others' files removed.
    """
    folder = Path(folder)
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    jobs = list(enumerate(configs))
    if comm is not None:
        rank, size = comm.Get_rank(), comm.Get_size()
        mine = [train_configuration(i, s, models) for i, s in jobs[rank::size]]
        gathered = comm.gather(mine, root=0)  # small dicts, pickled by mpi4py
        if rank != 0:
            return None
        results = [r for part in gathered for r in part]
    elif workers == 1:
        results = [train_configuration(i, s, models) for i, s in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: a fresh interpreter per worker, whatever threads this one runs
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(train_configuration, i, s, models) for i, s in jobs]
            results = [f.result() for f in futures]
    results.sort(key=_score)
    best = results[0]
    if best["val_accuracy"] is not None:
        os.replace(models / f"config-{best['index']}.npz", folder / "best.npz")
    for path in models.glob("config-*.npz"):
        path.unlink()
    models.rmdir()
    return results


COLUMNS = ("val_accuracy", "test_accuracy", "val_loss", "test_loss", "seconds")


def write_results(results, folder, keys):
    """Write ``results.csv`` (one row per configuration, best first; ``keys`` are the
    settings shown) and ``results.json`` (everything); returns their paths."""
    folder = Path(folder)
    csv_path, json_path = folder / "results.csv", folder / "results.json"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "config", *keys, *COLUMNS, "status"])
        for place, r in enumerate(results, 1):
            writer.writerow([place, r["index"], *(r["settings"].get(k, "") for k in keys),
                             *("" if r[c] is None else r[c] for c in COLUMNS), r["status"]])
    json_path.write_text(json.dumps({"results": results}, indent=1) + "\n", encoding="utf-8")
    return csv_path, json_path


def table(results, keys):
    """The results as an aligned text table, best first (``keys``: the settings shown)."""
    def percent(value):
        return "-" if value is None else f"{100 * value:.2f}%"

    rows = [("#", "config", *keys, "val acc", "test acc", "time (s)", "status")]
    for place, r in enumerate(results, 1):
        rows.append((str(place), str(r["index"]), *(r["settings"].get(k, "") for k in keys),
                     percent(r["val_accuracy"]), percent(r["test_accuracy"]),
                     f"{r['seconds']:.2f}", r["status"].split(":")[0]))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
