"""Activation functions, each written beside its derivative.

An activation maps the pre-activation z of a layer to its activation a = f(z),
element by element (softmax is the one exception: it mixes the neurons of a row).
For the backward pass each activation turns dL/da into dL/dz:

    elementwise f:  dL/dz = dL/da * f'(z)
    softmax:        dL/dz_j = a_j * (dL/da_j - sum_i dL/da_i * a_i)

Arrays are batches of rows, of shape (n_samples, n_neurons). Every function here is
finite for any finite z (|z| up to 1e4 and beyond) and raises no numpy warning.
"""

import numpy as np

from .errors import InputError


class Activation:
    """Base class: ``forward(z) -> a`` and ``backward(z, a, grad_a) -> grad_z``."""

    name = ""

    def forward(self, z):
        raise NotImplementedError

    def derivative(self, z, a):
        """f'(z) element by element; ``a`` is f(z), passed in because it is cached."""
        raise NotImplementedError

    def backward(self, z, a, grad_a):
        """dL/dz from dL/da, all of shape (n_samples, n_neurons)."""
        return grad_a * self.derivative(z, a)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """f(z) = z, f'(z) = 1."""

    name = "identity"

    def forward(self, z):
        return z

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, z, a, grad_a):
        return grad_a


class Sigmoid(Activation):
    """f(z) = 1 / (1 + exp(-z)), f'(z) = f(z) (1 - f(z)).

    Computed as (1 + tanh(z / 2)) / 2, which is the same function and never
    overflows: exp(-z) would overflow for z < -710 in float64 (-89 in float32).
    """

    name = "sigmoid"

    def forward(self, z):
        a = np.tanh(z * 0.5)
        a += 1.0
        a *= 0.5
        return a

    def derivative(self, z, a):
        return a * (1.0 - a)


class Tanh(Activation):
    """f(z) = tanh(z), f'(z) = 1 - f(z)^2."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1.0 - a * a


class ReLU(Activation):
    """f(z) = max(z, 0), f'(z) = 1 where z > 0, else 0 (0 at z = 0, as PyTorch)."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0)

    def derivative(self, z, a):
        return (z > 0).astype(z.dtype)

    def backward(self, z, a, grad_a):
        return grad_a * (z > 0)


class LeakyReLU(Activation):
    """f(z) = z where z > 0, else alpha z;  f'(z) = 1 where z > 0, else alpha."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        self.alpha = float(alpha)

    def forward(self, z):
        return np.where(z > 0, z, self.alpha * z)

    def derivative(self, z, a):
        return np.where(z > 0, 1.0, self.alpha).astype(z.dtype)

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha})"


class Softmax(Activation):
    """a_j = exp(z_j) / sum_i exp(z_i) over the neurons of each row.

    Shifting z by its row maximum first changes nothing in the result and keeps
    every exp() in [0, 1], so no overflow. The derivative is a matrix per row,
    da_j/dz_i = a_j (delta_ij - a_i), so ``backward`` applies it directly.
    """

    name = "softmax"

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        e /= e.sum(axis=1, keepdims=True)
        return e

    def derivative(self, z, a):
        raise TypeError("softmax has no element-wise derivative; use backward()")

    def backward(self, z, a, grad_a):
        return a * (grad_a - (grad_a * a).sum(axis=1, keepdims=True))


ACTIVATIONS = {
    cls.name: cls for cls in (Identity, Sigmoid, Tanh, ReLU, LeakyReLU, Softmax)
}


def get(activation):
    """An Activation from a name, an Activation instance or None (identity)."""
    if activation is None:
        return Identity()
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]()
    raise InputError(
        f"activation must be one of {sorted(ACTIVATIONS)} or None; "
        f"received activation={activation!r}"
    )
