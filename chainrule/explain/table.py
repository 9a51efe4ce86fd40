"""The nudges of one row of a table, by column: what a TabularModel's row asks of the
network, with its input saliency summed into the columns the inputs came from.

The network of a TabularModel sees a row through its encoder (chainrule.tabular.encode):
a numeric column as the feature (x - mean) / scale (plus a 0/1 "missing" feature where
training rows had gaps), a categorical as one-hot slots, a hashed column as buckets.
The saliency of a column is the sum of dL/dx over its features,

    saliency(column) = sum over the features f of the column of dL/dx_f,

so a numeric column's saliency is per standard deviation of the column (plus its
"missing" feature's), comparable from column to column whatever their units, and its
``per_unit`` dL/dx_f / scale is the derivative by the raw value itself (where it is
present). A categorical's one-hot slots are summed into one row of the table.

The loss needs a target: the row's own (when it holds the target column), the one given,
or else, for a classifier, the class the model predicts (the nudges then say what would
make the model surer of its answer). A regression without a target has no nudges: the
loss of a prediction against itself is 0.
"""

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import one_example
from .one_example import Nudges


@dataclass(frozen=True)
class ColumnSaliency:
    """The saliency of one column of a row.

    name, kind: the column and its kind ("numeric", "categorical" or "hashed").
    value: the row's raw value in this column (None where it is missing).
    saliency: dL/dx summed over the column's inputs (a numeric column's per standard
        deviation; a categorical's one-hot slots summed).
    per_unit: for a numeric column, dL/d(value) = dL/dx / scale, by the raw value's own
        unit; None for the others.
    inputs: the names of the network inputs the column becomes.
    """

    name: str
    kind: str
    value: object
    saliency: float
    per_unit: object
    inputs: tuple


@dataclass(frozen=True, eq=False)
class TableNudges:
    """The nudges of one row, by column.

    nudges: the Nudges of the encoded row (by network input, with the inputs and
        classes named): output nudges, hidden nudges, the weights pushed hardest.
    columns: a ColumnSaliency per used column, the largest |saliency| first.
    target: the target the loss was taken against (a class label as in the data, a value,
        or a list of 0/1 for multi-label); target_note says where it came from.
    prediction: the model's prediction for the row; probabilities: {class: p} for a
        classifier (each label's for multi-label), None for regression.
    """

    nudges: Nudges
    columns: tuple
    target: object
    target_note: str
    prediction: object
    probabilities: object
    target_names: tuple

    def column(self, name):
        """The ColumnSaliency of the column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise InputError(f"name must be a used column, one of {[c.name for c in self.columns]}; "
                         f"received name={name!r}")

    def __str__(self):
        n = self.nudges
        what = ", ".join(self.target_names)
        head = f"{what}: {self.target} ({self.target_note}); predicted {self.prediction}"
        if self.probabilities is not None and not isinstance(self.prediction, list):
            head += f" (p {self.probabilities[self.prediction]:.3f})"
        width = max(len("column"), *(len(c.name) for c in self.columns))
        lines = [f"nudges of one row, by column   [{n.architecture}]", f"  {head}; loss {n.loss:.4f}", "",
                 "  input saliency by column, the largest |dL/dx| first: dL/dx summed over the column's",
                 "  inputs (a numeric column per standard deviation, a categorical's one-hot slots summed);",
                 "  dL/dx < 0: more of it lowers the loss; dL/d(value): by the raw value's own unit",
                 f"    {'column':<{width}}  {'value':<16} {'dL/dx':>10}  {'dL/d(value)':>11}  inputs"]
        for c in self.columns:
            per_unit = "-" if c.per_unit is None else f"{c.per_unit:+.4g}"
            inputs = f"{len(c.inputs)}" + (" (one-hot, summed)" if c.kind == "categorical" else
                                           " (buckets, summed)" if c.kind == "hashed" else
                                           " (value, missing)" if len(c.inputs) > 1 else "")
            lines.append(f"    {c.name:<{width}}  {shown(c.value):<16} {c.saliency:>+10.4g}  {per_unit:>11}  {inputs}")
        return "\n".join(lines) + "\n\n" + str(n)


def shown(value):
    """A raw value as the table prints it: at most 16 characters, "(missing)" for None."""
    text = "(missing)" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 16 else text[:15] + "…"


def row_target(model, table, y):
    """(y, note): the target of the row's loss, in the data's terms, and where it came from."""
    from ..tabular.columns import missing, plain

    targets = model.targets_
    if y is not None:
        return y, "given"
    if all(t in table.column_names for t in targets) and \
            not any(missing(plain(table.column(t)))[0] for t in targets):
        values = [table.column(t)[0].as_py() for t in targets]
        return (values[0] if len(values) == 1 else values), "from the row"
    if model.task_ == "regression":
        raise InputError(f"the row has no {targets[0]!r} value: the nudges of a regression need the "
                         f"target (the loss of a prediction against itself is 0); give y or a row with it")
    return None, f"the model's prediction: the row has no {', '.join(targets)} value"


def network_target(model, y):
    """The target ``y`` (in the data's terms) as the network's: a class index, a
    standardised value, or 0/1 of shape (n_labels,)."""
    import pyarrow as pa

    if model.task_ == "classification":
        return int(model.class_indices(pa.array([y]))[0])
    if model.task_ == "multilabel":
        Y = np.asarray(y, dtype=np.float64)
        if Y.shape != (len(model.targets_),) or not np.isin(Y, (0, 1)).all():
            raise InputError(f"y must be {len(model.targets_)} values of 0 or 1 (one per label "
                             f"{model.targets_}); received y={y!r}")
        return Y
    if isinstance(y, bool) or not isinstance(y, (int, float, np.number)) or not np.isfinite(y):
        raise InputError(f"y must be a finite number (the target {model.targets_[0]!r}); received y={y!r}")
    return (float(y) - model.target_center_) / model.target_scale_


def table_nudges(model, row, y=None, top_k=10):
    """The nudges of one raw row of a TabularModel's table, by column.

    Arguments:
        model: a trained chainrule.tabular.TabularModel (not changed).
        row: one row: a dict {column: value}, a pandas Series (``df.iloc[i]``), or a data
            frame, pyarrow Table or file of one row (chainrule.tabular.read.row_table).
        y: the target to take the loss against, in the data's terms (a class label as in
            the data, a value, a list of 0/1 for multi-label); None takes the row's own,
            else a classifier's prediction.
        top_k: how many weights and biases to list, the largest |gradient| first.

    Returns:
        a TableNudges: the saliency of every column (the largest first), the row's raw
        values, and the Nudges of the encoded row, inputs and classes named.
    """
    from ..tabular.read import row_table

    table = row_table(row)
    table, X = model.inputs(table)
    y, note = row_target(model, table, y)
    encoder = model.encoder_
    classes = [str(c) for c in model.classes_] if model.classes_ is not None else None
    if y is None:  # a classifier's own answer
        predicted = model.predictions(model.outputs(X))[0]
        y = predicted.tolist() if model.task_ == "multilabel" else predicted.item()
    n = one_example.nudges(model.network_, X[0].astype(np.float64), network_target(model, y), top_k=top_k,
               input_names=encoder.feature_names, class_names=classes if model.task_ != "regression" else None)
    s = n.saliency
    columns = []
    for c in encoder.columns:
        block = encoder.blocks[c["name"]]
        value = table.column(c["name"])[0].as_py()
        if isinstance(value, float) and not np.isfinite(value):
            value = None
        per_unit = float(s[block.start]) / encoder.scale_of(c["name"]) if c["kind"] == "numeric" else None
        columns.append(ColumnSaliency(name=c["name"], kind=c["kind"], value=value,
                                      saliency=float(s[block].sum()), per_unit=per_unit,
                                      inputs=tuple(encoder.feature_names[block])))
    columns.sort(key=lambda c: -abs(c.saliency))
    prediction = model.predictions(n.y_hat[None])[0]
    prediction = prediction.tolist() if model.task_ == "multilabel" else prediction.item()
    probabilities = None if model.task_ == "regression" else \
        {label: float(p) for label, p in zip(model.classes_, n.y_hat, strict=True)}
    if isinstance(y, np.generic):
        y = y.item()
    return TableNudges(nudges=n, columns=tuple(columns), target=y, target_note=note, prediction=prediction,
                       probabilities=probabilities, target_names=tuple(model.targets_))


def nudges(model, x, y=None, top_k=10, input_names=None, class_names=None):
    """chainrule.explain.nudges: the nudges of one example of a Sequential
    (chainrule.explain.one_example.nudges, which gives a Nudges), or of one raw row of a
    chainrule.tabular.TabularModel (``table_nudges``, which gives a TableNudges by column;
    the names come from the model, so input_names and class_names are not taken)."""
    if hasattr(model, "encoder_") and hasattr(model, "network_"):  # a TabularModel, duck-typed
        if input_names is not None or class_names is not None:
            raise InputError("input_names and class_names apply to a Sequential; a TabularModel "
                             "names its inputs and classes itself")
        return table_nudges(model, x, y, top_k=top_k)
    return one_example.nudges(model, x, y, top_k=top_k, input_names=input_names, class_names=class_names)
