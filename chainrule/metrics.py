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
