"""Bad input gets a clear error naming the argument, what is allowed and what was
received, and leaves the network exactly as it was. The table below lists every bad
input tried against the core's entry points."""

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule import Dense, Dropout, Sequential
from chainrule.errors import ChainruleError, InputError, InputTypeError

rng = np.random.default_rng(0)
X = rng.normal(size=(12, 4)).astype(np.float32)
y = rng.integers(0, 3, 12)
X_nan = X.copy()
X_nan[3, 1] = np.nan
X_inf = X.copy()
X_inf[0, 0] = np.inf


def classifier():
    return Sequential([Dense(4, 6, "relu"), Dense(6, 3, "softmax")], seed=0)


def binary():
    return Sequential([Dense(4, 1, "sigmoid")], loss="log_loss", seed=0)


# (description, network, call, error type, message pattern)
BAD_INPUTS = [
    ("X is 1-D", classifier, lambda m: m.fit(X[0], y[:1]), InputError,
     r"X must be 2-D of shape \(n_samples, n_features\); received shape \(4,\)"),
    ("X is 3-D", classifier, lambda m: m.predict(X[None]), InputError,
     r"X must be 2-D .*received shape \(1, 12, 4\)"),
    ("X has the wrong feature count", classifier, lambda m: m.fit(X[:, :3], y), InputError,
     r"X must have 4 features \(the first layer's in_features\); received 3"),
    ("X and y of different lengths", classifier, lambda m: m.fit(X, y[:10]), InputError,
     r"X and y must have the same number of samples; received 12 and 10"),
    ("empty X", classifier, lambda m: m.fit(X[:0], y[:0]), InputError,
     r"X must hold at least one sample; received shape \(0, 4\)"),
    ("NaN in X", classifier, lambda m: m.fit(X_nan, y), InputError,
     r"X must be finite; received NaN or inf at index \(3, 1\)"),
    ("inf in X for predict", classifier, lambda m: m.predict(X_inf), InputError,
     r"X must be finite; received NaN or inf at index \(0, 0\)"),
    ("NaN in y", lambda: Sequential([Dense(4, 1)], loss="mse"),
     lambda m: m.fit(X, np.where(np.arange(12) == 5, np.nan, 1.0)), InputError,
     r"y must be finite; received NaN or inf at index \(5,\)"),
    ("strings as X", classifier, lambda m: m.predict([["a"] * 4]), InputTypeError,
     r"X must be an array of numbers; received an array of dtype <U1"),
    ("label outside the classes", classifier, lambda m: m.fit(X, np.where(y == 2, 3, y)), InputError,
     r"y must hold class labels in \[0, 2\] \(the network has 3 outputs\); received label 3"),
    ("negative label", classifier, lambda m: m.evaluate(X, np.where(y == 2, -1, y)), InputError,
     r"y must hold class labels in \[0, 2\] .*received label -1"),
    ("non-integer labels", classifier, lambda m: m.fit(X, y + 0.5), InputError,
     r"y must be integer class labels; received non-integer values such as (0.5|1.5|2.5)$"),
    ("one-hot labels of the wrong width", classifier, lambda m: m.fit(X, np.eye(4)[y]), InputError,
     r"y as one-hot labels must have 3 columns \(the network's outputs\); received shape \(12, 4\)"),
    ("log_loss targets outside [0, 1]", binary, lambda m: m.fit(X, y), InputError,
     r"y must lie in \[0, 1\] for loss='log_loss'; received values in \[0, 2\]$"),
    ("y of 3 dimensions", classifier, lambda m: m.loss_and_gradients(X, y[:, None, None]), InputError,
     r"y must be 1-D or 2-D; received shape \(12, 1, 1\)"),
    ("batch_size 0", classifier, lambda m: m.fit(X, y, batch_size=0), InputError,
     r"batch_size must be a positive integer or None; received batch_size=0"),
    ("batch_size a float", classifier, lambda m: m.fit(X, y, batch_size=3.5), InputError,
     r"batch_size must be a positive integer or None; received batch_size=3.5"),
    ("epochs negative", classifier, lambda m: m.fit(X, y, epochs=-1), InputError,
     r"epochs must be a positive integer; received epochs=-1"),
    ("learning rate 0", classifier, lambda m: m.fit(X, y, optimizer=cr.optimizers.SGD(0)), InputError,
     r"learning_rate must be a number in \(0, inf\); received learning_rate=0$"),
    ("learning rate negative (Adam)", classifier, lambda m: m.fit(X, y, optimizer=cr.optimizers.Adam(-1)),
     InputError, r"learning_rate must be a number in \(0, inf\); received learning_rate=-1"),
    ("momentum 1", classifier, lambda m: m.fit(X, y, optimizer=cr.optimizers.SGD(0.1, momentum=1)),
     InputError, r"momentum must be a number in \[0, 1\); received momentum=1$"),
    ("dropout rate 1", classifier, lambda m: Dropout(1.0), InputError,
     r"rate must be a number in \[0, 1\); received rate=1.0"),
    ("unknown activation", classifier, lambda m: Dense(4, 3, activation="gelu"), InputError,
     r"activation must be one of \['identity', 'leaky_relu', 'relu', 'sigmoid', 'softmax', 'tanh'\] or None; received activation='gelu'"),
    ("unknown loss", classifier, lambda m: Sequential([Dense(4, 3)], loss="l1"), InputError,
     r"loss must be one of \['cross_entropy', 'log_loss', 'mse'\]; received loss='l1'"),
    ("unknown optimizer", classifier, lambda m: m.fit(X, y, optimizer="adagrad"), InputError,
     r"optimizer must be one of \['adam', 'adamw', 'rmsprop', 'sgd'\] or an Optimizer; received optimizer='adagrad'"),
    ("layer sizes that do not chain", classifier, lambda m: Sequential([Dense(4, 6), Dense(5, 3)]), InputError,
     r"layer sizes do not chain: layers\[1\] Dense\(5, 3.*takes 5 inputs but the layer before gives 6"),
    ("validation data of the wrong width", classifier,
     lambda m: m.fit(X, y, validation_data=(X[:, :2], y)), InputError,
     r"X_val must have 4 features \(the first layer's in_features\); received 2"),
    ("validation labels out of range", classifier,
     lambda m: m.fit(X, y, validation_data=(X, y + 5)), InputError,
     r"y_val must hold class labels in \[0, 2\]"),
    ("validation_data not a pair", classifier, lambda m: m.fit(X, y, validation_data=X), InputError,
     r"validation_data must be a pair \(X_val, y_val\)"),
    ("validation_split and validation_data", classifier,
     lambda m: m.fit(X, y, validation_split=0.2, validation_data=(X, y)), InputError,
     r"give validation_data or validation_split, not both"),
    ("leaky_relu alpha out of range", classifier, lambda m: cr.activations.LeakyReLU(2), InputError,
     r"alpha must be a number in \[0, 1\); received alpha=2"),
]


@pytest.mark.parametrize("description, make, call, error, message", BAD_INPUTS,
                         ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_named_and_leaves_the_network_unchanged(description, make, call, error, message):
    model = make()
    params = [p.copy() for p in model.parameters()]
    rng_state = copy.deepcopy(model.rng.bit_generator.state)
    history = model.history
    with pytest.raises(error, match=message) as caught:
        call(model)
    assert isinstance(caught.value, ChainruleError)  # the CLI turns exactly these into one line
    for p, q in zip(model.parameters(), params, strict=True):
        assert p.tobytes() == q.tobytes()
    assert model.rng.bit_generator.state == rng_state
    assert model.history is history


def test_a_failed_fit_keeps_the_optimizer_state():
    model = classifier()
    opt = cr.optimizers.SGD(0.1, momentum=0.9)
    model.fit(X, y, epochs=2, batch_size=4, optimizer=opt)
    state = opt.state_dict()
    with pytest.raises(InputError):
        model.fit(X, y + 7, epochs=2, optimizer=opt)
    after = opt.state_dict()
    assert after["iterations"] == state["iterations"]
    for a, b in zip(after["state"]["velocity"], state["state"]["velocity"], strict=True):
        np.testing.assert_array_equal(a, b)


def test_finite_check_accepts_huge_finite_values_and_finds_the_bad_one():
    """X is checked in one pass (its sum); finite values whose sum overflows are still
    accepted, and a NaN or inf is reported with its index."""
    from chainrule import data

    X = np.full((4, 3), np.finfo(np.float32).max, dtype=np.float32)  # the sum is inf
    assert data.check_X(X, 3, np.dtype("float32")) is X
    X[2, 1] = -np.inf
    with pytest.raises(InputError, match=r"X must be finite; received NaN or inf at index \(2, 1\)"):
        data.check_X(X, 3, np.dtype("float32"))
    X[2, 1], X[0, 2] = 0.0, np.nan
    with pytest.raises(InputError, match=r"X must be finite; received NaN or inf at index \(0, 2\)"):
        data.check_X(X, 3, np.dtype("float32"))
