"""chainrule.metrics: the numbers of a classifier on a test set, against scikit-learn's."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import metrics, report
from chainrule.recipes import Recipe


def random_labels(seed, n, n_classes):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, n_classes, n))  # mostly right
    return y_true, y_pred


@pytest.mark.parametrize("seed, n, n_classes", [(0, 50, 3), (1, 500, 10), (2, 7, 5)])
def test_confusion_matrix_and_per_class_accuracy_match_sklearn(seed, n, n_classes):
    sk = pytest.importorskip("sklearn.metrics")
    y_true, y_pred = random_labels(seed, n, n_classes)
    matrix = metrics.confusion_matrix(y_true, y_pred, n_classes)
    np.testing.assert_array_equal(matrix, sk.confusion_matrix(y_true, y_pred, labels=range(n_classes)))
    assert matrix.dtype == np.int64
    accuracy = metrics.per_class_accuracy(matrix)
    present = np.bincount(y_true, minlength=n_classes) > 0
    # per-class accuracy is each class's recall; a class without examples has none (NaN)
    recall = sk.recall_score(y_true, y_pred, labels=range(n_classes), average=None, zero_division=0)
    np.testing.assert_allclose(accuracy[present], recall[present], rtol=1e-12)
    assert np.isnan(accuracy[~present]).all()


def test_per_class_accuracy_by_hand():
    confusion = np.array([[3, 1, 0],
                          [0, 0, 0],
                          [1, 1, 2]])
    np.testing.assert_allclose(metrics.per_class_accuracy(confusion), [0.75, np.nan, 0.5])


def test_classifier_metrics_of_a_trained_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    recipe = Recipe(hidden=(8,), epochs=5)
    model = recipe.build_model(4, 3)
    model.fit(X, y, optimizer=recipe.build_optimizer(len(X)), **recipe.fit_arguments())
    m = metrics.classifier_metrics(model, X, y, max_wrong=5)
    predicted = model.predict(X)
    assert m.metrics == model.evaluate(X, y) and m.n_classes == 3
    np.testing.assert_array_equal(m.y_pred, predicted)
    np.testing.assert_array_equal(m.confusion, metrics.confusion_matrix(y, predicted, 3))
    np.testing.assert_array_equal(m.per_class, metrics.per_class_accuracy(m.confusion))
    assert m.n_wrong == int((predicted != y).sum()) and len(m.wrong) == min(5, m.n_wrong)
    assert np.all(np.diff(m.confidence[m.wrong]) <= 0)  # the most confident first
    np.testing.assert_array_equal(m.X_wrong, X[m.wrong].astype(model.dtype))
    assert m.n_epochs == 5 and m.W.shape == (8, 4)


def test_the_report_keeps_its_names_for_the_numbers():
    assert report.compute is metrics.classifier_metrics and report.ReportData is metrics.ClassifierMetrics
    assert report.confusion_matrix is metrics.confusion_matrix
    assert report.most_confident_wrong is metrics.most_confident_wrong


def test_max_wrong_and_n_classes_are_checked():
    model = cr.Sequential([cr.Dense(3, 2, "softmax")], seed=0)
    with pytest.raises(cr.InputError, match=r"max_wrong must be an integer >= 0; received max_wrong=-1"):
        metrics.classifier_metrics(model, np.eye(3), np.array([0, 1, 1]), max_wrong=-1)
    with pytest.raises(cr.InputError, match=r"n_classes must be a positive integer; received n_classes=True"):
        metrics.confusion_matrix([0], [0], True)


# --- the scores TabularModel.evaluate reports, against scikit-learn's ------------------------

def test_scores_match_scikit_learns():
    sk = pytest.importorskip("sklearn.metrics")
    from chainrule import metrics as m

    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    assert m.accuracy(y, p) == pytest.approx(sk.accuracy_score(y, p))
    assert m.f1_macro(y, p, 4) == pytest.approx(sk.f1_score(y, p, average="macro"))
    assert m.f1_macro([0, 0, 1], [0, 0, 0], 3) == pytest.approx(  # class 2 neither true nor predicted
        sk.f1_score([0, 0, 1], [0, 0, 0], average="macro", zero_division=0))
    Y, P = rng.integers(0, 2, (40, 3)), rng.integers(0, 2, (40, 3))
    assert m.accuracy(Y, P) == pytest.approx(sk.accuracy_score(Y, P))
    assert m.multilabel_f1_macro(Y, P) == pytest.approx(sk.f1_score(Y, P, average="macro"))
    t, q = rng.normal(size=30), rng.normal(size=30)
    assert m.r2_score(t, q) == pytest.approx(sk.r2_score(t, q))
    assert m.rmse(t, q) == pytest.approx(sk.root_mean_squared_error(t, q))
    assert m.r2_score([2.0, 2.0], [2.0, 2.0]) == 1.0 and m.r2_score([2.0, 2.0], [1.0, 2.0]) == 0.0


def test_accuracy_needs_matching_shapes():
    from chainrule import metrics as m
    from chainrule.errors import InputError

    with pytest.raises(InputError, match=r"y_true and y_pred must have the same non-empty shape; "
                                         r"received \(2,\) and \(3,\)"):
        m.accuracy([0, 1], [0, 1, 1])
