"""What the parts of explain share: the forward pass on a float64 copy, the checks of their
arguments, and the subscripts and notes of the texts' notation.

Every number of explain is computed on a float64 copy of the model, so the model itself is
never changed; a Forward keeps the values of one forward pass of that copy, every array of
shape (n_samples, width).
"""

import copy
from typing import NamedTuple

import numpy as np

from .. import data
from .._checks import fail, is_integer
from ..errors import InputTypeError
from ..layers import Dropout
from ..network import Sequential


class Forward(NamedTuple):
    """A forward pass on a float64 copy, every array of shape (n_samples, width)."""

    model: Sequential
    X: np.ndarray
    Y: np.ndarray
    a_prev: list  # a_prev[l - 1] is a^{(l-1)}, the input of Dense layer l
    z: list
    a: list


def float64_copy(model):
    """A float64 deep copy of ``model``, which must be a Sequential."""
    if not isinstance(model, Sequential):
        raise InputTypeError(f"model must be a chainrule Sequential; received {type(model).__name__}")
    return copy.deepcopy(model).astype(np.float64)


def as_rows(m, x, y):
    """(X, Y) in float64: one example of shape (n_features,) becomes one row."""
    if np.ndim(x) == 1:
        x = np.asarray(x)[None, :]
        if np.ndim(y) == 0:
            y = np.asarray(y)[None]
        elif np.ndim(y) == 1 and m.n_outputs > 1 and len(y) == m.n_outputs:
            y = np.asarray(y)[None, :]
    X = data.check_X(x, m.n_features, np.float64, name="x")
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)
    return X, Y


def float64_forward(model, x, y):
    """The Forward of (x, y) through a float64 copy of ``model``, dropout off."""
    m = float64_copy(model)
    X, Y = as_rows(m, x, y)
    m.forward_pass(X, training=False)
    dense = m.dense_layers
    return Forward(m, X, Y, [d.a_prev.copy() for d in dense], [d.z.copy() for d in dense],
                   [d.a.copy() for d in dense])


def integer_in(name, value, low, high, why):
    """``value`` as an int in [low, high]; ``why`` says in the message what it counts."""
    if not is_integer(value) or not low <= value <= high:
        fail(name, f"an integer in [{low}, {high}] ({why})", value)
    return int(value)


def sub(i):
    """The subscript of one neuron, "_{3}" or "_{j}", as the texts write it."""
    return f"_{{{i}}}"


def pair(u, v):
    """The subscript of a weight: w_{ip} with letters, w_{3,7} with numbers."""
    return f"_{{{u}{v}}}" if isinstance(u, str) and isinstance(v, str) else f"_{{{u},{v}}}"


def architecture(m):
    """E.g. "64-16-10 network: relu, softmax; loss cross_entropy"."""
    sizes = "-".join(str(n) for n in [m.n_features] + [d.out_features for d in m.dense_layers])
    acts = ", ".join(d.activation.name for d in m.dense_layers)
    return f"{sizes} network: {acts}; loss {m.loss.name}"


def dropout_notes(m):
    """One note per Dropout layer: taken in inference mode, it adds no factor."""
    notes, dense_seen = [], 0
    for layer in m.layers:
        if isinstance(layer, Dropout):
            notes.append(f"Dropout(rate={layer.rate}) after Dense layer {dense_seen} is in inference "
                         f"mode: it passes its input through and adds no factor")
        else:
            dense_seen += 1
    return notes
