"""Each activation against its derivative (finite differences, float64), and stability."""

import numpy as np
import pytest

from chainrule import activations
from chainrule.errors import InputError

NAMES = sorted(activations.ACTIVATIONS)


def numeric_vjp(act, z, grad_a, eps=1e-6):
    """dL/dz for L = sum(grad_a * f(z)), by central differences, entry by entry."""
    out = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        out[idx] = ((grad_a * act.forward(zp)).sum() - (grad_a * act.forward(zm)).sum()) / (2 * eps)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    act = activations.get(name)
    z = rng.normal(0, 2, size=(4, 5))
    z[np.abs(z) < 1e-3] = 0.5  # keep ReLU's kink out of the difference quotient
    grad_a = rng.normal(size=z.shape)
    a = act.forward(z)
    analytic = act.backward(z, a, grad_a)
    np.testing.assert_allclose(analytic, numeric_vjp(act, z, grad_a), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "softmax"])
def test_derivative_is_the_elementwise_slope(name):
    act = activations.get(name)
    z = np.linspace(-3, 3, 13) + 0.01
    z = z[None, :]
    slope = (act.forward(z + 1e-6) - act.forward(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(act.derivative(z, act.forward(z)), slope, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_finite_for_extreme_inputs(name, dtype):
    act = activations.get(name)
    z = np.array([[-1e4, -1e3, -100.0, -1.0, 0.0, 1.0, 100.0, 1e3, 1e4]], dtype=dtype)
    a = act.forward(z)
    grad = act.backward(z, a, np.ones_like(z))
    assert a.dtype == dtype and grad.dtype == dtype
    assert np.isfinite(a).all() and np.isfinite(grad).all()


def test_known_values():
    z = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(activations.get("sigmoid").forward(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_array_equal(activations.get("relu").forward(z), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(activations.get("leaky_relu").forward(z), [[-0.02, 0.0, 3.0]])
    sm = activations.get("softmax").forward(z)
    np.testing.assert_allclose(sm, np.exp(z) / np.exp(z).sum(), rtol=1e-15)
    assert activations.get(None).forward(z) is z
    # saturated sigmoid is exactly 0 and 1, never NaN
    np.testing.assert_array_equal(activations.get("sigmoid").forward(np.array([[-1e4, 1e4]])), [[0.0, 1.0]])


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"activation must be one of \['identity', 'leaky_relu', 'relu', 'sigmoid', 'softmax', 'tanh'\] or None; received activation='swish'"):
        activations.get("swish")
