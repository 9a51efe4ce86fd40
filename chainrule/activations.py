"""Activation functions, each written beside its derivative.

An activation maps the pre-activation z of a layer to its activation a = f(z),
element by element (softmax is the one exception: it mixes the neurons of a row).
For the backward pass each activation turns dL/da into dL/dz:

    elementwise f:  dL/dz = dL/da * f'(z)
    softmax:        dL/dz_j = a_j * (dL/da_j - sum_i dL/da_i * a_i)

Arrays are batches of rows, of shape (n_samples, n_neurons). ``forward`` and
``backward`` take an optional ``out`` array to write the result into (as numpy's ufuncs
do), so that training reuses its buffers; without it they return a new array. Every
function here is finite for any finite z (|z| up to 1e4 and beyond) and raises no
numpy warning.
"""

import numpy as np

from .errors import InputError


class Activation:
    """Base class: ``forward(z) -> a`` and ``backward(z, a, grad_a) -> grad_z``."""

    name = ""

    def forward(self, z, out=None):
        raise NotImplementedError

    def derivative(self, z, a):
        """f'(z) element by element; ``a`` is f(z), passed in because it is cached."""
        raise NotImplementedError

    def backward(self, z, a, grad_a, out=None):
        """dL/dz from dL/da, all of shape (n_samples, n_neurons)."""
        return np.multiply(grad_a, self.derivative(z, a), out=out)

    def __repr__(self):
        return f"{type(self).__name__}()"


class Identity(Activation):
    """f(z) = z, f'(z) = 1."""

    name = "identity"

    def forward(self, z, out=None):
        return z  # a is z itself: nothing to compute or store

    def derivative(self, z, a):
        return np.ones_like(z)

    def backward(self, z, a, grad_a, out=None):
        return grad_a


class Sigmoid(Activation):
    """f(z) = 1 / (1 + exp(-z)), f'(z) = f(z) (1 - f(z)).

    Computed as (1 + tanh(z / 2)) / 2, which is the same function and never
    overflows: exp(-z) would overflow for z < -710 in float64 (-89 in float32).
    """

    name = "sigmoid"

    def forward(self, z, out=None):
        a = np.multiply(z, 0.5, out=out)
        np.tanh(a, out=a)
        a += 1.0
        a *= 0.5
        return a

    def derivative(self, z, a):
        return a * (1.0 - a)


class Tanh(Activation):
    """f(z) = tanh(z), f'(z) = 1 - f(z)^2."""

    name = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z, a):
        return 1.0 - a * a


class ReLU(Activation):
    """f(z) = max(z, 0), f'(z) = 1 where z > 0, else 0 (0 at z = 0, as PyTorch)."""

    name = "relu"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z, a):
        return (z > 0).astype(z.dtype)

    def backward(self, z, a, grad_a, out=None):
        return np.multiply(grad_a, z > 0, out=out)


class LeakyReLU(Activation):
    """f(z) = z where z > 0, else alpha z;  f'(z) = 1 where z > 0, else alpha."""

    name = "leaky_relu"

    def __init__(self, alpha=0.01):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
            raise InputError(f"alpha must be a number in [0, 1); received alpha={alpha!r}")
        self.alpha = float(alpha)

    def forward(self, z, out=None):
        # for 0 <= alpha < 1, max(z, alpha z) is z where z > 0 and alpha z elsewhere
        a = np.multiply(z, self.alpha, out=out)
        return np.maximum(z, a, out=a)

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

    def forward(self, z, out=None):
        e = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
        np.exp(e, out=e)
        e /= e.sum(axis=1, keepdims=True)
        return e

    def derivative(self, z, a):
        raise TypeError("softmax has no element-wise derivative; use backward()")

    def backward(self, z, a, grad_a, out=None):
        row_sums = np.einsum("ij,ij->i", grad_a, a)[:, None]
        return np.multiply(a, grad_a - row_sums, out=out)


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
