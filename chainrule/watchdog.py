"""Watchdog: a callback that says when a run is going nowhere, and what to try.

Training that diverges to NaN raises (TrainingDivergedError); training that merely fails
does not: a loss that climbs for epochs, weights that grow a thousandfold, an accuracy
stuck at chance level all end in a useless model and no error. The Watchdog watches the
epoch logs of ``fit`` for those signs and reports each kind once, as a
``chainrule.TrainingWarning`` whose one-line message says what happened (with its numbers),
the most likely cause and the fix to try:

    rising       the training loss rose for ``rising_epochs`` epochs in a row (by 1% of the
                 first epoch's loss at least, so that noise near a minimum is not a rise)
    above_start  the run ended with a training loss above its first epoch's
    not_finite   the loss (or a validation score) became NaN or infinite
    chance       after ``chance_epochs`` epochs the accuracy (validation accuracy where
                 there is validation data, else training accuracy) is at chance level:
                 at most max(chance + 2 points, 1.1 x chance), chance being the share of
                 the most common class among the training labels
    weights      the weights' global norm grew ``weight_growth`` times (1000) over its
                 value when training began

The cause named is, in this order: inputs that are not scaled (``X`` reaching beyond
``input_limit`` in absolute value: the message gives X's range); for a stalled classifier,
a loss that learns slowly on its output (mse on softmax) or labels that do not follow from
the inputs (the training loss falls slowly, by less than a tenth, at every epoch while the
validation accuracy stays at chance); else a
learning rate too high: a tenth of it, or the range test (``chainrule lr-find``,
``model.lr_find``).

Every warning is appended to the run's History (``history.warnings``: {"epoch" from 1,
"kind", "message"}), which model files keep. ``on_warning``, when given, is called with
that dict instead of ``warnings.warn`` (the command line prints one line, the web page
shows a banner). ``Sequential.fit`` does not add a Watchdog by itself (a library call
stays silent unless asked); ``chainrule train`` and the page's Train tab do.
"""

import math
import warnings

import numpy as np

from ._checks import number, positive_int
from .callbacks import Callback
from .errors import InputTypeError, TrainingDivergedError, TrainingWarning

KINDS = ("rising", "above_start", "not_finite", "chance", "weights")


def global_norm(arrays):
    """sqrt(sum of squares) over every array, in float64."""
    return math.sqrt(sum(float(np.dot(a.ravel().astype(np.float64), a.ravel().astype(np.float64)))
                         for a in arrays))


def chance_level(labels):
    """(share of the most common class, that class) of int64 labels of shape (n_samples,)."""
    counts = np.bincount(labels)
    return float(counts.max() / len(labels)), int(counts.argmax())


def at_chance(accuracy, share):
    """Whether ``accuracy`` is no better than chance, ``share`` being the share of the most
    common class: at most max(share + 0.02, 1.1 x share)."""
    return accuracy <= max(share + 0.02, 1.1 * share)


def _g(x):
    return f"{x:.4g}"


class Watchdog(Callback):
    """Report a run that goes nowhere as a TrainingWarning (see the module docstring).

    Arguments:
        rising_epochs: epochs in a row of a rising training loss that count as a rise.
        chance_epochs: epochs before an accuracy at chance level counts.
        weight_growth: how many times the weights' norm may grow over its start.
        input_limit: inputs beyond this in absolute value count as not scaled.
        on_warning: None (``warnings.warn``) or a function called with each warning's
            {"epoch", "kind", "message"}.
        on_error: whether a run that stops with TrainingDivergedError is reported too (as
            "not_finite"); the command line sets False, as its error line says it.
    Attributes:
        reported: the warnings of this run, as History.warnings holds them.
    """

    def __init__(self, rising_epochs=3, chance_epochs=3, weight_growth=1000.0, input_limit=100.0,
                 on_warning=None, on_error=True):
        self.rising_epochs = positive_int("rising_epochs", rising_epochs)
        self.chance_epochs = positive_int("chance_epochs", chance_epochs)
        self.weight_growth = number("weight_growth", weight_growth, 1.0, low_open=True)
        self.input_limit = number("input_limit", input_limit, 0.0, low_open=True)
        if on_warning is not None and not callable(on_warning):
            raise InputTypeError(f"on_warning must be None or a function; received on_warning={on_warning!r}")
        self.on_warning, self.on_error = on_warning, bool(on_error)
        self.reported = []

    def on_train_begin(self, logs):
        self.optimizer = logs.get("optimizer")
        self.peak = self.optimizer.current_learning_rate() if self.optimizer is not None else 0.0
        X, labels = logs.get("X"), logs.get("labels")
        self.x_range = (float(X.min()), float(X.max())) if X is not None and X.size else None
        self.labels = labels if labels is not None and len(labels) and self.model.classifier else None
        self.chance = chance_level(self.labels) if self.labels is not None else None
        self.norm0 = global_norm(self.model.parameters())
        history = self.model.history
        self.done = {w["kind"] for w in history.warnings} if history is not None else set()
        self.reported, self.epoch = [], logs.get("initial_epoch", 0)

    def on_epoch_begin(self, epoch, logs):
        self.epoch = epoch

    def on_batch_end(self, batch, logs):
        # the highest rate of the run so far: a schedule's rate now may be far below it
        if self.optimizer is not None:
            self.peak = max(self.peak, self.optimizer.current_learning_rate())

    # --- the checks -----------------------------------------------------------------------

    def on_epoch_end(self, epoch, logs):
        losses = self.model.history["loss"] if "loss" in self.model.history else [logs["loss"]]
        for key, value in logs.items():
            if not math.isfinite(float(value)):
                self._report("not_finite", epoch, f"the {key} became {float(value)} at epoch {epoch + 1}: "
                             f"training is diverging; {self._cause()}")
        k = self.rising_epochs
        if len(losses) > k and all(losses[-i] > losses[-i - 1] for i in range(1, k + 1)) \
                and losses[-1] - losses[-k - 1] >= 0.01 * abs(losses[0]):
            shown = " -> ".join(_g(v) for v in losses[-k - 1:])
            self._report("rising", epoch, f"the training loss rose for {k} epochs in a row ({shown}, epochs "
                         f"{epoch + 1 - k} to {epoch + 1}): {self._cause()}")
        norm = global_norm(self.model.parameters())
        if self.norm0 > 0 and norm > self.weight_growth * self.norm0:
            self._report("weights", epoch, f"the weights' norm grew {norm / self.norm0:.3g} times, from "
                         f"{_g(self.norm0)} at the start to {_g(norm)} at epoch {epoch + 1}: training is "
                         f"diverging; {self._cause()}")
        if self.chance is not None and len(losses) >= self.chance_epochs:
            self._check_chance(epoch, logs, losses)

    def _check_chance(self, epoch, logs, losses):
        key = "val_accuracy" if "val_accuracy" in logs else "accuracy"
        if key not in logs:
            return
        accuracy, (share, majority) = float(logs[key]), self.chance
        if not at_chance(accuracy, share):
            return
        what = "validation accuracy" if key == "val_accuracy" else "training accuracy"
        cause = self._cause(stalled=True)
        if cause.startswith("the learning rate") and losses[-1] > 0.99 * losses[0] and max(losses) <= losses[0]:
            rate = self.peak
            cause = ("the loss barely moved (" + " -> ".join(_g(v) for v in (losses[0], losses[-1])) + "): the "
                     f"learning rate{f' ({rate:.3g})' if rate else ''} may be too low or too high; find one "
                     "with `chainrule lr-find` (model.lr_find in Python)")
        if share >= 1.0:
            cause = (f"every training label is class {majority}: a classifier needs labels of at least "
                     "two classes (check how the labels were read)")
        elif key == "val_accuracy" and not self._unscaled() and len(losses) >= 2 \
                and all(b < a for a, b in zip(losses, losses[1:])) and losses[0] < 1.1 * losses[-1]:
            cause = (f"the training loss falls ({_g(losses[0])} -> {_g(losses[-1])}) but the validation accuracy "
                     "stays at chance: the labels may not follow from the inputs (check that each label "
                     "belongs to its row: no shuffled or misaligned labels), or the learning rate is too low")
        self._report("chance", epoch, f"the {what} is at chance level after {len(losses)} epochs: "
                     f"{100 * accuracy:.2f}%, where always predicting the most common class ({majority}) "
                     f"scores {100 * share:.2f}%; {cause}")

    def on_train_end(self, logs):
        error = logs.get("error")
        if isinstance(error, TrainingDivergedError):
            if not self.on_error:
                return
            self._report("not_finite", self.epoch, f"the loss or the weights became NaN or infinite in epoch "
                         f"{self.epoch + 1} and training stopped: {self._cause()}")
            return
        history = self.model.history
        losses = history["loss"] if history is not None and "loss" in history else []
        if error is None and len(losses) >= 2 and losses[-1] > losses[0]:
            self._report("above_start", len(losses) - 1, f"the training loss ended above its first epoch's "
                         f"({_g(losses[-1])} at epoch {len(losses)}, {_g(losses[0])} at epoch 1): "
                         f"{self._cause()}")

    # --- the causes -------------------------------------------------------------------------

    def _unscaled(self):
        return self.x_range is not None and max(abs(v) for v in self.x_range) > self.input_limit

    def _cause(self, stalled=False):
        """The most likely cause and the fix to try, in words."""
        if self._unscaled():
            low, high = self.x_range
            return (f"the inputs are not scaled: X ranges over [{_g(low)}, {_g(high)}]; scale them to about "
                    "[0, 1] or [-1, 1] (divide by the largest |x|, or standardise each column)")
        out = self.model.dense_layers[-1].activation.name
        if stalled and self.model.loss.name == "mse" and out == "softmax":
            return ("loss 'mse' on a softmax output learns slowly on classes (its gradient vanishes where "
                    "the softmax saturates): use loss='cross_entropy' (--loss cross_entropy)")
        rate = self.peak
        now = f" (up to {rate:.3g})" if rate else ""
        tenth = f"{rate / 10:.3g}, a tenth of it," if rate else "a tenth of it"
        return (f"the learning rate is probably too high{now}: try {tenth} or find one with "
                "`chainrule lr-find` (model.lr_find in Python)")

    def _report(self, kind, epoch, message):
        if kind in self.done:
            return
        self.done.add(kind)
        record = {"epoch": int(epoch) + 1, "kind": kind, "message": message}
        self.reported.append(record)
        if self.model.history is not None:
            self.model.history.warnings.append(record)
        if self.on_warning is not None:
            self.on_warning(dict(record))
        else:
            warnings.warn(TrainingWarning(message, kind, record["epoch"]), stacklevel=2)
