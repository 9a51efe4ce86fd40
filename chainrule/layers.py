"""Layers: Dense (the z = W a + b of the texts) and Dropout.

Notation, used everywhere in chainrule:
    a_prev  activations of the layer below (the input X for the first layer),
            of shape (n_samples, in_features): one example per row
    W       weights of shape (out_features, in_features); W[j, k] is the weight from
            neuron k of the layer below to neuron j of this layer
    b       biases of shape (out_features,)
    z       pre-activations, z = W a_prev + b for one example; for a batch of rows
            that is Z = A_prev @ W.T + b, of shape (n_samples, out_features)
    a       activations a = f(z), same shape as z
    delta   dL/dz, the error of each neuron, same shape as z

Forward stores a_prev, z and a; backward reuses them. The texts write one example as a
column; here a batch is a matrix of rows, so W a + b becomes A @ W.T + b and the sums
over examples become matrix products.
"""

import numpy as np

from . import activations, initializers, kernels
from ._checks import number, positive_int


class Dense:
    """A fully connected layer: z = W a_prev + b, a = f(z).

    Arguments:
        in_features: number of inputs (neurons of the layer below).
        out_features: number of neurons of this layer.
        activation: "sigmoid", "relu", "tanh", "leaky_relu", "softmax", "identity",
            None (identity) or an Activation instance.
        init: "he", "glorot" (alias "xavier"), "classic" (N(0, 1/in_features)) or "auto"
            ("he" for ReLU-like activations, else "glorot").
        seed: seed of this layer's initial weights. With None, a Sequential draws the
            initial weights from its own seed.
    """

    def __init__(self, in_features, out_features, activation=None, init="auto", seed=None):
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.activation = activations.get(activation)
        self.init = initializers.default_for(self.activation.name) if init == "auto" else init
        self.seed = seed
        self.reset_parameters(np.random.default_rng(seed))
        self.a_prev = self.z = self.a = self.delta = None
        self._buffers = {}

    def reset_parameters(self, rng):
        """Draw new W and b from ``rng`` with this layer's initialiser (keeps their dtype)."""
        dtype = getattr(self, "W", np.empty(0)).dtype
        W, b = initializers.initial_parameters(self.init, rng, self.in_features, self.out_features)
        self.W, self.b = W.astype(dtype), b.astype(dtype)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.dW, self.db]

    def scratch(self, name, n_rows, n_cols):
        """A reusable work array of shape (n_rows, n_cols) in the layer's dtype.

        Training allocates z, a, delta and dL/da_prev once and then overwrites them at
        every step (allocating a fresh array for each costs more than the arithmetic
        on it). The arrays a layer keeps (z, a, delta) are valid until its next pass.
        """
        buf = self._buffers.get(name)
        if buf is None or len(buf) < n_rows or buf.shape[1] != n_cols or buf.dtype != self.W.dtype:
            buf = self._buffers[name] = np.empty((n_rows, n_cols), dtype=self.W.dtype)
        return buf[:n_rows]

    def _ones(self, n_rows):
        ones = self._buffers.get("ones")
        if ones is None or len(ones) < n_rows or ones.dtype != self.W.dtype:
            ones = self._buffers["ones"] = np.ones(n_rows, dtype=self.W.dtype)
        return ones[:n_rows]

    def forward(self, a_prev, training=False):
        """a of shape (n_samples, out_features) from a_prev of shape (n_samples, in_features)."""
        n = len(a_prev)
        self.a_prev = a_prev
        self.z = np.matmul(a_prev, self.W.T, out=self.scratch("z", n, self.out_features))
        a = self.scratch("a", n, self.out_features)
        compiled = self._compiled()
        if compiled:  # the two lines below in one pass (chainrule.kernels)
            compiled[0](self.z, self.b, a, self.W.dtype.type(0))
            self.a = a
            return a
        self.z += self.b
        self.a = self.activation.forward(self.z, out=a)
        return self.a

    def backward(self, grad_a, need_grad_input=True):
        """From dL/da of this layer: delta = dL/da * f'(z), then ``backward_from_delta``."""
        delta = self.scratch("delta", len(grad_a), self.out_features)
        compiled = self._compiled()
        if compiled and grad_a.flags.c_contiguous and grad_a.dtype == delta.dtype:
            # delta and db = 1^T delta in one pass (chainrule.kernels)
            one = delta.dtype.type
            compiled[1](grad_a, self.z, self.a, delta, self.db, one(1), one(0))
            return self.backward_from_delta(delta, need_grad_input, db_done=True)
        delta = self.activation.backward(self.z, self.a, grad_a, out=delta)
        return self.backward_from_delta(delta, need_grad_input)

    def _compiled(self):
        """The compiled (forward, backward) passes of this layer's activation, or None
        (no numba, or an activation chainrule.kernels does not fuse). Only the library's
        own activation objects, unaltered, are fused: a subclass or an instance with a
        method of its own keeps its numpy code."""
        act = self.activation
        if not kernels.AVAILABLE or not self.b.flags.c_contiguous or vars(act) \
                or type(act) is not activations.ACTIVATIONS.get(act.name):
            return None
        return kernels.LAYER_KERNELS.get(act.name)

    def backward_from_delta(self, delta, need_grad_input=True, db_done=False):
        """Store dL/dW and dL/db from delta = dL/dz; return dL/da_prev.

        For one example, dz_j/dW[j, k] = a_prev_k (a weight's nudge is proportional to
        how active its input was) and dz_j/db_j = 1; summed over the batch's rows:
            dW = delta.T @ a_prev            shape (out_features, in_features)
            db = delta summed over rows      shape (out_features,), computed as the product
                                             1^T delta with a vector of ones: BLAS sums
                                             the rows three times faster than np.sum
        Neuron k of the layer below feeds every neuron j, so its error sums theirs:
            dL/da_prev = delta @ W           (W^T delta for one example as a column)
        The first layer skips that product (need_grad_input=False): nothing uses it.
        ``db_done``: db was already summed (by the compiled activation pass).
        """
        self.delta = delta
        np.matmul(delta.T, self.a_prev, out=self.dW)
        if not db_done:
            np.matmul(self._ones(len(delta)), delta, out=self.db)
        if not need_grad_input:
            return None
        return np.matmul(delta, self.W, out=self.scratch("grad_in", len(delta), self.in_features))

    def __getstate__(self):
        # Copies (pickle, deepcopy) leave out the work arrays and what the last pass kept.
        state = dict(self.__dict__)
        state["_buffers"] = {}
        state["a_prev"] = state["z"] = state["a"] = state["delta"] = None
        return state

    def __repr__(self):
        return (f"Dense({self.in_features}, {self.out_features}, "
                f"activation={self.activation.name!r}, init={self.init!r})")


class Dropout:
    """Sets each input to 0 with probability ``rate`` during training (as Keras and PyTorch).

    The kept inputs are scaled by 1 / (1 - rate) ("inverted dropout"), so the expected
    activation is unchanged and nothing needs rescaling at inference, where the layer
    passes its input through. The random mask comes from the Sequential's Generator.
    """

    def __init__(self, rate):
        self.rate = number("rate", rate, 0.0, 1.0, high_open=True)
        self.rng = np.random.default_rng()
        self.mask = None

    def parameters(self):
        return []

    def gradients(self):
        return []

    def forward(self, a_prev, training=False):
        if not training or self.rate == 0.0:
            self.mask = None
            return a_prev
        keep = self.rng.random(a_prev.shape, dtype=a_prev.dtype) >= self.rate
        self.mask = keep * a_prev.dtype.type(1.0 / (1.0 - self.rate))
        return a_prev * self.mask

    def backward(self, grad_a, need_grad_input=True):
        return grad_a if self.mask is None else grad_a * self.mask

    def __getstate__(self):
        return {**self.__dict__, "mask": None}  # copies leave out the last mask

    def __repr__(self):
        return f"Dropout(rate={self.rate})"
