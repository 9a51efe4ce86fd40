"""explain: the chain for one weight against backprop and central finite differences on random
networks of every activation, loss and depth; the sum over paths written out by hand; the nudges
of one example against a forward and backward pass written again here; from one example to the
batch."""

import copy
import math
import zlib

import numpy as np
import pytest
from PIL import Image

from chainrule import Dense, Dropout, Sequential, explain
from chainrule.errors import InputError, InputTypeError

HIDDEN = ["sigmoid", "relu", "tanh", "leaky_relu", "identity"]
# (output activation, loss): the fused pairs, identity + mse, and the pairs whose chain goes
# through dL/dy_hat and dy_hat/dz separately (softmax ones through the full Jacobian). The
# pairs Sequential refuses (cross-entropy without a softmax, log-loss without a sigmoid)
# are not networks; test_network pins their refusals.
OUTPUTS = [("sigmoid", "log_loss"), ("softmax", "cross_entropy"), ("identity", "mse"),
           ("sigmoid", "mse"), ("softmax", "mse")]
CASES = [(hidden, out, loss, n_dense) for n_dense in (1, 2, 3) for hidden in HIDDEN
         for out, loss in OUTPUTS if n_dense > 1 or hidden == "sigmoid"]


def make_network(hidden, output, loss, sizes, seed=0, dtype="float64"):
    layers = [Dense(sizes[i], sizes[i + 1], activation=hidden) for i in range(len(sizes) - 2)]
    layers.append(Dense(sizes[-2], sizes[-1], activation=output))
    model = Sequential(layers, loss=loss, seed=seed, dtype=dtype)
    # Non-zero biases: with zero biases an example whose ReLUs are all off gives z = 0
    # exactly at the next layer, on a ReLU's kink, where no derivative exists.
    rng = np.random.default_rng(seed)
    for layer in model.dense_layers:
        layer.b[...] = rng.normal(0, 0.5, layer.b.shape)
    return model


def targets_for(loss, rng, n, n_out):
    return rng.uniform(size=(n, n_out)) if loss == "mse" else rng.integers(0, n_out, n)


def cost(model, X, y):
    return model.loss_and_gradients(X, y)[0]


def finite_difference(model, X, y, layer, j, k, eps=1e-5):
    """(L(w + eps) - L(w - eps)) / (2 eps), written again here."""
    p = model.parameters()[2 * (layer - 1) + (k is None)]
    where = (j,) if k is None else (j, k)
    saved = p[where]
    p[where] = saved + eps
    up = cost(model, X, y)
    p[where] = saved - eps
    down = cost(model, X, y)
    p[where] = saved
    return (up - down) / (2 * eps)


def backprop(model, X, y, layer, j, k):
    g = model.loss_and_gradients(X, y)[1][2 * (layer - 1) + (k is None)]
    return g[j] if k is None else g[j, k]


def close(a, b, tol, scale=1.0):
    """Relative-or-absolute: |a - b| <= tol max(|b|, scale)."""
    return abs(a - b) <= tol * max(abs(b), scale)


# --- the chain against backprop and finite differences --------------------------------------

@pytest.mark.parametrize("hidden, output, loss, n_dense", CASES)
def test_chain_value_is_backprop_and_finite_differences(hidden, output, loss, n_dense):
    rng = np.random.default_rng(zlib.crc32(f"{hidden}{output}{loss}{n_dense}".encode()))
    sizes = [4] + [5] * (n_dense - 1) + [3]
    model = make_network(hidden, output, loss, sizes)
    X, y = rng.normal(size=(5, 4)), targets_for(loss, rng, 5, 3)
    for layer in sorted({1, (n_dense + 1) // 2, n_dense}):  # first, middle, last
        j = int(rng.integers(0, sizes[layer]))
        for k in (int(rng.integers(0, sizes[layer - 1])), None):
            for Xs, ys, x, yx in ((X[:1], y[:1], X[0], y[0]), (X, y, X, y)):
                c = explain.chain(model, x, yx, layer=layer, j=j, k=k, bias=k is None)
                g = backprop(model, Xs, ys, layer, j, k)
                assert close(c.value, g, 1e-12), (layer, j, k, c.value, g)
                assert c.backprop == g
                # A central difference cannot beat the rounding of L itself: ulp(L) / eps.
                fd = finite_difference(model, Xs, ys, layer, j, k)
                L = cost(model, Xs, ys)
                assert close(c.value, fd, 1e-10, max(1.0, abs(L))), (layer, j, k, c.value, fd, L)
                assert close(c.finite_difference, fd, 1e-12, max(1.0, abs(L)))
                assert len(c.examples) == len(Xs)
                assert c.value == math.fsum(e.value for e in c.examples) / len(Xs)  # the mean


def test_chain_on_a_float32_model_works_in_float64_and_leaves_the_model_alone():
    model = make_network("tanh", "softmax", "cross_entropy", [4, 6, 3], dtype="float32")
    before = [p.copy() for p in model.parameters()]
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(3, 4)), rng.integers(0, 3, 3)
    c = explain.chain(model, X, y, layer=1, j=2, k=3)
    model64 = make_network("tanh", "softmax", "cross_entropy", [4, 6, 3], dtype="float32").astype("float64")
    assert close(c.value, backprop(model64, X, y, 1, 2, 3), 1e-12)
    assert model.dtype == np.float32
    for p, q in zip(model.parameters(), before, strict=True):
        assert p.dtype == np.float32 and np.array_equal(p, q)


def test_dropout_is_a_pass_through_and_the_chain_says_so():
    model = Sequential([Dense(4, 6, "relu"), Dropout(0.5), Dense(6, 3, "softmax")],
                       loss="cross_entropy", seed=3, dtype="float64")
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(4, 4)), rng.integers(0, 3, 4)
    c = explain.chain(model, X, y, layer=1, j=1, k=0)
    assert close(c.value, backprop(model, X, y, 1, 1, 0), 1e-12)
    assert close(c.value, finite_difference(model, X, y, 1, 1, 0), 1e-10, max(1, cost(model, X, y)))
    assert "Dropout(rate=0.5) after Dense layer 1 is in inference mode" in str(c)


def test_a_hidden_softmax_layer_goes_through_its_jacobian():
    model = make_network("softmax", "sigmoid", "log_loss", [4, 5, 3])
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=4), rng.integers(0, 2, 3)
    c = explain.chain(model, x, y, layer=1, j=2, k=1, max_paths=None)
    assert c.n_paths == 3 * 5  # through z_i^{(2)}, then a_{j'}^{(1)} for every j'
    assert close(c.value, backprop(model, x[None], y[None], 1, 2, 1), 1e-12)
    assert "da_{j'}^{(1)}/dz_{j}^{(1)}" in c.formula


# --- the sum over paths ------------------------------------------------------------------------

def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_a_neuron_feeding_several_neurons_sums_every_path():
    """3-4-5-2, sigmoid hidden, identity output, mse: w_{2,0}^{(1)} reaches the loss through
    each of the 5 neurons of layer 2 and then each of the 2 outputs: 5 x 2 paths."""
    model = make_network("sigmoid", "identity", "mse", [3, 4, 5, 2], seed=7)
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=3), rng.uniform(size=2)
    c = explain.chain(model, x, y, layer=1, j=2, k=0, max_paths=None)
    e = c.examples[0]
    assert e.n_paths == c.n_paths == 5 * 2 and e.n_folded == 0
    assert sorted(dict(p.neurons)["i"] * 10 + dict(p.neurons)["p"] for p in e.paths) == \
        sorted(i * 10 + p for i in range(2) for p in range(5))
    # the forward pass and every path's product written out by hand
    (W1, b1), (W2, b2), (W3, b3) = [(d.W, d.b) for d in model.dense_layers]
    z1 = W1 @ x + b1
    a1 = sigmoid(z1)
    z2 = W2 @ a1 + b2
    a2 = sigmoid(z2)
    y_hat = W3 @ a2 + b3
    for path in e.paths:
        i, p = dict(path.neurons)["i"], dict(path.neurons)["p"]
        by_hand = [2 * (y_hat[i] - y[i]), 1.0, W3[i, p], a2[p] * (1 - a2[p]), W2[p, 2],
                   a1[2] * (1 - a1[2]), x[0]]
        np.testing.assert_allclose([f.value for f in path.factors], by_hand, rtol=1e-13)
        assert path.contribution == math.prod(f.value for f in path.factors)
        assert [f.symbol for f in path.factors] == [
            f"dL/dy_hat_{{{i}}}", f"dy_hat_{{{i}}}/dz_{{{i}}}^{{(3)}}", f"dz_{{{i}}}^{{(3)}}/da_{{{p}}}^{{(2)}}",
            f"da_{{{p}}}^{{(2)}}/dz_{{{p}}}^{{(2)}}", f"dz_{{{p}}}^{{(2)}}/da_{{2}}^{{(1)}}",
            "da_{2}^{(1)}/dz_{2}^{(1)}", "dz_{2}^{(1)}/dw_{2,0}^{(1)}"]
    assert close(math.fsum(p.contribution for p in e.paths), c.value, 1e-13)
    assert close(c.value, backprop(model, x[None], y[None], 1, 2, 0), 1e-12)
    # the largest contributions are listed first
    sizes = [abs(p.contribution) for p in e.paths]
    assert sizes == sorted(sizes, reverse=True)


def test_the_listed_paths_are_the_largest_and_the_rest_is_folded():
    model = make_network("tanh", "softmax", "cross_entropy", [6, 7, 5, 4], seed=2)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=6), 1
    every = explain.chain(model, x, y, layer=1, j=3, k=4, max_paths=None).examples[0]
    top = explain.chain(model, x, y, layer=1, j=3, k=4, max_paths=3).examples[0]
    assert every.n_paths == top.n_paths == 5 * 4
    assert [p.neurons for p in top.paths] == [p.neurons for p in every.paths[:3]]
    assert top.n_folded == 17
    assert close(top.folded_sum, math.fsum(p.contribution for p in every.paths[3:]), 1e-12)


def test_relu_paths_that_are_cut_count_as_zero():
    model = make_network("relu", "identity", "mse", [3, 8, 2], seed=4)
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=3), rng.uniform(size=2)
    z1 = model.dense_layers[0].W @ x + model.dense_layers[0].b
    j_off = int(np.argmin(z1))
    assert z1[j_off] < 0
    e = explain.chain(model, x, y, layer=1, j=j_off, k=0, max_paths=None).examples[0]
    assert e.value == 0 and e.n_zero == e.n_paths == 2
    c = explain.chain(model, x, y, layer=2, j=0, k=j_off)
    assert c.examples[0].n_zero == 1 and c.value == 0  # dz/dw = a_k = 0


def test_softmax_with_another_loss_goes_through_every_output():
    """softmax + mse: dL/dz_i sums dL/dy_hat_m * dy_hat_m/dz_i over every output m."""
    model = make_network("sigmoid", "softmax", "mse", [3, 4, 3], seed=6)
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=3), rng.uniform(size=3)
    c = explain.chain(model, x, y, layer=1, j=1, k=2, max_paths=None)
    assert c.n_paths == 3 * 3
    a = model.forward(x[None])[0]
    for path in c.examples[0].paths:
        m, i = dict(path.neurons)["m"], dict(path.neurons)["i"]
        assert close(path.factors[1].value, a[m] * ((m == i) - a[i]), 1e-14)
    assert close(c.value, backprop(model, x[None], y[None], 1, 1, 2), 1e-12)


def test_the_text_form_shows_the_chain_in_the_texts_notation():
    model = make_network("relu", "softmax", "cross_entropy", [6, 7, 5, 4], seed=2)
    rng = np.random.default_rng(2)
    x = rng.normal(size=6)
    text = str(explain.chain(model, x, 1, layer=1, j=3, k=4, max_paths=3))
    for symbol in ("dL/dw_{jk}^{(l)} with l = 1, j = 3, k = 4", "sum over (i, p)",
                   "dL/dz_{i}^{(3)}", "dz_{i}^{(3)}/da_{p}^{(2)}", "da_{p}^{(2)}/dz_{p}^{(2)}",
                   "dz_{p}^{(2)}/da_{j}^{(1)}", "da_{j}^{(1)}/dz_{j}^{(1)}", "dz_{j}^{(1)}/dw_{jk}^{(1)}",
                   "collapse into one factor, y_hat - y", "the 3 largest of 20 paths",
                   "17 paths folded", "dL/dw_{3,4}^{(1)} = sum over all 20 paths", "backprop:",
                   "finite difference:"):
        assert symbol in text, symbol
    text = str(explain.chain(model, rng.normal(size=(4, 6)), [0, 1, 2, 3], layer=2, j=1, bias=True))
    for symbol in ("dL/db_{j}^{(l)} with l = 2, j = 1", "dz_{j}^{(2)}/db_{j}^{(2)}",
                   "the mean of the 4 per-example chains", "example 3:", "mean over the 4 examples"):
        assert symbol in text, symbol
    text = str(explain.chain(make_network("sigmoid", "sigmoid", "mse", [2, 3, 1]), [0.5, -1.0], 0.3,
                             layer=2, j=0, k=1))
    assert "dL/dy_hat_{i} * dy_hat_{i}/dz_{i}^{(2)} * dz_{i}^{(2)}/dw_{ik}^{(2)}" not in text
    assert "dL/dy_hat_{j} * dy_hat_{j}/dz_{j}^{(2)} * dz_{j}^{(2)}/dw_{jk}^{(2)}" in text
    assert "the only path (contribution" in text and "2 (y_hat - y)" in text


@pytest.mark.parametrize("kwargs, message", [
    ({"layer": 0, "j": 0, "k": 0},
     "layer must be an integer in [1, 2] (the Dense layers, numbered from 1); received layer=0"),
    ({"layer": 1.0, "j": 0, "k": 0},
     "layer must be an integer in [1, 2] (the Dense layers, numbered from 1); received layer=1.0"),
    ({"layer": 2, "j": 3, "k": 0}, "j must be an integer in [0, 2] (a neuron of layer 2); received j=3"),
    ({"layer": 2, "j": 0, "k": 5},
     "k must be an integer in [0, 4] (a neuron of layer 1, the input of layer 2); received k=5"),
    ({"layer": 1, "j": 0}, "k must be given for a weight (the input neuron), or pass bias=True for the bias b_j"),
    ({"layer": 1, "j": 0, "k": 1, "bias": True},
     "k must be None when bias=True (a bias has no input neuron); received k=1"),
    ({"layer": 1, "j": 0, "k": 1, "max_paths": 0},
     "max_paths must be an integer in [1, 1000000] (paths listed per example; None for all); received max_paths=0"),
    ({"layer": 1, "j": 0, "k": 1, "eps": 0},
     "eps must be a number in (0, 1); received eps=0"),
])
def test_chain_arguments_are_checked_with_messages_that_teach(kwargs, message):
    model = make_network("tanh", "softmax", "cross_entropy", [4, 5, 3])
    with pytest.raises(InputError) as info:
        explain.chain(model, np.zeros(4), 1, **kwargs)
    assert str(info.value) == message


def test_bad_models_and_inputs_are_refused():
    model = make_network("tanh", "softmax", "cross_entropy", [4, 5, 3])
    with pytest.raises(InputTypeError, match="model must be a chainrule Sequential; received list"):
        explain.chain([], np.zeros(4), 1, layer=1, j=0, k=0)
    with pytest.raises(InputError, match=r"x must have 4 features \(the first layer's in_features\); received 3"):
        explain.chain(model, np.zeros(3), 1, layer=1, j=0, k=0)
    with pytest.raises(InputError, match=r"x must be one example, of shape \(4,\); received shape \(2, 4\)"):
        explain.nudges(model, np.zeros((2, 4)), [1, 2])
    big = make_network("relu", "softmax", "cross_entropy", [2, 4, 120, 120, 80])
    with pytest.raises(InputError, match="max_paths=None lists every path, but this parameter has 1,152,000 paths"):
        explain.chain(big, np.zeros(2), 1, layer=1, j=0, k=0, max_paths=None)
    assert explain.chain(big, np.ones(2), 1, layer=1, j=0, k=0).n_paths == 1_152_000


# --- the nudges of one example -------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_model():
    """A 64-16-12-10 ReLU digit classifier (softmax + cross-entropy), float32, trained briefly."""
    from chainrule import datasets

    (X, y), _ = datasets.load("digits")
    model = Sequential([Dense(64, 16, "relu"), Dense(16, 12, "relu"), Dense(12, 10, "softmax")],
                       loss="cross_entropy", seed=0)
    model.fit(X[:600], y[:600], epochs=2, batch_size=32)
    return model, X[600:700], y[600:700]


def test_nudges_against_a_forward_and_backward_pass_written_here(digits_model):
    model, X, y = digits_model
    x, label = X[0], int(y[0])
    n = explain.nudges(model, x, label, top_k=12)
    (W1, b1), (W2, b2), (W3, b3) = [(d.W.astype(np.float64), d.b.astype(np.float64)) for d in model.dense_layers]
    a0 = x.astype(np.float64)
    z1 = W1 @ a0 + b1
    a1 = np.maximum(z1, 0)
    z2 = W2 @ a1 + b2
    a2 = np.maximum(z2, 0)
    z3 = W3 @ a2 + b3
    a3 = np.exp(z3 - z3.max()) / np.exp(z3 - z3.max()).sum()
    delta3 = a3 - np.eye(10)[label]
    delta2 = (W3.T @ delta3) * (z2 > 0)
    delta1 = (W2.T @ delta2) * (z1 > 0)
    np.testing.assert_allclose(n.y_hat, a3, rtol=1e-12)
    np.testing.assert_allclose(n.output, -delta3, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(n.hidden[1], -(W3.T @ delta3), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(n.hidden[0], -(W2.T @ delta2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(n.saliency, W1.T @ delta1, rtol=1e-12, atol=1e-15)
    # the sign pattern of a softmax + cross-entropy classifier: y - y_hat
    assert n.label == label and n.output[label] > 0
    assert (np.delete(n.output, label) < 0).all()
    assert n.output_note == f"increase the right digit ({label}), decrease the other 9"


def test_the_weights_pushed_hardest_are_the_largest_gradients(digits_model):
    model, X, y = digits_model
    n = explain.nudges(model, X[1], y[1], top_k=15)
    grads = copy.deepcopy(model).astype("float64").loss_and_gradients(X[1:2], y[1:2])[1]
    flat = np.sort(np.abs(np.concatenate([g.ravel() for g in grads])))[::-1]
    assert [abs(p.gradient) for p in n.pushes] == list(flat[:15])
    total = sum(float((g * g).sum()) for g in grads)
    for p in n.pushes:
        g = grads[2 * (p.layer - 1) + (p.k is None)]
        assert p.gradient == (g[p.j] if p.k is None else g[p.j, p.k])
        assert close(p.delta_j * p.a_k, p.gradient, 1e-15)  # neurons that fire together
        assert close(p.share, p.gradient ** 2 / total, 1e-12)


def test_saliency_is_the_finite_difference_of_the_loss_in_the_input(digits_model):
    model, X, y = digits_model
    n = explain.nudges(model, X[2], y[2])
    m = copy.deepcopy(model).astype("float64")
    x = X[2].astype(np.float64)
    numeric = np.empty(64)
    for i in range(64):
        up, down = x.copy(), x.copy()
        up[i] += 1e-5
        down[i] -= 1e-5
        numeric[i] = (cost(m, up[None], y[2:3]) - cost(m, down[None], y[2:3])) / 2e-5
    scale = max(1.0, cost(m, x[None], y[2:3]))
    assert np.abs(n.saliency - numeric).max() <= 1e-9 * scale
    assert n.saliency_image.shape == (8, 8)
    np.testing.assert_array_equal(n.saliency_image.ravel(), n.saliency)


def test_the_text_and_the_png_of_the_nudges(digits_model, tmp_path):
    model, X, y = digits_model
    n = explain.nudges(model, X[3], y[3], top_k=4)
    text = str(n)
    for part in (f"label {int(y[3])}", "-delta^{(3)} = -dL/dz^{(3)} = y - y_hat", "<- the label",
                 "increase the right digit", "-dL/da^{(l)} = -(W^{(l+1)})^T delta^{(l+1)}",
                 "layer 2 (12 neurons)", "layer 1 (16 neurons)", "the 4 weights and biases",
                 "neurons that fire together", "input saliency dL/dx (64 values, shown as 8x8)"):
        assert part in text, part
    assert str(n.pushes[0]) in text
    path = tmp_path / "saliency.png"
    explain.save_saliency_png(n, path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == ((8 + 1 + 8) * 35, 8 * 35)
        pixels = np.asarray(image)
    hot = int(np.argmax(n.saliency))  # the largest dL/dx > 0 is pure red
    row, col = divmod(hot, 8)
    assert tuple(pixels[row * 35, (9 + col) * 35]) == (255, 0, 0)
    explain.save_saliency_png(n, tmp_path / "alone.png", scale=2, with_input=False)
    with Image.open(tmp_path / "alone.png") as image:
        assert image.size == (16, 16)
    with pytest.raises(InputTypeError, match="nudges_obj must be the Nudges returned by nudges"):
        explain.save_saliency_png("saliency", path)


def test_nudges_of_a_784_input_regressor_and_a_one_output_classifier():
    model = make_network("tanh", "identity", "mse", [784, 4, 2], dtype="float32")
    rng = np.random.default_rng(0)
    n = explain.nudges(model, rng.uniform(size=784), [0.2, 0.7])
    assert n.saliency_image.shape == (28, 28) and n.label is None
    assert n.output_note.startswith("move each output toward its target")
    binary = make_network("relu", "sigmoid", "log_loss", [5, 3, 1])
    assert explain.nudges(binary, np.ones(5), 1).output_note == "increase the output (the label is 1)"
    assert explain.nudges(binary, np.ones(5), 0).saliency_image is None


# --- from one example to the batch -------------------------------------------------------------

@pytest.mark.parametrize("hidden, output, loss", [("relu", "softmax", "cross_entropy"),
                                                  ("tanh", "sigmoid", "mse"), ("sigmoid", "softmax", "mse")])
def test_the_batch_gradient_is_the_mean_of_the_per_example_gradients(hidden, output, loss):
    model = make_network(hidden, output, loss, [6, 8, 5, 3], dtype="float32")
    rng = np.random.default_rng(8)
    X, y = rng.normal(size=(32, 6)), targets_for(loss, rng, 32, 3)
    check = explain.batch_check(model, X, y)
    assert check.n_samples == 32
    assert check.max_abs_difference < 1e-12 and check.relative_difference < 1e-12
    assert "the same up to rounding" in str(check)


def test_gradient_noise_falls_as_the_batch_grows():
    from chainrule import datasets

    (X, y), _ = datasets.load("digits")
    fresh = Sequential([Dense(64, 16, "relu"), Dense(16, 10, "softmax")], loss="cross_entropy", seed=1)
    noise = explain.gradient_noise(fresh, X[:500], y[:500])
    means = [r.mean_cosine for r in noise.rows]
    assert [r.batch_size for r in noise.rows] == [1, 10, 100, 500]
    assert means == sorted(means) and means[0] < means[1] < means[2] < means[3]
    full = noise.rows[-1]
    assert full.n_batches == 1 and abs(full.mean_cosine - 1) < 1e-12 and full.std_cosine == 0
    assert all(r.n_batches == 20 for r in noise.rows[:-1])
    assert noise == explain.gradient_noise(fresh, X[:500], y[:500])  # seeded
    text = str(noise)
    assert "batch size" in text and "all 500" in text and "drunk person stumbling downhill" in text
    with pytest.raises(InputError, match=r"batch_sizes must be an integer in \[1, 500\] .* received batch_sizes=501"):
        explain.gradient_noise(fresh, X[:500], y[:500], batch_sizes=(501,))
    with pytest.raises(InputError, match="batch_sizes must be a non-empty list"):
        explain.gradient_noise(fresh, X[:500], y[:500], batch_sizes=())
