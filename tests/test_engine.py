"""The one training loop (chainrule.training) and the network's weighted passes: example
weights, penalties, on_train_end after an error, and the estimators training through it."""

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import Dense, Sequential, kernels, training
from chainrule.errors import InputError, TrainingDivergedError
from chainrule.regularizers import L2

LOSSES = [("softmax", "cross_entropy"), ("sigmoid", "log_loss"), ("identity", "mse"),
          ("sigmoid", "mse"), ("softmax", "mse"), ("tanh", "mse")]


def net(out_activation, loss, n_out=3, seed=0):
    return Sequential([Dense(4, 5, "tanh"), Dense(5, n_out, out_activation)], loss=loss,
                      seed=seed, dtype="float64")


def targets(loss, out_activation, n, n_out, rng):
    if loss == "cross_entropy" or out_activation == "softmax":
        return np.eye(n_out)[rng.integers(0, n_out, n)]
    if loss == "log_loss" or out_activation == "sigmoid":
        return rng.integers(0, 2, (n, n_out)).astype(np.float64)
    return rng.normal(size=(n, n_out))


@pytest.mark.parametrize("out_activation, loss", LOSSES)
def test_example_costs_average_to_the_cost(out_activation, loss):
    rng = np.random.default_rng(0)
    model = net(out_activation, loss)
    X, Y = rng.normal(size=(7, 4)), targets(loss, out_activation, 7, 3, rng)
    model.forward_pass(X)
    costs = model.example_costs(Y)
    assert costs.shape == (7,) and costs.dtype == np.float64
    np.testing.assert_allclose(costs.mean(), model.cost(Y), rtol=1e-12)


@pytest.mark.parametrize("out_activation, loss", LOSSES)
def test_weighted_backward_pass_is_the_gradient_of_the_weighted_cost(out_activation, loss):
    """Central finite differences of cost(Y, w) = sum w_i C_i / sum w_i for every parameter."""
    rng = np.random.default_rng(1)
    model = net(out_activation, loss)
    X, Y = rng.normal(size=(6, 4)), targets(loss, out_activation, 6, 3, rng)
    w = np.array([0.5, 2.0, 0.0, 1.0, 3.0, 0.25])
    model.forward_pass(X)
    model.backward_pass(Y, w)
    grads = [g.copy() for g in model.gradients()]
    eps = 1e-6
    for p, g in zip(model.parameters(), grads, strict=True):
        numeric = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            model.forward_pass(X)
            up = model.cost(Y, w)
            p[i] = old - eps
            model.forward_pass(X)
            down = model.cost(Y, w)
            p[i] = old
            numeric[i] = (up - down) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


def test_a_weight_of_two_is_a_row_counted_twice():
    rng = np.random.default_rng(2)
    model = net("softmax", "cross_entropy")
    X, Y = rng.normal(size=(5, 4)), np.eye(3)[[0, 1, 2, 1, 0]]
    model.forward_pass(X)
    weighted = model.cost(Y, np.array([2.0, 1, 1, 1, 1]))
    model.backward_pass(Y, np.array([2.0, 1, 1, 1, 1]))
    g_weighted = [g.copy() for g in model.gradients()]
    X2, Y2 = np.vstack([X, X[:1]]), np.vstack([Y, Y[:1]])
    model.forward_pass(X2)
    np.testing.assert_allclose(weighted, model.cost(Y2), rtol=1e-13)
    model.backward_pass(Y2)
    for a, b in zip(g_weighted, model.gradients(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_fit_with_unit_weights_is_fit_without_weights_bit_for_bit(blobs):
    X, y = blobs
    a, b = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=3), \
        Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=3)
    ha = a.fit(X, y, epochs=3, batch_size=16, optimizer=cr.optimizers.SGD(0.1, momentum=0.9))
    hb = b.fit(X, y, epochs=3, batch_size=16, optimizer=cr.optimizers.SGD(0.1, momentum=0.9),
               sample_weight=np.ones(len(X)))
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-6)


def test_a_batch_whose_weights_are_all_zero_takes_no_step(blobs):
    X, y = blobs
    model = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    before = [p.copy() for p in model.parameters()]
    logs = []
    model.fit(X[:8], y[:8], epochs=1, batch_size=4, shuffle=False, sample_weight=[0, 0, 0, 0, 1, 1, 1, 1],
              optimizer=cr.optimizers.SGD(0.5),
              callbacks=[cr.LambdaCallback(on_batch_end=lambda b, lg: logs.append(dict(lg)))])
    assert logs[0]["weight"] == 0 and logs[0]["loss"] == 0 and logs[1]["weight"] == 4
    # only the second batch moved the weights: the same as one step on it alone
    alone = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    alone.fit(X[4:8], y[4:8], epochs=1, batch_size=4, shuffle=False, optimizer=cr.optimizers.SGD(0.5))
    for p, q, b in zip(model.parameters(), alone.parameters(), before, strict=True):
        np.testing.assert_array_equal(p, q)
        assert not np.array_equal(p, b)


@pytest.mark.parametrize("weights, message", [
    ([1.0] * 89, r"sample_weight must be of shape \(90,\) \(one weight per sample\); received shape \(89,\)"),
    ([1.0] * 89 + [-1.0], r"sample_weight must be non-negative; received -1.0 at index 89"),
    ([1.0] * 89 + [np.nan], r"sample_weight must be finite; received NaN or inf at index \(89,\)"),
])
def test_bad_sample_weights_are_refused_before_anything_changes(blobs, weights, message):
    X, y = blobs
    model = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(InputError, match=message):
        model.fit(X, y, sample_weight=weights)
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p, b)


def test_the_l2_penalty_adds_its_gradient_and_its_value():
    """P = scale alpha/2 sum ||W||^2 / n, dP/dW = scale alpha W / n, biases untouched:
    written again here, and checked against finite differences of cost + P."""
    rng = np.random.default_rng(4)
    model = net("softmax", "cross_entropy")
    X, Y = rng.normal(size=(6, 4)), np.eye(3)[rng.integers(0, 3, 6)]
    penalty = L2(0.3, scale=2.0)
    model.forward_pass(X)
    model.backward_pass(Y)
    plain = [g.copy() for g in model.gradients()]
    value = penalty.inplace_add_gradient(model, 6.0)
    squares = sum(float((layer.W ** 2).sum()) for layer in model.dense_layers)
    assert value == pytest.approx(2.0 * 0.3 / 2 * squares / 6, rel=1e-14)
    for layer, (gW, gb) in zip(model.dense_layers, zip(plain[::2], plain[1::2]), strict=True):
        np.testing.assert_allclose(layer.dW, gW + 2.0 * 0.3 * layer.W / 6, rtol=1e-14)
        np.testing.assert_array_equal(layer.db, gb)
    W = model.dense_layers[0].W
    eps, (j, k) = 1e-6, (1, 2)

    def total():
        model.forward_pass(X)
        return model.cost(Y) + 0.5 * 2.0 * 0.3 * sum(float((d.W ** 2).sum()) for d in model.dense_layers) / 6

    W[j, k] += eps
    up = total()
    W[j, k] -= 2 * eps
    down = total()
    W[j, k] += eps
    assert model.dense_layers[0].dW[j, k] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_fit_reports_the_penalty_in_the_batch_logs(blobs):
    X, y = blobs
    model = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    logs = []
    model.fit(X, y, epochs=1, batch_size=30, penalty=L2(0.1),
              callbacks=[cr.LambdaCallback(on_batch_end=lambda b, lg: logs.append(dict(lg)))])
    assert all(lg["penalty"] > 0 and lg["loss"] > lg["penalty"] for lg in logs)


def test_on_train_end_runs_when_training_raises(blobs):
    X, y = blobs
    ended = []

    def explode(batch, logs):
        if batch == 1:
            raise RuntimeError("boom")

    model = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(X, y, epochs=2, callbacks=[cr.LambdaCallback(on_batch_end=explode,
                                                               on_train_end=lambda logs: ended.append(logs))])
    assert len(ended) == 1 and isinstance(ended[0]["error"], RuntimeError)
    ended.clear()
    model.fit(X, y, epochs=1, callbacks=[cr.LambdaCallback(on_train_end=lambda logs: ended.append(logs))])
    assert ended == [{}]


def test_on_train_end_restores_early_stoppings_best_weights_after_divergence():
    """EarlyStopping's on_train_end runs after the error too: the weights end as those of
    the best epoch before the loss exploded."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)), rng.normal(size=64)
    model = Sequential([Dense(4, 16, "relu"), Dense(16, 1)], loss="mse", seed=0)
    stop = cr.EarlyStopping(monitor="loss", patience=100)
    sgd = cr.optimizers.SGD(1e-3)
    blow_up = cr.LambdaCallback(on_epoch_begin=lambda e, logs: setattr(sgd, "learning_rate", 1e6) if e == 3 else None)
    with pytest.raises(TrainingDivergedError):
        model.fit(X, y * 1e3, epochs=10, batch_size=4, optimizer=sgd, callbacks=[stop, blow_up])
    assert stop.best_weights is not None and stop.best_epoch is not None
    for p, best in zip(model.parameters(), stop.best_weights, strict=True):
        np.testing.assert_array_equal(p, best)


@pytest.mark.parametrize("compiled", [True, False])
def test_the_estimators_diverge_as_the_core_does_with_and_without_numba(compiled, monkeypatch):
    """An overflowing step raises TrainingDivergedError from MLPRegressor.fit, whether the
    compiled kernels (which raise no numpy errors) or numpy compute it, and leaves finite
    weights: the core's rule, since the estimators train through training.fit."""
    from chainrule.sklearn import MLPRegressor

    if compiled and not kernels.AVAILABLE:
        pytest.fail("numba is missing: pip install -e '.[test]' brings it")
    monkeypatch.setattr(kernels, "AVAILABLE", compiled)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 5)) * 1e3, rng.normal(size=200) * 1e6
    for dtype in ("float32", "float64"):
        reg = MLPRegressor((32,), solver="sgd", learning_rate_init=10.0, max_iter=5, random_state=0,
                           dtype=dtype)
        with pytest.raises(TrainingDivergedError, match=r"training diverged at epoch \d+, batch \d+ .*"
                                                        r"lower learning_rate_init \(now 10\)"):
            reg.fit(X, y)
        assert all(np.isfinite(p).all() for p in reg.model_.parameters())
        core = Sequential([Dense(5, 32, "relu", init="glorot"), Dense(32, 1, init="glorot")], loss="mse",
                          seed=0, dtype=dtype)
        with pytest.raises(TrainingDivergedError):
            core.fit(X, y, epochs=5, batch_size=200, optimizer=cr.optimizers.SGD(10.0, momentum=0.9))
        assert all(np.isfinite(p).all() for p in core.parameters())


def test_the_loop_is_one_train_step_per_batch(blobs, monkeypatch):
    """Every face's training goes through training.train_step: count its calls."""
    from sklearn.exceptions import ConvergenceWarning

    from chainrule.sklearn import MLPClassifier

    X, y = blobs
    calls = []
    real = training.train_step
    monkeypatch.setattr(training, "train_step", lambda *a, **k: calls.append(1) or real(*a, **k))
    Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0).fit(X, y, epochs=2, batch_size=30)
    assert len(calls) == 6
    calls.clear()
    with pytest.warns(ConvergenceWarning):
        MLPClassifier((8,), max_iter=3, batch_size=45, random_state=0, tol=0).fit(X, y)
    assert len(calls) == 6
    calls.clear()
    MLPClassifier((8,), batch_size=45, random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    assert len(calls) == 2


def test_weights_of_any_real_type_and_numpy_scalars_in_settings(blobs):
    X, y = blobs
    model = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=0)
    model.fit(X, y, epochs=np.int64(2), batch_size=np.int32(30), validation_split=np.float32(0.2),
              sample_weight=np.ones(len(X), dtype=np.float32))
    assert len(model.history.epoch) == 2
    for name, value in itertools.product(["epochs", "batch_size"], [True, 2.0, 0]):
        with pytest.raises(InputError, match=rf"{name} must be a positive integer"):
            model.fit(X, y, **{name: value})
