"""Optimizers: how a step of gradient descent turns gradients into new parameters.

Each optimizer's ``step(params, grads)`` updates the parameter arrays in place (the
live arrays of ``Sequential.parameters()``), with g the gradient of the batch's mean
cost and lr the learning rate of this step. Weight decay applies to weight matrices
(arrays of 2 or more dimensions) and not to biases, as in Keras and scikit-learn.

A learning rate is a positive number or a schedule: a callable from the optimizer's
step count (0 for the first step) to the learning rate, as in Keras. The schedules are
defined in chainrule.schedules and re-exported here (``optimizers.CosineDecay``, ...).

Every optimizer takes ``clip_norm``: when the global norm of all the gradients,
sqrt(sum of every g^2), exceeds it, they are scaled down to that norm before the
update (PyTorch's clip_grad_norm_), which keeps one bad batch from blowing up the weights.
"""

import math
import operator

import numpy as np

from . import kernels
from ._checks import number
from .errors import InputError
from .schedules import CosineDecay, ExponentialDecay, OneCycle, Schedule, StepDecay, Warmup  # noqa: F401


# --- learning rates -------------------------------------------------------------------

def _learning_rate(value):
    if isinstance(value, dict):  # a schedule's config(), as saved in a checkpoint
        return Schedule.from_config(value)
    if isinstance(value, Schedule) or (callable(value) and not isinstance(value, type)):
        return value
    return number("learning_rate", value, 0, low_open=True)


# --- optimizers ---------------------------------------------------------------------

def _whole_buffer(arrays):
    """The 1-D array that ``arrays`` are consecutive views of, covering all of it, or None.

    A Sequential keeps its parameters this way (and its gradients, in another buffer);
    an update over the whole buffer is then the update of every array at once.
    """
    base = arrays[0].base if arrays else None
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    start = position = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.__array_interface__["data"][0] != position:
            return None
        position += a.nbytes
    return base if position == start + base.nbytes else None


class Optimizer:
    """Base class: the learning rate, the step count, and per-parameter state arrays.

    A subclass names its state arrays in ``slots`` and writes its rule in
    ``_update(p, g, lr, state)`` for one array p, its gradient g and its state arrays.
    """

    slots = ()

    def __init__(self, learning_rate, clip_norm=None):
        self.learning_rate = _learning_rate(learning_rate)
        self.clip_norm = None if clip_norm is None else number("clip_norm", clip_norm, 0, low_open=True)
        self.iterations = 0
        self.state = {}  # name -> list of arrays aligned with the parameters
        self._forget_buffers()

    def _forget_buffers(self):
        self._whole = ((), None)  # the arrays of the last step and their whole buffers
        self._packed = set()  # the names of the state lists that are views of one buffer

    def current_learning_rate(self):
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def _state_arrays(self, name, params, whole):
        """The state arrays ``name``, one per parameter, zero at first; views of one
        buffer when the parameters are (so the update can run once over all of them)."""
        arrays = self.state.get(name)
        if arrays is not None and (whole is None or (
                name in self._packed and arrays[0].base.shape == whole.shape)):
            return arrays
        if whole is None:
            self.state[name] = [np.zeros_like(p) for p in params]
            return self.state[name]
        buffer, start = np.zeros_like(whole), 0
        self.state[name] = []
        for i, p in enumerate(params):
            view = buffer[start:start + p.size].reshape(p.shape)
            if arrays is not None:  # values from load_state_dict or earlier steps: kept
                view[...] = arrays[i]
            self.state[name].append(view)
            start += p.size
        self._packed.add(name)
        return self.state[name]

    def _uniform(self):
        """Whether the rule treats every array alike (weight decay spares the biases)."""
        return not getattr(self, "weight_decay", 0.0)

    def _whole_buffers(self, params, grads):
        """(all parameters, all gradients) as two flat buffers, or None; remembered
        for the same lists of arrays, which fit passes at every step."""
        arrays, whole = self._whole
        now = (*params, *grads)
        if len(arrays) != len(now) or not all(map(operator.is_, arrays, now)):
            P, G = _whole_buffer(params), _whole_buffer(grads)
            whole = None if P is None or G is None or P.dtype != G.dtype else (P, G)
            self._whole = (now, whole)
        return whole

    def step(self, params, grads):
        """Update every array of ``params`` in place from ``grads`` (same shapes).

        When params and grads are each the consecutive views of one buffer (a
        Sequential's are) and the rule treats every array alike, the update runs once
        over the two buffers: the same arithmetic for every element, in a few passes
        instead of a few per array.
        """
        if len(params) != len(grads):
            raise InputError(f"params and grads must pair up; received {len(params)} and {len(grads)} arrays")
        lr = self.current_learning_rate()
        whole = self._whole_buffers(params, grads) if self._uniform() else None
        state = [self._state_arrays(name, params, None if whole is None else whole[0])
                 for name in self.slots]
        if self.clip_norm is not None:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm > self.clip_norm:
                grads, whole = [g * (self.clip_norm / norm) for g in grads], None
        if whole is not None:
            self._update(whole[0], whole[1], lr, [arrays[0].base for arrays in state])
        else:
            for i, (p, g) in enumerate(zip(params, grads, strict=True)):
                self._update(p, g, lr, [arrays[i] for arrays in state])
        self.iterations += 1

    def _update(self, p, g, lr, state):
        raise NotImplementedError

    def state_dict(self):
        """Everything needed to continue exactly: step count and state arrays (copies)."""
        return {"iterations": self.iterations,
                "state": {k: [a.copy() for a in v] for k, v in self.state.items()}}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.state = {k: [np.array(a) for a in v] for k, v in state["state"].items()}
        self._packed = set()

    def __getstate__(self):
        # Copies (deepcopy, pickle) leave out the references to the last step's arrays.
        state = dict(self.__dict__)
        state["_whole"], state["_packed"] = ((), None), set()
        return state

    def config(self):
        """The settings as plain JSON values; a schedule as its config() (a user's own
        callable learning rate cannot be saved and is left out)."""
        config = {k: v for k, v in vars(self).items()
                  if isinstance(v, (int, float, bool, str, type(None))) and k != "iterations"}
        if isinstance(self.learning_rate, Schedule):
            config["learning_rate"] = self.learning_rate.config()
        return config

    def __repr__(self):
        config = {"learning_rate": self.learning_rate,
                  **{k: v for k, v in self.config().items() if k != "learning_rate"}}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


def _fusable(p, *others):
    """Whether the compiled update of chainrule.kernels can run on these arrays."""
    if not kernels.AVAILABLE or not p.flags.c_contiguous:
        return False
    return all(a.flags.c_contiguous and a.dtype == p.dtype for a in others)


def _decayed(g, p, weight_decay):
    """g + weight_decay * p for weight matrices: the gradient of the L2 term (wd / 2) ||W||^2."""
    return g + weight_decay * p if weight_decay and p.ndim >= 2 else g


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum mu and Nesterov momentum as in Keras:

        plain:     p <- p - lr g
        momentum:  v <- mu v - lr g;   p <- p + v
        Nesterov:  v <- mu v - lr g;   p <- p + mu v - lr g

    ``weight_decay`` adds the L2 gradient wd * W to g first.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, clip_norm=None):
        super().__init__(learning_rate, clip_norm)
        self.momentum = number("momentum", momentum, 0, 1, high_open=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise InputError("nesterov=True needs momentum > 0; received momentum=0.0")
        self.weight_decay = number("weight_decay", weight_decay, 0)

    @property
    def slots(self):
        return ("velocity",) if self.momentum else ()

    def _update(self, p, g, lr, state):
        g = _decayed(g, p, self.weight_decay)
        if self.momentum == 0:
            if _fusable(p, g):
                kernels.inplace_sgd(p, g, p.dtype.type(lr))
            else:
                p -= lr * g
            return
        v, = state
        if _fusable(p, v, g):  # the same formulas, in one compiled pass (chainrule.kernels)
            one = p.dtype.type
            kernels.inplace_sgd_momentum(p, v, g, one(lr), one(self.momentum), self.nesterov)
            return
        v *= self.momentum
        v -= lr * g
        if self.nesterov:
            p += self.momentum * v - lr * g
        else:
            p += v


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with t the step number from 1:

        m <- beta_1 m + (1 - beta_1) g;   v <- beta_2 v + (1 - beta_2) g^2
        p <- p - lr * (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)

    ``weight_decay`` adds the L2 gradient wd * W to g first (AdamW decouples it).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
                 clip_norm=None):
        super().__init__(learning_rate, clip_norm)
        self.beta_1 = number("beta_1", beta_1, 0, 1, high_open=True)
        self.beta_2 = number("beta_2", beta_2, 0, 1, high_open=True)
        self.epsilon = number("epsilon", epsilon, 0, low_open=True)
        self.weight_decay = number("weight_decay", weight_decay, 0)

    slots = ("m", "v")

    def _gradient(self, g, p):
        return _decayed(g, p, self.weight_decay)

    def _update(self, p, g, lr, state):
        g = self._gradient(g, p)
        m, v = state
        t = self.iterations + 1
        if _fusable(p, m, v, g):  # the same formulas, in one compiled pass (chainrule.kernels)
            one = p.dtype.type
            kernels.inplace_adam(p, m, v, g, one(lr),
                                 one(self.beta_1), one(1 - self.beta_1), one(self.beta_2),
                                 one(1 - self.beta_2), one(1 - self.beta_1 ** t),
                                 one(1 - self.beta_2 ** t), one(self.epsilon))
            return
        m *= self.beta_1
        m += (1 - self.beta_1) * g
        v *= self.beta_2
        v += (1 - self.beta_2) * (g * g)
        m_hat = m / (1 - self.beta_1 ** t)
        v_hat = v / (1 - self.beta_2 ** t)
        p -= lr * m_hat / (np.sqrt(v_hat) + self.epsilon)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as PyTorch's AdamW:

        W <- W - lr * weight_decay * W, then the Adam step on the plain gradient.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01,
                 clip_norm=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, weight_decay, clip_norm)

    def _gradient(self, g, p):
        return g

    def _update(self, p, g, lr, state):
        if self.weight_decay and p.ndim >= 2:
            p *= 1 - lr * self.weight_decay
        super()._update(p, g, lr, state)


class RMSprop(Optimizer):
    """RMSprop (Hinton), with rho the decay of the mean square s:

        s <- rho s + (1 - rho) g^2;   p <- p - lr g / (sqrt(s) + epsilon)
    with momentum mu:  v <- mu v + g / (sqrt(s) + epsilon);  p <- p - lr v
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, weight_decay=0.0,
                 clip_norm=None):
        super().__init__(learning_rate, clip_norm)
        self.rho = number("rho", rho, 0, 1, high_open=True)
        self.momentum = number("momentum", momentum, 0, 1, high_open=True)
        self.epsilon = number("epsilon", epsilon, 0, low_open=True)
        self.weight_decay = number("weight_decay", weight_decay, 0)

    @property
    def slots(self):
        return ("mean_square", "velocity") if self.momentum else ("mean_square",)

    def _update(self, p, g, lr, state):
        g = _decayed(g, p, self.weight_decay)
        s = state[0]
        s *= self.rho
        s += (1 - self.rho) * (g * g)
        scaled = g / (np.sqrt(s) + self.epsilon)
        if self.momentum:
            v = state[1]
            v *= self.momentum
            v += scaled
            scaled = v
        p -= lr * scaled


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(optimizer):
    """An Optimizer from a name (with default settings) or an Optimizer instance."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise InputError(
        f"optimizer must be one of {sorted(OPTIMIZERS)} or an Optimizer; received optimizer={optimizer!r}"
    )
