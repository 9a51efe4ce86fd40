"""The texts' second network: a 10-output digit classifier trained on MNIST with
mini-batch SGD (shuffled batches of 100), once with cross-entropy and once with the
squared-error cost. Real data from ../shared/datasets/mnist (see conftest.py)."""

import pytest

import chainrule as cr
from chainrule import Dense, Sequential


def test_cross_entropy_classifier_reaches_97_percent(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    model = Sequential([Dense(784, 256, "relu"), Dense(256, 10, "softmax")], loss="cross_entropy", seed=0)
    history = model.fit(X_train, y_train, epochs=6, batch_size=100,
                        optimizer=cr.optimizers.SGD(0.1, momentum=0.9))
    assert history["loss"][-1] < history["loss"][0]
    result = model.evaluate(X_test, y_test)
    assert result["accuracy"] >= 0.97, result
    assert (model.predict(X_test[:100]) == y_test[:100]).mean() >= 0.95


def test_squared_error_classifier_reaches_97_percent(mnist):
    (X_train, y_train), (X_test, y_test) = mnist
    model = Sequential([Dense(784, 256, "relu"), Dense(256, 10, "sigmoid")], loss="mse", seed=0,
                       classifier=True)
    history = model.fit(X_train, y_train, epochs=10, batch_size=100,
                        optimizer=cr.optimizers.SGD(0.5, momentum=0.5))
    assert history["loss"][-1] < history["loss"][0]
    result = model.evaluate(X_test, y_test)
    assert result["accuracy"] >= 0.97, result


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nielsens_network_learns_in_one_epoch(mnist, dtype):
    """784-30-10 sigmoid, quadratic cost, batch 10, classic N(0, 1/n_in) init, as in the book
    (its cost has a factor 1/2, ours not, so its learning rate 3.0 is our 1.5)."""
    (X_train, y_train), (X_test, y_test) = mnist
    model = Sequential([Dense(784, 30, "sigmoid", init="classic"), Dense(30, 10, "sigmoid", init="classic")],
                       loss="mse", seed=0, dtype=dtype, classifier=True)
    model.fit(X_train[:20000], y_train[:20000], epochs=1, batch_size=10, optimizer=cr.optimizers.SGD(1.5))
    assert model.evaluate(X_test, y_test)["accuracy"] >= 0.88
