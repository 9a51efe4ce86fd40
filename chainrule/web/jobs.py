"""One training run at a time, in a worker thread, that a web page can pause, resume and stop.

``TrainingJob`` runs ``model.fit`` in a daemon thread with a Callback that
    - records the progress (epoch, batch) and each epoch's logs (loss, accuracy,
      val_loss, val_accuracy) where ``snapshot()`` reads them, under a lock;
    - waits on a threading.Event at the end of every batch while the job is paused;
    - sets ``model.stop_training`` once the job is asked to stop, so that fit returns
      after that batch with whole weights;
and a chainrule.watchdog.Watchdog whose warnings (a loss rising, an accuracy at chance,
...) the snapshot carries, for the page to show as a banner while and after it trains.
The model being trained belongs to the job alone: nothing else runs a forward pass on it
until the job has ended (a Sequential reuses its work arrays, so two threads must never
use one model at once). ``on_end(job)`` is called in the worker thread when fit returns.
"""

import threading
import time

from ..callbacks import Callback
from ..watchdog import Watchdog

# The states of a job; the last three are final.
RUNNING, PAUSED, STOPPING, DONE, STOPPED, FAILED = (
    "running", "paused", "stopping", "done", "stopped", "failed")
FINAL = (DONE, STOPPED, FAILED)
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy")


class JobConflict(Exception):
    """A request that the job's state does not allow (a second start, a resume while running)."""


class _Control(Callback):
    """The job's hooks inside ``fit``."""

    def __init__(self, job):
        self.job = job

    def on_train_begin(self, logs):
        with self.job._lock:
            self.job._batches = logs["batches"]

    def on_epoch_begin(self, epoch, logs):
        with self.job._lock:
            self.job._epoch, self.job._batch = epoch, 0

    def on_batch_end(self, batch, logs):
        job = self.job
        with job._lock:
            job._batch = batch + 1
        job._running.wait()  # blocks here while paused
        if job._stop.is_set():
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs):
        with self.job._lock:
            self.job._epochs_done = epoch + 1
            for key in CURVES:
                if key in logs:
                    self.job._curves[key].append(float(logs[key]))


class TrainingJob:
    """``model.fit(X, y, callbacks=[...], **fit_arguments)`` in a worker thread.

    Arguments:
        model: the Sequential to train, or a chainrule.tabular.TabularModel (whose fit
            takes callbacks too); the job is its only user until it ends.
        X: inputs of shape (n_samples, n_features); y: labels of shape (n_samples,). For
            a TabularModel, X is the table and y the target column.
        fit_arguments: the other arguments of fit (epochs, batch_size, optimizer, ...).
        epochs: the most epochs the run takes; by default fit_arguments["epochs"].
        on_end: called as on_end(job) in the worker thread when fit has returned or raised.
        watchdog: whether a Watchdog watches the run (its warnings are in ``snapshot()``).
    """

    def __init__(self, model, X, y, fit_arguments, settings=None, on_end=None, epochs=None, watchdog=True):
        self.model, self.settings, self.on_end = model, settings or {}, on_end
        self.epochs = fit_arguments["epochs"] if epochs is None else epochs
        self._lock = threading.Lock()
        self._running, self._stop = threading.Event(), threading.Event()
        self._running.set()
        self._status, self._error = RUNNING, None
        self._epoch = self._batch = self._batches = self._epochs_done = 0
        self._curves = {key: [] for key in CURVES}
        self._warnings = []
        self._watchdog = Watchdog(on_warning=self._warned) if watchdog else None
        self._started, self._seconds = time.perf_counter(), None
        self._thread = threading.Thread(target=self._run, args=(X, y, fit_arguments),
                                        name="chainrule-training", daemon=True)
        self._thread.start()

    def _run(self, X, y, fit_arguments):
        try:
            callbacks = [_Control(self)] + ([self._watchdog] if self._watchdog is not None else [])
            self.model.fit(X, y, callbacks=callbacks, **fit_arguments)
            final, error = (STOPPED if self._stop.is_set() else DONE), None
        except Exception as exc:  # divergence and the like: the page shows the message
            final, error = FAILED, " ".join(str(exc).split()) or type(exc).__name__
        with self._lock:
            self._status, self._error = final, error
            self._seconds = time.perf_counter() - self._started
        if self.on_end is not None:
            self.on_end(self)

    def _warned(self, warning):
        """The Watchdog's on_warning: {"epoch", "kind", "message"} kept for the snapshot."""
        with self._lock:
            self._warnings.append(dict(warning))

    # --- the page's buttons -------------------------------------------------------

    def pause(self):
        with self._lock:
            if self._status != RUNNING:
                raise JobConflict(f"only a running job can be paused; this one is {self._status}")
            self._status = PAUSED
            self._running.clear()

    def resume(self):
        with self._lock:
            if self._status != PAUSED:
                raise JobConflict(f"only a paused job can be resumed; this one is {self._status}")
            self._status = RUNNING
            self._running.set()

    def stop(self):
        """Ask fit to end after the current batch (a paused job is let go first)."""
        with self._lock:
            if self._status in FINAL:
                raise JobConflict(f"the job has already ended ({self._status})")
            self._status = STOPPING
            self._stop.set()
            self._running.set()

    def join(self, timeout=None):
        self._thread.join(timeout)

    @property
    def finished(self):
        with self._lock:
            return self._status in FINAL

    def snapshot(self):
        """The job as plain data: status, progress, the curves so far and the watchdog's
        warnings ([{"epoch", "kind", "message"}]) (copies)."""
        with self._lock:
            seconds = self._seconds if self._seconds is not None else time.perf_counter() - self._started
            return {"status": self._status, "error": self._error, "epoch": self._epoch,
                    "epochs": self.epochs, "epochs_done": self._epochs_done, "batch": self._batch,
                    "batches": self._batches, "seconds": round(seconds, 3),
                    "curves": {key: list(values) for key, values in self._curves.items()},
                    "warnings": [dict(w) for w in self._warnings], "settings": dict(self.settings)}
