"""Sequential: a stack of layers, with the forward pass and the backward pass across it.

Forward: a(0) = X, then each layer computes a(l) = f(W(l) a(l-1) + b(l)) and keeps
a(l-1), z(l) and a(l). Backward starts from the output:
    delta(L) = dL/da(L) * f'(z(L))        (= (a(L) - y) / n for the fused pairs)
and walks down, each layer turning the error of the layer above into its own:
    delta(l) = (W(l+1)^T delta(l+1)) * f'(z(l))
    dL/dW(l) = delta(l) a(l-1)^T,   dL/db(l) = delta(l)
reusing the stored z and a, so one backward pass costs about as much as the forward.
"""

import copy

import numpy as np

from . import data, io, losses
from .data import DTYPES
from .errors import InputError, InputTypeError
from .layers import Dense, Dropout



class Sequential:
    """A network: layers applied in order, trained to minimise ``loss``.

    Arguments:
        layers: a list of Dense and Dropout layers; the last one is Dense.
        loss: "cross_entropy" (needs a softmax output of 2 or more units), "log_loss"
            (needs sigmoid outputs) or "mse" (any output); another pairing is an
            InputError naming the one that works (losses.check_output_layer).
        seed: seeds the initial weights of the layers created without their own seed,
            the shuffling of every epoch and the dropout masks. Same seed, same data:
            bitwise-identical weights on the same machine.
        dtype: "float32" (default) or "float64".
        classifier: whether ``predict`` returns class labels; by default True for
            "cross_entropy" and "log_loss", False for "mse".
    """

    def __init__(self, layers, loss="cross_entropy", seed=None, dtype="float32", classifier=None):
        self.layers = _check_layers(layers)
        self.loss = losses.get(loss)
        last = self.layers[-1]
        losses.check_output_layer(self.loss.name, last.activation.name, last.out_features)
        if str(np.dtype(dtype) if _is_dtype(dtype) else dtype) not in DTYPES:
            raise InputError(f"dtype must be one of {list(DTYPES)}; received dtype={dtype!r}")
        self.dtype = np.dtype(dtype)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.classifier = self.loss.name != "mse" if classifier is None else bool(classifier)
        for layer in self.layers:
            if isinstance(layer, Dense) and layer.seed is None:
                layer.reset_parameters(self.rng)
            if isinstance(layer, Dropout):
                layer.rng = self.rng
        self.astype(self.dtype)
        self.dense_layers = [layer for layer in self.layers if isinstance(layer, Dense)]
        self._first_dense = self.layers.index(self.dense_layers[0])
        self.n_features = self.dense_layers[0].in_features
        self.n_outputs = self.layers[-1].out_features
        # sigmoid + log_loss and softmax + cross_entropy: the output error is a - y.
        self.fused = self.layers[-1].activation.name == self.loss.fused_activation
        self.history = None
        self.stop_training = False

    def astype(self, dtype):
        """Cast every parameter (and gradient buffer) to ``dtype``, in place; returns self.

        The parameters W1, b1, W2, ... are laid out one after the other in a single flat
        buffer, ``parameter_buffer`` of shape (n_parameters,), each layer's W and b being
        views of it, and the gradients likewise in ``gradient_buffer``: an optimizer step
        is then a few passes over two arrays, whatever the depth.
        """
        self.dtype = np.dtype(dtype)
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        size = sum(layer.W.size + layer.b.size for layer in dense)
        params, grads = np.empty(size, dtype=self.dtype), np.zeros(size, dtype=self.dtype)
        self.parameter_buffer, self.gradient_buffer = params, grads
        start = 0
        for layer in dense:
            for name in ("W", "b"):
                value = getattr(layer, name)
                end = start + value.size
                setattr(layer, name, params[start:end].reshape(value.shape))
                getattr(layer, name)[...] = value
                setattr(layer, "d" + name, grads[start:end].reshape(value.shape))
                start = end
        return self

    # --- the two passes -----------------------------------------------------------

    def forward_pass(self, A, training=True):
        """The forward pass of the texts on checked input A of shape (n_samples,
        n_features) in the network's dtype: a(0) = A, then a(l) = f(W(l) a(l-1) + b(l)).
        Every layer keeps its a_prev, z and a until its next pass; returns a(L), of shape
        (n_samples, n_outputs), the output layer's work array (not a copy). With
        training=True dropout is active."""
        for layer in self.layers:
            A = layer.forward(A, training)
        return A

    def cost(self, Y, sample_weight=None):
        """The cost of the last forward pass for targets Y of shape (n_samples,
        n_outputs), a float: the mean of the examples' costs C_i, or with
        ``sample_weight`` w of shape (n_samples,) the weighted mean
        sum_i w_i C_i / sum_i w_i. Computed from z for the fused pairs."""
        out = self.layers[-1]
        if sample_weight is None:
            return self.loss.value_from_z(out.z, Y) if self.fused else self.loss.value(out.a, Y)
        return float(np.dot(sample_weight, self.example_costs(Y))) / float(np.sum(sample_weight))

    def example_costs(self, Y):
        """The cost C_i of every example of the last forward pass, float64 of shape (n_samples,)."""
        out = self.layers[-1]
        return self.loss.per_example_from_z(out.z, Y) if self.fused else self.loss.per_example(out.a, Y)

    def backward_pass(self, Y, sample_weight=None):
        """The backward pass: fill every layer's dW and db with the gradient of
        ``cost(Y, sample_weight)``, from the values the last forward pass stored.

        The output error is delta(L) = dL/da(L) * f'(z(L)), which for the fused pairs is
        (a - y) / n (each example weighted by w_i / sum w instead of 1 / n when weighted);
        then every layer, from the top down, turns dL/da of its output into its own delta,
        its dW and db, and the dL/da of the layer below.
        """
        out = self.layers[-1]
        if sample_weight is None:
            scale = 1.0 / len(Y)  # the cost is the mean over the batch
        else:  # each example's share of the weighted mean, as a column
            scale = (np.asarray(sample_weight, np.float64) / np.sum(sample_weight)).astype(self.dtype)[:, None]
        if self.fused:
            delta = np.subtract(out.a, Y, out=out.scratch("delta", len(Y), self.n_outputs))
            delta *= scale
            grad = out.backward_from_delta(delta)
        else:
            grad_a = self.loss.gradient(out.a, Y)  # dL/da of the mean: already divided by n
            if sample_weight is not None:
                grad_a *= scale * len(Y)
            grad = out.backward(grad_a)
        first = self._first_dense  # nothing below it has parameters
        for i in range(len(self.layers) - 2, first - 1, -1):
            grad = self.layers[i].backward(grad, need_grad_input=i > first)

    def forward(self, X):
        """The network's output, of shape (n_samples, n_outputs), in inference mode
        (dropout off). Every layer keeps its a_prev, z and a until its next pass."""
        return self.forward_pass(data.check_X(X, self.n_features, self.dtype), training=False).copy()

    def parameters(self):
        """The live parameter arrays [W1, b1, W2, b2, ...], from the first layer up."""
        return [p for layer in self.layers for p in layer.parameters()]

    def gradients(self):
        """The live gradient buffers [dW1, db1, ...] of the last backward pass."""
        return [g for layer in self.layers for g in layer.gradients()]

    def loss_and_gradients(self, X, y, training=False):
        """(loss, grads): the mean cost over the batch and its gradient with respect to
        every array of ``parameters()`` (copies, same order and shapes). With
        training=True dropout is active, as in a training step."""
        X = data.check_X(X, self.n_features, self.dtype)
        Y, _ = data.check_targets(y, len(X), self.n_outputs, self.loss.name, self.dtype)
        self.forward_pass(X, training)
        loss = self.cost(Y)
        self.backward_pass(Y)
        return loss, [g.copy() for g in self.gradients()]

    # --- training and use ---------------------------------------------------------

    def fit(self, X, y, **settings):
        """Train by mini-batch gradient descent; returns a History. The settings (epochs,
        batch_size, optimizer, validation_data, validation_split, shuffle, callbacks,
        verbose, checkpoint, resume, distributed, sample_weight, penalty) are those of
        ``chainrule.training.fit(model, X, y, ...)``, the one training loop, which this calls."""
        from .training import fit  # the engine builds on the network, not the reverse

        return fit(self, X, y, **settings)

    def lr_find(self, X, y, **settings):
        """The learning-rate range test on this network; returns an LRFinderResult with a
        suggested rate. The settings (optimizer, start_lr, end_lr, steps, batch_size, ...)
        are those of ``chainrule.lr_finder.lr_find``; the network ends as it began."""
        from .lr_finder import lr_find  # it trains through the engine, above the network

        return lr_find(self, X, y, **settings)

    def _outputs(self, X, batch_size=4096):
        """Outputs for X (already checked) in slices, to bound memory on large data sets
        (each slice's output is copied out of the layers' reused work arrays)."""
        A = np.empty((len(X), self.n_outputs), dtype=self.dtype)
        for i in range(0, len(X), batch_size):
            A[i:i + batch_size] = self.forward_pass(X[i:i + batch_size], training=False)
        return A

    def evaluate(self, X, y):
        """{"loss": mean cost, "accuracy": share of correct labels (where y holds classes)}."""
        X = data.check_X(X, self.n_features, self.dtype)
        Y, labels = data.check_targets(y, len(X), self.n_outputs, self.loss.name, self.dtype)
        return self.evaluate_arrays(X, Y, labels)

    def evaluate_arrays(self, X, Y, labels, batch_size=4096):
        """``evaluate`` on checked arrays: X of shape (n_samples, n_features) and Y of
        shape (n_samples, n_outputs) in the network's dtype, int64 labels or None."""
        total, correct = 0.0, 0
        for i in range(0, len(X), batch_size):
            A = self.forward_pass(X[i:i + batch_size], training=False)
            total += self.cost(Y[i:i + batch_size]) * len(A)
            if labels is not None:
                correct += int((data.predicted_labels(A) == labels[i:i + batch_size]).sum())
        result = {"loss": total / len(X)}
        if labels is not None:
            result["accuracy"] = correct / len(X)
        return result

    def predict(self, X):
        """Class labels, int64 of shape (n_samples,), for a classifier; outputs of shape
        (n_samples, n_outputs) for a regressor."""
        A = self._outputs(data.check_X(X, self.n_features, self.dtype))
        return data.predicted_labels(A) if self.classifier else A

    def predict_proba(self, X):
        """For a classifier, of shape (n_samples, n_classes): the softmax or sigmoid
        outputs; a one-output network gives the two columns [1 - p, p]."""
        if not self.classifier:
            raise InputError("predict_proba needs a classifier; this network has classifier=False")
        A = self._outputs(data.check_X(X, self.n_features, self.dtype))
        return np.hstack([1 - A, A]) if A.shape[1] == 1 else A

    def n_parameters(self):
        return sum(p.size for p in self.parameters())

    def summary(self):
        """A table of layers, output shapes and parameter counts, as a string."""
        rows = [("Layer", "Output shape", "Params")]
        for i, layer in enumerate(self.layers, 1):
            width = layer.out_features if isinstance(layer, Dense) else rows[-1][1]
            shape = width if isinstance(width, str) else f"(None, {width})"
            rows.append((f"{i}: {layer!r}", shape, str(sum(p.size for p in layer.parameters()))))
        w = [max(len(r[c]) for r in rows) for c in range(3)]
        line = "-" * (sum(w) + 4)
        text = [f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}" for r in rows]
        return "\n".join([text[0], line, *text[1:], line,
                          f"Total params: {self.n_parameters():,} ({self.dtype}); loss: {self.loss.name}"])

    def save(self, path):
        """Write the model to ``path`` (a .npz file; see chainrule.io), atomically."""
        io.save(self, path)

    def __getstate__(self):
        # Copies (pickle, deepcopy) hold the weights once, in the layers, without the flat
        # buffers (and the layers without what their last pass kept, see Dense).
        state = dict(self.__dict__)
        del state["parameter_buffer"], state["gradient_buffer"]
        return state

    def __copy__(self):
        # A shallow copy would share the layers, whose W and b __setstate__ moves to a new
        # buffer: a copy of a network is a whole network.
        return copy.deepcopy(self)

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.astype(self.dtype)  # one flat buffer again, the layers' W and b views of it

    def __repr__(self):
        return f"Sequential({self.layers!r}, loss={self.loss.name!r}, dtype={str(self.dtype)!r})"


def _is_dtype(value):
    try:
        np.dtype(value)
        return True
    except TypeError:
        return False


def _check_layers(layers):
    if not isinstance(layers, (list, tuple)) or not layers:
        raise InputError(f"layers must be a non-empty list of Dense and Dropout layers; received {layers!r}")
    for i, layer in enumerate(layers, 1):
        if not isinstance(layer, (Dense, Dropout)):
            raise InputTypeError(f"layers[{i - 1}] must be a Dense or Dropout layer; received {layer!r}")
    if not isinstance(layers[-1], Dense):
        raise InputError(f"the last layer must be Dense (it gives the outputs); received {layers[-1]!r}")
    previous = None
    for i, layer in enumerate(layers):
        if isinstance(layer, Dense):
            if previous is not None and layer.in_features != previous.out_features:
                raise InputError(
                    f"layer sizes do not chain: layers[{i}] {layer!r} takes {layer.in_features} "
                    f"inputs but the layer before gives {previous.out_features}"
                )
            previous = layer
    return list(layers)
