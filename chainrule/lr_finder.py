"""The learning-rate range test (Smith, "Cyclical learning rates", 2015; fastai's lr_find).

Train for a few hundred steps while the learning rate rises exponentially from
``start_lr`` to ``end_lr``,

    lr(t) = start_lr * (end_lr / start_lr) ** (t / (steps - 1)),     t = 0, 1, ..., steps - 1,

and record each batch's loss. While the rate is too small the loss barely moves; where
it is useful the loss falls fast; past that it rises and explodes, and the test stops
(when the smoothed loss exceeds ``diverge_factor`` times its minimum, or training
diverges). The suggestion is the rate where the smoothed loss falls fastest against
log(lr), taken before its minimum. The steps go through ``training.fit``, the one
training loop, and afterwards the network is put back as it was, bit for bit: weights,
random state and history.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np

from . import optimizers, training
from ._checks import number, positive_int
from .callbacks import Callback
from .errors import InputError, TrainingDivergedError

MIN_DROP = 0.05  # the smoothed loss must fall by 5% of its start for a clear suggestion


class ExponentialRange:
    """lr(t) = start * (end / start) ** (t / (steps - 1)), held at ``end`` after the last step."""

    def __init__(self, start, end, steps):
        self.start, self.end, self.steps = start, end, steps

    def __call__(self, step):
        return self.start * (self.end / self.start) ** (min(step, self.steps - 1) / max(self.steps - 1, 1))


@dataclass
class LRFinderResult:
    """What the range test found.

    Attributes:
        learning_rates, losses: the rate of every step and the loss of its batch.
        smoothed: the losses smoothed (exponential moving average, bias-corrected).
        suggestion: the suggested learning rate, or None when the curve gives none.
        confidence: "high", "low" (a suggestion at the edge of the range, or from a
            shallow curve) or "none".
        reason: one sentence saying why.
        stopped: why the test ended: "steps", "diverged" (the loss exploded) or "error"
            (training raised TrainingDivergedError).
    """

    learning_rates: list
    losses: list
    smoothed: list
    suggestion: float
    confidence: str
    reason: str
    stopped: str

    def __str__(self):
        rate = "none" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (f"suggested learning rate: {rate} (confidence {self.confidence}: {self.reason}); "
                f"{len(self.losses)} steps from {self.learning_rates[0]:.3g} to "
                f"{self.learning_rates[-1]:.3g}, stopped by {self.stopped}")


class _Recorder(Callback):
    """Records every batch's rate and loss; stops when the smoothed loss explodes."""

    def __init__(self, schedule, steps, smoothing, diverge_factor):
        self.schedule, self.steps, self.beta, self.factor = schedule, steps, smoothing, diverge_factor
        self.rates, self.losses, self.smoothed = [], [], []
        self.average, self.stopped = 0.0, "steps"

    def on_batch_end(self, batch, logs):
        t = len(self.losses)
        self.rates.append(self.schedule(t))
        self.losses.append(float(logs["loss"]))
        self.average = self.beta * self.average + (1 - self.beta) * self.losses[-1]
        self.smoothed.append(self.average / (1 - self.beta ** (t + 1)))
        if not math.isfinite(self.smoothed[-1]) or self.smoothed[-1] > self.factor * min(self.smoothed):
            self.stopped = "diverged"
            self.model.stop_training = True
        elif len(self.losses) >= self.steps:
            self.model.stop_training = True


def suggest(learning_rates, smoothed, skip=10):
    """(suggestion, confidence, reason) from a range test's rates and smoothed losses.

    The first ``skip`` steps are left out (their average holds only a few noisy batches,
    as fastai leaves them out); the suggestion is the steepest fall of the smoothed loss
    against log(lr) before its minimum."""
    if len(smoothed) < skip + 5:
        return None, "none", f"too few steps to read a curve ({len(smoothed)}; at least {skip + 5})"
    s = np.asarray(smoothed, dtype=np.float64)
    rates = np.asarray(learning_rates, dtype=np.float64)
    lowest = skip + int(np.argmin(s[skip:]))
    drop = (s[skip] - s[lowest]) / abs(s[skip]) if s[skip] else 0.0
    if drop < MIN_DROP:
        return None, "none", (f"the loss never fell by {MIN_DROP:.0%} (it fell by {max(drop, 0):.1%}): "
                              "no clear minimum; widen the range or check the data and the loss")
    if lowest < skip + 3:
        return float(rates[lowest]) / 10, "low", "the loss was lowest at the start of the range"
    slopes = np.gradient(s[skip:lowest + 1], np.log(rates[skip:lowest + 1]))
    steepest = skip + int(np.argmin(slopes))
    rate = float(rates[steepest])
    edge = steepest <= skip + 1 or steepest >= lowest - 1
    if edge or drop < 4 * MIN_DROP:
        return rate, "low", (f"the loss fell by {drop:.0%}, fastest at {rate:.3g}, near the edge of the "
                             "useful range" if edge else f"the loss fell by only {drop:.0%}")
    return rate, "high", (f"the loss fell by {drop:.0%}, fastest at {rate:.3g}; it was lowest at "
                          f"{rates[lowest]:.3g}")


def lr_find(model, X, y, optimizer="sgd", start_lr=1e-7, end_lr=10.0, steps=200, batch_size=32,
            smoothing=0.98, diverge_factor=4.0, sample_weight=None):
    """Run the learning-rate range test on ``model`` with data (X, y); returns an
    LRFinderResult. The network ends as it began (weights, random state, history).

    Arguments:
        optimizer: "sgd", "adam", ... or an Optimizer, whose settings (momentum, betas)
            are kept; it is copied, never changed, and its learning rate is replaced by
            the rising range.
        start_lr, end_lr: the range, 0 < start_lr < end_lr.
        steps: the number of steps (batches) of the test; the data is reshuffled as
            often as needed.
        batch_size: the batch size of the run the rate is for.
        smoothing: the factor of the losses' moving average, in [0, 1).
        diverge_factor: stop when the smoothed loss exceeds this many times its minimum.
    """
    start_lr = number("start_lr", start_lr, 0.0, low_open=True)
    end_lr = number("end_lr", end_lr, start_lr, low_open=True)
    steps = positive_int("steps", steps)
    batch_size = positive_int("batch_size", batch_size)
    smoothing = number("smoothing", smoothing, 0.0, 1.0, high_open=True)
    diverge_factor = number("diverge_factor", diverge_factor, 1.0, low_open=True)
    if not isinstance(optimizer, (str, optimizers.Optimizer)):
        raise InputError(f"optimizer must be a name or an Optimizer; received optimizer={optimizer!r}")
    trial = copy.deepcopy(optimizers.get(optimizer))
    schedule = ExponentialRange(start_lr, end_lr, steps)
    trial.learning_rate, trial.iterations, trial.state = schedule, 0, {}
    recorder = _Recorder(schedule, steps, smoothing, diverge_factor)
    saved = ([p.copy() for p in model.parameters()], model.rng.bit_generator.state, model.history)
    n = len(X) if hasattr(X, "__len__") else 0
    epochs = max(1, math.ceil(steps / max(1, math.ceil(n / batch_size))))
    try:
        training.fit(model, X, y, epochs=epochs, batch_size=batch_size, optimizer=trial,
                     callbacks=[recorder], sample_weight=sample_weight)
    except TrainingDivergedError:
        recorder.stopped = "error"
    finally:
        for p, q in zip(model.parameters(), saved[0], strict=True):
            p[...] = q
        model.rng.bit_generator.state, model.history = saved[1], saved[2]
        model.stop_training = False
    if not recorder.losses:
        raise InputError("the range test took no step: the loss was not finite at the first batch; "
                         "check the data (scale the inputs) and the loss")
    suggestion, confidence, reason = suggest(recorder.rates, recorder.smoothed)
    return LRFinderResult(recorder.rates, recorder.losses, recorder.smoothed, suggestion, confidence,
                          reason, recorder.stopped)


def save_curve_png(result, path):
    """Draw the smoothed loss against the learning rate (log scale), the suggestion marked,
    into a PNG at ``path`` (needs matplotlib: chainrule[report])."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(result.learning_rates, result.losses, color="0.8", label="batch loss")
    axes.plot(result.learning_rates, result.smoothed, color="C0", label="smoothed")
    if result.suggestion is not None:
        axes.axvline(result.suggestion, color="C3", linestyle="--",
                     label=f"suggestion {result.suggestion:.3g} ({result.confidence})")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss")
    low, high = min(result.smoothed), max(result.smoothed[:max(1, len(result.smoothed) // 2)])
    if math.isfinite(low) and math.isfinite(high) and high > low:
        axes.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low))
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
