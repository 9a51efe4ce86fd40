"""The callbacks of chainrule.callbacks: CSV and JSON-lines logs, a learning rate per epoch,
model files saved during training."""

import csv
import json
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import Dense, Sequential, checkpoint
from chainrule.callbacks import CSVLogger, JSONLogger, LearningRateScheduler, ModelCheckpoint
from chainrule.errors import InputError

KEYS = ["loss", "accuracy", "val_loss", "val_accuracy"]


def small_classifier(seed=0):
    return Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=seed)


def fit(model, X, y, callbacks, epochs=4, optimizer=None, **kwargs):
    optimizer = optimizer or cr.optimizers.SGD(0.1)
    return model.fit(X, y, epochs=epochs, batch_size=16, optimizer=optimizer, validation_split=0.2,
                     callbacks=callbacks, **kwargs)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def read_json_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f.read().splitlines()]


class Boom(Exception):
    pass


def crash_in_epoch(n):
    """A callback raising at the first batch of epoch n (from 1)."""
    def on_batch_end(batch, logs):
        if crashed.model is not None and len(crashed.model.history.epoch) == n - 1:
            raise Boom
    crashed = cr.LambdaCallback(on_batch_end=on_batch_end)
    return crashed


# --- CSVLogger ------------------------------------------------------------------------

def test_csv_has_a_header_and_one_row_per_epoch_equal_to_the_history(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.csv"
    model = small_classifier()
    history = fit(model, X, y, [CSVLogger(path)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", *KEYS]
    assert len(rows) == 1 + 4
    for i, row in enumerate(rows[1:]):
        assert int(row[0]) == i + 1
        # written in full: the values read back exactly
        assert [float(v) for v in row[1:]] == [history[k][i] for k in KEYS]
    assert history is model.history


def test_csv_columns_without_validation_or_classes(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]])
    path = tmp_path / "log.csv"
    model = Sequential([Dense(3, 1, "identity")], loss="mse", seed=0)
    history = model.fit(X, y, epochs=3, batch_size=8, callbacks=[CSVLogger(str(path))])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss"]
    assert [float(r[1]) for r in rows[1:]] == history["loss"]


def test_csv_replaces_the_file_unless_append(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.csv"
    fit(small_classifier(), X, y, [CSVLogger(path)], epochs=2)
    fit(small_classifier(), X, y, [CSVLogger(path)], epochs=3)
    assert len(read_csv(path)) == 1 + 3
    second = fit(small_classifier(seed=1), X, y, [CSVLogger(path, append=True)], epochs=2)
    rows = read_csv(path)
    assert rows[0] == ["epoch", *KEYS] and ["epoch", *KEYS] not in rows[1:]  # one header
    assert len(rows) == 1 + 3 + 2
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3, 1, 2]
    assert [float(r[1]) for r in rows[-2:]] == second["loss"]


def test_csv_append_to_a_new_file_writes_the_header(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "new.csv"
    fit(small_classifier(), X, y, [CSVLogger(path, append=True)], epochs=2)
    assert read_csv(path)[0] == ["epoch", *KEYS] and len(read_csv(path)) == 3


def test_csv_append_with_other_columns_is_refused(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.csv"
    small_classifier().fit(X, y, epochs=1, callbacks=[CSVLogger(path)])  # no validation
    with pytest.raises(InputError, match=r"CSVLogger '.*log.csv' has the columns \['epoch', 'loss', "
                       r"'accuracy'\]; this epoch logs \['epoch', 'loss', 'accuracy', 'val_loss', "
                       r"'val_accuracy'\]"):
        fit(small_classifier(), X, y, [CSVLogger(path, append=True)], epochs=1)


def test_a_crash_keeps_the_finished_epochs_in_both_logs(blobs, tmp_path):
    X, y = blobs
    csv_path, json_path = tmp_path / "log.csv", tmp_path / "log.jsonl"
    model = small_classifier()
    optimizer = cr.optimizers.SGD(0.1)
    with pytest.raises(Boom):
        fit(model, X, y, [CSVLogger(csv_path), JSONLogger(json_path, optimizer=optimizer),
                          crash_in_epoch(3)], epochs=5, optimizer=optimizer)
    rows = read_csv(csv_path)
    assert len(rows) == 1 + 2 and [int(r[0]) for r in rows[1:]] == [1, 2]
    assert [float(r[1]) for r in rows[1:]] == model.history["loss"]
    records = read_json_lines(json_path)
    assert [r["epoch"] for r in records] == [1, 2]
    assert [r["loss"] for r in records] == model.history["loss"]


# --- JSONLogger -----------------------------------------------------------------------

def test_json_lines_one_object_per_epoch_equal_to_the_history(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.jsonl"
    optimizer = cr.optimizers.SGD(0.1)
    history = fit(small_classifier(), X, y, [JSONLogger(path, optimizer=optimizer)], optimizer=optimizer)
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    for i, record in enumerate(records):
        assert list(record) == ["epoch", *KEYS, "time", "learning_rate"]
        assert record["epoch"] == i + 1
        assert [record[k] for k in KEYS] == [history[k][i] for k in KEYS]
        assert 0 < record["time"] < 10
        assert record["learning_rate"] == 0.1


def test_json_learning_rate_is_the_schedules_at_the_last_step_of_each_epoch(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.jsonl"
    schedule = cr.optimizers.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    optimizer = cr.optimizers.SGD(schedule)
    fit(small_classifier(), X, y, [JSONLogger(path, optimizer=optimizer)], epochs=3, optimizer=optimizer)
    steps_per_epoch = 5  # 72 training examples in batches of 16
    assert optimizer.iterations == 3 * steps_per_epoch
    assert [r["learning_rate"] for r in read_json_lines(path)] == \
        [schedule(steps_per_epoch * e - 1) for e in (1, 2, 3)]


def test_json_append(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.jsonl"
    for append, epochs in ((False, 2), (False, 3), (True, 2)):
        optimizer = cr.optimizers.SGD(0.1)
        fit(small_classifier(), X, y, [JSONLogger(path, append=append, optimizer=optimizer)],
            epochs=epochs, optimizer=optimizer)
    assert [r["epoch"] for r in read_json_lines(path)] == [1, 2, 3, 1, 2]


def test_json_writes_non_finite_values_as_null(tmp_path):
    logger = JSONLogger(tmp_path / "log.jsonl", optimizer=cr.optimizers.SGD(0.1))
    logger.on_train_begin({})
    logger.on_epoch_begin(0, {})
    logger.on_epoch_end(0, {"loss": 0.5, "val_loss": float("inf")})
    assert read_json_lines(tmp_path / "log.jsonl")[0]["val_loss"] is None


def test_the_optimizer_can_come_from_fits_logs(tmp_path):
    """What fit will pass: logs["optimizer"] at on_train_begin; a different one is refused."""
    optimizer = cr.optimizers.SGD(0.05)
    logger = JSONLogger(tmp_path / "log.jsonl")
    logger.on_train_begin({"optimizer": optimizer})
    logger.on_epoch_begin(0, {})
    logger.on_epoch_end(0, {"loss": 1.0})
    assert read_json_lines(tmp_path / "log.jsonl")[0]["learning_rate"] == 0.05
    scheduler = LearningRateScheduler(lambda epoch, lr: 0.5, optimizer=cr.optimizers.SGD(0.1))
    with pytest.raises(InputError, match=r"LearningRateScheduler was given optimizer=SGD\(learning_rate=0.1, "
                       r".*\), but fit trains with SGD\(learning_rate=0.05, .*\); pass the optimizer "
                       r"given to fit, or none"):
        scheduler.on_train_begin({"optimizer": optimizer})


# --- LearningRateScheduler ------------------------------------------------------------

def test_scheduler_sets_the_learning_rate_at_each_epoch(blobs):
    X, y = blobs
    optimizer = cr.optimizers.SGD(0.1)
    seen = []
    scheduler = LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch else lr, optimizer=optimizer)
    record = cr.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(optimizer.learning_rate))
    fit(small_classifier(), X, y, [scheduler, record], optimizer=optimizer)
    assert seen == [0.1, 0.05, 0.025, 0.0125]
    assert optimizer.learning_rate == 0.0125


def test_scheduler_equals_the_step_decay_with_one_step_per_epoch(blobs):
    """With k batches per epoch, lr = 0.2 * 0.5 ** epoch is StepDecay(0.2, step_size=k, gamma=0.5)."""
    X, y = blobs
    k = 5  # 72 training examples in batches of 16
    by_epoch, by_step = small_classifier(), small_classifier()
    opt_epoch = cr.optimizers.SGD(0.2, momentum=0.9)
    opt_step = cr.optimizers.SGD(cr.optimizers.StepDecay(0.2, step_size=k, gamma=0.5), momentum=0.9)
    h_epoch = fit(by_epoch, X, y, [LearningRateScheduler(lambda epoch, lr: 0.2 * 0.5 ** epoch, opt_epoch)],
                  optimizer=opt_epoch)
    h_step = fit(by_step, X, y, [], optimizer=opt_step)
    assert opt_epoch.iterations == opt_step.iterations == 4 * k
    for a, b in zip(by_epoch.parameters(), by_step.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h_epoch.history == h_step.history


@pytest.mark.parametrize("make, message", [
    (lambda: LearningRateScheduler(0.1),
     r"LearningRateScheduler schedule must be a function schedule\(epoch, lr\) -> lr; received schedule=0.1"),
    (lambda: LearningRateScheduler(cr.optimizers.StepDecay(0.1, 10)),
     r"LearningRateScheduler schedule must be a function schedule\(epoch, lr\) -> lr; received "
     r"schedule=StepDecay\(.*\), a schedule over steps: give it to the optimizer as its learning_rate instead"),
    (lambda: LearningRateScheduler(lambda e, lr: lr, optimizer="sgd"),
     r"LearningRateScheduler optimizer must be a chainrule Optimizer or None; received optimizer='sgd'"),
])
def test_bad_scheduler_arguments(make, message):
    with pytest.raises(InputError, match=message):
        make()


def test_scheduler_without_an_optimizer_or_with_a_step_schedule_is_refused(blobs):
    X, y = blobs
    with pytest.raises(InputError, match=r"LearningRateScheduler needs the optimizer that fit trains "
                       r"with; pass it as optimizer="):
        LearningRateScheduler(lambda e, lr: lr).on_train_begin({})  # fit's logs without "optimizer"
    optimizer = cr.optimizers.SGD(cr.optimizers.StepDecay(0.1, 10))
    with pytest.raises(InputError, match=r"LearningRateScheduler needs an optimizer whose learning_rate "
                       r"is a number; received learning_rate=StepDecay\(.*\), a schedule that already "
                       r"sets it at every step"):
        fit(small_classifier(), X, y, [LearningRateScheduler(lambda e, lr: lr, optimizer)], optimizer=optimizer)


@pytest.mark.parametrize("returned", [0, -0.1, float("nan"), "0.1", None])
def test_scheduler_refuses_a_bad_learning_rate(blobs, returned):
    X, y = blobs
    optimizer = cr.optimizers.SGD(0.1)
    scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch < 1 else returned, optimizer)
    with pytest.raises(InputError, match=rf"LearningRateScheduler schedule must return a positive number; "
                       rf"received {returned!r} for epoch=1".replace("(", r"\(").replace(")", r"\)")):
        fit(small_classifier(), X, y, [scheduler], optimizer=optimizer)


def test_json_logger_records_the_schedulers_learning_rates(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.jsonl"
    optimizer = cr.optimizers.Adam(0.01)
    callbacks = [JSONLogger(path, optimizer=optimizer),  # before the scheduler: order does not matter
                 LearningRateScheduler(lambda epoch, lr: 0.01 / (epoch + 1), optimizer)]
    fit(small_classifier(), X, y, callbacks, epochs=3, optimizer=optimizer)
    assert [r["learning_rate"] for r in read_json_lines(path)] == [0.01, 0.005, 0.01 / 3]


# --- ModelCheckpoint ------------------------------------------------------------------

def test_checkpoint_every_epoch_with_epoch_in_the_path(blobs, tmp_path):
    X, y = blobs
    checkpoint = ModelCheckpoint(tmp_path / "model-{epoch:02d}.npz")
    model = small_classifier()
    fit(model, X, y, [checkpoint], epochs=3)
    names = sorted(os.listdir(tmp_path))
    assert names == ["model-01.npz", "model-02.npz", "model-03.npz"]
    for epoch, name in enumerate(names, start=1):
        saved = cr.load(tmp_path / name)
        assert len(saved.history.epoch) == epoch
        assert saved.history["loss"] == model.history["loss"][:epoch]
    for a, b in zip(cr.load(tmp_path / names[-1]).parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_best_only_saves_when_val_loss_improves(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "best.npz"
    writes = []  # (epoch, the file's mtime and size) after every epoch

    def look(epoch, logs):
        stat = os.stat(path) if path.exists() else None
        writes.append(None if stat is None else (stat.st_mtime_ns, len(cr.load(path).history.epoch)))

    checkpoint = ModelCheckpoint(path, save_best_only=True)
    model = small_classifier()
    val_loss = [1.0, 0.5, 0.7, 0.4, 0.4, 0.6]  # improves at epochs 1, 2 and 4 (ties are not better)

    def fake_val_loss(epoch, logs):  # the monitored value, set before the checkpoint looks at it
        logs["val_loss"] = val_loss[epoch]

    fit(model, X, y, [cr.LambdaCallback(on_epoch_end=fake_val_loss), checkpoint,
                      cr.LambdaCallback(on_epoch_end=look)], epochs=6)
    saved_at = [w[1] for w in writes]  # epochs in the file's history: the epoch it was written
    assert saved_at == [1, 2, 2, 4, 4, 4]
    assert checkpoint.best == 0.4 and checkpoint.best_epoch == 3
    assert checkpoint.saved == [str(path)] * 3
    mtimes = [w[0] for w in writes]
    assert mtimes[2] == mtimes[1] and mtimes[4] == mtimes[5] == mtimes[3]


def test_checkpoint_best_only_on_real_training_and_max_mode(blobs, tmp_path):
    X, y = blobs
    loss_ck = ModelCheckpoint(tmp_path / "best-{epoch}.npz", save_best_only=True)
    acc_ck = ModelCheckpoint(tmp_path / "acc.npz", monitor="val_accuracy", save_best_only=True)
    model = small_classifier()
    history = fit(model, X, y, [loss_ck, acc_ck], epochs=6)
    val = history["val_loss"]
    improved = [e for e in range(6) if val[e] < min(val[:e], default=np.inf)]
    assert sorted(os.listdir(tmp_path)) == sorted(["acc.npz", *(f"best-{e + 1}.npz" for e in improved)])
    assert loss_ck.best == min(val) and loss_ck.best_epoch == int(np.argmin(val))
    assert acc_ck.maximize and acc_ck.best == max(history["val_accuracy"])
    assert cr.load(tmp_path / "acc.npz").history["val_accuracy"][-1] == acc_ck.best


def test_checkpoint_path_with_log_values(blobs, tmp_path):
    X, y = blobs
    history = fit(small_classifier(), X, y, [ModelCheckpoint(str(tmp_path / "m-{epoch}-{val_loss:.3f}.npz"))],
                  epochs=2)
    assert sorted(os.listdir(tmp_path)) == sorted(f"m-{e + 1}-{history['val_loss'][e]:.3f}.npz" for e in range(2))


@pytest.mark.parametrize("kwargs, message", [
    ({"path": 3}, r"ModelCheckpoint path must be a str or os.PathLike; received path=3"),
    ({"path": "m-{epoch.npz"}, r"ModelCheckpoint path must be a valid format string with fields such as "
                               r"\{epoch\}; received path='m-\{epoch.npz'"),
    ({"path": "m-{}.npz"}, r"ModelCheckpoint path fields must have names, such as \{epoch\}; "
                           r"received path='m-\{\}.npz'"),
    ({"monitor": None}, r"ModelCheckpoint monitor must be the name of a log, such as 'val_loss'; "
                        r"received monitor=None"),
    ({"mode": "best"}, r"ModelCheckpoint mode must be one of \['auto', 'max', 'min'\]; received mode='best'"),
    ({"save_best_only": "yes"}, r"ModelCheckpoint save_best_only must be True or False; "
                                r"received save_best_only='yes'"),
])
def test_bad_checkpoint_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        ModelCheckpoint(**{"path": "m.npz", **kwargs})


def test_checkpoint_errors_found_at_the_first_epoch(blobs, tmp_path):
    X, y = blobs
    with pytest.raises(InputError, match=r"ModelCheckpoint monitors 'val_loss', which fit does not report; "
                       r"available: \['accuracy', 'loss'\] \(val_\* needs validation_data or validation_split\)"):
        small_classifier().fit(X, y, callbacks=[ModelCheckpoint(tmp_path / "m.npz", save_best_only=True)])
    with pytest.raises(InputError, match=r"ModelCheckpoint path '.*m-\{step\}.npz' has the fields \['step'\], "
                       r"which fit does not report; available: \['epoch', 'accuracy', 'loss'\]"):
        small_classifier().fit(X, y, callbacks=[ModelCheckpoint(tmp_path / "m-{step}.npz")])
    assert os.listdir(tmp_path) == []


# --- paths and flags of the loggers ---------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: CSVLogger(None), r"CSVLogger path must be a str or os.PathLike; received path=None"),
    (lambda: CSVLogger("log.csv", append=1), r"CSVLogger append must be True or False; received append=1"),
    (lambda: JSONLogger(["log.jsonl"]), r"JSONLogger path must be a str or os.PathLike; received path=\['log.jsonl'\]"),
    (lambda: JSONLogger("log.jsonl", append="no"), r"JSONLogger append must be True or False; received append='no'"),
    (lambda: JSONLogger("log.jsonl", optimizer="adam"),
     r"JSONLogger optimizer must be a chainrule Optimizer or None; received optimizer='adam'"),
])
def test_bad_logger_arguments(make, message):
    with pytest.raises(InputError, match=message):
        make()


@pytest.mark.parametrize("make, owner", [
    (lambda p: CSVLogger(p), "CSVLogger"),
    (lambda p: JSONLogger(p, optimizer=cr.optimizers.SGD(0.1)), "JSONLogger"),
    (lambda p: ModelCheckpoint(p), "ModelCheckpoint"),
])
def test_a_missing_folder_is_found_before_training(blobs, tmp_path, make, owner):
    X, y = blobs
    path = tmp_path / "no" / "such" / "file"
    model = small_classifier()
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(InputError, match=rf"{owner} path must be in an existing folder; received "
                       rf"path='.*file' \(no folder '.*such'\)"):
        model.fit(X, y, callbacks=[make(path)])
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p, b)


def test_json_logger_without_an_optimizer_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"JSONLogger needs the optimizer that fit trains with; "
                       r"pass it as optimizer="):
        JSONLogger(tmp_path / "log.jsonl").on_train_begin({})  # fit's logs without "optimizer"


def test_fit_gives_its_optimizer_to_the_callbacks(blobs, tmp_path):
    X, y = blobs
    path = tmp_path / "log.jsonl"
    optimizer = cr.optimizers.SGD(0.1)
    fit(small_classifier(), X, y, [JSONLogger(path), LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))],
        epochs=3, optimizer=optimizer)
    assert optimizer.learning_rate == 0.1 / 3
    assert [r["learning_rate"] for r in read_json_lines(path)] == [0.1, 0.05, 0.1 / 3]


# --- ReduceLROnPlateau ---------------------------------------------------------------------

def plateau_by_hand(values, lr, factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0, maximize=False):
    """The learning rate after each epoch, from Keras's rule written again: an epoch improves
    when it beats the best by more than min_delta; the patience-th epoch in a row that does
    not cuts lr to max(lr * factor, min_lr); the cooldown epochs after a cut are not counted."""
    best, wait, cool, rates = None, 0, 0, []
    for v in values:
        better = best is None or (v > best + min_delta if maximize else v < best - min_delta)
        if better:
            best, wait = v, 0
        elif cool == 0:
            wait += 1
        cool = max(cool - 1, 0)
        if wait >= max(patience, 1) and lr > min_lr:
            lr, wait, cool = max(lr * factor, min_lr), 0, cooldown
        rates.append(lr)
    return rates


def plateau_rates(callback, values, lr):
    optimizer = cr.optimizers.SGD(lr)
    callback.on_train_begin({"optimizer": optimizer})
    rates = []
    for epoch, v in enumerate(values):
        callback.on_epoch_end(epoch, {"val_loss": v, "val_accuracy": v})
        rates.append(optimizer.learning_rate)
    return rates


LOSSES = [1.0, 0.9, 0.9, 0.95, 0.92, 0.91, 0.9, 0.89999, 0.85, 0.86, 0.87, 0.88, 0.9, 0.84, 0.9, 0.9, 0.9,
          0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("settings", [
    {"patience": 2}, {"patience": 3, "cooldown": 2}, {"patience": 1, "factor": 0.5, "min_lr": 0.02},
    {"patience": 0, "min_delta": 0.0}, {"patience": 2, "min_delta": 0.05, "cooldown": 1},
])
def test_plateau_is_its_rule(settings):
    ours = plateau_rates(cr.ReduceLROnPlateau(**settings), LOSSES, 0.1)
    assert ours == pytest.approx(plateau_by_hand(LOSSES, 0.1, **settings), rel=1e-15)


def test_plateau_by_hand_numbers_and_max_mode():
    """patience 2: epochs 2 and 3 do not beat 0.9, so the rate is cut after epoch 3 (from 0)."""
    callback = cr.ReduceLROnPlateau(patience=2, factor=0.5)
    assert plateau_rates(callback, [1.0, 0.9, 0.9, 0.95, 0.8], 0.1) == [0.1, 0.1, 0.1, 0.05, 0.05]
    assert callback.reductions == [3]
    accuracy = cr.ReduceLROnPlateau(monitor="val_accuracy", patience=1, factor=0.5)  # auto: maximise
    assert plateau_rates(accuracy, [0.5, 0.6, 0.6, 0.7], 0.1) == [0.1, 0.1, 0.05, 0.05]


@pytest.mark.parametrize("settings", [
    {"patience": 2}, {"patience": 3, "cooldown": 2}, {"patience": 1, "factor": 0.5, "min_lr": 0.02},
    {"patience": 2, "min_delta": 0.05, "cooldown": 1}, {"patience": 4, "mode": "max"},
])
def test_plateau_equals_pytorch(settings):
    """PyTorch's ReduceLROnPlateau with threshold_mode="abs" and patience one less (it cuts
    after patience + 1 epochs without improvement, Keras after patience)."""
    import torch

    values = LOSSES if settings.get("mode") != "max" else [-v for v in LOSSES]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode=settings.get("mode", "min"), factor=settings.get("factor", 0.1),
        patience=settings["patience"] - 1, threshold=settings.get("min_delta", 1e-4), threshold_mode="abs",
        cooldown=settings.get("cooldown", 0), min_lr=settings.get("min_lr", 0.0), eps=0.0)
    rates = []
    for v in values:
        opt.step()
        theirs.step(v)
        rates.append(opt.param_groups[0]["lr"])
    assert plateau_rates(cr.ReduceLROnPlateau(**settings), values, 0.1) == pytest.approx(rates, rel=1e-15)


def test_plateau_cuts_the_rate_of_a_real_run_and_the_checkpoint_keeps_it(blobs, tmp_path):
    X, y = blobs
    optimizer = cr.optimizers.SGD(0.1)
    callback = cr.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=10.0, factor=0.5)  # never improves
    fit(small_classifier(), X, y, [callback], epochs=4, optimizer=optimizer, checkpoint=tmp_path / "c.npz")
    assert callback.reductions == [1, 2, 3] and optimizer.learning_rate == 0.1 * 0.5 ** 3
    info = checkpoint.read_checkpoint(tmp_path / "c.npz")[0]
    assert checkpoint.optimizer_from(info).learning_rate == 0.1 * 0.5 ** 3


@pytest.mark.parametrize("kwargs, message", [
    ({"factor": 1.0}, r"factor must be a number in \(0, 1\); received factor=1.0$"),
    ({"factor": 0}, r"factor must be a number in \(0, 1\); received factor=0$"),
    ({"patience": -1}, r"patience must be a non-negative integer; received patience=-1$"),
    ({"mode": "best"}, r"mode must be one of \['auto', 'max', 'min'\]; received mode='best'$"),
    ({"min_delta": -0.1}, r"min_delta must be a number in \[0, inf\); received min_delta=-0.1$"),
    ({"cooldown": 1.5}, r"cooldown must be a non-negative integer; received cooldown=1.5$"),
    ({"min_lr": -1}, r"min_lr must be a number in \[0, inf\); received min_lr=-1$"),
    ({"monitor": 3}, r"ReduceLROnPlateau monitor must be the name of a log, such as 'val_loss'; received monitor=3$"),
    ({"optimizer": "sgd"}, r"ReduceLROnPlateau optimizer must be a chainrule Optimizer or None; "
                           r"received optimizer='sgd'$"),
])
def test_bad_plateau_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        cr.ReduceLROnPlateau(**kwargs)


def test_plateau_refuses_a_schedule_and_a_missing_log(blobs):
    X, y = blobs
    optimizer = cr.optimizers.SGD(cr.optimizers.OneCycle(0.1, total_steps=100))
    with pytest.raises(InputError, match=r"ReduceLROnPlateau needs an optimizer whose learning_rate is a "
                                         r"number; received learning_rate=OneCycle\(max_lr=0.1, .*\), a schedule "
                                         r"that already sets it at every step$"):
        fit(small_classifier(), X, y, [cr.ReduceLROnPlateau()], optimizer=optimizer)
    with pytest.raises(InputError, match=r"ReduceLROnPlateau monitors 'val_los', which fit does not report; "
                                         r"available: \['accuracy', 'loss', 'val_accuracy', 'val_loss'\]"):
        fit(small_classifier(), X, y, [cr.ReduceLROnPlateau(monitor="val_los")])
