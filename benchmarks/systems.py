"""The systems the benchmark times, each as an object whose ``epoch()`` trains one epoch.

Every system trains the same MLP (784-256-128-10, ReLU, softmax cross-entropy) on the
same preloaded float32 MNIST arrays, shuffles every epoch, takes one optimizer step per
mini-batch of ``batch_size`` (the last batch smaller), and returns the epoch's mean
training loss so a reader can check that all of them really train.

- ``Chainrule``: the public API, ``Sequential.fit(X, y, epochs=1)`` with one optimizer
  object kept across calls (its momentum or Adam state carries over).
- ``ChainruleNumpy``: the same with NumPy alone (the numba kernels switched off).
- ``Torch``: the idiomatic PyTorch CPU loop: a ``randperm``, index-sliced batches from
  preloaded tensors, ``nn.Sequential``, ``CrossEntropyLoss``, ``zero_grad / backward / step``.
- ``Sklearn``: ``MLPClassifier.partial_fit(X, y)``, which is scikit-learn's own epoch:
  it shuffles the indices (``shuffle=True``) and steps once per mini-batch of
  ``batch_size``, keeping the optimizer state across calls. One call per epoch, rather
  than one call per mini-batch, so scikit-learn does not pay its input validation
  1,875 times an epoch.
- ``GemmFloor``: only the matrix products of the same training steps (see its docstring).

Optimizers: "sgd" is lr 0.1 with (heavy-ball) momentum 0.9; "adam" is lr 1e-3 with the
usual betas (0.9, 0.999) and epsilon 1e-8. No weight decay anywhere.
"""

import math

import numpy as np

SIZES = (784, 256, 128, 10)
SGD_LR, MOMENTUM, ADAM_LR = 0.1, 0.9, 1e-3


class Chainrule:
    name = "chainrule"

    def __init__(self, X, y, batch_size, optimizer, seed=0, sizes=SIZES):
        from chainrule import Dense, Sequential, optimizers

        hidden = [Dense(n_in, n_out, activation="relu") for n_in, n_out in zip(sizes[:-2], sizes[1:-1])]
        self.model = Sequential([*hidden, Dense(sizes[-2], sizes[-1], activation="softmax")],
                                loss="cross_entropy", seed=seed, dtype="float32")
        self.optimizer = (optimizers.SGD(SGD_LR, momentum=MOMENTUM) if optimizer == "sgd"
                          else optimizers.Adam(ADAM_LR))
        self.X, self.y, self.batch_size = X, y, batch_size

    def epoch(self):
        history = self.model.fit(self.X, self.y, epochs=1, batch_size=self.batch_size,
                                 optimizer=self.optimizer)
        return history["loss"][-1]


class ChainruleNumpy(Chainrule):
    """chainrule with NumPy alone: its compiled kernels (numba, ``chainrule[fast]``) off,
    as a user without numba runs it. Each system runs in its own process, so this
    switch does not reach the ``chainrule`` system."""

    name = "chainrule-numpy"

    def __init__(self, *args, **kwargs):
        from chainrule import kernels

        kernels.AVAILABLE = False
        super().__init__(*args, **kwargs)


class Torch:
    name = "torch"

    def __init__(self, X, y, batch_size, optimizer, seed=0, sizes=SIZES):
        import torch
        from torch import nn

        torch.manual_seed(seed)
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.model = nn.Sequential(*layers[:-1])  # no ReLU after the output layer
        self.loss_fn = nn.CrossEntropyLoss()
        params = self.model.parameters()
        self.optimizer = (torch.optim.SGD(params, lr=SGD_LR, momentum=MOMENTUM) if optimizer == "sgd"
                          else torch.optim.Adam(params, lr=ADAM_LR))
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)  # no copy
        self.batch_size = batch_size
        self.torch = torch

    def epoch(self):
        n = len(self.X)
        perm = self.torch.randperm(n)
        total = 0.0
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            xb, yb = self.X[idx], self.y[idx]
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * len(idx)
        return total / n


class Sklearn:
    name = "sklearn"

    def __init__(self, X, y, batch_size, optimizer, seed=0, sizes=SIZES):
        from sklearn.neural_network import MLPClassifier

        common = dict(hidden_layer_sizes=sizes[1:-1], activation="relu", alpha=0.0,
                      batch_size=batch_size, shuffle=True, random_state=seed)
        if optimizer == "sgd":
            self.clf = MLPClassifier(solver="sgd", learning_rate="constant", learning_rate_init=SGD_LR,
                                     momentum=MOMENTUM, nesterovs_momentum=False, **common)
        else:
            self.clf = MLPClassifier(solver="adam", learning_rate_init=ADAM_LR, **common)
        self.X, self.y = X, y
        self.classes = np.arange(sizes[-1])

    def epoch(self):
        self.clf.partial_fit(self.X, self.y, classes=self.classes)
        return self.clf.loss_


class GemmFloor:
    """The matrix products of the same training steps, and nothing else.

    For each mini-batch (same shapes as training, the last batch smaller), with A0 the
    batch of inputs, W(l) of shape (out, in) and delta(l) of the shape of Z(l):
        forward          Z(l) = A(l-1) @ W(l).T                 every layer
        weight gradient  dW(l) = delta(l).T @ A(l-1)            every layer
        input gradient   dA(l-1) = delta(l) @ W(l)              every layer but the first
    in float32 with NumPy's BLAS, into preallocated outputs. The inputs are consecutive
    slices of the training set (so reading them costs what reading a batch costs);
    the deltas are fixed random arrays. Nothing is shuffled and nothing is learnt:
    this is the time no implementation of this step on this BLAS can beat.
    """

    name = "gemm"

    def __init__(self, X, y, batch_size, optimizer=None, seed=0, sizes=SIZES):
        rng = np.random.default_rng(seed)
        self.W = [(rng.standard_normal((n_out, n_in)) / math.sqrt(n_in)).astype(np.float32)
                  for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.dW = [np.empty_like(W) for W in self.W]
        self.X, self.batch_size, self.sizes, self.rng = X, batch_size, sizes, rng
        self.buffers = {}  # rows -> (Z, delta, dA), lists indexed by layer (dA[0] unused)

    def _buffers(self, rows):
        if rows not in self.buffers:
            outs = self.sizes[1:]
            Z = [np.empty((rows, n), np.float32) for n in outs]
            delta = [self.rng.standard_normal((rows, n), dtype=np.float32) * 0.01 for n in outs]
            dA = [None] + [np.empty((rows, n), np.float32) for n in self.sizes[1:-1]]
            self.buffers[rows] = Z, delta, dA
        return self.buffers[rows]

    def epoch(self):
        n = len(self.X)
        for start in range(0, n, self.batch_size):
            A0 = self.X[start:start + self.batch_size]
            Z, delta, dA = self._buffers(len(A0))
            inputs = [A0, *Z[:-1]]  # A(l-1) of each layer
            for W, A_prev, Z_l in zip(self.W, inputs, Z):
                np.matmul(A_prev, W.T, out=Z_l)
            for l in reversed(range(len(self.W))):
                np.matmul(delta[l].T, inputs[l], out=self.dW[l])
                if l > 0:
                    np.matmul(delta[l], self.W[l], out=dA[l])
        return float("nan")


SYSTEMS = {cls.name: cls for cls in (Chainrule, ChainruleNumpy, Torch, Sklearn, GemmFloor)}
