"""TabularModel: a network trained on a table, from raw rows to predictions in their own labels.

``fit`` reads the table (chainrule.tabular.read), gives each column a kind
(chainrule.tabular.columns), fits the preprocessing on the training rows
(chainrule.tabular.encode), and trains a Sequential through ``chainrule.training.fit``, the
one training loop, with early stopping on a validation split. The defaults are meant to
work on a table without tuning: see docs/howto-own-data.md for how they were measured.

The task comes from the target: classification for strings, booleans, categoricals and
integers with at most MAX_INTEGER_CLASSES values; regression for floats (and integers with
more values); multi-label for a list of 0/1 (or boolean) columns. ``task=`` overrides it.
"""

import numpy as np

from .. import metrics, training
from .._checks import fail
from ..callbacks import EarlyStopping
from ..data import train_validation_split
from ..errors import InputError
from ..layers import Dense, Dropout
from ..network import Sequential
from ..regularizers import L2
from . import saved
from .columns import dropped_columns, infer_columns, missing, plain, value_type
from .encode import Encoder, numbers
from .read import read_table
from .settings import DEFAULTS, SETTINGS, recipe as checked_recipe

TASKS = ("classification", "regression", "multilabel")
MAX_INTEGER_CLASSES = 20


class TabularModel:
    """A multi-layer perceptron on a table: preprocessing, network and labels in one object.

    Arguments (checked by ``fit``; the names of chainrule train's options):
        hidden, activation, optimizer, lr, momentum, schedule, batch_size, epochs, seed,
            dtype, dropout, validation_split: as in chainrule.recipes.Recipe. validation_split
            (stratified by class for classification) is held out for early stopping; 0 trains
            every epoch on every row.
        patience: epochs without a better validation loss before training stops; the weights
            of the best epoch are kept (chainrule.EarlyStopping).
        alpha: the L2 penalty on the weights (scikit-learn's alpha, chainrule.regularizers.L2).

    Attributes after ``fit``:
        task_: "classification", "regression" or "multilabel". targets_: the target columns.
        classes_: the class labels as they were in the data (classification), or the target
            columns (multi-label); None for regression.
        network_: the trained Sequential. encoder_: the fitted chainrule.tabular.encode.Encoder.
        feature_names_: the names of the network's inputs, of length n_features.
        columns_: every column's kind (the schema); dropped_columns_: {name: reason}.
        source_: where the data came from (file name and SHA-256, or frame kind; rows).
        n_rows_missing_target_: the rows left out because their target was missing.
        history_: the training History. validation_scores_: the scores of ``evaluate`` on the
            rows held out by validation_split, after training (None when it is 0; not saved).
        ignored_columns_: the columns of the last data given
            to predict, predict_proba or evaluate that the model does not read (extra columns,
            those dropped in fit, the target).
    """

    def __init__(self, hidden=DEFAULTS["hidden"], activation="relu", optimizer="adam", lr=1e-3,
                 momentum=None, schedule="constant", batch_size=32, epochs=200, seed=0, dtype="float32",
                 dropout=0.0, validation_split=0.2, patience=20, alpha=1e-4):
        self.hidden, self.activation, self.optimizer, self.lr = hidden, activation, optimizer, lr
        self.momentum, self.schedule, self.batch_size, self.epochs = momentum, schedule, batch_size, epochs
        self.seed, self.dtype, self.dropout = seed, dtype, dropout
        self.validation_split, self.patience, self.alpha = validation_split, patience, alpha
        self.ignored_columns_ = []

    def settings(self):
        """{setting: value} of the model (what the model file records)."""
        return {name: getattr(self, name) for name in SETTINGS}

    def recipe(self, loss):
        """The checked Recipe of these settings with ``loss`` (chainrule.tabular.settings)."""
        return checked_recipe(self.settings(), loss)

    # --- training -------------------------------------------------------------------------

    def fit(self, data, target, task=None, verbose=0, callbacks=()):
        """Train on ``data`` (a file path or a pandas/polars DataFrame, see
        chainrule.tabular.read) to predict ``target``: a column name, or a list of 0/1
        columns for multi-label. ``task`` ("classification", "regression" or "multilabel")
        overrides the task the target's values imply. ``callbacks`` (chainrule Callbacks)
        run in training.fit after the early stopping. Returns self."""
        table, source = read_table(data)
        targets = checked_targets(target, table, source)
        recipe_check = self.recipe("cross_entropy")  # every setting checked before any work
        present = ~np.any([missing(plain(table.column(t))) for t in targets], axis=0)
        if not present.any():
            raise InputError(f"target {target!r} is missing in every row")
        import pyarrow as pa

        if not present.all():
            table = table.filter(pa.array(present))  # a copy of the table only when rows are left out
        self.task_ = infer_task(table, targets, task)
        Y, self.classes_, labels = self.encode_targets(table, targets)
        specs = infer_columns(table, exclude=targets)
        if all(s["kind"] == "dropped" for s in specs):
            raise InputError(f"no column can be used as an input: {dropped_columns(specs)}")
        rng = np.random.default_rng(recipe_check.seed)
        if self.validation_split:
            train, val = train_validation_split(len(Y), recipe_check.validation_split, rng, labels)
            order = np.concatenate([train, val])
        else:
            train, val, order = None, None, None
        self.encoder_ = Encoder.fit(table, specs, rows=train)
        # The one float32 copy of the inputs: the training rows first, then the validation
        # rows, so that both sets are views of it (no X[train], X[val] copies).
        X = self.encoder_.transform(table, rows=order)
        Y = Y if order is None else Y[order]
        n_train = len(X) if train is None else len(train)
        X_train, Y_train, X_val, Y_val = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]
        loss = {"classification": "cross_entropy", "multilabel": "log_loss", "regression": "mse"}[self.task_]
        recipe = self.recipe(loss)
        self.network_ = build_network(recipe, X.shape[1], Y.shape[1] if Y.ndim == 2 else len(self.classes_),
                                      self.task_)
        # An input never lit in training (an "unseen" slot, an empty hash bucket) starts with
        # zero weights and so keeps them: it adds nothing to a prediction, rather than noise.
        self.network_.dense_layers[0].W[:, ~lit_features(X_train)] = 0
        callbacks = ([] if val is None else [EarlyStopping("val_loss", self.patience, restore_best_weights=True)]) \
            + list(callbacks)
        self.history_ = training.fit(
            self.network_, X_train, Y_train, epochs=recipe.epochs, batch_size=recipe.batch_size,
            optimizer=recipe.build_optimizer(n_train), callbacks=callbacks, verbose=verbose,
            validation_data=None if val is None else (X_val, Y_val),
            penalty=L2(self.alpha) if self.alpha else None)
        self.targets_, self.columns_ = targets, specs
        # The scores on the rows held out (None without a validation split), as evaluate
        # gives them, from the target columns of those rows alone.
        self.validation_scores_ = None if val is None else self.scores(
            table.select(targets).take(pa.array(val)), self.outputs(X_val.astype(self.network_.dtype, copy=False)))
        self.feature_names_ = self.encoder_.feature_names
        self.dropped_columns_ = dropped_columns(specs)
        self.n_rows_missing_target_ = int((~present).sum())
        self.source_ = {**source, "rows_used": int(present.sum())}
        return self

    def encode_targets(self, table, targets):
        """(Y, classes, labels) of the rows of ``table``: int64 class indices of shape
        (n_samples,) with the sorted class labels; 0/1 rows of shape (n_samples, n_labels)
        with the target names; or the standardised targets of shape (n_samples, 1)."""
        if self.task_ == "multilabel":
            Y = np.column_stack([numbers(plain(table.column(t))) for t in targets])
            if not np.isin(Y, (0, 1)).all():
                raise InputError(f"multi-label targets must hold 0/1 or booleans; {targets} hold other values")
            return Y, list(targets), None
        array = plain(table.column(targets[0]))
        if self.task_ == "regression":
            y = numbers(array)
            self.target_center_, self.target_scale_ = float(y.mean()), float(y.std()) or 1.0
            return ((y - self.target_center_) / self.target_scale_)[:, None], None, None
        import pyarrow.compute as pc

        classes = sorted(pc.unique(array).to_pylist())
        if len(classes) < 2:
            raise InputError(f"target {targets[0]!r} has one class ({classes[0]!r}); a classifier "
                             f"needs at least two")
        self.classes_ = classes
        labels = self.class_indices(array)
        return labels, classes, labels

    def class_indices(self, array):
        """The index in classes_ of every value of a target column, int64 of shape (n_rows,)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        try:  # in pyarrow, when the column holds values of the classes' own type
            found = pc.index_in(array, value_set=pa.array(self.classes_, type=array.type))
            if found.null_count == 0:
                return found.to_numpy().astype(np.int64)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            pass  # another type (an integer column for boolean classes): matched in Python below
        lookup = {value: i for i, value in enumerate(self.classes_)}
        values = array.to_pylist()
        unknown = [v for v in set(values) if v not in lookup]
        if unknown:
            raise InputError(f"the target holds {unknown[0]!r}, which is not one of the classes the "
                             f"model was trained on: {self.classes_}")
        return np.array([lookup[v] for v in values], dtype=np.int64)

    # --- use --------------------------------------------------------------------------------

    def inputs(self, data):
        """(table, X): the rows of ``data`` and the network's inputs of shape (n_samples, n_features)."""
        if not hasattr(self, "network_"):
            raise InputError("this TabularModel is not trained yet; call fit first")
        table, _ = read_table(data)
        self.ignored_columns_ = self.encoder_.check_schema(table)
        return table, self.encoder_.transform(table).astype(self.network_.dtype, copy=False)

    def outputs(self, X, block=4096):
        """The network's outputs for X of shape (n_samples, n_features), block by block of
        rows. Each block is a copy: the first layer keeps the last input it saw, and a view
        would keep the whole of X alive with the model."""
        A = np.empty((len(X), self.network_.n_outputs), dtype=self.network_.dtype)
        for i in range(0, len(X), block):
            A[i:i + block] = self.network_.forward_pass(np.array(X[i:i + block]), training=False)
        return A

    def predict(self, data):
        """Predictions for every row of ``data``, in order: class labels as they were in the
        training data (strings stay strings), of shape (n_samples,); 0/1 of shape
        (n_samples, n_labels) for multi-label; values in the target's units for regression."""
        return self.predictions(self.outputs(self.inputs(data)[1]))

    def predictions(self, A):
        if self.task_ == "classification":
            return np.asarray(self.classes_)[A.argmax(axis=1)]
        if self.task_ == "multilabel":
            return (A > 0.5).astype(np.int64)
        return A[:, 0].astype(np.float64) * self.target_scale_ + self.target_center_

    def predict_proba(self, data):
        """Of shape (n_samples, n_classes) (columns in the order of classes_) for
        classification, (n_samples, n_labels) for multi-label: each label's probability."""
        if getattr(self, "task_", None) == "regression":
            raise InputError("predict_proba needs a classifier; this model does regression")
        return self.outputs(self.inputs(data)[1]).astype(np.float64)

    def evaluate(self, data):
        """Scores on labelled rows (rows whose target is missing are left out): {"accuracy",
        "f1_macro"} for classification and multi-label, {"r2", "rmse"} for regression."""
        table, X = self.inputs(data)
        absent = [t for t in self.targets_ if t not in table.column_names]
        if absent:
            raise InputError(f"column {absent[0]!r} (the target) is missing; evaluate needs labelled rows")
        present = ~np.any([missing(plain(table.column(t))) for t in self.targets_], axis=0)
        if not present.any():
            raise InputError(f"the target {self.targets_[0]!r} is missing in every row")
        import pyarrow as pa

        if present.all():
            return self.scores(table, self.outputs(X))
        return self.scores(table.filter(pa.array(present)), self.outputs(X[present]))

    def scores(self, table, A):
        """The scores of ``evaluate`` for the labelled rows of ``table`` (a pyarrow Table) and
        the network's outputs A on them, of shape (n_samples, n_outputs)."""
        if self.task_ == "regression":
            y, pred = numbers(plain(table.column(self.targets_[0]))), self.predictions(A)
            return {"r2": metrics.r2_score(y, pred), "rmse": metrics.rmse(y, pred)}
        if self.task_ == "multilabel":
            Y = np.column_stack([numbers(plain(table.column(t))) for t in self.targets_]).astype(np.int64)
            pred = self.predictions(A)
            return {"accuracy": metrics.accuracy(Y, pred), "f1_macro": metrics.multilabel_f1_macro(Y, pred)}
        y, pred = self.class_indices(plain(table.column(self.targets_[0]))), A.argmax(axis=1)
        return {"accuracy": metrics.accuracy(y, pred), "f1_macro": metrics.f1_macro(y, pred, len(self.classes_))}

    # --- the model file ---------------------------------------------------------------------

    def save(self, path):
        """Write one chainrule model file (chainrule.io's format), atomically: the network's
        arrays and meta, plus the preprocessing and schema (see chainrule.tabular.saved)."""
        saved.write(self, path)

    @classmethod
    def from_parts(cls, meta, arrays, path):
        """The TabularModel of a model file read by ``io.read_npz``, every field checked."""
        doc, network, encoder, target_stats = saved.read(meta, arrays, path)
        model = cls(**doc["settings"])
        model.network_, model.encoder_, model.history_ = network, encoder, network.history
        model.task_, model.targets_, model.classes_ = doc["task"], doc["targets"], doc["classes"]
        model.columns_, model.source_ = doc["columns"], doc["source"]
        model.n_rows_missing_target_ = doc["n_rows_missing_target"]
        model.feature_names_, model.dropped_columns_ = encoder.feature_names, dropped_columns(doc["columns"])
        if target_stats is not None:
            model.target_center_, model.target_scale_ = target_stats
        return model

    def __repr__(self):
        changed = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if v != DEFAULTS[k])
        return f"TabularModel({changed})"


def checked_targets(target, table, source):
    """The target column names: ``target`` as a list of names that are columns of the table."""
    targets = [target] if isinstance(target, str) else target
    if not isinstance(targets, (list, tuple)) or not targets or not all(isinstance(t, str) for t in targets):
        fail("target", "a column name or a list of column names", target)
    label = source.get("name", f"the {source['kind']} table")
    for t in targets:
        if t not in table.column_names:
            raise InputError(f"target {t!r} is not a column of {label}; its columns are {table.column_names}")
    return list(targets)


def infer_task(table, targets, task):
    """The task: ``task`` if given (checked against the targets), else the one the values imply."""
    if task is not None and task not in TASKS:
        raise InputError(f"task must be one of {sorted(TASKS)} or None; received task={task!r}")
    if len(targets) > 1 or task == "multilabel":
        if task not in (None, "multilabel") or len(targets) < 2:
            raise InputError(f"several target columns mean task='multilabel'; received {len(targets)} "
                             f"target column(s) with task={task!r}")
        return "multilabel"
    array = plain(table.column(targets[0]))
    kind = value_type(array.type)
    if kind not in ("float", "integer", "bool", "string"):
        raise InputError(f"target {targets[0]!r} holds {array.type} values; a target holds numbers, "
                         f"strings or booleans")
    if task == "regression" and kind in ("bool", "string"):
        raise InputError(f"target {targets[0]!r} holds {kind} values; regression needs numbers")
    if task is not None:
        return task
    import pyarrow.compute as pc

    if kind == "float" or (kind == "integer" and pc.count_distinct(array).as_py() > MAX_INTEGER_CLASSES):
        return "regression"
    return "classification"


def lit_features(X, block=1 << 16):
    """Which features are not zero in some row of X, of shape (n_samples, n_features):
    bool of shape (n_features,), found block by block of rows (no copy of X)."""
    lit = np.zeros(X.shape[1], dtype=bool)
    for i in range(0, len(X), block):
        lit |= X[i:i + block].any(axis=0)
    return lit


def build_network(recipe, n_features, n_outputs, task):
    """The Sequential of ``recipe`` for a task: softmax outputs for classes, sigmoid for
    multi-label, identity (linear) for regression."""
    sizes = [n_features, *recipe.hidden]
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers.append(Dense(n_in, n_out, activation=recipe.activation))
        if recipe.dropout > 0:
            layers.append(Dropout(recipe.dropout))
    output = {"classification": "softmax", "multilabel": "sigmoid", "regression": "identity"}[task]
    layers.append(Dense(sizes[-1], n_outputs, activation=output))
    return Sequential(layers, loss=recipe.loss, seed=recipe.seed, dtype=recipe.dtype,
                      classifier=task != "regression")
