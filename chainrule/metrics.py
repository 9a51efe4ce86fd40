"""What a trained classifier gets right and wrong on a test set, as numbers (NumPy only).

``classifier_metrics`` gathers everything the report draws and the web page's Inspect tab
shows: the loss and accuracy, the confusion matrix, the accuracy of each class and the
wrong predictions made with the highest probability. ``confusion_matrix``,
``per_class_accuracy`` and ``most_confident_wrong`` are its parts.
"""

from dataclasses import dataclass

import numpy as np

from . import data
from ._checks import fail, is_integer, positive_int
from .errors import InputError


@dataclass
class ClassifierMetrics:
    """A classifier on a test set, as numbers.

    Attributes:
        metrics: ``model.evaluate`` on the test set: {"loss": ..., "accuracy": ...}.
        y_true: int64 of shape (n_samples,), the test labels.
        y_pred: int64 of shape (n_samples,), the predicted labels.
        confidence: of shape (n_samples,), the predicted probability of y_pred.
        confusion: int64 of shape (n_classes, n_classes); row = true, column = predicted.
        per_class: of shape (n_classes,), the accuracy on each class (NaN if it has no
            test examples).
        wrong: int64 indices into the test set of the wrong predictions, most confident
            first, at most ``max_wrong`` of them.
        X_wrong: of shape (len(wrong), n_features), those examples.
        history: the model's training History, or None.
        W: of shape (out_features, in_features), the first Dense layer's weights.
    """

    metrics: dict
    y_true: np.ndarray
    y_pred: np.ndarray
    confidence: np.ndarray
    confusion: np.ndarray
    per_class: np.ndarray
    wrong: np.ndarray
    X_wrong: np.ndarray
    history: object
    W: np.ndarray

    @property
    def n_classes(self):
        return len(self.confusion)

    @property
    def n_wrong(self):
        """The number of wrong predictions on the test set (shown or not)."""
        return int((self.y_true != self.y_pred).sum())

    @property
    def n_epochs(self):
        return len(self.history.epoch) if has_curves(self.history) else 0


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts C of shape (n_classes, n_classes), int64: C[i, j] is the number of examples
    of class i predicted as class j. Rows sum to the class counts, the diagonal is the
    number of correct predictions of each class.

    Arguments:
        y_true, y_pred: integer labels of shape (n_samples,), each in 0..n_classes-1.
        n_classes: a positive integer.
    """
    n_classes = positive_int("n_classes", n_classes)
    y_true = data.check_labels(np.asarray(y_true), n_classes, "y_true")
    y_pred = data.check_labels(np.asarray(y_pred), n_classes, "y_pred")
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise InputError(
            "y_true and y_pred must be 1-D arrays of the same length; received shapes "
            f"{y_true.shape} and {y_pred.shape}"
        )
    cells = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return cells.reshape(n_classes, n_classes).astype(np.int64)


def most_confident_wrong(y_true, y_pred, confidence, max_wrong):
    """Indices of the wrong predictions, highest confidence first (ties: lower index
    first), at most ``max_wrong`` of them; int64 of shape (k,)."""
    wrong = np.flatnonzero(y_true != y_pred)
    order = np.argsort(-confidence[wrong], kind="stable")
    return wrong[order][:max_wrong].astype(np.int64)


def has_curves(history):
    """Whether ``history`` (a training.History or None) holds at least one epoch of loss."""
    return history is not None and len(history.history.get("loss", [])) > 0


def per_class_accuracy(confusion):
    """The accuracy on each class, of shape (n_classes,): the diagonal of ``confusion`` (of
    shape (n_classes, n_classes), rows the true classes) over its row sums, the share of
    each class's examples predicted right (its recall); NaN for a class without examples."""
    confusion = np.asarray(confusion)
    counts = confusion.sum(axis=1)
    accuracy = np.full(len(confusion), np.nan)
    np.divide(np.diag(confusion), counts, out=accuracy, where=counts > 0)
    return accuracy


def classifier_metrics(model, X_test, y_test, max_wrong=16):
    """The numbers (a ClassifierMetrics) of a classifier on a test set.

    Arguments:
        model: a trained Sequential with classifier=True.
        X_test: of shape (n_samples, n_features).
        y_test: class labels of shape (n_samples,) (or one-hot, as ``fit`` takes them).
        max_wrong: how many wrong examples to keep, an integer >= 0.
    """
    if not getattr(model, "classifier", False):
        loss = getattr(getattr(model, "loss", None), "name", None)
        raise InputError(
            "a report needs a classifier (it draws a confusion matrix and class "
            f"probabilities); this network has classifier=False (loss={loss!r})"
        )
    if not is_integer(max_wrong) or max_wrong < 0:
        fail("max_wrong", "an integer >= 0", max_wrong)
    X = data.check_X(X_test, model.n_features, model.dtype, name="X_test")
    _, labels = data.check_targets(y_test, len(X), model.n_outputs, model.loss.name,
                                   model.dtype, name="y_test")
    if labels is None:
        raise InputError("y_test must hold class labels (integers or one-hot rows) for a report")
    proba = model.predict_proba(X)
    y_pred = model.predict(X)
    confidence = proba[np.arange(len(X)), y_pred]
    matrix = confusion_matrix(labels, y_pred, proba.shape[1])
    per_class = per_class_accuracy(matrix)
    wrong = most_confident_wrong(labels, y_pred, confidence, int(max_wrong))
    return ClassifierMetrics(metrics=model.evaluate(X, y_test), y_true=labels, y_pred=y_pred,
                      confidence=confidence, confusion=matrix, per_class=per_class,
                      wrong=wrong, X_wrong=X[wrong], history=model.history,
                      W=model.dense_layers[0].W.copy())


# --- scores of predictions: what TabularModel.evaluate reports ----------------------------

def accuracy(y_true, y_pred):
    """The share of rows predicted right, a float: labels of shape (n_samples,), or 0/1
    rows of shape (n_samples, n_labels) that count as right only when every label is
    (scikit-learn's accuracy_score, its subset accuracy for multi-label)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or len(y_true) == 0:
        raise InputError(f"y_true and y_pred must have the same non-empty shape; received "
                         f"{y_true.shape} and {y_pred.shape}")
    right = y_true == y_pred
    return float(right.reshape(len(right), -1).all(axis=1).mean())


def f1_from_counts(tp, fp, fn):
    """F1 = 2 TP / (2 TP + FP + FN) of each class (arrays of shape (n_classes,)), 0 for a
    class never true nor predicted (scikit-learn's zero_division=0)."""
    denominator = 2 * tp + fp + fn
    f1 = np.zeros(len(tp))
    np.divide(2 * tp, denominator, out=f1, where=denominator > 0)
    return f1


def f1_macro(y_true, y_pred, n_classes):
    """The mean of F1 over the classes that are true or predicted at least once (as
    scikit-learn's f1_score(average="macro")), a float; integer labels of shape
    (n_samples,), each in 0..n_classes-1."""
    C = confusion_matrix(y_true, y_pred, n_classes)
    tp = np.diag(C).astype(np.float64)
    seen = (C.sum(axis=0) + C.sum(axis=1)) > 0
    return float(f1_from_counts(tp, C.sum(axis=0) - tp, C.sum(axis=1) - tp)[seen].mean())


def multilabel_f1_macro(Y_true, Y_pred):
    """The mean over labels of each label's F1, a float; 0/1 arrays of shape (n_samples,
    n_labels) (scikit-learn's f1_score(average="macro") on multi-label indicators)."""
    Y_true, Y_pred = np.asarray(Y_true, dtype=bool), np.asarray(Y_pred, dtype=bool)
    tp = (Y_true & Y_pred).sum(axis=0).astype(np.float64)
    return float(f1_from_counts(tp, (~Y_true & Y_pred).sum(axis=0), (Y_true & ~Y_pred).sum(axis=0)).mean())


def r2_score(y_true, y_pred):
    """R^2 = 1 - sum (y - y_hat)^2 / sum (y - mean y)^2, a float, for targets of shape
    (n_samples,); 1.0 for a perfect fit of a constant target, else 0.0 for one (as
    scikit-learn's r2_score)."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    residual = float(((y_true - y_pred) ** 2).sum())
    total = float(((y_true - y_true.mean()) ** 2).sum())
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1.0 - residual / total


def rmse(y_true, y_pred):
    """The root of the mean squared error, sqrt(mean (y - y_hat)^2), a float, for targets
    of shape (n_samples,), in the targets' units."""
    y_true, y_pred = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    return float(np.sqrt(((y_true - y_pred) ** 2).mean()))
