"""The learning-rate range test (chainrule.lr_finder): the rising rate, the network put
back bit for bit, the suggestion's rules, and suggestions that train real data sets."""

import numpy as np
import pytest
from PIL import Image

import chainrule as cr
from chainrule import Dense, Sequential, lr_finder
from chainrule.errors import InputError


def small(seed=0):
    return Sequential([Dense(4, 16, "relu"), Dense(16, 3, "softmax")], seed=seed)


def test_the_rate_rises_exponentially_from_start_to_end(blobs):
    X, y = blobs
    result = small().lr_find(X, y, start_lr=1e-5, end_lr=1.0, steps=30, batch_size=10, diverge_factor=1e9)
    t = np.arange(30)
    np.testing.assert_allclose(result.learning_rates, 1e-5 * (1.0 / 1e-5) ** (t / 29), rtol=1e-12)
    assert len(result.losses) == len(result.smoothed) == 30 and result.stopped == "steps"


def test_the_network_and_the_optimizer_end_as_they_began(blobs):
    X, y = blobs
    model = small()
    adam = cr.optimizers.Adam(0.01)
    model.fit(X, y, epochs=1, optimizer=adam)
    weights, rng, history = [p.copy() for p in model.parameters()], model.rng.bit_generator.state, model.history
    state = {k: [a.copy() for a in v] for k, v in adam.state.items()}
    model.lr_find(X, y, optimizer=adam, steps=40, batch_size=8)
    for p, q in zip(model.parameters(), weights, strict=True):
        assert p.tobytes() == q.tobytes()
    assert model.rng.bit_generator.state == rng and model.history is history
    assert adam.learning_rate == 0.01 and adam.iterations == 3  # 90 rows in batches of 32: 3 steps
    for k, v in adam.state.items():
        for a, b in zip(v, state[k], strict=True):
            assert a.tobytes() == b.tobytes()


def test_a_test_that_ends_in_divergence_also_puts_the_network_back():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)) * 1e3, rng.normal(size=64) * 1e4
    model = Sequential([Dense(4, 16, "relu"), Dense(16, 1)], loss="mse", seed=0)
    weights = [p.copy() for p in model.parameters()]
    result = model.lr_find(X, y, start_lr=1e-6, end_lr=1e6, steps=100, batch_size=8)
    assert result.stopped in ("diverged", "error")
    for p, q in zip(model.parameters(), weights, strict=True):
        assert p.tobytes() == q.tobytes()


def test_the_suggestion_is_the_steepest_fall_before_the_minimum():
    rates = list(np.logspace(-6, 1, 100))
    x = np.log10(rates)
    smoothed = list(2.0 - np.tanh(2 * (x + 2.0)) + np.where(x > 0, 10 * x ** 2, 0))  # steepest at 1e-2
    rate, confidence, reason = lr_finder.suggest(rates, smoothed)
    assert rate == pytest.approx(1e-2, rel=0.2) and confidence == "high"
    assert "fastest at" in reason


def test_a_flat_curve_gives_no_suggestion():
    rates = list(np.logspace(-6, 1, 100))
    rate, confidence, reason = lr_finder.suggest(rates, [1.0] * 100)
    assert rate is None and confidence == "none"
    assert reason.startswith("the loss never fell by 5%")


def test_too_few_steps_give_no_suggestion(blobs):
    X, y = blobs
    result = small().lr_find(X, y, steps=8)
    assert result.suggestion is None and result.confidence == "none"
    assert "too few steps to read a curve (8; at least 15)" in str(result)


@pytest.mark.parametrize("settings, message", [
    ({"start_lr": 0}, r"start_lr must be a number in \(0, inf\); received start_lr=0"),
    ({"start_lr": 1.0, "end_lr": 0.5}, r"end_lr must be a number in \(1, inf\); received end_lr=0.5"),
    ({"steps": 0}, r"steps must be a positive integer; received steps=0"),
    ({"smoothing": 1.0}, r"smoothing must be a number in \[0, 1\); received smoothing=1.0"),
    ({"optimizer": 3}, r"optimizer must be a name or an Optimizer; received optimizer=3"),
])
def test_bad_settings_are_named(blobs, settings, message):
    X, y = blobs
    with pytest.raises(InputError, match=message):
        small().lr_find(X, y, **settings)


def test_the_curve_is_drawn(blobs, tmp_path):
    X, y = blobs
    result = small().lr_find(X, y, steps=60, batch_size=8)
    lr_finder.save_curve_png(result, tmp_path / "curve.png")
    with Image.open(tmp_path / "curve.png") as image:
        assert image.size == (600, 400) and len(np.unique(np.asarray(image.convert("L")))) > 10


def fashion():
    try:
        return cr.datasets.load("fashion-mnist", download=False)
    except cr.DatasetNotFoundError:
        pytest.fail("Fashion-MNIST is missing: apt-get install dataset-fashion-mnist (.ci/run does)")


@pytest.mark.parametrize("name, least", [("mnist", 0.92), ("fashion-mnist", 0.80)])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_suggestion_trains_real_data_well(mnist, name, least, optimizer):
    """On 10,000 training images, 784-128-10: the suggested rate, then 3 epochs."""
    (X, y), (X_test, y_test) = mnist if name == "mnist" else fashion()
    X, y = X[:10000], y[:10000]
    make = {"sgd": lambda lr: cr.optimizers.SGD(lr, momentum=0.9), "adam": cr.optimizers.Adam}[optimizer]
    model = Sequential([Dense(784, 128, "relu"), Dense(128, 10, "softmax")], seed=0)
    result = model.lr_find(X, y, optimizer=make(0.01), batch_size=64)
    assert result.confidence == "high", str(result)
    model.fit(X, y, epochs=3, batch_size=64, optimizer=make(result.suggestion))
    assert model.evaluate(X_test, y_test)["accuracy"] >= least, str(result)
