"""Cost functions: the value of the cost and its gradient with respect to the output.

The cost of a batch is the mean over its n examples of the per-example cost C(a, y),
where a is the network's output and y the target, both of shape (n_samples, n_outputs):

    "mse"            C = sum_j (a_j - y_j)^2                          dC/da = 2 (a - y)
    "log_loss"       C = -sum_j [y_j log a_j + (1 - y_j) log(1 - a_j)]  dC/da = (a - y) / (a (1 - a))
    "cross_entropy"  C = -sum_j y_j log a_j                            dC/da = -y / a

``gradient`` returns dL/da of the batch mean, so it is already divided by n; ``per_example``
returns every C(a_i, y_i), of shape (n_samples,), for weighted means.

Fused output error. For sigmoid + log_loss and softmax + cross_entropy the chain
dL/da * da/dz collapses to (a - y) / n: the 1 / (a (1 - a)) of the log-loss cancels the
sigmoid's a (1 - a), and the softmax Jacobian turns -y / a into a - y because the y of
each row sums to 1. The network uses that form for those pairs, and computes their cost
from z with log-sum-exp, so that neither the cost nor the error depends on log(0).
"""

import numpy as np

from .errors import InputError


def log_sigmoid(z):
    """log(1 / (1 + exp(-z))) = -(max(-z, 0) + log1p(exp(-|z|))), finite for every z."""
    return -(np.maximum(-z, 0) + np.log1p(np.exp(-np.abs(z))))


def log_softmax(z):
    """z - log(sum(exp(z))) per row, with the row maximum taken out first."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class Loss:
    """Base class. ``fused_activation`` names the output activation whose error is a - y."""

    name = ""
    fused_activation = None

    def value(self, a, y):
        """The mean cost over the batch, a Python float."""
        raise NotImplementedError

    def gradient(self, a, y):
        """dL/da of the batch mean, of shape (n_samples, n_outputs)."""
        raise NotImplementedError

    def value_from_z(self, z, y):
        """The cost computed from the output pre-activation z (fused pairs only)."""
        raise NotImplementedError

    def per_example(self, a, y):
        """C(a_i, y_i) of every example, float64 of shape (n_samples,)."""
        raise NotImplementedError

    def per_example_from_z(self, z, y):
        """C of every example from z (fused pairs only), float64 of shape (n_samples,)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def _clip(a):
    # Outside the fused pairs log(a) needs a > 0; clip as Keras does, at the dtype's eps.
    eps = np.finfo(a.dtype).eps if a.dtype.kind == "f" else 1e-7
    return np.clip(a, eps, 1 - eps)


class MeanSquaredError(Loss):
    """C = sum_j (a_j - y_j)^2 per example (no 1/2: dC/da = 2 (a - y))."""

    name = "mse"

    def value(self, a, y):
        d = a - y
        return float(np.einsum("ij,ij->", d, d)) / len(a)

    def gradient(self, a, y):
        return (a - y) * (2.0 / len(a))

    def per_example(self, a, y):
        d = a.astype(np.float64) - y
        return np.einsum("ij,ij->i", d, d)


class LogLoss(Loss):
    """Binary cross-entropy of every output: C = -sum_j [y log a + (1 - y) log(1 - a)]."""

    name = "log_loss"
    fused_activation = "sigmoid"

    def value(self, a, y):
        a = _clip(a)
        return float(-(y * np.log(a) + (1 - y) * np.log1p(-a)).sum()) / len(a)

    def gradient(self, a, y):
        a = _clip(a)
        return (a - y) / (a * (1 - a)) / len(a)

    def value_from_z(self, z, y):
        # log a = log_sigmoid(z) and log(1 - a) = log_sigmoid(-z).
        return float(-(y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z)).sum()) / len(z)

    def per_example(self, a, y):
        a = _clip(a).astype(np.float64)
        return -(y * np.log(a) + (1 - y) * np.log1p(-a)).sum(axis=1)

    def per_example_from_z(self, z, y):
        z = z.astype(np.float64)
        return -(y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z)).sum(axis=1)


class CrossEntropy(Loss):
    """Categorical cross-entropy: C = -sum_j y_j log a_j (y one-hot, or any distribution)."""

    name = "cross_entropy"
    fused_activation = "softmax"

    def value(self, a, y):
        return float(-(y * np.log(_clip(a))).sum()) / len(a)

    def gradient(self, a, y):
        return -y / _clip(a) / len(a)

    def value_from_z(self, z, y):
        return float(-np.einsum("ij,ij->", y, log_softmax(z))) / len(z)

    def per_example(self, a, y):
        return -np.einsum("ij,ij->i", y.astype(np.float64), np.log(_clip(a).astype(np.float64)))

    def per_example_from_z(self, z, y):
        return -np.einsum("ij,ij->i", y.astype(np.float64), log_softmax(z.astype(np.float64)))


LOSSES = {cls.name: cls for cls in (MeanSquaredError, LogLoss, CrossEntropy)}


def check_output_layer(loss, activation, units):
    """Refuse an output layer ``loss`` (a name of LOSSES) cannot train: the cross-entropy
    needs a softmax over >= 2 units (a softmax of one unit is always 1, a sigmoid or ReLU
    output is not a distribution over the classes), the log-loss sigmoid outputs (each a
    probability of its own). Such a pair trains to a small loss and a useless model
    (a sigmoid with the cross-entropy pushes every output to 1), so it is an InputError
    that names the pairing that works. Every pair with "mse" is allowed.
    """
    layer = f"the last layer is {activation} with {units} unit{'s' if units != 1 else ''}"
    if loss == "cross_entropy" and (activation != "softmax" or units < 2):
        if activation == "softmax":
            fix = "a softmax of one unit is always 1: give it 2 or more units, or use one sigmoid unit with loss='log_loss'"
        elif activation == "sigmoid" and units == 1:
            fix = "use loss='log_loss' for one sigmoid output"
        elif activation == "sigmoid":
            fix = ("use loss='log_loss' for independent sigmoid outputs (multi-label), or "
                   "activation='softmax' for one class out of several")
        else:
            fix = "give the last layer activation='softmax'"
        raise InputError(f"loss='cross_entropy' needs a softmax output layer of 2 or more units; {layer}: {fix}")
    if loss == "log_loss" and activation != "sigmoid":
        fix = ("use loss='cross_entropy' for a softmax output" if activation == "softmax"
               else "give the last layer activation='sigmoid'")
        raise InputError(f"loss='log_loss' needs a sigmoid output layer; {layer}: {fix}")


def get(loss):
    """A Loss from a name or a Loss instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise InputError(
        f"loss must be one of {sorted(LOSSES)}; received loss={loss!r}"
    )
