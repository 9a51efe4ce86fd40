"""Gradient checking: backprop against central finite differences, in float64.

For every parameter entry w, the numerical derivative is
    (L(w + eps) - L(w - eps)) / (2 eps)
whose error is O(eps^2). A parameter array's error is the largest difference between
the two gradients relative to the largest gradient entry of that array:
    max_i |g_i - n_i| / max(max_i |g_i|, max_i |n_i|)
(an entry-by-entry ratio would blow up on entries that are 0 up to rounding).
"""

import copy

import numpy as np

from . import data


def gradcheck(model, X, y, eps=1e-6):
    """{"W1": error, "b1": error, ...}: the relative error of backprop's gradient for
    every parameter array (layers numbered from 1), on a float64 copy of ``model``
    with dropout off. The model itself is not changed."""
    m = copy.deepcopy(model).astype(np.float64)
    X = data.check_X(X, m.n_features, np.float64)
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)

    def cost():
        m.forward_pass(X, training=False)
        return m.cost(Y)

    cost()
    m.backward_pass(Y)
    analytic = [g.copy() for g in m.gradients()]
    errors = {}
    names = [f"{p}{i}" for i, _ in enumerate(m.dense_layers, 1) for p in ("W", "b")]
    for name, p, g in zip(names, m.parameters(), analytic, strict=True):
        numeric = np.empty_like(p)
        for idx in np.ndindex(p.shape):
            saved = p[idx]
            p[idx] = saved + eps
            up = cost()
            p[idx] = saved - eps
            down = cost()
            p[idx] = saved
            numeric[idx] = (up - down) / (2 * eps)
        scale = max(np.abs(g).max(), np.abs(numeric).max())
        errors[name] = float(np.abs(g - numeric).max() / scale) if scale > 0 else 0.0
    return errors
