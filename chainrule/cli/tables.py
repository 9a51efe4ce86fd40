"""The commands on your own data: ``train``, ``evaluate`` and ``predict`` with ``--data``.

``--data FILE`` is a table (CSV/TSV, Parquet or JSON Lines) and trains a
chainrule.tabular.TabularModel; ``--data FOLDER`` is an image folder, one subfolder per
class, and trains a chainrule.folders.ImageFolderModel (``new_model`` is the one place that
tells them apart). Both are fitted, saved, loaded (chainrule.load), evaluated and asked for
predictions the same way.

train's network options map onto the model's settings; an option the user left out
(None) keeps the model's own default (chainrule.tabular.settings.DEFAULTS for tables,
chainrule.folders.DEFAULTS for image folders), as ``TabularModel()`` in Python does.
``--image-size N`` is an image folder's alone. predict writes one row per input row (per
image), in order:

    image                an image model only, first: the path of the image
    prediction           the class label as it was in the training file (strings stay
                         strings), or the value in the target's units for regression
    prediction_<label>   multi-label: 0 or 1 for each target column
    proba_<class>        with --proba: the probability of each class (each label for
                         multi-label), in the order of the model's classes_
"""

import os
import sys
import time

import numpy as np

from ..errors import InputError
from ..loading import load
from ..network import Sequential
from ..recipes import describe
from ..tabular.model import TASKS  # noqa: F401  (the choices of --task, for the parser)
from ..tabular.settings import DEFAULTS
from .common import EXIT_NO_BETTER_THAN_CHANCE, check_momentum, file_in_a_folder, given, useless_model, watchdog

# train's options and the settings of TabularModel they set (--early-stopping is the patience).
SETTINGS = {"hidden": "hidden", "activation": "activation", "optimizer": "optimizer", "lr": "lr",
            "momentum": "momentum", "schedule": "schedule", "batch_size": "batch_size", "epochs": "epochs",
            "seed": "seed", "dtype": "dtype", "dropout": "dropout", "validation_split": "validation_split",
            "early_stopping": "patience", "alpha": "alpha"}
# train's options that only a run on a bundled data set takes, and why.
DATASET_ONLY = {"loss": "with --data the task decides the loss", "weight_decay": "with --data use --alpha, "
                "the L2 penalty of the weights (scikit-learn's alpha)", "warmup_epochs": "", "clip_norm": "",
                "checkpoint": "", "resume": "", "log_json": "", "distributed": ""}
# The options of each command that only a run on --data takes.
DATA_ONLY = {"train": ("target", "task", "alpha", "image_size"), "evaluate": (), "predict": ("proba", "output")}
DATA_ONLY.update({"explain": ("row",), "serve": ("target", "task")})  # chainrule.cli.explain_serve


def refuse_data_options(args):
    """InputError if ``args`` (a command on a bundled data set or images) holds an option of --data."""
    wrong = given(args, DATA_ONLY[args.command])
    if wrong:
        raise InputError(f"{wrong[0]} applies to --data (your own data), not to --dataset or images")


def check_data(args):
    """InputError unless --data names a file or a folder (and --data-dir, for the bundled
    data sets, is not given with it)."""
    if getattr(args, "data_dir", None) is not None:
        raise InputError("--data-dir applies to --dataset runs only (the folder of the MNIST files)")
    if not os.path.exists(args.data):
        raise InputError(f"--data must be an existing file or folder; received {args.data!r} (no such "
                         "file or folder)")


def new_model(data, settings):
    """The untrained model for ``data``: an ImageFolderModel for a folder, a TabularModel
    for a file, with ``settings`` ({name: value}) and their defaults for the rest."""
    if os.path.isdir(data):
        from ..folders import ImageFolderModel  # another kind of data, imported only for it

        return ImageFolderModel(**settings)
    from ..tabular import TabularModel

    return TabularModel(**settings)


def model_settings(args):
    """{setting: value} of the options the user gave that a model on --data takes; InputError
    for the options it does not take."""
    for name, why in DATASET_ONLY.items():
        if given(args, [name]):
            raise InputError(f"{given(args, [name])[0]} applies to --dataset runs only"
                             + (f"; {why}" if why else ""))
    if args.lr == "auto":
        raise InputError("--lr auto applies to --dataset runs only; with --data give a rate (default: 0.001 "
                         "with adam), or leave --lr out")
    settings = {SETTINGS[name]: getattr(args, name) for name in SETTINGS if getattr(args, name) is not None}
    if settings.get("validation_split", 0.2) == 0 and args.early_stopping is not None:
        raise InputError("--early-stopping needs --validation-split above 0 (it watches the "
                         "validation loss)")
    if args.momentum is not None:
        check_momentum(args.momentum, settings.get("optimizer", DEFAULTS["optimizer"]))
    return settings


def train(args):
    check_data(args)
    folder = os.path.isdir(args.data)
    if folder and (args.target or args.task):
        raise InputError("--target and --task apply to a table; an image folder's classes are its "
                         "subfolders' names")
    if not folder and not args.target:
        raise InputError(f"--data {args.data} needs --target COLUMN, the column to predict "
                         "(several, comma-separated, for multi-label)")
    if args.image_size is not None and not folder:
        raise InputError(f"--image-size applies to a folder of images; received the table {args.data}")
    output = file_in_a_folder("--output", args.output)
    settings = model_settings(args)
    if folder and args.image_size is not None:
        settings["image_size"] = args.image_size
    model = new_model(args.data, settings)
    targets = {} if folder else {"target": targets_of(args.target), "task": args.task}
    start = time.perf_counter()
    guard_dog = watchdog(args)
    model.fit(args.data, **targets, verbose=0 if args.quiet else 1,
              callbacks=[] if guard_dog is None else [guard_dog])
    seconds = time.perf_counter() - start
    model.save(output)
    print_data(model, args.data)
    note_skipped_files(model)
    history, settings = model.history_, model.settings()
    epochs = len(history.epoch)
    print(f"network: {describe(model.network_)}")
    print(f"training: {epochs} epochs (of at most {settings['epochs']}) of {settings['optimizer']}, "
          f"learning rate {settings['lr']}, batch size {settings['batch_size']}, seed {settings['seed']}")
    print(f"time: {seconds:.2f} s")
    scores = getattr(model, "validation_scores_", None)  # a model of images may keep none
    if scores is None:
        print("validation: none" + (" (--validation-split 0)" if settings["validation_split"] == 0 else ""))
    else:
        best = int(np.argmin(history["val_loss"]))  # EarlyStopping restores the first lowest
        print(f"early stopping: kept the weights of epoch {history.epoch[best] + 1} (the lowest "
              f"validation loss)")
        print_scores("validation", scores)
    print(f"saved: {output}")
    share = None if guard_dog is None or guard_dog.chance is None else guard_dog.chance[0]
    useless = None if guard_dog is None or scores is None or getattr(model, "task_", "") == "multilabel" \
        else useless_model(scores, share, "validation", output)
    if useless:
        sys.stdout.flush()
        print(useless, file=sys.stderr)
        return EXIT_NO_BETTER_THAN_CHANCE  # main's exit status


def targets_of(text):
    """The target column(s) of --target: a name, or a list of names for several."""
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"--target must be a column name, or names separated by commas; received {text!r}")
    return names[0] if len(names) == 1 else names


def print_data(model, data):
    """The data lines of train: rows, columns used and dropped, the task."""
    if is_image_model(model):
        print(f"data: {data} ({model.source_['images']:,} images; {len(model.classes_)} classes: "
              f"{', '.join(model.classes_)})")
        (height, width), mode = model.image_size_, model.colour_mode_
        print(f"images: {width}x{height} pixels, {'grey (L)' if mode == 'L' else 'colour (RGB)'}, scaled to "
              f"[0, 1]: {model.network_.n_features:,} inputs")
        return
    rows = f"{model.source_['rows']:,} rows"
    if model.n_rows_missing_target_:
        rows += (f"; {model.n_rows_missing_target_:,} without a {', '.join(model.targets_)} value, "
                 f"dropped")
    print(f"data: {os.path.basename(data)} ({rows})")
    used = [c["name"] for c in model.encoder_.columns]
    print(f"columns: {len(used)} used ({', '.join(used)}), {len(model.dropped_columns_)} dropped")
    for name, reason in model.dropped_columns_.items():
        print(f"dropped column: {name} ({reason})")
    if model.task_ == "regression":
        task = f"regression of {model.targets_[0]}"
    elif model.task_ == "multilabel":
        task = f"multi-label, {len(model.targets_)} labels ({', '.join(model.targets_)})"
    else:
        task = (f"classification of {model.targets_[0]}, {len(model.classes_)} classes "
                f"({', '.join(map(str, model.classes_))})")
    print(f"task: {task}")


SCORES = {"accuracy": ("accuracy", "{:.2%}"), "f1_macro": ("macro-F1", "{:.4f}"), "r2": ("R^2", "{:.4f}"),
          "rmse": ("RMSE", "{:.4g}")}


def print_scores(split, scores):
    """One line 'SPLIT NAME: VALUE' a score (accuracy as a percentage)."""
    for key, value in scores.items():
        name, form = SCORES[key]
        print(f"{split}{' ' if split else ''}{name}: {form.format(value)}")


def is_image_model(model):
    """Whether ``model`` is an ImageFolderModel (without importing Pillow to ask)."""
    return hasattr(model, "image_size_")


def data_model(path, command, data):
    """The model of your own data saved at ``path``, for ``data`` (the --data path); a
    network trained on a bundled data set, or a model of another kind of data than
    ``data`` (images for a table, a table for a folder), is refused with the way to use it."""
    model = load(path)
    if isinstance(model, Sequential):
        raise InputError(f"{path} is a network trained on a bundled data set ({model.n_features} inputs); "
                         f"use it with chainrule {command} {path} --dataset NAME")
    source = model.source_.get("name", "its own data")
    if is_image_model(model) and os.path.isfile(data) and (command == "evaluate" or table_name(data)):
        raise InputError(f"{path} is a model of images (trained on the folder {source}); --data must be a "
                         f"folder of images{'' if command == 'evaluate' else ' or an image file'}, not the "
                         f"file {data}")
    if not is_image_model(model) and os.path.isdir(data):
        raise InputError(f"{path} is a model of a table (trained on {source}); --data must be a table "
                         f"file, not the folder {data}")
    return model


def table_name(path):
    """Whether ``path`` ends as a table file's name (.csv, .parquet, ...)."""
    from ..tabular.read import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES

    return path.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES + JSONL_SUFFIXES)


def note_skipped_files(model):
    """A note on stderr naming the files below an image folder that were not read."""
    skipped = getattr(model, "skipped_files_", ())
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        print(f"chainrule: note: skipped {len(skipped)} file(s) that are not images in a class folder: "
              f"{shown}", file=sys.stderr)


def note_extra_columns(model):
    """A note on stderr naming the columns of the data that the model never saw."""
    known = {c["name"] for c in getattr(model, "columns_", ())} | set(getattr(model, "targets_", ()))
    extra = [name for name in getattr(model, "ignored_columns_", ()) if name not in known]
    if extra:
        print(f"chainrule: note: ignoring columns the model was not trained on: {', '.join(extra)}",
              file=sys.stderr)


def evaluate(args):
    check_data(args)
    model = data_model(args.model, "evaluate", args.data)
    scores = model.evaluate(args.data)
    note_extra_columns(model)
    note_skipped_files(model)
    print(f"model: {args.model} ({describe(model.network_)})")
    print(f"data: {args.data}")
    print_scores("", scores)


def predict(args):
    from ..tabular import write

    if args.images:
        raise InputError(f"give image files or --data FILE, not both; received {args.images[0]!r} "
                         f"and --data {args.data}")
    check_data(args)
    format = write.output_format(args.output, "--output") if args.output else "csv"
    model = data_model(args.model, "predict", args.data)
    P = model.predict_proba(args.data) if args.proba else None
    table = prediction_table(model, model.predict(args.data), P)
    note_extra_columns(model)
    note_skipped_files(model)
    if args.output is None:
        sys.stdout.flush()
        write.write_to(sys.stdout.buffer, table, format)
    else:
        write.write_table(table, args.output)
        print(f"saved: {args.output} ({table.num_rows:,} rows: {', '.join(table.column_names)})")


def prediction_table(model, predicted, P=None):
    """The pyarrow Table of predict's output (see the module docstring): ``predicted`` of
    shape (n_samples,) or (n_samples, n_labels), ``P`` of shape (n_samples, n_classes) or None."""
    import pyarrow as pa

    columns = {"image": model.image_paths_} if is_image_model(model) else {}
    if predicted.ndim == 2:
        columns.update({f"prediction_{label}": predicted[:, j] for j, label in enumerate(model.classes_)})
    else:
        columns["prediction"] = predicted
    if P is not None:
        columns.update({f"proba_{label}": P[:, j] for j, label in enumerate(model.classes_)})
    return pa.table({name: pa.array(values) for name, values in columns.items()})
