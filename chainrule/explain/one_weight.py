"""The chain rule for one weight: chain() lays out dL/dw_{jk}^{(l)} (or dL/db_j^{(l)}) as
the sum over paths of the texts, beside backprop's value and a central finite difference.

The paths and their factors come from chainrule.explain.paths; this module checks the
arguments, adds the two independent values and writes the text.
"""

import math
from dataclasses import dataclass

from .._checks import fail, number
from ..errors import InputError
from .common import architecture, dropout_notes, float64_forward, integer_in
from .paths import MAX_LISTED_PATHS, count_paths, example_chain, path_legend, path_stages


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


def _check_parameter(m, layer, j, k, bias):
    L = len(m.dense_layers)
    layer = integer_in("layer", layer, 1, L, "the Dense layers, numbered from 1")
    d = m.dense_layers[layer - 1]
    j = integer_in("j", j, 0, d.out_features - 1, f"a neuron of layer {layer}")
    if bias:
        if k is not None:
            fail("k", "None when bias=True (a bias has no input neuron)", k)
    elif k is None:
        raise InputError("k must be given for a weight (the input neuron), or pass bias=True for the bias b_j")
    else:
        k = integer_in("k", k, 0, d.in_features - 1, f"a neuron of layer {layer - 1}, the input of layer {layer}")
    return layer, j, k


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
    fw = float64_forward(model, x, y)
    m = fw.model
    layer, j, k = _check_parameter(m, layer, j, k, bias)
    if max_paths is not None:
        max_paths = integer_in("max_paths", max_paths, 1, MAX_LISTED_PATHS, "paths listed per example; None for all")
    eps = number("eps", eps, 0, 1, low_open=True, high_open=True)
    stages = path_stages(m, layer, j)
    n_paths = count_paths(m, stages)
    if max_paths is None and n_paths > MAX_LISTED_PATHS:
        raise InputError(f"max_paths=None lists every path, but this parameter has {n_paths:,} paths "
                         f"(more than {MAX_LISTED_PATHS:,}); pass a number such as max_paths=10")
    legend = path_legend(m, stages, layer, k is None)
    examples = tuple(example_chain(fw, stages, layer, k, r, max_paths) for r in range(len(fw.X)))
    notes = []
    if m.fused:
        notes.append(f"{m.dense_layers[-1].activation.name} + {m.loss.name}: dL/dy_hat and "
                     f"dy_hat/dz^{{({len(m.dense_layers)})}} collapse into one factor, y_hat - y")
    notes += dropout_notes(m)
    _, grads = m.loss_and_gradients(fw.X, fw.Y)
    g = grads[_parameter_index(layer, k is None)]
    backprop = float(g[j] if k is None else g[j, k])
    fd = _finite_difference(fw, layer, j, k, eps)
    name = f"b_{{{j}}}" if k is None else f"w_{{{j},{k}}}"
    return Chain(layer=layer, j=j, k=k, symbol=f"dL/d{name}^{{({layer})}}",
                 formula=" * ".join(s for s, _ in legend), legend=legend, notes=tuple(notes),
                 architecture=architecture(m), examples=examples,
                 value=math.fsum(e.value for e in examples) / len(examples),
                 backprop=backprop, finite_difference=float(fd))
