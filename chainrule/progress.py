"""A progress bar callback (tqdm): epoch, batch, running loss and accuracy, examples/s, ETA.

Kept apart from training.py so that the math core imports only NumPy.
"""

from tqdm.auto import tqdm

from .training import Callback


class ProgressBar(Callback):
    """One bar per epoch on stderr, with the running loss and examples per second."""

    def __init__(self, file=None):
        self.file = file

    def on_train_begin(self, logs):
        self.epochs, self.batches = logs["epochs"], logs["batches"]

    def on_epoch_begin(self, epoch, logs):
        self.bar = tqdm(total=self.batches, desc=f"epoch {epoch + 1}/{self.epochs}",
                        unit="batch", file=self.file, leave=True, dynamic_ncols=True)
        self.seen, self.loss_sum = 0, 0.0

    def on_batch_end(self, batch, logs):
        self.seen += logs["size"]
        self.loss_sum += logs["loss"] * logs["size"]
        self.bar.update(1)
        if batch % 10 == 0 or batch == self.batches - 1:
            rate = self.seen / max(self.bar.format_dict["elapsed"], 1e-9)
            self.bar.set_postfix(loss=f"{self.loss_sum / self.seen:.4f}", ex_per_s=f"{rate:,.0f}", refresh=False)

    def on_epoch_end(self, epoch, logs):
        self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
        self.bar.close()
