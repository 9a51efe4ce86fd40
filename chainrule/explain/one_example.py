"""The nudges of one example: what it asks of every neuron and weight, from one backprop
pass, and its input saliency dL/dx as a PNG.

The output error delta^{(L)} = dL/dz^{(L)} says how each output should move (its negative is
the desired nudge); a hidden neuron receives -dL/da^{(l)} = -(W^{(l+1)})^T delta^{(l+1)},
summed over the neurons it feeds; a weight is pushed by dL/dw_{jk}^{(l)} = delta_j^{(l)} a_k^{(l-1)}.
"""

from dataclasses import dataclass

import numpy as np

from .. import data
from ..errors import InputError, InputTypeError
from .common import architecture, as_rows, dropout_notes, float64_copy, integer_in, pair, sub

# Inputs drawn as square images: n_features -> side (MNIST 28x28, scikit-learn digits 8x8).
IMAGE_SIDES = {784: 28, 64: 8}


@dataclass(frozen=True)
class Push:
    """How hard one example pushes one weight: dL/dw_{jk}^{(l)} = delta_j^{(l)} a_k^{(l-1)}.

    The gradient of a weight is the error of the neuron it feeds times the activation it
    multiplies ("neurons that fire together"): large where both are large. For a bias,
    k is None and a_k is 1.
    share: gradient^2 / |g|^2, the share of this parameter in the squared length of the
        whole gradient g (every weight and bias of the network).
    source: for a weight of layer 1, the name of its input x_k when the inputs have names
        (a table's column, or one of its one-hot slots), else None.
    """

    layer: int
    j: int
    k: object
    gradient: float
    delta_j: float
    a_k: float
    share: float
    source: object = None

    @property
    def symbol(self):
        return f"b{sub(self.j)}^{{({self.layer})}}" if self.k is None else \
            f"w{pair(self.j, self.k)}^{{({self.layer})}}"

    def __str__(self):
        delta = f"delta{sub(self.j)}^{{({self.layer})}} {self.delta_j:+.4g}"
        if self.k is None:
            source = "1"
        else:
            name = f"x{sub(self.k)}" if self.layer == 1 else f"a{sub(self.k)}^{{({self.layer - 1})}}"
            named = f" [{self.source}]" if self.source is not None else ""
            source = f"{name}{named} {self.a_k:.4g}"
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
    first_layer_pushes: the top_k weights of layer 1 by |gradient|, largest first: each
        names its input (Push.source) when the inputs have names.
    x: the example, of shape (n_features,).
    saliency: dL/dx = (W^{(1)})^T delta^{(1)}, of shape (n_features,); saliency_image
        the same as (28, 28) or (8, 8) for 784 or 64 inputs, else None.
    input_names, class_names: the names of the inputs (n_features) and of the classes
        (n_outputs) the text shows, or None for their numbers.
    """

    loss: float
    y_hat: np.ndarray
    y: np.ndarray
    label: object
    output: np.ndarray
    output_note: str
    hidden: tuple
    pushes: tuple
    first_layer_pushes: tuple
    x: np.ndarray
    saliency: np.ndarray
    saliency_image: object
    notes: tuple
    architecture: str
    fused: bool
    input_names: object = None
    class_names: object = None

    def class_name(self, i):
        return i if self.class_names is None else self.class_names[i]

    def __str__(self):
        L = len(self.hidden) + 1
        head = f"loss {self.loss:.4f}"
        if self.label is not None:
            predicted = int(np.argmax(self.y_hat)) if len(self.y_hat) > 1 else int(self.y_hat[0] > 0.5)
            head = f"label {self.class_name(self.label)}, predicted {self.class_name(predicted)}, " + head
        lines = [f"nudges of one example   [{self.architecture}]", f"  {head}"]
        lines += [f"  {note}" for note in self.notes]
        same = " = y - y_hat" if self.fused else ""
        lines += ["", f"  output layer {L}: the desired change of each neuron, "
                      f"-delta^{{({L})}} = -dL/dz^{{({L})}}{same}"]
        order = range(len(self.output)) if len(self.output) <= 20 else \
            np.argsort(-np.abs(self.output), kind="stable")[:10]
        wide = max(3, *(len(str(self.class_name(i))) for i in order))
        for i in order:
            mark = "   <- the label" if i == self.label else ""
            lines.append(f"    {self.class_name(i)!s:>{wide}}  y_hat {self.y_hat[i]:.4f}  y {self.y[i]:.4g}  "
                         f"nudge {self.output[i]:+.4f}{mark}")
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
        if self.input_names is not None:
            lines += ["", f"  the {len(self.first_layer_pushes)} first-layer weights it pushes hardest, "
                          "each from the input it multiplies"]
            lines += [f"    {p}" for p in self.first_layer_pushes]
        lines += ["", "  " + _saliency_summary(self)]
        return "\n".join(lines)


def _saliency_summary(n):
    s = n.saliency
    where = int(np.argmax(np.abs(s)))
    at = f"input {where}" + (f" ({n.input_names[where]})" if n.input_names is not None else "")
    if n.saliency_image is not None:
        side = n.saliency_image.shape[1]
        at += f" (row {where // side}, column {where % side})"
        shape = f", shown as {side}x{side}"
    else:
        shape = ""
    return (f"input saliency dL/dx ({len(s)} values{shape}): largest |dL/dx| = {abs(s[where]):.3g} at {at}; "
            f"more of the input lowers the loss at {int((s < 0).sum())} inputs (dL/dx < 0), "
            f"raises it at {int((s > 0).sum())}")


def _output_note(output, label, loss_name, class_names=None):
    n = len(output)
    name = (lambda i: i) if class_names is None else (lambda i: class_names[i])
    if label is None:
        return f"move each output toward its target ({loss_name}): the nudge is -dL/dz"
    if n == 1:
        return "increase the output (the label is 1)" if label == 1 else "decrease the output (the label is 0)"
    right = "digit" if n == 10 and class_names is None else "class"
    others = np.delete(output, label)
    if output[label] > 0 and (others < 0).all():
        return f"increase the right {right} ({name(label)}), decrease the other {n - 1}"
    up = [name(i) for i in range(n) if output[i] > 0]
    down = [name(i) for i in range(n) if output[i] < 0]
    return f"increase outputs {up}, decrease outputs {down} (the right {right} is {name(label)})"


def nudges(model, x, y=None, top_k=10, input_names=None, class_names=None):
    """What one example asks of every neuron and weight, from one backprop pass.

    Arguments:
        model: a Sequential (not changed: the work is done on a float64 copy). (chainrule.
            explain.nudges also takes a TabularModel: see chainrule.explain.table.nudges.)
        x: one example of shape (n_features,) (or (1, n_features)).
        y: its label, or its target row.
        top_k: how many weights and biases to list, the largest |gradient| first.
        input_names: the names of the n_features inputs, or None; class_names: the names
            of the classes, or None. Only the text (and Push.source) uses them.

    Returns:
        a Nudges: the desired change of each output neuron (-delta^{(L)}), the nudge each
        hidden neuron receives (-dL/da^{(l)}), the weights and biases pushed hardest (each
        gradient split as delta_j a_k) and the input saliency dL/dx.
    """
    if y is None:
        raise InputError("y must be the example's label or target row; received y=None")
    m = float64_copy(model)
    X, Y = as_rows(m, x, y)
    if len(X) != 1:
        raise InputError(f"x must be one example, of shape ({m.n_features},); received shape {np.shape(x)}")
    top_k = integer_in("top_k", top_k, 1, m.n_parameters(), "weights and biases to list")
    for name, names, n in (("input_names", input_names, m.n_features), ("class_names", class_names, m.n_outputs)):
        if names is not None and len(names) != n:
            raise InputError(f"{name} must hold {n} names; received {len(names)}")
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

    def push(t):  # the Push of entry t of the flat gradient
        which = int(np.searchsorted(offsets, t, side="right")) - 1
        layer, is_bias = which // 2 + 1, which % 2 == 1
        local = int(t - offsets[which])
        j, k = (local, None) if is_bias else divmod(local, dense[layer - 1].in_features)
        g = float(flat[t])
        return Push(layer=layer, j=j, k=k, gradient=g, delta_j=float(delta[layer - 1][j]),
                    a_k=1.0 if k is None else float(a_prev[layer - 1][k]),
                    share=g * g / total if total > 0 else 0.0,
                    source=input_names[k] if layer == 1 and k is not None and input_names is not None else None)

    pushes = [push(t) for t in top]
    first = np.argsort(-np.abs(flat[:grads[0].size]), kind="stable")[:top_k]  # W^{(1)} comes first
    output = -delta[-1]
    label = None if labels is None else int(labels[0])
    return Nudges(loss=float(loss), y_hat=dense[-1].a[0].copy(), y=Y[0].copy(), label=label,
                  output=output, output_note=_output_note(output, label, m.loss.name, class_names),
                  hidden=hidden, pushes=tuple(pushes), first_layer_pushes=tuple(push(t) for t in first),
                  x=X[0].copy(), saliency=saliency,
                  saliency_image=None if side is None else saliency.reshape(side, side),
                  notes=tuple(dropout_notes(m)), architecture=architecture(m), fused=m.fused,
                  input_names=None if input_names is None else tuple(input_names),
                  class_names=None if class_names is None else tuple(class_names))


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
    scale = integer_in("scale", scale, 1, 1000, "pixels per input value")
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
