"""Initial weights, drawn from a seeded numpy Generator.

Each initialiser returns W of shape (n_out, n_in) for a layer with n_in inputs and
n_out neurons. The scale keeps the variance of z roughly the same from layer to layer:

    "he"       N(0, 2 / n_in)              for ReLU-like activations (He et al., 2015)
    "glorot"   U(-r, r), r = sqrt(6 / (n_in + n_out))   for sigmoid, tanh, softmax
               (Glorot and Bengio, 2010; also called "xavier")
    "classic"  N(0, 1 / n_in)              the "normalised" Gaussian of Nielsen's book

Biases start at zero, except with "classic", which draws them from N(0, 1) as the book does.
"""

import numpy as np

from .errors import InputError


def he(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_out, n_in))


def glorot(rng, n_in, n_out):
    r = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-r, r, size=(n_out, n_in))


def classic(rng, n_in, n_out):
    return rng.normal(0.0, np.sqrt(1.0 / n_in), size=(n_out, n_in))


INITIALIZERS = {"he": he, "glorot": glorot, "xavier": glorot, "classic": classic}


def default_for(activation_name):
    """"he" for ReLU-like layers, "glorot" for the others (what Keras and PyTorch users expect)."""
    return "he" if activation_name in ("relu", "leaky_relu") else "glorot"


def initial_parameters(init, rng, n_in, n_out):
    """(W of shape (n_out, n_in), b of shape (n_out,)) in float64 for ``init`` by name."""
    if init not in INITIALIZERS:
        raise InputError(
            f"init must be one of {sorted(INITIALIZERS)}; received init={init!r}"
        )
    W = INITIALIZERS[init](rng, n_in, n_out)
    b = rng.normal(0.0, 1.0, size=n_out) if init == "classic" else np.zeros(n_out)
    return W, b
