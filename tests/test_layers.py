"""Dense and Dropout on their own: the conventions, backward against finite differences,
initialisers."""

import numpy as np
import pytest

from chainrule import Dense, Dropout, initializers, kernels
from chainrule.errors import InputError


def test_dense_convention_W_is_out_by_in():
    layer = Dense(3, 2)
    assert layer.W.shape == (2, 3) and layer.b.shape == (2,)
    layer.W[...] = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    layer.b[...] = [0.5, -0.5]
    x = np.array([[1.0, 0.0, -1.0]])
    # W[j, k] is the weight from input k to neuron j: z_0 = 1*1 + 2*0 + 3*(-1) + 0.5
    np.testing.assert_array_equal(layer.forward(x), [[-1.5, -2.5]])
    X = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_allclose(layer.forward(X), X @ layer.W.T + layer.b)
    np.testing.assert_allclose(layer.forward(X)[2], layer.W @ X[2] + layer.b)  # one example as a column


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax"])
def test_dense_backward_matches_finite_differences(activation):
    rng = np.random.default_rng(4)
    layer = Dense(4, 3, activation=activation, seed=1)
    X = rng.normal(size=(5, 4))
    R = rng.normal(size=(5, 3))  # L = sum(R * a): dL/da = R

    def L():
        return float((R * layer.forward(X)).sum())

    L()
    grad_X = layer.backward(R)
    analytic = [layer.dW.copy(), layer.db.copy(), grad_X]
    for arr, g in zip([layer.W, layer.b, X], analytic, strict=True):
        numeric = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            saved = arr[idx]
            arr[idx] = saved + 1e-6
            up = L()
            arr[idx] = saved - 1e-6
            down = L()
            arr[idx] = saved
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


def test_first_layer_can_skip_the_input_gradient():
    layer = Dense(4, 3, seed=0)
    layer.forward(np.ones((2, 4)))
    assert layer.backward(np.ones((2, 3)), need_grad_input=False) is None
    assert layer.dW.shape == (3, 4)


def test_dropout_rate_is_the_probability_of_dropping():
    layer = Dropout(0.3)
    layer.rng = np.random.default_rng(0)
    x = np.ones((400, 250))
    out = layer.forward(x, training=True)
    dropped = (out == 0).mean()
    assert dropped == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7)  # inverted dropout keeps the mean
    assert layer.forward(x, training=False) is x  # inference passes the input through


def test_dropout_backward_matches_finite_differences_for_a_fixed_mask():
    rng = np.random.default_rng(5)
    layer = Dropout(0.5)
    layer.rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4))
    R = rng.normal(size=(3, 4))
    layer.forward(x, training=True)
    mask = layer.mask.copy()
    grad = layer.backward(R)
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += 1e-6
        xm[idx] -= 1e-6
        numeric[idx] = ((R * xp * mask).sum() - (R * xm * mask).sum()) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "half", None])
def test_dropout_rejects_rates_outside_0_1(rate):
    with pytest.raises(InputError, match=r"rate must be a number in \[0, 1\); received rate="):
        Dropout(rate)


@pytest.mark.parametrize("init, std", [("he", np.sqrt(2 / 400)), ("classic", np.sqrt(1 / 400)),
                                       ("glorot", np.sqrt(6 / 700) / np.sqrt(3))])
def test_initialisers_have_their_scale(init, std):
    W, b = initializers.initial_parameters(init, np.random.default_rng(0), 400, 300)
    assert W.shape == (300, 400)
    assert W.std() == pytest.approx(std, rel=0.02)
    assert abs(W.mean()) < 0.01 * std * 10


def test_initialisers_are_seeded():
    a = Dense(5, 4, init="he", seed=3)
    b = Dense(5, 4, init="he", seed=3)
    np.testing.assert_array_equal(a.W, b.W)
    assert Dense(5, 4, activation="relu").init == "he"
    assert Dense(5, 4, activation="sigmoid").init == "glorot"


def test_bad_layer_arguments():
    with pytest.raises(InputError, match=r"in_features must be a positive integer; received in_features=0"):
        Dense(0, 3)
    with pytest.raises(InputError, match=r"out_features must be a positive integer; received out_features=2.5"):
        Dense(3, 2.5)
    with pytest.raises(InputError, match=r"init must be one of \['classic', 'glorot', 'he', 'xavier'\]; received init='zeros'"):
        Dense(3, 2, init="zeros")


def _compiled_and_plain(activation, X, G, monkeypatch, zero_bias=()):
    """(compiled, plain): a Dense layer's a, z, delta, db, dW and dL/dX for inputs X and
    dL/da = G, first with chainrule.kernels, then with NumPy alone."""
    dtype = X.dtype

    def run():
        layer = Dense(X.shape[1], G.shape[1], activation=activation, seed=1)
        layer.W, layer.b = layer.W.astype(dtype), layer.b.astype(dtype)
        layer.b[list(zero_bias)] = 0.0
        layer.dW, layer.db = np.zeros_like(layer.W), np.zeros_like(layer.b)
        with np.errstate(all="ignore"):
            a = layer.forward(X, training=True).copy()
            grad_in = layer.backward(G).copy()
        return a, layer.z.copy(), layer.delta.copy(), layer.db.copy(), layer.dW.copy(), grad_in

    compiled = run()
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    return compiled, run()


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install chainrule[fast])")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_pass_equals_the_numpy_one(dtype, monkeypatch):
    """Bias + max(z, 0) forward, relu' * dL/da and db backward: one compiled pass each
    (chainrule.kernels), the same numbers as the numpy expressions (db to rounding:
    another summation order), NaN and +-inf going where numpy sends them."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 20)).astype(dtype)
    G = rng.normal(size=(37, 16)).astype(dtype)
    X[3, :], X[7, 0], G[5, 2] = np.finfo(dtype).max, np.nan, np.nan  # z = +-inf, NaN z, NaN dL/da
    X[9] = 0.0  # with b[0] = 0: z[9, 0] = 0 exactly, where relu' is 0
    compiled, plain = _compiled_and_plain("relu", X, G, monkeypatch, zero_bias=[0])
    for name, c, p in zip(["a", "z", "delta"], compiled[:3], plain[:3]):
        assert c.dtype == dtype
        np.testing.assert_array_equal(c, p, err_msg=name)  # NaN where NaN, bit for bit otherwise
    # db = sum over the 37 rows of delta, summed in another order: the two sums may differ
    # by the rounding bound of a sum, n * eps * sum |delta| (a cancelling column has a
    # small sum but not a small bound, so a relative tolerance on the sum is not the test)
    delta = np.nan_to_num(plain[2].astype(np.float64), nan=0.0)
    bound = len(delta) * np.finfo(dtype).eps * np.abs(delta).sum(axis=0)
    finite = np.isfinite(plain[3])
    np.testing.assert_array_equal(np.isnan(compiled[3]), np.isnan(plain[3]))
    assert (np.abs(compiled[3] - plain[3].astype(np.float64))[finite] <= bound[finite]).all()
    np.testing.assert_array_equal(compiled[4], plain[4])  # dW = delta.T @ a_prev, same BLAS call
    np.testing.assert_array_equal(compiled[5], plain[5])
    assert np.isnan(compiled[3]).sum() == np.isnan(plain[3]).sum() >= 1
    assert np.isnan(compiled[0][7]).all() and np.isinf(compiled[1][3]).any()


@pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed (pip install chainrule[fast])")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_sigmoid_pass_equals_the_numpy_one(dtype, monkeypatch):
    """Bias + sigmoid forward, a (1 - a) * dL/da and db backward in one compiled pass
    each: z bit for bit, a and what follows from it to the last bits (the C library's
    tanh against numpy's), finite and in [0, 1] for |z| up to the dtype's limit."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(37, 20)).astype(dtype)
    G = rng.normal(size=(37, 16)).astype(dtype)
    X[3, :] = np.finfo(dtype).max / 64  # |z| near overflow: a is 0 or 1
    compiled, plain = _compiled_and_plain("sigmoid", X, G, monkeypatch)
    np.testing.assert_array_equal(compiled[1], plain[1])  # z = X W^T + b
    assert np.isfinite(compiled[0]).all() and compiled[0].min() >= 0 and compiled[0].max() <= 1
    assert set(np.unique(compiled[0][3])) <= {0.0, 1.0}
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for name, c, p in zip(["a", "z", "delta", "db", "dW", "grad_in"], compiled, plain):
        assert c.dtype == dtype
        np.testing.assert_allclose(c, p, rtol=rtol, atol=rtol * np.abs(p).max(), err_msg=name)
