"""The mini-batch loop: the texts' first network, batching, callbacks, divergence."""

import numpy as np
import pytest
from sklearn.datasets import make_moons

import chainrule as cr
from chainrule import Dense, Sequential
from chainrule.errors import InputError, InputTypeError, TrainingDivergedError


def small_classifier(seed=0, dtype="float32"):
    return Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=seed, dtype=dtype)


def test_the_texts_first_network_fits_two_half_moons():
    """Two hidden sigmoid layers, a sigmoid output, log-loss, full-batch gradient descent."""
    X, y = make_moons(300, noise=0.1, random_state=0)
    model = Sequential([Dense(2, 16, "sigmoid"), Dense(16, 16, "sigmoid"), Dense(16, 1, "sigmoid")],
                       loss="log_loss", seed=0)
    history = model.fit(X, y, epochs=2000, batch_size=None, optimizer=cr.optimizers.SGD(2.0))
    assert len(history["loss"]) == 2000
    assert history["loss"][-1] < history["loss"][0] / 10
    assert history["accuracy"][-1] >= 0.97
    assert np.mean(model.predict(X) == y) >= 0.97
    # not linearly separable: a network without hidden layers cannot do it
    linear = Sequential([Dense(2, 1, "sigmoid")], loss="log_loss", seed=0)
    linear.fit(X, y, epochs=2000, batch_size=None, optimizer=cr.optimizers.SGD(2.0))
    assert np.mean(linear.predict(X) == y) < 0.92


def test_mini_batches_cover_the_data_once_per_epoch_with_a_smaller_last_batch(blobs):
    X, y = blobs
    sizes = []
    model = small_classifier()
    model.fit(X[:10], y[:10], epochs=2, batch_size=4,
              callbacks=[cr.LambdaCallback(on_batch_end=lambda b, logs: sizes.append(logs["size"]))])
    assert sizes == [4, 4, 2, 4, 4, 2]


def test_full_batch_takes_one_step_per_epoch(blobs):
    X, y = blobs
    opt = cr.optimizers.SGD(0.1)
    small_classifier().fit(X, y, epochs=5, batch_size=None, optimizer=opt)
    assert opt.iterations == 5


def test_full_batch_step_is_minus_lr_times_the_gradient(blobs):
    X, y = blobs
    model = small_classifier(dtype="float64")
    before = [p.copy() for p in model.parameters()]
    _, grads = model.loss_and_gradients(X, y)
    model.fit(X, y, epochs=1, batch_size=None, optimizer=cr.optimizers.SGD(0.3), shuffle=False)
    for p, p0, g in zip(model.parameters(), before, grads, strict=True):
        np.testing.assert_allclose(p, p0 - 0.3 * g, rtol=1e-12, atol=1e-15)


def test_shuffling_is_seeded_and_changes_each_epoch(blobs):
    X, y = blobs

    def epoch_orders(seed, shuffle=True):
        """The rows each epoch saw, in the order the mini-batches saw them."""
        model = small_classifier(seed)
        batches = []
        model.fit(X, y, epochs=2, batch_size=30, shuffle=shuffle, callbacks=[cr.LambdaCallback(
            on_batch_end=lambda b, logs: batches.append(model.layers[0].a_prev.copy()))])
        return np.concatenate(batches[:3]), np.concatenate(batches[3:])

    first, second = epoch_orders(seed=1)
    for order in (first, second):  # every example once per epoch
        assert sorted(map(tuple, order)) == sorted(map(tuple, X))
    assert not np.array_equal(first, second)  # a new order every epoch
    again = epoch_orders(seed=1)
    np.testing.assert_array_equal(again[0], first)  # the same order for the same seed
    np.testing.assert_array_equal(again[1], second)
    plain = epoch_orders(seed=1, shuffle=False)
    np.testing.assert_array_equal(plain[0], X)
    np.testing.assert_array_equal(plain[1], X)


def test_history_has_train_and_validation_curves(blobs):
    X, y = blobs
    history = small_classifier().fit(X[:60], y[:60], epochs=4, batch_size=16, optimizer=cr.optimizers.SGD(0.1),
                                     validation_data=(X[60:], y[60:]))
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == [0, 1, 2, 3]
    assert all(len(v) == 4 for v in history.history.values())
    assert history["val_accuracy"][-1] >= 0.9


def test_validation_split_is_stratified(blobs):
    X, y = blobs
    model = small_classifier()
    seen = {}

    class Sizes(cr.Callback):
        def on_train_begin(self, logs):
            seen.update(logs)

    history = model.fit(X, y, epochs=1, validation_split=0.2, callbacks=[Sizes()])
    counts = np.bincount(y, minlength=3)
    assert seen["samples"] == len(y) - sum(int(round(0.2 * c)) for c in counts)
    assert "val_loss" in history.history


def test_early_stopping_restores_the_best_weights(blobs):
    X, y = blobs
    model = small_classifier()
    stopper = cr.EarlyStopping(monitor="val_loss", patience=2)
    snapshots = []
    record = cr.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append([p.copy() for p in model.parameters()]))
    # a learning rate far too large: validation loss gets worse and training should stop early
    history = model.fit(X[:60], y[:60], epochs=50, batch_size=8, optimizer=cr.optimizers.SGD(0.05, momentum=0.9),
                        validation_data=(X[60:], y[60:]), callbacks=[record, stopper])
    best = int(np.argmin(history["val_loss"]))
    assert len(history.epoch) < 50 and stopper.stopped_epoch == len(history.epoch) - 1
    assert len(history.epoch) == best + 1 + 3
    for p, saved in zip(model.parameters(), snapshots[best], strict=True):
        np.testing.assert_array_equal(p, saved)


def test_early_stopping_needs_a_reported_metric(blobs):
    X, y = blobs
    with pytest.raises(InputError, match=r"EarlyStopping monitors 'val_loss', which fit does not report"):
        small_classifier().fit(X, y, epochs=2, callbacks=[cr.EarlyStopping()])


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_finite_weights():
    X = np.random.default_rng(0).normal(size=(40, 4)) * 50
    y = X @ np.ones((4, 1)) * 1e3
    model = Sequential([Dense(4, 16, "relu"), Dense(16, 1)], loss="mse", seed=0)
    seen = []
    record = cr.LambdaCallback(on_batch_end=lambda b, logs: seen.append([p.copy() for p in model.parameters()]))
    with pytest.raises(TrainingDivergedError, match=r"training diverged at epoch \d+, batch \d+ \(.*\); "
                       r"try a smaller learning rate \(now 1\); the weights are the last finite ones"):
        model.fit(X, y, epochs=50, batch_size=8, optimizer=cr.optimizers.SGD(1.0), callbacks=[record])
    assert all(np.isfinite(p).all() for p in model.parameters())
    for p, last in zip(model.parameters(), seen[-1], strict=True):  # those after the last good step
        np.testing.assert_array_equal(p, last)


def test_weights_that_are_no_longer_finite_go_back_to_the_epochs_start(blobs):
    X, y = blobs
    model = small_classifier()
    starts = []

    def poison(batch, logs):  # as an update that overflowed without a numpy error would
        if len(starts) == 2 and batch == 1:
            model.layers[0].W[0, 0] = np.inf

    callbacks = [cr.LambdaCallback(on_epoch_begin=lambda e, logs: starts.append([p.copy() for p in model.parameters()]),
                                   on_batch_end=poison)]
    with pytest.raises(TrainingDivergedError, match=r"at epoch 2, batch 3 .*the weights are back to those of "
                       r"the start of epoch 2"):
        model.fit(X, y, epochs=3, batch_size=16, callbacks=callbacks)
    for p, start in zip(model.parameters(), starts[1], strict=True):
        np.testing.assert_array_equal(p, start)


def test_progress_bar_goes_to_stderr_and_the_library_does_not_print(blobs, capsys):
    X, y = blobs
    small_classifier().fit(X, y, epochs=2, batch_size=30)
    quiet = capsys.readouterr()
    assert quiet.out == "" and quiet.err == ""
    small_classifier().fit(X, y, epochs=2, batch_size=30, verbose=1)
    shown = capsys.readouterr()
    assert shown.out == "" and "epoch 2/2" in shown.err and "loss" in shown.err


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, r"epochs must be a positive integer; received epochs=0"),
    ({"epochs": 2.5}, r"epochs must be a positive integer; received epochs=2.5"),
    ({"batch_size": 0}, r"batch_size must be a positive integer or None; received batch_size=0"),
    ({"batch_size": -3}, r"batch_size must be a positive integer or None; received batch_size=-3"),
    ({"validation_split": 1.0}, r"validation_split must be a number in \[0, 1\); received validation_split=1.0"),
    ({"optimizer": "newton"}, r"optimizer must be one of"),
    ({"verbose": 3}, r"verbose must be 0 or 1; received verbose=3"),
])
def test_bad_fit_arguments(blobs, kwargs, message):
    X, y = blobs
    with pytest.raises(InputError, match=message):
        small_classifier().fit(X, y, **kwargs)


def test_callbacks_must_be_callbacks(blobs):
    X, y = blobs
    with pytest.raises(InputTypeError, match=r"callbacks must be Callback objects"):
        small_classifier().fit(X, y, callbacks=[print])
