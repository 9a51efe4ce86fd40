"""Each loss: value by hand, gradient against finite differences, fused forms, stability."""

import numpy as np
import pytest

from chainrule import activations, losses
from chainrule.errors import InputError


def targets(name, rng, shape):
    if name == "mse":
        return rng.normal(size=shape)
    if name == "cross_entropy":
        return np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
    return rng.uniform(0, 1, size=shape)  # log_loss accepts soft targets in [0, 1]


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_gradient_matches_finite_differences(name):
    rng = np.random.default_rng(1)
    loss = losses.get(name)
    a = rng.uniform(0.1, 0.9, size=(5, 3))
    y = targets(name, rng, a.shape)
    numeric = np.empty_like(a)
    for idx in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[idx] += 1e-6
        am[idx] -= 1e-6
        numeric[idx] = (loss.value(ap, y) - loss.value(am, y)) / 2e-6
    np.testing.assert_allclose(loss.gradient(a, y), numeric, rtol=1e-6, atol=1e-10)


def test_values_by_hand():
    a = np.array([[0.8, 0.2], [0.4, 0.6]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    # mse: per example sum_j (a_j - y_j)^2: (0.04 + 0.04) and (0.16 + 0.16); mean 0.2
    assert losses.get("mse").value(a, y) == pytest.approx(0.2, abs=1e-15)
    # cross-entropy: -log 0.8 and -log 0.6, mean
    assert losses.get("cross_entropy").value(a, y) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2, abs=1e-15)
    # log-loss: both outputs of each example count: -[log .8 + log .8] and -[log .6 + log .6]
    assert losses.get("log_loss").value(a, y) == pytest.approx(-(2 * np.log(0.8) + 2 * np.log(0.6)) / 2, abs=1e-15)


@pytest.mark.parametrize("name", ["log_loss", "cross_entropy"])
def test_fused_value_from_z_equals_value_of_a(name):
    rng = np.random.default_rng(2)
    loss = losses.get(name)
    act = activations.get(loss.fused_activation)
    z = rng.normal(0, 3, size=(6, 4))
    y = targets(name, rng, z.shape)
    assert loss.value_from_z(z, y) == pytest.approx(loss.value(act.forward(z), y), rel=1e-12)


@pytest.mark.parametrize("name", ["log_loss", "cross_entropy"])
def test_fused_output_error_is_a_minus_y(name):
    """dL/dz through the activation's backward equals (a - y) / n for the canonical pairs."""
    rng = np.random.default_rng(3)
    loss = losses.get(name)
    act = activations.get(loss.fused_activation)
    z = rng.normal(size=(5, 3))
    y = targets(name, rng, z.shape)
    a = act.forward(z)
    np.testing.assert_allclose(act.backward(z, a, loss.gradient(a, y)), (a - y) / len(a), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["log_loss", "cross_entropy"])
def test_fused_value_finite_for_extreme_z(name, dtype):
    loss = losses.get(name)
    z = np.array([[1e4, -1e4, 0.0], [-1e3, 1e3, 5.0]], dtype=dtype)
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=dtype)
    value = loss.value_from_z(z, y)
    assert np.isfinite(value) and value > 1e3  # confidently wrong: a large, finite cost


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_values_finite_for_saturated_outputs(name):
    loss = losses.get(name)
    a = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    assert np.isfinite(loss.value(a, y))
    assert np.isfinite(loss.gradient(a, y)).all()


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"loss must be one of \['cross_entropy', 'log_loss', 'mse'\]; received loss='hinge'"):
        losses.get("hinge")
