"""The progress bar: epoch, batch, running loss and accuracy, examples per second, ETA."""

import io


import chainrule as cr
from chainrule import Dense, Sequential
from chainrule.progress import ProgressBar


def small_classifier():
    return Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)


def test_each_epochs_bar_shows_epoch_batches_logs_and_examples_per_second(blobs):
    X, y = blobs
    out = io.StringIO()
    history = small_classifier().fit(X, y, epochs=2, batch_size=30, validation_split=0.2,
                                     callbacks=[ProgressBar(file=out, plain=False)])
    lines = [line.rsplit("\r", 1)[-1] for line in out.getvalue().split("\n") if line]  # as the terminal shows it
    assert len(lines) == 2
    for epoch, line in enumerate(lines):
        assert line.startswith(f"epoch {epoch + 1}/2: 100%")
        assert "3/3 [" in line  # batches: 72 examples in batches of 30
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert f" {key}={history[key][epoch]:.4f}" in line
        assert "ex/s=" in line and "batch/s" in line


def test_the_running_loss_and_accuracy_and_the_eta_while_an_epoch_runs():
    out = io.StringIO()
    bar = ProgressBar(file=out, plain=False)
    bar.on_train_begin({"epochs": 3, "batches": 4, "samples": 14, "initial_epoch": 0})
    bar.on_epoch_begin(1, {})
    bar.on_batch_end(0, {"loss": 1.0, "size": 4, "correct": 1})
    bar.bar.refresh()
    shown = out.getvalue().rsplit("\r", 1)[-1]
    assert shown.startswith("epoch 2/3:  25%")
    assert "1/4 [" in shown and "<" in shown  # tqdm draws "spent<remaining" between brackets
    assert "loss=1.0000, accuracy=0.2500, ex/s=" in shown
    for batch in (1, 2):
        bar.on_batch_end(batch, {"loss": 0.5, "size": 4, "correct": 3})
    bar.on_batch_end(3, {"loss": 0.25, "size": 2, "correct": 2})  # the last batch: shown
    bar.bar.refresh()
    shown = out.getvalue().rsplit("\r", 1)[-1]
    assert f"loss={(4 * 1.0 + 8 * 0.5 + 2 * 0.25) / 14:.4f}, accuracy={9 / 14:.4f}, ex/s=" in shown
    bar.on_epoch_end(1, {"loss": 0.6, "accuracy": 0.64})
    assert bar.bar.disable  # closed
    assert out.getvalue().endswith("\n")


def test_without_correct_counts_there_is_no_running_accuracy():
    """Regressors: fit reports only "loss" and "size" per batch."""
    out = io.StringIO()
    bar = ProgressBar(file=out, plain=False)
    bar.on_train_begin({"epochs": 1, "batches": 2})
    bar.on_epoch_begin(0, {})
    bar.on_batch_end(0, {"loss": 2.0, "size": 8})
    bar.bar.refresh()
    shown = out.getvalue().rsplit("\r", 1)[-1]
    assert "loss=2.0000, ex/s=" in shown and "accuracy" not in shown
    bar.on_train_end({})


def test_a_bar_left_open_by_a_stop_in_mid_epoch_is_closed_at_the_end(blobs):
    X, y = blobs
    out = io.StringIO()
    progress = ProgressBar(file=out, plain=False)

    def stop(batch, logs):
        if batch == 1:
            progress.model.stop_training = True

    small_classifier().fit(X, y, epochs=3, batch_size=10,
                           callbacks=[cr.LambdaCallback(on_batch_end=stop), progress])
    assert progress.bar.disable  # closed by on_train_end
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1
    shown = text.rsplit("\r", 1)[-1]
    assert shown.startswith("epoch 1/3:  22%") and "2/9 [" in shown
    assert "loss=" in shown and "accuracy=" in shown and "ex/s=" in shown  # the running values


def test_nothing_on_stdout_and_the_bar_on_stderr_by_default(blobs, capsys):
    X, y = blobs
    small_classifier().fit(X, y, epochs=1, batch_size=45, callbacks=[ProgressBar(plain=False)])
    shown = capsys.readouterr()
    assert shown.out == "" and "epoch 1/1: 100%" in shown.err and "ex/s=" in shown.err


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_stream_that_is_not_a_terminal_gets_one_plain_line_per_epoch(blobs, capsys):
    """stderr sent to a file (pytest captures it into one): no carriage returns, one line
    per epoch with its logs; a terminal gets the bar."""
    X, y = blobs
    history = small_classifier().fit(X, y, epochs=3, batch_size=30, validation_split=0.2,
                                     callbacks=[ProgressBar()])
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 3
    for epoch, line in enumerate(lines):
        assert line.startswith(f"epoch {epoch + 1}/3: 3 batches, loss={history['loss'][epoch]:.4f}, ")
        assert f"val_accuracy={history['val_accuracy'][epoch]:.4f}, ex/s=" in line and line.endswith(" s")
    terminal = Terminal()
    small_classifier().fit(X, y, epochs=1, batch_size=30, callbacks=[ProgressBar(file=terminal)])
    assert "\r" in terminal.getvalue() and "100%" in terminal.getvalue()
