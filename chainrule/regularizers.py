"""Penalties added to the cost during training: ``fit(..., penalty=L2(alpha))``.

A penalty adds a value to each batch's cost and its gradient to the batch's gradient,
after the backward pass and before the optimizer's step (see ``training.train_step``).
"""

import numpy as np

from ._checks import number


class L2:
    """The L2 penalty of scikit-learn's MLP on the weight matrices (not the biases): for a
    batch of total example weight n,

        P = scale * (alpha / 2) * sum_l ||W(l)||^2 / n,     dP/dW(l) = scale * alpha * W(l) / n.

    ``scale`` multiplies both, for a cost whose gradient is ``scale`` times the one the
    penalty is meant for (chainrule's mse is twice scikit-learn's half squared error).
    """

    def __init__(self, alpha, scale=1.0):
        self.alpha = number("alpha", alpha, 0.0)
        self.scale = number("scale", scale, 0.0, low_open=True)

    def inplace_add_gradient(self, model, n):
        """Add dP/dW to every dense layer's dW, in place; returns P (a float)."""
        if not self.alpha:
            return 0.0
        coef = self.scale * self.alpha / n
        squares = 0.0
        for layer in model.dense_layers:
            squares += float(np.vdot(layer.W, layer.W))
            layer.dW += coef * layer.W
        return 0.5 * self.scale * self.alpha * squares / n

    def __repr__(self):
        return f"L2(alpha={self.alpha!r}, scale={self.scale!r})"
