"""Callbacks: the hooks ``fit`` calls, the History it returns, and the callbacks users add.

As Keras lays them out: ``Callback`` (the hooks), ``History`` (per-epoch results),
``LambdaCallback``, ``EarlyStopping``, per-epoch logs to CSV or JSON lines, a learning
rate set per epoch or cut on a plateau, and model files saved during training.

Epochs are counted from 1 in everything these write (files, "{epoch}" in paths), as the
progress bar and the command line count them; the ``epoch`` argument of the hooks counts
from 0, as ``History.epoch`` does.

The log files are opened, appended to and closed at every epoch, so each finished epoch
is on disk even if training stops with an error (or the process is killed) later.
Nothing here prints.
"""

import csv
import json
import math
import os
import string
import time

import numpy as np

from ._checks import non_negative_int, number, one_of
from .errors import InputError
from .optimizers import Optimizer, Schedule


class History:
    """Per-epoch results of ``fit``: ``history["loss"]``, ``["accuracy"]``, ``["val_loss"]``,
    ``["val_accuracy"]`` (lists, one value per epoch; accuracy where y holds classes).

    ``warnings`` lists what a chainrule.watchdog.Watchdog reported during the run, each as
    {"epoch": from 1, "kind": the check, "message": the text}; model files keep it."""

    def __init__(self, history=None, epoch=None, warnings=None):
        self.history = {k: list(v) for k, v in (history or {}).items()}
        self.epoch = list(epoch or [])
        self.warnings = [dict(w) for w in warnings or ()]

    @classmethod
    def from_dict(cls, doc):
        """The History of ``to_dict``'s document (as a model file holds it); warnings that
        are not {"epoch": int, "kind": str, "message": str} are left out."""
        warnings = doc.get("warnings")
        kept = [w for w in warnings if isinstance(w, dict) and set(w) == {"epoch", "kind", "message"}
                and isinstance(w["epoch"], int) and isinstance(w["kind"], str)
                and isinstance(w["message"], str)] if isinstance(warnings, list) else []
        return cls(doc.get("history"), doc.get("epoch"), kept)

    def append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def __getitem__(self, key):
        return self.history[key]

    def __contains__(self, key):
        return key in self.history

    def to_dict(self):
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()},
                "warnings": [dict(w) for w in self.warnings]}

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class Callback:
    """Hooks called by ``fit``; ``self.model`` is the network being trained.
    ``on_train_begin``'s logs hold the run's epochs, batches per epoch, samples, the
    epoch it starts from, the optimizer it trains with, and the training arrays ("X" of
    shape (n_samples, n_features), "Y" of shape (n_samples, n_outputs), "labels" of shape
    (n_samples,) or None: after the validation split; read them, never change them);
    ``on_batch_end``'s hold the
    batch's loss, size and (for classes) number of correct predictions.
    Set ``self.model.stop_training = True`` to end training after the current batch."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs):
        pass

    def on_epoch_begin(self, epoch, logs):
        pass

    def on_batch_end(self, batch, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_train_begin=None, on_epoch_begin=None, on_batch_end=None,
                 on_epoch_end=None, on_train_end=None):
        for name, fn in list(locals().items()):
            if name != "self" and fn is not None:
                setattr(self, name, fn)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights`` the network ends with the best epoch's weights."""

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, mode="auto",
                 restore_best_weights=True):
        patience = non_negative_int("patience", patience)
        if mode not in ("auto", "min", "max"):
            raise InputError(f"mode must be one of ['auto', 'max', 'min']; received mode={mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, patience, abs(float(min_delta))
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, logs):
        self.best, self.best_epoch, self.wait, self.best_weights = None, None, 0, None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise InputError(
                f"EarlyStopping monitors {self.monitor!r}, which fit does not report; "
                f"available: {sorted(logs)} (val_* needs validation_data or validation_split)"
            )
        value = logs[self.monitor]
        sign = 1 if self.maximize else -1
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = [p.copy() for p in self.model.parameters()]
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs):
        if self.restore_best_weights and self.best_weights is not None:
            for p, best in zip(self.model.parameters(), self.best_weights, strict=True):
                p[...] = best



# --- argument checks shared by the callbacks -------------------------------------------

def _check_path(owner, value):
    if not isinstance(value, (str, os.PathLike)):
        raise InputError(f"{owner} path must be a str or os.PathLike; received path={value!r}")
    return os.fspath(value)


def _check_bool(owner, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise InputError(f"{owner} {name} must be True or False; received {name}={value!r}")
    return bool(value)


def _check_folder(owner, path):
    """Fail before training if the file's folder does not exist (unless the folder itself
    has "{...}" fields, filled in only when the file is written)."""
    folder = os.path.dirname(os.path.abspath(path))
    if "{" not in folder and not os.path.isdir(folder):
        raise InputError(f"{owner} path must be in an existing folder; received path={path!r} "
                         f"(no folder {folder!r})")


def _fit_optimizer(owner, given, logs):
    """The optimizer fit trains with: the one given to the callback, or the one fit reports
    in its on_train_begin logs (``logs["optimizer"]``); both must then be the same object."""
    reported = logs.get("optimizer")
    if given is not None and reported is not None and given is not reported:
        raise InputError(f"{owner} was given optimizer={given!r}, but fit trains with {reported!r}; "
                         f"pass the optimizer given to fit, or none")
    optimizer = given if given is not None else reported
    if optimizer is None:
        raise InputError(f"{owner} needs the optimizer that fit trains with; pass it as optimizer=")
    return optimizer


def _numeric_rate_optimizer(owner, given, logs):
    """The optimizer fit trains with (see _fit_optimizer), which must have a number as its
    learning rate: a schedule over steps already sets it at every step."""
    optimizer = _fit_optimizer(owner, given, logs)
    if callable(optimizer.learning_rate):
        raise InputError(
            f"{owner} needs an optimizer whose learning_rate is a number; received "
            f"learning_rate={optimizer.learning_rate!r}, a schedule that already sets it "
            f"at every step"
        )
    return optimizer


def _check_optimizer(owner, optimizer):
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise InputError(f"{owner} optimizer must be a chainrule Optimizer or None; "
                         f"received optimizer={optimizer!r}")
    return optimizer


def _json_number(value):
    """A log value as JSON: a float, or null for NaN and infinities (not valid JSON)."""
    value = float(value)
    return value if math.isfinite(value) else None


# --- logs -----------------------------------------------------------------------------

class CSVLogger(Callback):
    """One row per epoch in the CSV file at ``path``: ``epoch`` (from 1), then every key of
    fit's epoch logs, in the order fit reports them (loss, accuracy, val_loss, val_accuracy).

    ``append=True`` adds to an existing file instead of replacing it; its header must then
    name the same columns. Floats are written in full (repr), so they read back exactly.
    """

    def __init__(self, path, append=False):
        self.path = _check_path("CSVLogger", path)
        self.append = _check_bool("CSVLogger", "append", append)

    def on_train_begin(self, logs):
        _check_folder("CSVLogger", self.path)
        self.columns = None
        if self.append and os.path.exists(self.path) and os.path.getsize(self.path) > 0:
            with open(self.path, newline="") as f:
                self.columns = next(csv.reader(f))
        elif not self.append:
            open(self.path, "w").close()  # a new run starts a new file

    def on_epoch_end(self, epoch, logs):
        columns = ["epoch", *logs]
        row = [epoch + 1, *(float(v) for v in logs.values())]
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if self.columns is None:
                self.columns = columns
                writer.writerow(columns)
            elif columns != self.columns:
                raise InputError(f"CSVLogger {self.path!r} has the columns {self.columns}; "
                                 f"this epoch logs {columns} (use another path, or append=False)")
            writer.writerow(row)


class JSONLogger(Callback):
    """One JSON object per line and per epoch in the file at ``path`` (JSON Lines):

        {"epoch": 1, "loss": ..., "accuracy": ..., "val_loss": ..., "time": 0.12,
         "learning_rate": 0.01}

    ``epoch`` counts from 1; then every key of fit's epoch logs; ``time`` is the epoch's
    duration in seconds (validation included); ``learning_rate`` is the one of the epoch's
    last step (the schedule's value there, when the optimizer has a schedule). NaN and
    infinities are written as null. ``append=True`` adds to an existing file.

    ``optimizer`` is the optimizer given to fit (needed for the learning rate), unless fit
    reports it to callbacks itself.
    """

    def __init__(self, path, append=False, optimizer=None):
        self.path = _check_path("JSONLogger", path)
        self.append = _check_bool("JSONLogger", "append", append)
        self.optimizer = _check_optimizer("JSONLogger", optimizer)

    def on_train_begin(self, logs):
        _check_folder("JSONLogger", self.path)
        self._optimizer = _fit_optimizer("JSONLogger", self.optimizer, logs)
        if not self.append:
            open(self.path, "w").close()  # a new run starts a new file

    def on_epoch_begin(self, epoch, logs):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        seconds = time.perf_counter() - self._start
        record = {"epoch": epoch + 1, **{k: _json_number(v) for k, v in logs.items()},
                  "time": seconds, "learning_rate": _last_learning_rate(self._optimizer)}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def _last_learning_rate(optimizer):
    """The learning rate of the optimizer's last step (of its next one, before any step)."""
    lr = optimizer.learning_rate
    return float(lr(max(optimizer.iterations - 1, 0))) if callable(lr) else float(lr)


# --- the learning rate ----------------------------------------------------------------

class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch, as in Keras:

        optimizer.learning_rate <- schedule(epoch, lr)

    with ``epoch`` counted from 0 and ``lr`` the learning rate now (the one of the last
    epoch, or the optimizer's own before the first). E.g. halve it every 10 epochs:
    ``LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch and epoch % 10 == 0 else lr)``.

    The optimizer must have a number as its learning rate: a schedule over steps
    (StepDecay, ...) already sets it at every step. ``optimizer`` is the optimizer given
    to fit, unless fit reports it to callbacks itself.
    """

    def __init__(self, schedule, optimizer=None):
        if isinstance(schedule, Schedule):
            raise InputError(
                f"LearningRateScheduler schedule must be a function schedule(epoch, lr) -> lr; "
                f"received schedule={schedule!r}, a schedule over steps: give it to the optimizer "
                f"as its learning_rate instead"
            )
        if not callable(schedule):
            raise InputError(f"LearningRateScheduler schedule must be a function schedule(epoch, lr) "
                             f"-> lr; received schedule={schedule!r}")
        self.schedule = schedule
        self.optimizer = _check_optimizer("LearningRateScheduler", optimizer)

    def on_train_begin(self, logs):
        self._optimizer = _numeric_rate_optimizer("LearningRateScheduler", self.optimizer, logs)

    def on_epoch_begin(self, epoch, logs):
        lr = self.schedule(epoch, self._optimizer.learning_rate)
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) \
                or not math.isfinite(lr) or lr <= 0:
            raise InputError(f"LearningRateScheduler schedule must return a positive number; "
                             f"received {lr!r} for epoch={epoch}")
        self._optimizer.learning_rate = float(lr)


class ReduceLROnPlateau(Callback):
    """Multiply the optimizer's learning rate by ``factor`` when ``monitor`` has not improved
    for ``patience`` epochs, as Keras's ReduceLROnPlateau:

        improved:  value < best - min_delta  (mode "min"; > best + min_delta for "max")
        after the ``patience``-th epoch in a row without improvement:
                   lr <- max(lr * factor, min_lr)  (if lr > min_lr), and the count restarts

    ``mode="auto"`` maximises accuracies and minimises the rest. After a reduction, the
    ``cooldown`` epochs that follow do not count towards the patience (PyTorch's meaning of
    cooldown; Keras's code ignores one epoch fewer). ``patience`` counts as Keras counts:
    PyTorch's ReduceLROnPlateau with patience p reduces one epoch later, after p + 1.
    ``reductions`` lists the epochs (from 0) at whose end the rate was cut.

    The optimizer must have a number as its learning rate (as in Keras, where a schedule's
    rate cannot be set): a schedule over steps already sets it at every step. ``optimizer``
    is the one given to fit, unless fit reports it to callbacks itself.

    Like every callback's, its counts are not part of a checkpoint: after ``fit(resume=)``
    it starts afresh (best unknown, no epochs waited). The rate it reached is: the
    checkpoint keeps the optimizer's settings, which chainrule.checkpoint.optimizer_from
    (and ``chainrule train --resume``) builds the optimizer with.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, optimizer=None):
        if not isinstance(monitor, str):
            raise InputError(f"ReduceLROnPlateau monitor must be the name of a log, such as 'val_loss'; "
                             f"received monitor={monitor!r}")
        self.monitor = monitor
        self.factor = number("factor", factor, 0, 1, low_open=True, high_open=True)
        self.patience = non_negative_int("patience", patience)
        self.mode = one_of("mode", mode, ("auto", "min", "max"))
        self.min_delta = number("min_delta", min_delta, 0)
        self.cooldown = non_negative_int("cooldown", cooldown)
        self.min_lr = number("min_lr", min_lr, 0)
        self.optimizer = _check_optimizer("ReduceLROnPlateau", optimizer)
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)

    def on_train_begin(self, logs):
        self._optimizer = _numeric_rate_optimizer("ReduceLROnPlateau", self.optimizer, logs)
        self.best, self.wait, self.cooldown_counter, self.reductions = None, 0, 0, []

    def on_epoch_end(self, epoch, logs):
        if self.monitor not in logs:
            raise InputError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, which fit does not report; "
                f"available: {sorted(logs)} (val_* needs validation_data or validation_split)"
            )
        value = float(logs[self.monitor])
        # compared as Keras and PyTorch compare, to the last bit
        if self.best is None or (value > self.best + self.min_delta if self.maximize
                                 else value < self.best - self.min_delta):
            self.best, self.wait = value, 0
        else:
            self.wait += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        lr = self._optimizer.learning_rate
        if self.wait and self.wait >= self.patience and lr > self.min_lr:
            self._optimizer.learning_rate = max(lr * self.factor, self.min_lr)
            self.cooldown_counter, self.wait = self.cooldown, 0
            self.reductions.append(epoch)


# --- model files ----------------------------------------------------------------------

class ModelCheckpoint(Callback):
    """Save the model (``model.save``: atomic, history included) at the end of every epoch,
    or with ``save_best_only`` only when ``monitor`` improves on its best value so far.

    ``path`` may hold format fields, filled in at every save: ``{epoch}`` (from 1) and any
    key of the epoch's logs, e.g. ``"model-{epoch:03d}-{val_loss:.3f}.npz"``. Without
    fields, each save replaces the last. ``mode`` says whether "min" or "max" is better;
    "auto" is "max" for accuracies and "min" for the rest. For a file to continue
    training from (optimizer state included), see fit's ``checkpoint``.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        path = _check_path("ModelCheckpoint", path)
        try:
            self._fields = {field.split(".")[0].split("[")[0]
                            for _, field, _, _ in string.Formatter().parse(path) if field is not None}
        except ValueError as exc:
            raise InputError(f"ModelCheckpoint path must be a valid format string with fields such "
                             f"as {{epoch}}; received path={path!r} ({exc})") from None
        if "" in self._fields or any(f.isdigit() for f in self._fields):
            raise InputError(f"ModelCheckpoint path fields must have names, such as {{epoch}}; "
                             f"received path={path!r}")
        if not isinstance(monitor, str):
            raise InputError(f"ModelCheckpoint monitor must be the name of a log, such as 'val_loss'; "
                             f"received monitor={monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise InputError(f"ModelCheckpoint mode must be one of ['auto', 'max', 'min']; "
                             f"received mode={mode!r}")
        self.path, self.monitor, self.mode = path, monitor, mode
        self.save_best_only = _check_bool("ModelCheckpoint", "save_best_only", save_best_only)
        self.maximize = mode == "max" or (mode == "auto" and "acc" in monitor)

    def on_train_begin(self, logs):
        _check_folder("ModelCheckpoint", self.path)
        self.best, self.best_epoch, self.saved = None, None, []

    def on_epoch_end(self, epoch, logs):
        unknown = self._fields - {"epoch", *logs}
        if unknown:
            raise InputError(f"ModelCheckpoint path {self.path!r} has the fields {sorted(unknown)}, which "
                             f"fit does not report; available: {['epoch', *sorted(logs)]}")
        if self.save_best_only:
            if self.monitor not in logs:
                raise InputError(
                    f"ModelCheckpoint monitors {self.monitor!r}, which fit does not report; "
                    f"available: {sorted(logs)} (val_* needs validation_data or validation_split)"
                )
            value = logs[self.monitor]
            if self.best is not None and not (value > self.best if self.maximize else value < self.best):
                return
            self.best, self.best_epoch = value, epoch
        path = self.path.format(epoch=epoch + 1, **{k: float(v) for k, v in logs.items() if k != "epoch"})
        self.model.save(path)
        self.saved.append(path)
