"""The baseline of the Nielsen comparison: backpropagation one example at a time, in the
style of chapter 1 of Nielsen's "Neural Networks and Deep Learning" (written afresh here).

The network is a list of weight matrices and a list of bias columns; an example is a
column vector x of shape (784, 1) with a one-hot target y of shape (10, 1). A
mini-batch step runs backprop on each example separately, sums the gradients
(nabla_b, nabla_w) and moves every parameter by -(eta / m) times the sum. The cost of
one example is the book's C = ||a - y||^2 / 2, so dC/da = a - y.

Everything is float64 (NumPy's default, as in the book); the examples are float32 views
of the preloaded data set, as the book's loader gives them.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1.0 - s)


class Network:
    def __init__(self, sizes, seed=0):
        """Weights and biases drawn from N(0, 1), as in chapter 1.

        weights[l] has shape (sizes[l + 1], sizes[l]): row j holds the weights into
        neuron j of the next layer; biases[l] has shape (sizes[l + 1], 1).
        """
        rng = np.random.default_rng(seed)
        self.sizes = list(sizes)
        self.weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.biases = [rng.standard_normal((n_out, 1)) for n_out in sizes[1:]]

    def feedforward(self, a):
        for w, b in zip(self.weights, self.biases):
            a = sigmoid(w @ a + b)
        return a

    def train_epoch(self, training_data, order, mini_batch_size, eta):
        """One epoch of stochastic gradient descent over a list of (x, y) pairs, taken in
        the shuffled ``order`` (a permutation of their indices) that the caller drew."""
        shuffled = [training_data[i] for i in order]
        for k in range(0, len(shuffled), mini_batch_size):
            self.update_mini_batch(shuffled[k:k + mini_batch_size], eta)

    def update_mini_batch(self, mini_batch, eta):
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        for x, y in mini_batch:
            delta_w, delta_b = self.backprop(x, y)
            nabla_w = [nw + dw for nw, dw in zip(nabla_w, delta_w)]
            nabla_b = [nb + db for nb, db in zip(nabla_b, delta_b)]
        step = eta / len(mini_batch)
        self.weights = [w - step * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - step * nb for b, nb in zip(self.biases, nabla_b)]

    def backprop(self, x, y):
        """(nabla_w, nabla_b): the gradient of C = ||a - y||^2 / 2 for one example."""
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases):
            z = w @ activation + b
            activation = sigmoid(z)
            zs.append(z)
            activations.append(activation)
        # Output error, then walk down: delta(l) = (W(l+1)^T delta(l+1)) * sigma'(z(l)).
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.biases)
        for l in range(len(self.weights) - 1, -1, -1):
            if l < len(self.weights) - 1:
                delta = (self.weights[l + 1].T @ delta) * sigmoid_prime(zs[l])
            nabla_w[l] = delta @ activations[l].T
            nabla_b[l] = delta
        return nabla_w, nabla_b

    def evaluate(self, test_data):
        """The number of (x, label) pairs whose most active output is the label."""
        return sum(int(np.argmax(self.feedforward(x)) == label) for x, label in test_data)


def training_pairs(X, y, n_classes=10):
    """[(x, y)] with x a (n_features, 1) view of a row of X and y a one-hot (n_classes, 1)."""
    targets = np.eye(n_classes)[:, :, None]  # targets[k] is the column e_k
    return [(X[i].reshape(-1, 1), targets[label]) for i, label in enumerate(y)]


def test_pairs(X, y):
    return [(X[i].reshape(-1, 1), int(label)) for i, label in enumerate(y)]
