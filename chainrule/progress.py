"""A progress bar callback (tqdm): epoch, batch, running loss and accuracy, examples/s, ETA.

Kept apart from training.py so that the math core imports only NumPy.
"""

import sys
import time

from tqdm.auto import tqdm

from .callbacks import Callback


class ProgressBar(Callback):
    """One bar per epoch (on stderr unless ``file`` is given), e.g.

        epoch 3/10:  40%|####      | 12/30 [00:01<00:01, 9.8batch/s, loss=0.4121, accuracy=0.8750, ex/s=3,136]

    tqdm draws the batch count, the elapsed time and the ETA of the epoch; the postfix holds
    the mean loss and the accuracy of the epoch's batches so far (accuracy when fit reports
    ``logs["correct"]``, the number of correct predictions of each batch: classifiers), and
    the examples per second. At the end of an epoch the postfix shows the epoch's logs.

    Where the stream is not a terminal (stderr sent to a file or a pipe, a CI log), a bar's
    redraws would fill the log with carriage returns: the epoch ends as one plain line
    instead (Keras's verbose=2), e.g.

        epoch 3/10: 30 batches, loss=0.4121, accuracy=0.8750, val_loss=0.4410, ex/s=3,136, 0.9 s

    ``plain``: True for those lines, False for the bar, None (the default) to choose by
    whether the stream (``file``, else stderr) is a terminal.
    """

    def __init__(self, file=None, plain=None):
        self.file = file
        self.plain = plain
        self.bar = None

    def on_train_begin(self, logs):
        self.epochs, self.batches = logs["epochs"], logs["batches"]
        if self.plain is None:
            stream = self.file if self.file is not None else sys.stderr
            self.plain = not (hasattr(stream, "isatty") and stream.isatty())

    def on_epoch_begin(self, epoch, logs):
        # a disabled bar still counts the batches and the time: the plain line reads them
        self.bar = tqdm(total=self.batches, desc=f"epoch {epoch + 1}/{self.epochs}",
                        unit="batch", file=self.file, leave=True, dynamic_ncols=True, disable=self.plain)
        self.start = time.perf_counter()
        self.seen, self.loss_sum, self.correct = 0, 0.0, None

    def on_batch_end(self, batch, logs):
        self.seen += logs["size"]
        self.loss_sum += logs["loss"] * logs["size"]
        if "correct" in logs:
            self.correct = (self.correct or 0) + logs["correct"]
        self.bar.update(1)
        if self.plain:
            return
        if batch % 10 == 0 or batch == self.batches - 1:  # formatting every batch costs time
            self.bar.set_postfix(self._running(), refresh=False)

    def _running(self):
        shown = {"loss": f"{self.loss_sum / self.seen:.4f}"}
        if self.correct is not None:
            shown["accuracy"] = f"{self.correct / self.seen:.4f}"
        rate = self.seen / max(time.perf_counter() - self.start, 1e-9)
        shown["ex/s"] = f"{rate:,.0f}"
        return shown

    def on_epoch_end(self, epoch, logs):
        shown = {k: f"{v:.4f}" for k, v in logs.items()}
        shown["ex/s"] = self._running()["ex/s"]
        if self.plain:
            stream = self.file if self.file is not None else sys.stderr
            values = ", ".join(f"{k}={v}" for k, v in shown.items())
            print(f"epoch {epoch + 1}/{self.epochs}: {self.batches} batches, {values}, "
                  f"{time.perf_counter() - self.start:.1f} s", file=stream, flush=True)
        else:
            self.bar.set_postfix(shown, refresh=False)
        self.bar.close()

    def on_train_end(self, logs):
        # training stopped in the middle of an epoch (model.stop_training): end its bar too
        if self.bar is not None:
            self.bar.close()
