"""The chain rule for one weight, the nudges of one example, and from one example to the batch.

Backprop computes every gradient at once, as products of matrices. This module takes one
gradient apart again, in the notation of the texts:

    dL/dw_{jk}^{(l)} = sum over paths of
        dL/dy_hat * dy_hat/dz^{(L)} * dz^{(L)}/da^{(L-1)} * ... * da_j^{(l)}/dz_j^{(l)} * dz_j^{(l)}/dw_{jk}^{(l)}

A path goes from the loss down through one neuron of every layer above l to neuron j of
layer l; its contribution is the product of its factors, and the gradient is the sum of
the contributions of all paths (a neuron that feeds several neurons adds up their
errors). Backprop's delta^{(l)} = ((W^{(l+1)})^T delta^{(l+1)}) * f'(z^{(l)}) is that same
sum, factored layer by layer: one pass, however many paths there are.

Conventions:
    - layers are numbered from 1, as in the texts: layer l is the l-th Dense layer,
      a^{(0)} = x is the input and a^{(L)} = y_hat the output;
    - neurons are numbered from 0, as the rows of W: w_{jk}^{(l)} is W[j, k] of layer l,
      from neuron k of layer l-1 to neuron j of layer l;
    - Dropout layers are taken in inference mode: they pass their input through and add
      no factor to any chain;
    - the cost of a batch is the mean of its per-example costs, so a batch's gradient is
      the mean of the per-example gradients;
    - every number is computed on a float64 copy of the model; the model is not changed.

``chain`` lays out one gradient; ``nudges`` shows what one example asks of every neuron
and weight; ``batch_check`` and ``gradient_noise`` go from one example to the batch.
Only NumPy is imported here; Pillow is imported when a PNG is written.
"""

import copy
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .. import data
from ..errors import InputError, InputTypeError
from ..layers import Dropout
from ..network import Sequential

# A path listing is built for at most this many paths (max_paths=None lists them all).
MAX_LISTED_PATHS = 1_000_000
# Inputs drawn as square images: n_features -> side (MNIST 28x28, scikit-learn digits 8x8).
IMAGE_SIDES = {784: 28, 64: 8}

# Each activation's slope, as the texts write it (softmax's Jacobian is not a slope).
_SLOPES = {"identity": "1", "sigmoid": "a (1 - a)", "tanh": "1 - a^2",
           "relu": "1 if z > 0, else 0", "leaky_relu": "1 if z > 0, else alpha"}
# Each loss's dC/dy_hat for one example.
_LOSS_GRADIENTS = {"mse": "2 (y_hat - y)", "log_loss": "(y_hat - y) / (y_hat (1 - y_hat))",
                   "cross_entropy": "-y / y_hat"}
# Letters of the neurons of the layers between l and L (l has j, L has i).
_LETTERS = "pqrstuvgh"


# --- the chain rule for one weight ------------------------------------------------------

@dataclass(frozen=True)
class Factor:
    """One factor of a chain: its symbol, what it is, and its value for one example."""

    symbol: str
    meaning: str
    value: float


@dataclass(frozen=True)
class Path:
    """One path from the loss down to neuron j of layer l.

    neurons: the neuron of each letter on this path, from the loss down, e.g.
        (("i", 3), ("p", 7)); j and k are the chain's own.
    factors: the Factors along the path, from dL/dy_hat (or dL/dz^{(L)}) down to dz/dw.
    contribution: the product of the factors' values.
    """

    neurons: tuple
    factors: tuple
    contribution: float


@dataclass(frozen=True)
class ExampleChain:
    """The chain of one example (row ``index`` of the batch).

    value: the sum over all n_paths paths, exact (computed layer by layer).
    paths: the paths of largest |contribution|, largest first.
    n_zero: how many paths contribute exactly 0 (a factor is 0: a ReLU that is off, an
        input pixel that is 0, ...).
    """

    index: int
    value: float
    paths: tuple
    n_paths: int
    n_zero: int

    @property
    def n_folded(self):
        """Paths not listed in ``paths``."""
        return self.n_paths - len(self.paths)

    @property
    def folded_sum(self):
        """The sum of the contributions of the paths not listed."""
        return self.value - math.fsum(p.contribution for p in self.paths)


@dataclass(frozen=True)
class Chain:
    """dL/dw_{jk}^{(l)} (or dL/db_j^{(l)}) laid out as the chain rule of the texts.

    layer, j, k: the weight W[j, k] of Dense layer ``layer`` (from 1); k is None for the
        bias b_j.
    symbol: e.g. "dL/dw_{3,5}^{(1)}".
    formula: the chain in generic symbols, e.g. "dL/dz_{i}^{(2)} * dz_{i}^{(2)}/da_{j}^{(1)} * ...".
    legend: (generic symbol, meaning) of every factor, in the order of ``formula``.
    notes: what the chain takes as given (fused output pairs, Dropout in inference mode).
    examples: one ExampleChain per example.
    value: the mean over the examples of their chains' values.
    backprop: the same gradient from ``model.loss_and_gradients`` (float64).
    finite_difference: (L(w + eps) - L(w - eps)) / (2 eps) in float64.
    """

    layer: int
    j: int
    k: object
    symbol: str
    formula: str
    legend: tuple
    notes: tuple
    architecture: str
    examples: tuple
    value: float
    backprop: float
    finite_difference: float

    @property
    def bias(self):
        return self.k is None

    @property
    def n_paths(self):
        """Paths from the loss to neuron j of layer l (the same for every example)."""
        return self.examples[0].n_paths

    def __str__(self):
        param = "b_{j}" if self.bias else "w_{jk}"
        at = f"l = {self.layer}, j = {self.j}" + ("" if self.bias else f", k = {self.k}")
        letters = _path_letters(self.examples[0])
        lines = [f"dL/d{param}^{{(l)}} with {at}   [{self.architecture}]",
                 f"  = sum over ({', '.join(letters)}) of  {self.formula}" if self.n_paths > 1 else
                 f"  = {self.formula}   (a single path)"]
        lines += [f"  {note}" for note in self.notes]
        width = max(len(s) for s, _ in self.legend)
        lines.append("")
        lines += [f"  {s:<{width}}  {m}" for s, m in self.legend]
        if len(self.examples) == 1:
            lines += _paths_text(self.examples[0], letters)
        else:
            lines += _batch_text(self)
        lines.append("")
        n = len(self.examples)
        what = f"sum over {_all_paths(self.n_paths)}" if n == 1 else f"mean over the {n} examples"
        lines += [f"  {self.symbol} = {what}:  {self.value:+.12e}",
                  f"  backprop:{'':{max(0, len(self.symbol) + len(what) - 6)}}{self.backprop:+.12e}",
                  f"  finite difference:{'':{max(0, len(self.symbol) + len(what) - 15)}}"
                  f"{self.finite_difference:+.12e}"]
        return "\n".join(lines)


def _all_paths(n):
    return "the only path" if n == 1 else f"all {n:,} paths"


def _path_letters(example):
    """The letters that vary along a path, e.g. ["i", "p"] (from the first path)."""
    if not example.paths:
        return []
    return [letter for letter, _ in example.paths[0].neurons]


def _paths_text(example, letters):
    lines = [""]
    shown = len(example.paths)
    which = f"the {shown} largest of {example.n_paths:,} paths" if example.n_folded else _all_paths(example.n_paths)
    lines.append(f"  {which} (contribution = the product of the factors, in the order above):")
    width = len(str(max((i for p in example.paths for _, i in p.neurons), default=0)))
    for path in example.paths:
        where = "  ".join(f"{letter}={i:<{width}}" for letter, i in path.neurons)
        values = " x ".join(f"{f.value:+.4g}" for f in path.factors)
        lines.append(f"    {where + ':  ' if where else ''}{values} = {path.contribution:+.4e}")
    if example.n_folded:
        lines.append(f"  {example.n_folded:,} paths folded, summing to {example.folded_sum:+.4e}")
    if example.n_zero:
        lines.append(f"  {example.n_zero:,} of the {example.n_paths:,} paths contribute exactly 0 "
                     f"(one of their factors is 0)")
    return lines


def _batch_text(chain, shown=10):
    n = len(chain.examples)
    lines = ["", f"  the cost is the mean of the {n} per-example costs, so the gradient is the "
                 f"mean of the {n} per-example chains:"]
    lines += [f"    example {e.index}: {e.value:+.6e}" for e in chain.examples[:shown]]
    if n > shown:
        lines.append(f"    ... {n - shown} more examples folded")
    lines.append("")
    lines.append(f"  the chain of example {chain.examples[0].index} (the others have the same "
                 f"factors with their own values):")
    return lines + _paths_text(chain.examples[0], _path_letters(chain.examples[0]))[1:]


class _Stage(NamedTuple):
    """One set of nodes of the path graph: the a or the z of some neurons of a layer."""

    kind: str  # "a" or "z"
    layer: int  # 1..L
    letter: str  # its neuron's letter in the generic formula
    index: np.ndarray  # the neurons of the layer that lie on some path


class _Forward(NamedTuple):
    """A forward pass on a float64 copy, every array of shape (n_samples, width)."""

    model: Sequential
    X: np.ndarray
    Y: np.ndarray
    a_prev: list  # a_prev[l - 1] is a^{(l-1)}, the input of Dense layer l
    z: list
    a: list


def _float64_copy(model):
    if not isinstance(model, Sequential):
        raise InputTypeError(f"model must be a chainrule Sequential; received {type(model).__name__}")
    return copy.deepcopy(model).astype(np.float64)


def _rows(m, x, y):
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


def _forward(model, x, y):
    m = _float64_copy(model)
    X, Y = _rows(m, x, y)
    m.forward_pass(X, training=False)
    dense = m.dense_layers
    return _Forward(m, X, Y, [d.a_prev.copy() for d in dense], [d.z.copy() for d in dense],
                    [d.a.copy() for d in dense])


def _integer(name, value, low, high, why):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer in [{low}, {high}] ({why}); received {name}={value!r}")
    return int(value)


def _check_parameter(m, layer, j, k, bias):
    L = len(m.dense_layers)
    layer = _integer("layer", layer, 1, L, "the Dense layers, numbered from 1")
    d = m.dense_layers[layer - 1]
    j = _integer("j", j, 0, d.out_features - 1, f"a neuron of layer {layer}")
    if bias:
        if k is not None:
            raise InputError(f"k must be None when bias=True (a bias has no input neuron); received k={k!r}")
    elif k is None:
        raise InputError("k must be given for a weight (the input neuron), or pass bias=True for the bias b_j")
    else:
        k = _integer("k", k, 0, d.in_features - 1, f"a neuron of layer {layer - 1}, the input of layer {layer}")
    return layer, j, k


def _sub(i):
    return f"_{{{i}}}"


def _node(kind, layer, i, L):
    """'y_hat_{3}' for the output activation, 'a_{p}^{(2)}' or 'z_{3}^{(2)}' otherwise."""
    return f"y_hat{_sub(i)}" if kind == "a" and layer == L else f"{kind}{_sub(i)}^{{({layer})}}"


def _stages(m, l, j):
    """The stages of the path graph from the loss down to z_j^{(l)}, and their letters."""
    dense = m.dense_layers
    L = len(dense)
    letters = {l: "j"}
    if L > l:
        letters[L] = "i"
    for n, q in enumerate(range(l + 1, L)):
        letters[q] = _LETTERS[n] if n < len(_LETTERS) else f"p{q}"
    stages = []
    for q in range(L, l - 1, -1):
        act = dense[q - 1].activation.name
        everyone = np.arange(dense[q - 1].out_features)
        z_index = np.array([j]) if q == l else everyone
        if not (q == L and m.fused):  # the fused output pair starts at z^{(L)}
            if act == "softmax":  # every a depends on every z: a second letter
                a_letter = "m" if q == L else letters[q] + "'"
                stages.append(_Stage("a", q, a_letter, everyone))
            else:
                stages.append(_Stage("a", q, letters[q], z_index))
        stages.append(_Stage("z", q, letters[q], z_index))
    return stages


def _edge(fw, upper, lower, r):
    """The factors d upper / d lower for example r, as a matrix (n_lower, n_upper), or as a
    vector (n,) where each node of ``upper`` is joined only to the same neuron of ``lower``."""
    d = fw.model.dense_layers[upper.layer - 1]
    if upper.kind == "z":  # dz_i^{(q)}/da_p^{(q-1)} = w_{ip}^{(q)}
        return d.W[np.ix_(upper.index, lower.index)].T
    z, a = fw.z[upper.layer - 1][r:r + 1], fw.a[upper.layer - 1][r:r + 1]
    if d.activation.name == "softmax":  # da_m/dz_i = a_m (1[m = i] - a_i)
        a_row = a[0]
        jac = a_row[:, None] * (np.eye(len(a_row)) - a_row[None, :])  # [m, i]
        return jac[np.ix_(upper.index, lower.index)].T
    return d.activation.derivative(z, a)[0][upper.index]


def _first_factors(fw, top, r):
    """The factors at the top of every path: dL/dz^{(L)} = y_hat - y for the fused pairs,
    dL/dy_hat for the others (the per-example cost: no 1/n)."""
    a, y = fw.a[-1][r:r + 1], fw.Y[r:r + 1]
    if top.kind == "z":
        return (a - y)[0][top.index]
    return fw.model.loss.gradient(a, y)[0][top.index]


def _pair(u, v):
    """The subscript of a weight: w_{ip} with letters, w_{3,7} with numbers."""
    return f"_{{{u}{v}}}" if isinstance(u, str) and isinstance(v, str) else f"_{{{u},{v}}}"


def _top_factor(m, top, u):
    """(symbol, meaning) of the first factor of a path, for neuron u (a letter or a number)."""
    L = len(m.dense_layers)
    if top.kind == "z":
        return (f"dL/dz{_sub(u)}^{{({L})}}",
                f"= y_hat{_sub(u)} - y{_sub(u)}, the output error: dL/dy_hat * dy_hat/dz{_sub(u)}^{{({L})}} "
                f"collapsed ({m.dense_layers[-1].activation.name} + {m.loss.name})")
    return (f"dL/dy_hat{_sub(u)}",
            f"= {_LOSS_GRADIENTS[m.loss.name]} at output {u}, how the loss ({m.loss.name}) changes "
            f"with y_hat{_sub(u)}")


def _edge_factor(m, upper, lower, u, v):
    """(symbol, meaning) of d upper_u / d lower_v (u, v letters or numbers)."""
    L, q = len(m.dense_layers), upper.layer
    symbol = f"d{_node(upper.kind, q, u, L)}/d{_node(lower.kind, lower.layer, v, L)}"
    act = m.dense_layers[q - 1].activation.name
    if upper.kind == "z":
        return symbol, (f"= w{_pair(u, v)}^{{({q})}}, the weight from a{_sub(v)}^{{({q - 1})}} "
                        f"to z{_sub(u)}^{{({q})}}")
    if act == "softmax":
        return symbol, (f"= a{_sub(u)} (1[{u} = {v}] - a{_sub(v)}) of layer {q}, the softmax Jacobian: "
                        f"each of its outputs depends on every z")
    return symbol, f"= {act}'(z{_sub(v)}^{{({q})}}) = {_SLOPES[act]}, the slope of the activation"


def _last_factor(l, j, k):
    """(symbol, meaning) of dz_j/dw_jk = a_k^{(l-1)}, or dz_j/db_j = 1 (k None)."""
    if k is None:
        return f"dz{_sub(j)}^{{({l})}}/db{_sub(j)}^{{({l})}}", "= 1, a bias adds itself to z"
    source = f"x{_sub(k)}, an input" if l == 1 else f"a{_sub(k)}^{{({l - 1})}}, an activation of layer {l - 1}"
    return (f"dz{_sub(j)}^{{({l})}}/dw{_pair(j, k)}^{{({l})}}",
            f"= {source}: what the weight multiplies")


def _legend(m, stages, l, bias):
    """(generic symbol, meaning) of every factor of a path, from the loss down."""
    entries = [_top_factor(m, stages[0], stages[0].letter)]
    entries += [_edge_factor(m, upper, lower, upper.letter, lower.letter)
                for upper, lower in zip(stages, stages[1:])]
    entries.append(_last_factor(l, "j", None if bias else "k"))
    return tuple(entries)


def _is_diagonal(m, upper):
    """Whether each node of ``upper`` joins only the same neuron below: a -> z of an
    element-wise activation."""
    return upper.kind == "a" and m.dense_layers[upper.layer - 1].activation.name != "softmax"


def _n_paths(m, stages):
    """How many paths join the loss to the bottom stage (Python integers: no overflow)."""
    count = [1] * len(stages[0].index)
    for upper, lower in zip(stages, stages[1:]):
        count = count if _is_diagonal(m, upper) else [sum(count)] * len(lower.index)
    return count[0]


def _example_chain(fw, stages, l, k, r, max_paths):
    """The ExampleChain of example r: the exact sum over all paths, the largest paths
    (the k best paths of a layered graph: a path's |contribution| is a product, so the
    best paths through a node extend the best partial paths that reach it), and counts."""
    top_values = _first_factors(fw, stages[0], r)
    last_value = 1.0 if k is None else float(fw.a_prev[l - 1][r, k])  # dz_j/db_j or dz_j/dw_jk
    edges = [_edge(fw, upper, lower, r) for upper, lower in zip(stages, stages[1:])]
    keep_at_most = MAX_LISTED_PATHS if max_paths is None else max_paths

    n_paths = _n_paths(fw.model, stages)
    counting = np.int64 if n_paths < 2**62 else object  # Python integers past int64

    total = top_values.copy()                          # per node: the sum over partial paths,
    nonzero = (top_values != 0).astype(counting)       # how many have no factor 0,
    best = top_values[:, None]                         # (n_nodes, K) the K largest |products|
    trail = np.arange(len(top_values))[:, None, None]  # and the nodes they went through
    for E in edges:
        if E.ndim == 1:  # one neuron to the same neuron: every partial path goes on
            total, nonzero = E * total, (E != 0) * nonzero
            best = best * E[:, None]
            step = np.broadcast_to(np.arange(len(E))[:, None, None], trail.shape[:2] + (1,))
            trail = np.concatenate([trail, step], axis=2)
            continue
        total = E @ total
        nonzero = (E != 0).astype(counting) @ nonzero
        n_new, n_old, K = len(E), E.shape[1], best.shape[1]
        candidates = (E[:, :, None] * best[None, :, :]).reshape(n_new, n_old * K)
        keep = min(keep_at_most, n_old * K)
        size = np.abs(candidates)
        if keep < n_old * K:
            chosen = np.argpartition(-size, keep - 1, axis=1)[:, :keep]
        else:
            chosen = np.broadcast_to(np.arange(n_old * K), (n_new, n_old * K))
        order = np.argsort(-np.take_along_axis(size, chosen, axis=1), axis=1, kind="stable")
        chosen = np.take_along_axis(chosen, order, axis=1)
        old_node, old_slot = np.divmod(chosen, K)
        best = np.take_along_axis(candidates, chosen, axis=1)
        trail = np.concatenate([trail[old_node, old_slot],
                                np.broadcast_to(np.arange(n_new)[:, None, None], (n_new, keep, 1))], axis=2)
    n_zero = n_paths - int(nonzero[0]) * int(last_value != 0)
    paths = tuple(_path(fw.model, stages, l, k, top_values, edges, last_value, trail[0, s])
                  for s in range(min(len(trail[0]), keep_at_most)))
    return ExampleChain(index=r, value=float(total[0] * last_value), paths=paths,
                        n_paths=n_paths, n_zero=n_zero)


def _path(m, stages, l, k, top_values, edges, last_value, positions):
    """The Path whose node at stage s is the positions[s]-th node of that stage."""
    neurons = [int(stage.index[pos]) for stage, pos in zip(stages, positions)]
    symbol, meaning = _top_factor(m, stages[0], neurons[0])
    factors = [Factor(symbol, meaning, float(top_values[positions[0]]))]
    for s, E in enumerate(edges):
        value = E[positions[s + 1]] if E.ndim == 1 else E[positions[s + 1], positions[s]]
        symbol, meaning = _edge_factor(m, stages[s], stages[s + 1], neurons[s], neurons[s + 1])
        factors.append(Factor(symbol, meaning, float(value)))
    factors.append(Factor(*_last_factor(l, neurons[-1], k), last_value))
    letters = {}
    for stage, i in zip(stages, neurons):
        if stage.letter != "j":
            letters.setdefault(stage.letter, i)
    return Path(neurons=tuple(letters.items()), factors=tuple(factors),
                contribution=math.prod(f.value for f in factors))


def _architecture(m):
    sizes = "-".join(str(n) for n in [m.n_features] + [d.out_features for d in m.dense_layers])
    acts = ", ".join(d.activation.name for d in m.dense_layers)
    return f"{sizes} network: {acts}; loss {m.loss.name}"


def _dropout_notes(m):
    notes, dense_seen = [], 0
    for layer in m.layers:
        if isinstance(layer, Dropout):
            notes.append(f"Dropout(rate={layer.rate}) after Dense layer {dense_seen} is in inference "
                         f"mode: it passes its input through and adds no factor")
        else:
            dense_seen += 1
    return notes


def _parameter_index(layer, bias):
    return 2 * (layer - 1) + (1 if bias else 0)


def _finite_difference(fw, layer, j, k, eps):
    m, p = fw.model, fw.model.parameters()[_parameter_index(layer, k is None)]
    where = (j,) if k is None else (j, k)
    saved = p[where]

    def cost(value):
        p[where] = value
        m.forward_pass(fw.X, training=False)
        return m.cost(fw.Y)

    up, down = cost(saved + eps), cost(saved - eps)
    p[where] = saved
    return (up - down) / (2 * eps)


def chain(model, x, y, layer, j, k=None, bias=False, max_paths=10, eps=1e-5):
    """dL/dw_{jk}^{(l)} (or dL/db_j^{(l)} with bias=True) as the chain rule of the texts.

    Arguments:
        model: a Sequential (not changed: the work is done on a float64 copy).
        x: one example of shape (n_features,), or a batch of shape (n_samples, n_features).
        y: its label or targets, as the model's ``fit`` takes them (a label or a target
            row for one example).
        layer: l, the Dense layer, numbered from 1 (layer 1 takes the input).
        j: the neuron of layer l (a row of W), from 0.
        k: the neuron of layer l-1 (a column of W), from 0; None with bias=True.
        bias: lay out dL/db_j^{(l)} instead of a weight's gradient.
        max_paths: how many paths of largest |contribution| each example lists
            (None: all of them, up to MAX_LISTED_PATHS). The total is always exact.
        eps: the step of the central finite difference. Its error is about
            eps^2 |L'''| / 6 + ulp(L) / eps: near 1e-10 max(1, |L|) at the default.

    Returns:
        a Chain. For a batch its ``value`` is the mean of the per-example chains, as the
        cost of a batch is the mean of the per-example costs.

    For sigmoid + log_loss and softmax + cross_entropy the first two factors
    dL/dy_hat * dy_hat/dz^{(L)} collapse into one, dL/dz^{(L)} = y_hat - y. For a softmax
    output with another loss a path goes through output m via z_i^{(L)}: the softmax
    Jacobian da_m/dz_i is not diagonal.
    """
    fw = _forward(model, x, y)
    m = fw.model
    layer, j, k = _check_parameter(m, layer, j, k, bias)
    if max_paths is not None:
        max_paths = _integer("max_paths", max_paths, 1, MAX_LISTED_PATHS, "paths listed per example; None for all")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.number)) or not 0 < eps < 1:
        raise InputError(f"eps must be a number in (0, 1); received eps={eps!r}")
    stages = _stages(m, layer, j)
    n_paths = _n_paths(m, stages)
    if max_paths is None and n_paths > MAX_LISTED_PATHS:
        raise InputError(f"max_paths=None lists every path, but this parameter has {n_paths:,} paths "
                         f"(more than {MAX_LISTED_PATHS:,}); pass a number such as max_paths=10")
    legend = _legend(m, stages, layer, k is None)
    examples = tuple(_example_chain(fw, stages, layer, k, r, max_paths) for r in range(len(fw.X)))
    notes = []
    if m.fused:
        notes.append(f"{m.dense_layers[-1].activation.name} + {m.loss.name}: dL/dy_hat and "
                     f"dy_hat/dz^{{({len(m.dense_layers)})}} collapse into one factor, y_hat - y")
    notes += _dropout_notes(m)
    _, grads = m.loss_and_gradients(fw.X, fw.Y)
    g = grads[_parameter_index(layer, k is None)]
    backprop = float(g[j] if k is None else g[j, k])
    fd = _finite_difference(fw, layer, j, k, eps)
    name = f"b_{{{j}}}" if k is None else f"w_{{{j},{k}}}"
    return Chain(layer=layer, j=j, k=k, symbol=f"dL/d{name}^{{({layer})}}",
                 formula=" * ".join(s for s, _ in legend), legend=legend, notes=tuple(notes),
                 architecture=_architecture(m), examples=examples,
                 value=math.fsum(e.value for e in examples) / len(examples),
                 backprop=backprop, finite_difference=float(fd))


# --- the nudges of one example ------------------------------------------------------------

@dataclass(frozen=True)
class Push:
    """How hard one example pushes one weight: dL/dw_{jk}^{(l)} = delta_j^{(l)} a_k^{(l-1)}.

    The gradient of a weight is the error of the neuron it feeds times the activation it
    multiplies ("neurons that fire together"): large where both are large. For a bias,
    k is None and a_k is 1.
    share: gradient^2 / |g|^2, the share of this parameter in the squared length of the
        whole gradient g (every weight and bias of the network).
    """

    layer: int
    j: int
    k: object
    gradient: float
    delta_j: float
    a_k: float
    share: float

    @property
    def symbol(self):
        return f"b{_sub(self.j)}^{{({self.layer})}}" if self.k is None else \
            f"w{_pair(self.j, self.k)}^{{({self.layer})}}"

    def __str__(self):
        delta = f"delta{_sub(self.j)}^{{({self.layer})}} {self.delta_j:+.4g}"
        if self.k is None:
            source = "1"
        else:
            name = f"x{_sub(self.k)}" if self.layer == 1 else f"a{_sub(self.k)}^{{({self.layer - 1})}}"
            source = f"{name} {self.a_k:.4g}"
        return (f"dL/d{self.symbol} = {self.gradient:+.4e} = {delta} x {source}"
                f"   ({100 * self.share:.1f}% of |g|^2)")


@dataclass(frozen=True, eq=False)
class Nudges:
    """What one example asks of every neuron and weight (arrays are float64).

    loss: this example's cost.
    y_hat, y: the output and the target, of shape (n_outputs,); label: the class where
        y holds one, else None.
    output: the desired change of each output neuron, -delta^{(L)} = -dL/dz^{(L)}, of
        shape (n_outputs,); output_note says it in words.
    hidden: hidden[l - 1] = -dL/da^{(l)} for the hidden layers l = 1..L-1, of shape
        (n_neurons,): the nudge each neuron receives, summed over the neurons it feeds,
        -dL/da^{(l)} = -(W^{(l+1)})^T delta^{(l+1)}.
    pushes: the top_k weights and biases by |gradient|, largest first (Push).
    x: the example, of shape (n_features,).
    saliency: dL/dx = (W^{(1)})^T delta^{(1)}, of shape (n_features,); saliency_image
        the same as (28, 28) or (8, 8) for 784 or 64 inputs, else None.
    """

    loss: float
    y_hat: np.ndarray
    y: np.ndarray
    label: object
    output: np.ndarray
    output_note: str
    hidden: tuple
    pushes: tuple
    x: np.ndarray
    saliency: np.ndarray
    saliency_image: object
    notes: tuple
    architecture: str
    fused: bool

    def __str__(self):
        L = len(self.hidden) + 1
        head = f"loss {self.loss:.4f}"
        if self.label is not None:
            predicted = int(np.argmax(self.y_hat)) if len(self.y_hat) > 1 else int(self.y_hat[0] > 0.5)
            head = f"label {self.label}, predicted {predicted}, " + head
        lines = [f"nudges of one example   [{self.architecture}]", f"  {head}"]
        lines += [f"  {note}" for note in self.notes]
        same = " = y - y_hat" if self.fused else ""
        lines += ["", f"  output layer {L}: the desired change of each neuron, "
                      f"-delta^{{({L})}} = -dL/dz^{{({L})}}{same}"]
        order = range(len(self.output)) if len(self.output) <= 20 else \
            np.argsort(-np.abs(self.output), kind="stable")[:10]
        for i in order:
            mark = "   <- the label" if i == self.label else ""
            lines.append(f"    {i:>3}  y_hat {self.y_hat[i]:.4f}  y {self.y[i]:.4g}  nudge {self.output[i]:+.4f}{mark}")
        if len(self.output) > 20:
            lines.append(f"    ... {len(self.output) - 10} smaller nudges folded")
        lines.append(f"  {self.output_note}")
        if self.hidden:
            lines += ["", "  hidden layers: the nudge each neuron receives, -dL/da^{(l)} = "
                          "-(W^{(l+1)})^T delta^{(l+1)}, summed over the neurons it feeds"]
            for l in range(L - 1, 0, -1):
                nudge = self.hidden[l - 1]
                top = np.argsort(-np.abs(nudge), kind="stable")[:5]
                largest = ", ".join(f"{nudge[i]:+.3g} (neuron {i})" for i in top)
                lines.append(f"    layer {l} ({len(nudge)} neurons): {largest}; "
                             f"mean |nudge| {np.abs(nudge).mean():.3g}")
        lines += ["", f"  the {len(self.pushes)} weights and biases this example pushes hardest: "
                      "dL/dw_{jk}^{(l)} = delta_j^{(l)} a_k^{(l-1)}, neurons that fire together"]
        lines += [f"    {p}" for p in self.pushes]
        lines += ["", "  " + _saliency_summary(self)]
        return "\n".join(lines)


def _saliency_summary(n):
    s = n.saliency
    where = int(np.argmax(np.abs(s)))
    at = f"input {where}"
    if n.saliency_image is not None:
        side = n.saliency_image.shape[1]
        at += f" (row {where // side}, column {where % side})"
        shape = f", shown as {side}x{side}"
    else:
        shape = ""
    return (f"input saliency dL/dx ({len(s)} values{shape}): largest |dL/dx| = {abs(s[where]):.3g} at {at}; "
            f"more of the input lowers the loss at {int((s < 0).sum())} inputs (dL/dx < 0), "
            f"raises it at {int((s > 0).sum())}")


def _output_note(output, label, loss_name):
    n = len(output)
    if label is None:
        return f"move each output toward its target ({loss_name}): the nudge is -dL/dz"
    if n == 1:
        return "increase the output (the label is 1)" if label == 1 else "decrease the output (the label is 0)"
    right = "digit" if n == 10 else "class"
    others = np.delete(output, label)
    if output[label] > 0 and (others < 0).all():
        return f"increase the right {right} ({label}), decrease the other {n - 1}"
    up = [i for i in range(n) if output[i] > 0]
    down = [i for i in range(n) if output[i] < 0]
    return f"increase outputs {up}, decrease outputs {down} (the right {right} is {label})"


def nudges(model, x, y, top_k=10):
    """What one example asks of every neuron and weight, from one backprop pass.

    Arguments:
        model: a Sequential (not changed: the work is done on a float64 copy).
        x: one example of shape (n_features,) (or (1, n_features)).
        y: its label, or its target row.
        top_k: how many weights and biases to list, the largest |gradient| first.

    Returns:
        a Nudges: the desired change of each output neuron (-delta^{(L)}), the nudge each
        hidden neuron receives (-dL/da^{(l)}), the weights and biases pushed hardest (each
        gradient split as delta_j a_k) and the input saliency dL/dx.
    """
    m = _float64_copy(model)
    X, Y = _rows(m, x, y)
    if len(X) != 1:
        raise InputError(f"x must be one example, of shape ({m.n_features},); received shape {np.shape(x)}")
    top_k = _integer("top_k", top_k, 1, m.n_parameters(), "weights and biases to list")
    _, labels = data.check_targets(Y, 1, m.n_outputs, m.loss.name, np.float64)
    loss, grads = m.loss_and_gradients(X, Y)
    dense = m.dense_layers
    delta = [d.delta[0].copy() for d in dense]  # dL/dz^{(l)}, l = 1..L (n = 1: no 1/n)
    a_prev = [d.a_prev[0].copy() for d in dense]
    hidden = tuple(-(delta[l] @ dense[l].W) for l in range(1, len(dense)))  # -dL/da^{(l)}
    saliency = delta[0] @ dense[0].W
    side = IMAGE_SIDES.get(m.n_features)

    flat = np.concatenate([g.ravel() for g in grads])
    total = float(flat @ flat)
    top = np.argsort(-np.abs(flat), kind="stable")[:top_k]
    offsets = np.cumsum([0] + [g.size for g in grads])
    pushes = []
    for t in top:
        which = int(np.searchsorted(offsets, t, side="right")) - 1
        layer, is_bias = which // 2 + 1, which % 2 == 1
        local = int(t - offsets[which])
        j, k = (local, None) if is_bias else divmod(local, dense[layer - 1].in_features)
        g = float(flat[t])
        pushes.append(Push(layer=layer, j=j, k=k, gradient=g, delta_j=float(delta[layer - 1][j]),
                           a_k=1.0 if k is None else float(a_prev[layer - 1][k]),
                           share=g * g / total if total > 0 else 0.0))
    output = -delta[-1]
    label = None if labels is None else int(labels[0])
    return Nudges(loss=float(loss), y_hat=dense[-1].a[0].copy(), y=Y[0].copy(), label=label,
                  output=output, output_note=_output_note(output, label, m.loss.name),
                  hidden=hidden, pushes=tuple(pushes), x=X[0].copy(), saliency=saliency,
                  saliency_image=None if side is None else saliency.reshape(side, side),
                  notes=tuple(_dropout_notes(m)), architecture=_architecture(m), fused=m.fused)


def save_saliency_png(nudges_obj, path, scale=None, with_input=True):
    """Write the saliency dL/dx of a Nudges as a PNG image at ``path``.

    Red where dL/dx > 0 (more of this input raises the loss), blue where dL/dx < 0
    (more of it lowers the loss), white at 0; the colour scale is symmetric, set by the
    largest |dL/dx|. With with_input=True the example itself is drawn on the left, dark
    on white. Inputs of 784 or 64 features are drawn as 28x28 or 8x8 images, any other
    as one row. Each value becomes a scale x scale block (by default about 280 pixels
    across). Needs Pillow.
    """
    if not isinstance(nudges_obj, Nudges):
        raise InputTypeError(f"nudges_obj must be the Nudges returned by nudges(); "
                             f"received {type(nudges_obj).__name__}")
    from PIL import Image  # only here: the rest of the module needs NumPy alone

    s = nudges_obj.saliency
    side = IMAGE_SIDES.get(len(s))
    shape = (side, side) if side else (1, len(s))
    if scale is None:
        scale = max(1, -(-280 // max(shape)))
    scale = _integer("scale", scale, 1, 1000, "pixels per input value")
    biggest = np.abs(s).max()
    v = (s / biggest if biggest > 0 else s).reshape(shape)
    red = np.where(v < 0, 1 + v, 1.0)
    blue = np.where(v > 0, 1 - v, 1.0)
    panel = np.stack([red, np.minimum(red, blue), blue], axis=-1)
    if with_input:
        x = nudges_obj.x
        top = np.abs(x).max()
        ink = (np.abs(x) / top if top > 0 else np.abs(x)).reshape(shape)
        grey = np.repeat((1 - ink)[..., None], 3, axis=-1)
        gap = np.full((shape[0], 1, 3), 0.75)  # a grey line between the two panels
        panel = np.concatenate([grey, gap, panel], axis=1)
    pixels = np.repeat(np.repeat(panel, scale, axis=0), scale, axis=1)
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path, format="PNG")  # (h, w, 3): RGB


# --- from one example to the batch --------------------------------------------------------

@dataclass(frozen=True)
class BatchCheck:
    """The mean of the per-example gradients against the batch gradient of one pass.

    max_abs_difference: the largest |difference| over every weight and bias (float64).
    relative_difference: max_abs_difference / the largest |batch gradient| entry.
    """

    n_samples: int
    max_abs_difference: float
    relative_difference: float

    def __str__(self):
        return (f"the mean of {self.n_samples} per-example gradients (one backprop pass each) "
                f"against the batch gradient (one pass over all {self.n_samples}):\n"
                f"  max |difference| = {self.max_abs_difference:.3g}, "
                f"{self.relative_difference:.3g} of the largest gradient entry: "
                f"{'the same up to rounding' if self.relative_difference < 1e-12 else 'NOT the same'}")


def batch_check(model, X, y):
    """Whether the batch gradient is the mean of the per-example gradients (it is: the
    cost of a batch is the mean of the per-example costs). Computed in float64.

    Arguments:
        X: inputs of shape (n_samples, n_features); y: their labels or targets.

    Returns:
        a BatchCheck; its max_abs_difference is rounding, about 1e-16 of the gradient.
    """
    m = _float64_copy(model)
    X = data.check_X(X, m.n_features, np.float64)
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)
    _, batch = m.loss_and_gradients(X, Y)
    mean = [np.zeros_like(g) for g in batch]
    for r in range(len(X)):
        _, grads = m.loss_and_gradients(X[r:r + 1], Y[r:r + 1])
        for total, g in zip(mean, grads, strict=True):
            total += g
    diff = max(float(np.abs(t / len(X) - g).max()) for t, g in zip(mean, batch, strict=True))
    scale = max(float(np.abs(g).max()) for g in batch)
    return BatchCheck(n_samples=len(X), max_abs_difference=diff,
                      relative_difference=diff / scale if scale > 0 else diff)


@dataclass(frozen=True)
class NoiseRow:
    """The cosines between n_batches mini-batch gradients and the full-data gradient.

    batch_size: examples per batch (n_samples for the full data).
    downhill: the share of batches whose gradient has cosine > 0 with the full one: a
        small enough step along them lowers the full-data cost.
    mean_angle: the mean angle between the two gradients, in degrees.
    """

    batch_size: int
    n_batches: int
    mean_cosine: float
    std_cosine: float
    min_cosine: float
    mean_angle: float
    downhill: float


@dataclass(frozen=True)
class GradientNoise:
    """How noisy the mini-batch gradient is: one NoiseRow per batch size."""

    n_samples: int
    rows: tuple

    def __str__(self):
        lines = [f"cosine between the mini-batch gradient and the full-data gradient "
                 f"({self.n_samples} examples)",
                 "  batch size   batches   mean cos   std cos   min cos   mean angle   downhill"]
        for r in self.rows:
            size = f"all {r.batch_size}" if r.batch_size == self.n_samples else str(r.batch_size)
            lines.append(f"  {size:>10}   {r.n_batches:>7}   {r.mean_cosine:>8.3f}   {r.std_cosine:>7.3f}   "
                         f"{r.min_cosine:>7.3f}   {r.mean_angle:>6.1f} deg   {100 * r.downhill:>7.0f}%")
        first = self.rows[0]
        lines.append(f"  cos 1: the step points straight down the full-data slope; cos <= 0: it climbs. "
                     f"With batches of {first.batch_size}, SGD is the drunk person stumbling downhill: "
                     f"each step is off by {first.mean_angle:.0f} degrees on average and "
                     f"{100 * first.downhill:.0f}% of them go downhill; larger batches stumble less.")
        return "\n".join(lines)


def _mean_gradient(m, X, Y, chunk=4096):
    """The gradient of the mean cost over all of X, flattened, computed in slices."""
    total = None
    for i in range(0, len(X), chunk):
        rows = slice(i, i + chunk)
        _, grads = m.loss_and_gradients(X[rows], Y[rows])
        g = np.concatenate([a.ravel() for a in grads]) * len(X[rows])  # undo the slice's 1/n
        total = g if total is None else total + g
    return total / len(X)


def gradient_noise(model, X, y, batch_sizes=(1, 10, 100, None), n_batches=20, seed=0):
    """How well mini-batch gradients point along the full-data gradient.

    Arguments:
        X: inputs of shape (n_samples, n_features); y: their labels or targets.
        batch_sizes: sizes to try, each a positive integer up to n_samples, or None for
            all of X (one batch: its cosine is 1).
        n_batches: mini-batches drawn per size (each without repetition within it).
        seed: seeds the draws.

    Returns:
        a GradientNoise: per batch size, the mean, spread and minimum of the cosine
        similarity g_batch . g / (|g_batch| |g|) over the batches, in float64.
    """
    m = _float64_copy(model)
    X = data.check_X(X, m.n_features, np.float64)
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)
    n = len(X)
    if isinstance(batch_sizes, (str, bytes)) or not hasattr(batch_sizes, "__iter__") or not list(batch_sizes):
        raise InputError(f"batch_sizes must be a non-empty list of batch sizes; received batch_sizes={batch_sizes!r}")
    sizes = [n if b is None else _integer("batch_sizes", b, 1, n, "examples per batch, or None for all")
             for b in batch_sizes]
    n_batches = _integer("n_batches", n_batches, 1, 10**6, "mini-batches per size")
    rng = np.random.default_rng(seed)
    full = _mean_gradient(m, X, Y)
    full_norm = float(np.linalg.norm(full))
    if full_norm == 0:
        raise InputError("the full-data gradient is 0 (the cost is at a stationary point): "
                         "there is no downhill direction to compare with")
    rows = []
    for b in sizes:
        draws = [np.arange(n)] if b == n else [rng.choice(n, b, replace=False) for _ in range(n_batches)]
        cosines = []
        for idx in draws:
            g = _mean_gradient(m, X[idx], Y[idx])
            norm = float(np.linalg.norm(g))
            cosines.append(float(g @ full) / (norm * full_norm) if norm > 0 else 0.0)
        c = np.clip(np.array(cosines), -1.0, 1.0)
        rows.append(NoiseRow(batch_size=b, n_batches=len(draws), mean_cosine=float(c.mean()),
                             std_cosine=float(c.std()), min_cosine=float(c.min()),
                             mean_angle=float(np.degrees(np.arccos(c)).mean()),
                             downhill=float((c > 0).mean())))
    return GradientNoise(n_samples=n, rows=tuple(rows))
