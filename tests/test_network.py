"""Sequential: backprop against finite differences for every activation x loss x depth,
a step worked by hand, labels at the edge, reproducibility and saving."""

import itertools
import re
import zlib

import numpy as np
import pytest

import chainrule as cr
from chainrule import Dense, Dropout, Sequential
from chainrule.errors import InputError, InputTypeError

HIDDEN = ["sigmoid", "relu", "tanh", "leaky_relu", "identity"]
# (output activation, loss): the canonical pairs, and the others the library allows (any
# output with mse); the pairs it refuses are pinned in test_output_layers_a_loss_cannot_train.
OUTPUTS = [("sigmoid", "log_loss"), ("softmax", "cross_entropy"), ("identity", "mse"),
           ("sigmoid", "mse"), ("softmax", "mse"), ("tanh", "mse"), ("relu", "mse")]
DEPTHS = [0, 1, 2]  # hidden layers


def make_network(hidden, output, loss, depth, n_out=3, seed=0):
    sizes = [4] + [5] * depth + [n_out]
    layers = [Dense(sizes[i], sizes[i + 1], activation=hidden) for i in range(depth)]
    layers.append(Dense(sizes[-2], sizes[-1], activation=output))
    model = Sequential(layers, loss=loss, seed=seed, dtype="float64")
    # Non-zero biases: with zero biases an example whose ReLUs are all off gives z = 0
    # exactly at the next layer, on a ReLU's kink, where no derivative exists.
    for layer in model.dense_layers:
        layer.b[...] = np.random.default_rng(seed).normal(0, 0.5, layer.b.shape)
    return model


def labels_for(loss, rng, n, n_out):
    if loss == "mse":
        return rng.normal(size=(n, n_out))
    return rng.integers(0, n_out, n)


@pytest.mark.parametrize("hidden, out_loss, depth",
                         [(h, o, d) for d in DEPTHS for h, o in itertools.product(HIDDEN, OUTPUTS)
                          if d > 0 or h == "sigmoid"])
def test_gradcheck_every_activation_loss_and_depth(hidden, out_loss, depth):
    output, loss = out_loss
    rng = np.random.default_rng(zlib.crc32(f"{hidden}{output}{loss}{depth}".encode()))
    model = make_network(hidden, output, loss, depth)
    X = rng.normal(size=(6, 4))
    y = labels_for(loss, rng, 6, 3)
    errors = cr.gradcheck(model, X, y)
    assert len(errors) == 2 * (depth + 1)
    assert max(errors.values()) <= 1e-6, errors


def test_gradcheck_the_texts_first_network():
    """Two hidden sigmoid layers, one sigmoid output, log-loss."""
    model = Sequential([Dense(2, 4, "sigmoid"), Dense(4, 3, "sigmoid"), Dense(3, 1, "sigmoid")],
                       loss="log_loss", seed=1, dtype="float64")
    rng = np.random.default_rng(0)
    errors = cr.gradcheck(model, rng.normal(size=(8, 2)), rng.integers(0, 2, 8))
    assert max(errors.values()) <= 1e-6, errors


def test_gradcheck_with_one_hot_and_soft_targets_and_dropout_layer():
    model = Sequential([Dense(4, 6, "relu"), Dropout(0.5), Dense(6, 3, "softmax")], seed=2, dtype="float64")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 4))
    soft = rng.dirichlet(np.ones(3), size=5)
    assert max(cr.gradcheck(model, X, soft).values()) <= 1e-6
    assert max(cr.gradcheck(model, X, np.eye(3)[[0, 1, 2, 1, 0]]).values()) <= 1e-6


def test_gradcheck_reports_a_wrong_gradient():
    """The check can fail: break the sigmoid's derivative and it sees it."""
    model = make_network("sigmoid", "softmax", "cross_entropy", 1)
    act = model.layers[0].activation
    act.derivative = lambda z, a: a * (1 - a) * 1.01
    rng = np.random.default_rng(0)
    errors = cr.gradcheck(model, rng.normal(size=(4, 4)), [0, 1, 2, 0])
    assert errors["W1"] > 1e-3 and errors["b1"] > 1e-3
    assert errors["W2"] <= 1e-6


def test_one_sgd_step_worked_by_hand():
    """2 inputs -> 2 sigmoid -> 1 sigmoid, mse, one example x = (1, 0.5), y = 1, lr = 0.5.

    Forward:
        z1 = W1 x + b1 = (0.1*1 + 0.2*0.5 + 0.0, 0.3*1 + 0.4*0.5 + 0.1) = (0.2, 0.6)
        a1 = sigmoid(z1) = (0.549833997312478, 0.6456563062257954)
        z2 = 0.5*a1_0 - 0.5*a1_1 + 0.2 = 0.1520888455433413
        a2 = sigmoid(z2) = 0.5379490894849374
        C  = (a2 - 1)^2 = 0.2134910439077984
    Backward:
        delta2 = dC/da2 * sigmoid'(z2) = 2 (a2 - 1) * a2 (1 - a2) = -0.2296946253667779
        dW2 = delta2 * a1, db2 = delta2
        delta1_j = W2[0, j] delta2 * a1_j (1 - a1_j)
                 = (-0.028426613220559754, 0.026275255200757366)
        dW1[j, k] = delta1_j x_k, db1 = delta1
    Step: p <- p - 0.5 dp.
    """
    model = Sequential([Dense(2, 2, "sigmoid"), Dense(2, 1, "sigmoid")], loss="mse", dtype="float64")
    l1, l2 = model.layers
    l1.W[...] = [[0.1, 0.2], [0.3, 0.4]]
    l1.b[...] = [0.0, 0.1]
    l2.W[...] = [[0.5, -0.5]]
    l2.b[...] = [0.2]
    X, y = np.array([[1.0, 0.5]]), np.array([1.0])

    loss, grads = model.loss_and_gradients(X, y)
    assert loss == pytest.approx(0.2134910439077984, abs=1e-12)
    np.testing.assert_allclose(l2.delta, [[-0.2296946253667779]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(l1.delta, [[-0.028426613220559754, 0.026275255200757366]], rtol=0, atol=1e-12)

    model.fit(X, y, epochs=1, batch_size=1, optimizer=cr.optimizers.SGD(learning_rate=0.5))
    np.testing.assert_allclose(l2.W, [[0.5631469570133038, -0.42584810831288417]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(l2.b, [0.31484731268338895], rtol=0, atol=1e-12)
    np.testing.assert_allclose(l1.W, [[0.11421330661027988, 0.20710665330513994],
                                      [0.2868623723996213, 0.39343118619981066]], rtol=0, atol=1e-12)
    np.testing.assert_allclose(l1.b, [0.014213306610279877, 0.08686237239962133], rtol=0, atol=1e-12)


def test_batch_gradient_is_the_mean_of_the_example_gradients():
    model = make_network("tanh", "softmax", "cross_entropy", 2)
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    loss, grads = model.loss_and_gradients(X, y)
    per_example = [model.loss_and_gradients(X[i:i + 1], y[i:i + 1]) for i in range(10)]
    assert loss == pytest.approx(np.mean([l for l, _ in per_example]), rel=1e-12)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, np.mean([gs[i] for _, gs in per_example], axis=0), rtol=1e-10, atol=1e-14)


def test_parameters_are_live_and_aligned_with_gradients():
    model = make_network("relu", "softmax", "cross_entropy", 1)
    params = model.parameters()
    assert [p.shape for p in params] == [(5, 4), (5,), (3, 5), (3,)]
    assert params[0] is model.layers[0].W and params[3] is model.layers[1].b
    _, grads = model.loss_and_gradients(np.ones((2, 4)), [0, 1])
    assert [g.shape for g in grads] == [p.shape for p in params]


def test_integer_labels_equal_one_hot_labels_for_every_loss():
    rng = np.random.default_rng(3)
    X, labels = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    for output, loss in [("softmax", "cross_entropy"), ("sigmoid", "mse"), ("sigmoid", "log_loss")]:
        model = make_network("relu", output, loss, 1)
        l1, g1 = model.loss_and_gradients(X, labels)
        l2, g2 = model.loss_and_gradients(X, np.eye(3)[labels])
        assert l1 == l2
        for a, b in zip(g1, g2, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_finite_for_pre_activations_up_to_1e3(dtype):
    rng = np.random.default_rng(0)
    for output, loss in [("softmax", "cross_entropy"), ("sigmoid", "log_loss"), ("sigmoid", "mse"),
                         ("softmax", "mse")]:
        model = make_network("sigmoid", output, loss, 1)
        model.astype(dtype)
        model.layers[1].W[...] = rng.choice([-1, 1], size=model.layers[1].W.shape) * 400.0
        X = rng.normal(size=(8, 4))
        loss_value, grads = model.loss_and_gradients(X, rng.integers(0, 3, 8))
        z = model.layers[1].z
        assert np.abs(z).max() > 300 and np.abs(z).max() <= 2000
        assert np.isfinite(loss_value) and all(np.isfinite(g).all() for g in grads)


def test_predict_and_predict_proba():
    model = make_network("relu", "softmax", "cross_entropy", 1)
    X = np.random.default_rng(0).normal(size=(7, 4))
    proba = model.predict_proba(X)
    assert proba.shape == (7, 3) and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    assert model.predict(X).dtype == np.int64

    binary = Sequential([Dense(4, 1, "sigmoid")], loss="log_loss", seed=0)
    p = binary.predict_proba(X)
    assert p.shape == (7, 2) and np.allclose(p.sum(axis=1), 1)
    np.testing.assert_array_equal(binary.predict(X), (p[:, 1] > 0.5).astype(int))

    regressor = Sequential([Dense(4, 2)], loss="mse", seed=0)
    assert regressor.predict(X).shape == (7, 2)
    with pytest.raises(InputError, match="predict_proba needs a classifier"):
        regressor.predict_proba(X)


def test_predictions_for_more_rows_than_one_slice_are_those_of_each_row():
    """predict works through large inputs in slices of 4096 rows that reuse work arrays."""
    model = make_network("relu", "softmax", "cross_entropy", 1)
    X = np.random.default_rng(0).normal(size=(9000, 4))
    proba = model.predict_proba(X)
    for i in (0, 4095, 4096, 8191, 8999):
        np.testing.assert_allclose(proba[i], model.predict_proba(X[i:i + 1])[0], rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))


def test_evaluate_reports_loss_and_accuracy():
    model = make_network("relu", "softmax", "cross_entropy", 1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, 20)
    result = model.evaluate(X, y)
    assert result["loss"] == pytest.approx(model.loss_and_gradients(X, y)[0], rel=1e-12)
    assert result["accuracy"] == np.mean(model.predict(X) == y)


def test_same_seed_same_weights_bitwise():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)).astype(np.float32), rng.integers(0, 3, 50)

    def run():
        model = Sequential([Dense(4, 8, "relu"), Dropout(0.2), Dense(8, 3, "softmax")], seed=42)
        model.fit(X, y, epochs=3, batch_size=7, optimizer=cr.optimizers.Adam())
        return model.parameters()

    for a, b in zip(run(), run(), strict=True):
        assert a.tobytes() == b.tobytes()
    other = Sequential([Dense(4, 8, "relu"), Dense(8, 3, "softmax")], seed=43)
    assert not np.array_equal(other.parameters()[0], run()[0])


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    model = Sequential([Dense(4, 6, "leaky_relu"), Dropout(0.1), Dense(6, 3, "softmax")], seed=1)
    model.fit(X, y, epochs=2, batch_size=8)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = cr.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert repr(loaded) == repr(model)
    assert loaded.history.history == model.history.history
    with np.load(path, allow_pickle=False) as npz:  # plain arrays, no pickle
        assert sorted(npz.files) == ["W1", "W2", "b1", "b2", "meta"]


def test_summary_lists_layers_and_parameter_counts():
    model = Sequential([Dense(784, 30, "sigmoid"), Dense(30, 10, "sigmoid")], loss="mse")
    text = model.summary()
    assert "23550" in text and "310" in text and "Total params: 23,860" in text


@pytest.mark.parametrize("layers, error, message", [
    ([], InputError, r"layers must be a non-empty list"),
    ([Dense(4, 5), Dense(6, 3)], InputError,
     r"layer sizes do not chain: layers\[1\] Dense\(6, 3.*takes 6 inputs but the layer before gives 5"),
    ([Dense(4, 5), "relu"], InputTypeError, r"layers\[1\] must be a Dense or Dropout layer; received 'relu'"),
    ([Dense(4, 5), Dropout(0.5)], InputError, r"the last layer must be Dense"),
])
def test_bad_architectures(layers, error, message):
    with pytest.raises(error, match=message):
        Sequential(layers)


def test_bad_dtype_and_loss():
    with pytest.raises(InputError, match=r"dtype must be one of \['float32', 'float64'\]; received dtype='float16'"):
        Sequential([Dense(2, 2, "softmax")], dtype="float16")
    with pytest.raises(InputError, match=r"loss must be one of"):
        Sequential([Dense(2, 2)], loss="hinge")


@pytest.mark.parametrize("where, message", [
    ("X", r"X must lie within the range of float32 \(\|value\| <= 3.403e\+38\); received -1e\+39 at index \(1, 1\)"),
    ("y", r"y must lie within the range of float32 \(\|value\| <= 3.403e\+38\); received 1e\+39 at index \(1, 0\)"),
])
def test_values_a_float32_network_cannot_hold_are_refused_not_turned_into_inf(where, message):
    """A float64 1e39 is finite, but inf in float32: refused at the edge, naming it."""
    X, y = np.ones((3, 2)), np.array([0.5, 0.0, 1.0])
    if where == "X":
        X[1, 1] = -1e39
    else:
        y[1] = 1e39
    model = Sequential([Dense(2, 1)], loss="mse", seed=0)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(InputError, match=message):
        model.fit(X, y, epochs=1)
    if where == "X":
        with pytest.raises(InputError, match=message):
            model.predict(X)
    for p, q in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p, q)
    float64 = Sequential([Dense(2, 1)], loss="mse", seed=0, dtype="float64")
    assert len(float64.fit(X, y, epochs=1, optimizer=cr.optimizers.SGD(1e-90))["loss"]) == 1


@pytest.mark.parametrize("output, units, loss, message", [
    ("sigmoid", 1, "cross_entropy", "loss='cross_entropy' needs a softmax output layer of 2 or more units; the last "
     "layer is sigmoid with 1 unit: use loss='log_loss' for one sigmoid output"),
    ("sigmoid", 10, "cross_entropy", "loss='cross_entropy' needs a softmax output layer of 2 or more units; the last "
     "layer is sigmoid with 10 units: use loss='log_loss' for independent sigmoid outputs (multi-label), or "
     "activation='softmax' for one class out of several"),
    ("softmax", 1, "cross_entropy", "loss='cross_entropy' needs a softmax output layer of 2 or more units; the last "
     "layer is softmax with 1 unit: a softmax of one unit is always 1: give it 2 or more units, or use one sigmoid "
     "unit with loss='log_loss'"),
    ("relu", 3, "cross_entropy", "the last layer is relu with 3 units: give the last layer activation='softmax'"),
    ("identity", 3, "cross_entropy", "the last layer is identity with 3 units: give the last layer activation='softmax'"),
    ("softmax", 3, "log_loss", "loss='log_loss' needs a sigmoid output layer; the last layer is softmax with 3 "
     "units: use loss='cross_entropy' for a softmax output"),
    ("tanh", 1, "log_loss", "loss='log_loss' needs a sigmoid output layer; the last layer is tanh with 1 unit: "
     "give the last layer activation='sigmoid'"),
])
def test_output_layers_a_loss_cannot_train(output, units, loss, message):
    """Such pairs train to a tiny loss and a useless model (a sigmoid under the cross-entropy
    pushes every output to 1): refused where the network is built, naming the pair that works."""
    with pytest.raises(InputError, match=re.escape(message)):
        Sequential([Dense(4, 5, "relu"), Dense(5, units, output)], loss=loss)


@pytest.mark.parametrize("output, units", [("softmax", 3), ("sigmoid", 1), ("identity", 2), ("relu", 2)])
def test_mse_trains_any_output_layer(output, units):
    model = Sequential([Dense(4, units, output)], loss="mse", seed=0)
    assert model.loss.name == "mse"
