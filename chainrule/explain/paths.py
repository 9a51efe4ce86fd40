"""The path graph of one parameter: its stages and factors, the exact sum over every path
and the largest paths, in the notation of the texts.

A path goes from the loss down through one neuron of every layer above l to neuron j of
layer l. Its nodes are stages: the a or the z of some neurons of a layer, from the top
(dL/dy_hat, or dL/dz^{(L)} for the fused output pairs) down to z_j^{(l)}. Between two
stages the factors form a matrix, d upper / d lower (a weight matrix, or the softmax
Jacobian), or a vector where each node joins only the same neuron below (the slope of an
element-wise activation). The sum over every path is then a product of those matrices,
computed layer by layer as backprop does; the largest paths come from the same walk,
keeping the best partial paths that reach each node.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .common import pair, sub

# A path listing is built for at most this many paths (max_paths=None lists them all).
MAX_LISTED_PATHS = 1_000_000

# Each activation's slope, as the texts write it (softmax's Jacobian is not a slope).
_SLOPES = {"identity": "1", "sigmoid": "a (1 - a)", "tanh": "1 - a^2",
           "relu": "1 if z > 0, else 0", "leaky_relu": "1 if z > 0, else alpha"}
# Each loss's dC/dy_hat for one example.
_LOSS_GRADIENTS = {"mse": "2 (y_hat - y)", "log_loss": "(y_hat - y) / (y_hat (1 - y_hat))",
                   "cross_entropy": "-y / y_hat"}
# Letters of the neurons of the layers between l and L (l has j, L has i).
_LETTERS = "pqrstuvgh"


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


class Stage(NamedTuple):
    """One set of nodes of the path graph: the a or the z of some neurons of a layer."""

    kind: str  # "a" or "z"
    layer: int  # 1..L
    letter: str  # its neuron's letter in the generic formula
    index: np.ndarray  # the neurons of the layer that lie on some path


def _node(kind, layer, i, L):
    """'y_hat_{3}' for the output activation, 'a_{p}^{(2)}' or 'z_{3}^{(2)}' otherwise."""
    return f"y_hat{sub(i)}" if kind == "a" and layer == L else f"{kind}{sub(i)}^{{({layer})}}"


def path_stages(m, l, j):
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
                stages.append(Stage("a", q, a_letter, everyone))
            else:
                stages.append(Stage("a", q, letters[q], z_index))
        stages.append(Stage("z", q, letters[q], z_index))
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


def _top_factor(m, top, u):
    """(symbol, meaning) of the first factor of a path, for neuron u (a letter or a number)."""
    L = len(m.dense_layers)
    if top.kind == "z":
        return (f"dL/dz{sub(u)}^{{({L})}}",
                f"= y_hat{sub(u)} - y{sub(u)}, the output error: dL/dy_hat * dy_hat/dz{sub(u)}^{{({L})}} "
                f"collapsed ({m.dense_layers[-1].activation.name} + {m.loss.name})")
    return (f"dL/dy_hat{sub(u)}",
            f"= {_LOSS_GRADIENTS[m.loss.name]} at output {u}, how the loss ({m.loss.name}) changes "
            f"with y_hat{sub(u)}")


def _edge_factor(m, upper, lower, u, v):
    """(symbol, meaning) of d upper_u / d lower_v (u, v letters or numbers)."""
    L, q = len(m.dense_layers), upper.layer
    symbol = f"d{_node(upper.kind, q, u, L)}/d{_node(lower.kind, lower.layer, v, L)}"
    act = m.dense_layers[q - 1].activation.name
    if upper.kind == "z":
        return symbol, (f"= w{pair(u, v)}^{{({q})}}, the weight from a{sub(v)}^{{({q - 1})}} "
                        f"to z{sub(u)}^{{({q})}}")
    if act == "softmax":
        return symbol, (f"= a{sub(u)} (1[{u} = {v}] - a{sub(v)}) of layer {q}, the softmax Jacobian: "
                        f"each of its outputs depends on every z")
    return symbol, f"= {act}'(z{sub(v)}^{{({q})}}) = {_SLOPES[act]}, the slope of the activation"


def _last_factor(l, j, k):
    """(symbol, meaning) of dz_j/dw_jk = a_k^{(l-1)}, or dz_j/db_j = 1 (k None)."""
    if k is None:
        return f"dz{sub(j)}^{{({l})}}/db{sub(j)}^{{({l})}}", "= 1, a bias adds itself to z"
    source = f"x{sub(k)}, an input" if l == 1 else f"a{sub(k)}^{{({l - 1})}}, an activation of layer {l - 1}"
    return (f"dz{sub(j)}^{{({l})}}/dw{pair(j, k)}^{{({l})}}",
            f"= {source}: what the weight multiplies")


def path_legend(m, stages, l, bias):
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


def count_paths(m, stages):
    """How many paths join the loss to the bottom stage (Python integers: no overflow)."""
    count = [1] * len(stages[0].index)
    for upper, lower in zip(stages, stages[1:]):
        count = count if _is_diagonal(m, upper) else [sum(count)] * len(lower.index)
    return count[0]


def example_chain(fw, stages, l, k, r, max_paths):
    """The ExampleChain of example r: the exact sum over all paths, the largest paths
    (the k best paths of a layered graph: a path's |contribution| is a product, so the
    best paths through a node extend the best partial paths that reach it), and counts."""
    top_values = _first_factors(fw, stages[0], r)
    last_value = 1.0 if k is None else float(fw.a_prev[l - 1][r, k])  # dz_j/db_j or dz_j/dw_jk
    edges = [_edge(fw, upper, lower, r) for upper, lower in zip(stages, stages[1:])]
    keep_at_most = MAX_LISTED_PATHS if max_paths is None else max_paths

    n_paths = count_paths(fw.model, stages)
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
