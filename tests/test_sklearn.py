"""The scikit-learn estimators: scikit-learn's own estimator checks, one gradient step
against scikit-learn's MLP as an oracle, digits accuracy against scikit-learn's MLP with
the same settings, optimizer state across partial_fit and warm_start, example weights,
the fitted attributes' layout, and every parameter message."""

import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import neural_network as sk_nn
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.metrics import log_loss, recall_score
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.estimator_checks import (
    check_sample_weight_equivalence_on_dense_data,
    parametrize_with_checks,
)
from threadpoolctl import threadpool_limits

from chainrule import Dropout
from chainrule.errors import InputError
from chainrule.sklearn import MLPClassifier, MLPRegressor

ignore_convergence = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # Small matrices: one BLAS thread is faster than two, and the machine is shared.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def small_classification(n=300, seed=0, **kwargs):
    return make_classification(n_samples=n, n_features=8, n_informative=5, random_state=seed, **kwargs)


# --- scikit-learn's own checks --------------------------------------------------------

def expected_failed_checks(estimator):
    if estimator.dtype == "float32":
        return {"check_sample_weight_equivalence_on_dense_data":
                "float32 rounding: weighting and repeating agree to ~3e-7 relative, the check "
                "asks for 1e-7; test_sample_weight_equivalence_in_float64 runs it in float64"}
    return {}


@ignore_convergence
@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), max_iter=100),
                          MLPRegressor(hidden_layer_sizes=(16,), max_iter=100, learning_rate_init=0.01)],
                         expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@ignore_convergence
@pytest.mark.parametrize("estimator", [MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, dtype="float64"),
                                       MLPRegressor(hidden_layer_sizes=(16,), max_iter=100, dtype="float64")])
def test_sample_weight_equivalence_in_float64(estimator):
    # With the whole set in one batch, weight k is exactly k copies of the example.
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


# --- one step against scikit-learn's MLP ----------------------------------------------

@ignore_convergence
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "regression_2d"])
def test_one_sgd_step_matches_scikit_learn(kind):
    """From the same weights, one full-batch SGD step with example weights and an L2
    penalty moves every parameter as scikit-learn's MLP does, and reports its loss."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 5))
    w = rng.uniform(0.0, 3.0, size=40)
    if kind == "binary":
        y = np.where(X[:, 0] + rng.normal(size=40) > 0, "yes", "no")
    elif kind == "multiclass":
        y = rng.integers(0, 3, size=40)
    else:
        y = X[:, :2] @ [1.0, -2.0] if kind == "regression" else X[:, :2] * [1.0, -2.0]
    regression = kind.startswith("regression")
    ours_cls, theirs_cls = (MLPRegressor, sk_nn.MLPRegressor) if regression else (MLPClassifier, sk_nn.MLPClassifier)
    settings = dict(hidden_layer_sizes=(6, 4), activation="tanh", solver="sgd", momentum=0.0,
                    alpha=0.3, batch_size=40, shuffle=False, max_iter=1, random_state=0)
    lr = 0.05
    ours = ours_cls(**settings, learning_rate_init=lr, dtype="float64")
    extra = {} if regression else {"classes": np.unique(y)}
    ours.partial_fit(X, y, sample_weight=w, **extra)  # any starting weights
    # chainrule's mse has twice the gradient of scikit-learn's half squared error
    theirs = theirs_cls(**settings, learning_rate_init=2 * lr if regression else lr, warm_start=True)
    theirs.fit(X, y)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    theirs.fit(X, y, sample_weight=w)
    ours.partial_fit(X, y, sample_weight=w)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    assert ours.loss_curve_[-1] == pytest.approx(theirs.loss_curve_[-1], rel=1e-10)


@ignore_convergence
@pytest.mark.parametrize("solver, momentum, nesterov, atol", [
    ("sgd", 0.9, True, 1e-12), ("sgd", 0.9, False, 1e-12),
    # Adam adds epsilon at another place (see chainrule.sklearn): where sqrt(v) is near
    # epsilon the steps differ, by under 1e-5 here, against 3 steps of up to 0.01
    ("adam", 0.9, True, 1e-5),
])
def test_three_epochs_match_scikit_learn(solver, momentum, nesterov, atol):
    """From the same weights and a fresh optimizer, three full-batch epochs with momentum,
    Nesterov momentum or Adam end where scikit-learn's do."""
    X, y = small_classification(n=60, n_classes=3)
    settings = dict(hidden_layer_sizes=(6,), solver=solver, momentum=momentum, nesterovs_momentum=nesterov,
                    alpha=0.01, batch_size=60, shuffle=False, random_state=0, learning_rate_init=0.01)
    ours = MLPClassifier(**{**settings, "learning_rate_init": 0.02}, dtype="float64")
    ours.partial_fit(X, y, classes=[0, 1, 2])  # any starting weights
    theirs = sk_nn.MLPClassifier(**settings, max_iter=1, warm_start=True).fit(X, y)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    theirs.set_params(max_iter=3).fit(X, y)
    # new optimizer settings on a warm start: a new optimizer, as scikit-learn makes at every fit
    ours.set_params(learning_rate_init=0.01, max_iter=3, warm_start=True).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert_allclose(a, b, rtol=0, atol=atol)


def test_loss_curve_is_the_penalised_mean_cost():
    """loss_curve_ is what scikit-learn reports: the mean log-loss (half the mean squared
    error for the regressor) plus (alpha / 2) ||W||^2 / n, at the weights of the epoch."""
    X, y = small_classification(n=64)
    alpha = 0.2
    clf = MLPClassifier(hidden_layer_sizes=(7,), alpha=alpha, batch_size=64, shuffle=False,
                        dtype="float64", random_state=0)
    clf.partial_fit(X, y, classes=[0, 1])
    penalty = 0.5 * alpha * sum((W ** 2).sum() for W in clf.coefs_) / 64
    expected = log_loss(y, clf.predict_proba(X)) + penalty
    clf.partial_fit(X, y)
    assert clf.loss_curve_[1] == pytest.approx(expected, rel=1e-12)

    Y = np.c_[X[:, 0], X[:, 1] - X[:, 2]]
    reg = MLPRegressor(hidden_layer_sizes=(7,), alpha=alpha, batch_size=64, shuffle=False,
                       dtype="float64", random_state=0)
    reg.partial_fit(X, Y)
    penalty = 0.5 * alpha * sum((W ** 2).sum() for W in reg.coefs_) / 64
    expected = 0.5 * ((reg.predict(X) - Y) ** 2).mean() + penalty
    reg.partial_fit(X, Y)
    assert reg.loss_curve_[1] == pytest.approx(expected, rel=1e-12)


# --- accuracy against scikit-learn ----------------------------------------------------

@pytest.mark.parametrize("solver, lr", [("adam", 0.001), ("sgd", 0.1)])
def test_digits_accuracy_matches_scikit_learn(digits, solver, lr):
    X_train, X_test, y_train, y_test = digits
    settings = dict(hidden_layer_sizes=(100,), solver=solver, learning_rate_init=lr,
                    batch_size=200, max_iter=200, random_state=0)
    with warnings.catch_warnings():  # either may stop at max_iter
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = sk_nn.MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
        ours = MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    assert theirs > 0.95
    assert ours >= theirs - 0.015


# --- the ecosystem ----------------------------------------------------------------------

@ignore_convergence
def test_pipeline_and_grid_search(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(32,), max_iter=20,
                                                         learning_rate_init=0.01, random_state=0))
    search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0],
                                 "mlpclassifier__dropout": [0.0, 0.2]}, cv=3)
    search.fit(X_train[:600], y_train[:600])
    assert set(search.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__dropout"}
    assert search.score(X_test, y_test) > 0.9
    assert search.best_estimator_[-1].n_features_in_ == 64


def test_regressor_fits_a_simple_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(400, 1))
    y = np.sin(X[:, 0]) + 0.3 * X[:, 0]
    reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01,
                                                       tol=1e-5, max_iter=500, random_state=0))
    reg.fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.9
    assert reg.predict(X[300:]).shape == (100,)
    assert reg.predict(X[300:]).dtype == np.float64


# --- optimizer state across calls -------------------------------------------------------

@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_partial_fit_and_warm_start_continue_the_optimizer(solver, shuffle):
    """Two partial_fit calls, or two warm-started fits of one epoch, are exactly one fit
    of two epochs: the weights, the momentum velocity or Adam moments, the step count."""
    X, y = small_classification()
    settings = dict(hidden_layer_sizes=(10,), solver=solver, learning_rate_init=0.05,
                    batch_size=32, shuffle=shuffle, random_state=3)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\)"):
        once = MLPClassifier(**settings, max_iter=2).fit(X, y)
    parts = MLPClassifier(**settings).partial_fit(X, y, classes=[0, 1]).partial_fit(X, y)
    warm = MLPClassifier(**settings, max_iter=1, warm_start=True)
    for _ in range(2):
        with pytest.warns(ConvergenceWarning):
            warm.fit(X, y)
    for other in (parts, warm):
        for a, b in zip(once.coefs_ + once.intercepts_, other.coefs_ + other.intercepts_, strict=True):
            assert_array_equal(a, b)
        state, other_state = once._optimizer.state_dict(), other._optimizer.state_dict()
        assert other_state["iterations"] == state["iterations"] == 2 * 10
        for name, arrays in state["state"].items():
            for a, b in zip(arrays, other_state["state"][name], strict=True):
                assert np.any(a != 0)
                assert_array_equal(a, b)
        assert other.t_ == once.t_ == 2 * len(X)
        assert_allclose(other.loss_curve_, once.loss_curve_, rtol=0)


def test_warm_start_false_starts_again():
    X, y = small_classification()
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning):
        first = [W.copy() for W in clf.fit(X, y).coefs_]
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert len(clf.loss_curve_) == 3
    for a, b in zip(first, clf.coefs_, strict=True):
        assert_array_equal(a, b)  # same random_state, a new start: the same result


def test_partial_fit_needs_classes_first_and_known_labels():
    X, y = small_classification(n=40)
    clf = MLPClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(InputError, match="classes must be passed on the first call to partial_fit"):
        clf.partial_fit(X, y)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 40
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 3
    with pytest.raises(InputError, match=re.escape("y has classes [5] not in classes_ [0, 1, 2]")):
        clf.partial_fit(X, np.where(y == 1, 5, y))
    with pytest.raises(InputError, match=r"classes=\[0, 1\] differs from the classes of the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(InputError, match="partial_fit does not support early_stopping=True"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1])


def test_warm_start_checks_the_classes_and_the_architecture():
    X, y = small_classification(n=40)
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    with pytest.raises(InputError, match=re.escape("warm_start needs y to have the same classes")):
        clf.fit(X, np.where(y == 1, 2, y))
    clf.set_params(hidden_layer_sizes=(5,))
    with pytest.raises(InputError, match=re.escape("changed: hidden_layer_sizes: (4,) -> (5,)")):
        clf.fit(X, y)


def test_new_optimizer_settings_on_warm_start_make_a_new_optimizer():
    X, y = small_classification(n=40)
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver="sgd", max_iter=1, warm_start=True)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    kept = clf._optimizer
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf._optimizer is kept
    with pytest.warns(ConvergenceWarning):
        clf.set_params(learning_rate_init=0.5).fit(X, y)
    assert clf._optimizer is not kept and clf._optimizer.learning_rate == 0.5


# --- convergence, learning-rate schedules, early stopping --------------------------------

def test_convergence_warning_only_when_max_iter_is_reached():
    X, y = small_classification()
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, tol=10.0, n_iter_no_change=2).fit(X, y)
    # the first epoch improves on inf, then none by tol=10: the count passes 2 at epoch 4
    assert clf.n_iter_ == 4
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.validation_loss_curve_ is None


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_adaptive_learning_rate_stops_as_scikit_learn(solver):
    """"adaptive" divides the sgd learning rate by 5 after each n_iter_no_change + 1 epochs
    without improvement, until it is below 1e-6; the other solvers just stop."""
    X, y = small_classification(n=100)
    settings = dict(hidden_layer_sizes=(5,), solver=solver, learning_rate="adaptive", tol=100.0,
                    n_iter_no_change=1, learning_rate_init=0.1, max_iter=100, random_state=0)
    ours = MLPClassifier(**settings).fit(X, y)
    theirs = sk_nn.MLPClassifier(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == (19 if solver == "sgd" else 3)
    if solver == "sgd":  # (scikit-learn's Adam keeps its bias-corrected rate there)
        assert ours._optimizer.learning_rate == pytest.approx(theirs._optimizer.learning_rate)


@ignore_convergence
def test_invscaling_learning_rate():
    X, y = small_classification(n=100)
    clf = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", learning_rate="invscaling",
                        learning_rate_init=0.2, power_t=0.25, max_iter=3).fit(X, y)
    assert clf._optimizer.learning_rate == pytest.approx(0.2 / (3 * 100 + 1) ** 0.25)


def test_early_stopping_keeps_the_best_epoch():
    X, y = small_classification(n=400, flip_y=0.3)
    X_val, y_val = X[300:], y[300:]
    clf = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.05, early_stopping=True,
                        n_iter_no_change=5, max_iter=200, random_state=0)
    clf.fit(X[:300], y[:300], validation_data=(X_val, y_val))
    assert clf.n_iter_ < 200
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == len(clf.validation_loss_curve_) == len(clf.loss_curve_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.score(X_val, y_val) == clf.best_validation_score_  # the best weights are back

    held_out = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, validation_fraction=0.2,
                             n_iter_no_change=2, max_iter=100, random_state=0).fit(X, y)
    assert len(held_out.validation_scores_) == held_out.n_iter_
    assert held_out.t_ == held_out.n_iter_ * 320  # 80 of the 400 held out, stratified


@ignore_convergence
def test_validation_loss_curve_without_early_stopping():
    X, y = small_classification(n=200)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, dtype="float64", random_state=0)
    clf.fit(X[:150], y[:150], validation_data=(X[150:], y[150:]))
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == 5
    assert clf.validation_loss_curve_[-1] == pytest.approx(log_loss(y[150:], clf.predict_proba(X[150:])))
    assert clf.validation_scores_[-1] == clf.score(X[150:], y[150:])
    assert clf.best_loss_ == min(clf.loss_curve_)

    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, dtype="float64", random_state=0)
    t = X[:, 0] - X[:, 1]
    reg.fit(X[:150], t[:150], validation_data=(X[150:], t[150:]))
    assert reg.validation_loss_curve_[-1] == pytest.approx(0.5 * ((reg.predict(X[150:]) - t[150:]) ** 2).mean())
    assert reg.validation_scores_[-1] == pytest.approx(reg.score(X[150:], t[150:]))


# --- example weights ---------------------------------------------------------------------

@ignore_convergence
@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0),
    lambda: MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, loss="mse", solver="sgd", random_state=0),
    lambda: MLPRegressor(hidden_layer_sizes=(6,), max_iter=5, alpha=0.1, random_state=0),
])
def test_unit_sample_weights_change_nothing(make):
    X, y = small_classification(n=150)
    plain, ones = make().fit(X, y), make().fit(X, y, sample_weight=np.ones(len(X)))
    for a, b in zip(plain.coefs_ + plain.intercepts_, ones.coefs_ + ones.intercepts_, strict=True):
        assert_array_equal(a, b)


@ignore_convergence
def test_class_weight_raises_the_recall_of_the_heavy_class():
    X, y = small_classification(n=600, weights=[0.8, 0.2], flip_y=0.1, class_sep=0.5)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    settings = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
    recall = {}  # of class 1 and of class 0, for each class_weight
    for weight in (None, {1: 5.0}, "balanced", {0: 5.0}):
        predicted = MLPClassifier(**settings, class_weight=weight).fit(X_train, y_train).predict(X_test)
        recall[str(weight)] = [recall_score(y_test, predicted, pos_label=c) for c in (1, 0)]
    assert recall["{1: 5.0}"][0] > recall["None"][0] + 0.2
    assert recall["None"][0] < recall["balanced"][0] < recall["{1: 5.0}"][0]
    assert recall["{0: 5.0}"][1] > recall["None"][1]

    # a class weight is the same sample weight on each example of the class
    by_class = MLPClassifier(**settings, class_weight={1: 5.0}).fit(X_train, y_train)
    by_sample = MLPClassifier(**settings).fit(X_train, y_train, sample_weight=np.where(y_train == 1, 5.0, 1.0))
    balanced = MLPClassifier(**settings, class_weight="balanced").fit(X_train, y_train)
    as_dict = dict(enumerate(compute_class_weight("balanced", classes=np.array([0, 1]), y=y_train)))
    by_dict = MLPClassifier(**settings, class_weight=as_dict).fit(X_train, y_train)
    for a, b in ((by_class, by_sample), (balanced, by_dict)):
        for p, q in zip(a.coefs_, b.coefs_, strict=True):
            assert_array_equal(p, q)


@ignore_convergence
def test_zero_sample_weight_is_leaving_the_example_out():
    # in one full batch, zero weight on half the examples is the fit without them
    X, y = small_classification(n=60)
    keep = np.arange(60) % 2 == 0
    settings = dict(hidden_layer_sizes=(5,), batch_size=200, max_iter=5, dtype="float64", random_state=0)
    weighted = MLPRegressor(**settings).fit(X, y, sample_weight=keep.astype(float))
    subset = MLPRegressor(**settings).fit(X[keep], y[keep])
    assert_allclose(weighted.predict(X), subset.predict(X), rtol=1e-10)


def test_example_weight_messages():
    X, y = small_classification(n=20)
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1)
    with pytest.raises(InputError, match=re.escape("sample_weight must be of shape (20,)")):
        clf.fit(X, y, sample_weight=np.ones(19))
    with pytest.raises(InputError, match=re.escape("sample_weight must be non-negative; received -1.0 at index 2")):
        clf.fit(X, y, sample_weight=np.r_[1, 1, -1, np.ones(17)])
    with pytest.raises(InputError, match="must have at least one non-zero weight; received all weights zero"):
        clf.fit(X, y, sample_weight=np.zeros(20))
    with pytest.raises(InputError, match=re.escape("class_weight has labels [7] not in classes_ [0, 1]")):
        clf.set_params(class_weight={7: 2.0}).fit(X, y)
    with pytest.raises(InputError, match="class_weight must be None, 'balanced' or a dict"):
        clf.set_params(class_weight="heavy").fit(X, y)
    with pytest.raises(InputError, match="class_weight='balanced' needs the class counts of the whole"):
        clf.set_params(class_weight="balanced").partial_fit(X, y, classes=[0, 1])
    Y = np.c_[y, 1 - y]
    with pytest.raises(InputError, match="class_weight applies to single-label targets"):
        clf.set_params(class_weight={0: 2.0}).fit(X, Y)


# --- outputs and fitted attributes ------------------------------------------------------

@ignore_convergence
def test_coefs_are_transposed_views_in_scikit_learn_layout():
    X, y = small_classification(n=50)
    clf = MLPClassifier(hidden_layer_sizes=(7, 4), activation="logistic", max_iter=3,
                        dtype="float64").fit(X, np.array(["a", "b", "c", "d", "e"])[y])
    assert [W.shape for W in clf.coefs_] == [(8, 7), (7, 4), (4, 1)]  # y holds only "a" and "b"
    assert [b.shape for b in clf.intercepts_] == [(7,), (4,), (1,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    for W, b, layer in zip(clf.coefs_, clf.intercepts_, clf.model_.dense_layers, strict=True):
        assert np.shares_memory(W, layer.W) and W.shape == layer.W.T.shape and b is layer.b
        assert_array_equal(W, layer.W.T)
    # the forward pass written with scikit-learn's layout gives predict_proba
    a = X
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        a = 1 / (1 + np.exp(-(a @ W + b)))
    assert_allclose(clf.predict_proba(X), np.c_[1 - a, a], rtol=1e-12)
    assert_array_equal(clf.classes_, ["a", "b"])
    assert set(clf.predict(X)) <= {"a", "b"}
    clf.coefs_[-1][...] = 0  # views: writing into them changes the network
    clf.intercepts_[-1][...] = 0
    assert_allclose(clf.predict_proba(X), 0.5)


@ignore_convergence
def test_multiclass_probabilities_and_log_probabilities():
    X, y = small_classification(n=90, n_classes=3)
    clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (90, 3) and proba.dtype == np.float64
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert_array_equal(clf.predict(X), proba.argmax(axis=1))
    assert clf.model_.layers[-1].activation.name == "softmax" and clf.model_.loss.name == "cross_entropy"
    # where a probability underflows to 0, its logarithm is still finite
    clf.intercepts_[-1][...] = [0.0, 2000.0, 0.0]
    log_proba = clf.predict_log_proba(X)
    assert np.isfinite(log_proba).all() and (log_proba[:, 0] < -1500).all()


@ignore_convergence
def test_losses_and_multilabel():
    X, y = small_classification(n=80)
    fits = {loss: MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, loss=loss, random_state=0).fit(X, y)
            for loss in ("cross_entropy", "log_loss", "mse")}
    assert_array_equal(fits["cross_entropy"].coefs_[0], fits["log_loss"].coefs_[0])  # two names, one loss
    assert fits["mse"].model_.loss.name == "mse" and fits["mse"].out_activation_ == "logistic"
    Y = np.c_[y, X[:, 0] > 0, X[:, 1] > 0].astype(int)
    multi = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, Y)
    assert multi.out_activation_ == "logistic" and multi.n_outputs_ == 3
    assert multi.predict(X).shape == (80, 3) and multi.predict_proba(X).shape == (80, 3)


def test_dropout_is_a_layer_after_each_hidden_layer_and_off_at_prediction(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(64, 32), dropout=0.3, max_iter=40, tol=1e-3,
                        learning_rate_init=0.003, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    kinds = [type(layer).__name__ for layer in clf.model_.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert all(layer.rate == 0.3 for layer in clf.model_.layers if isinstance(layer, Dropout))
    assert_array_equal(clf.predict_proba(X_test), clf.predict_proba(X_test))  # no masks at inference
    assert clf.score(X_test, y_test) > 0.93


@ignore_convergence
def test_dtype_and_pickling():
    X, y = small_classification(n=50)
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0, dtype="float32").fit(X, y)
    assert clf.model_.dtype == np.float32 and clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64
    wide = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2).fit(X, y)
    assert wide.model_.dtype == np.float64  # the default, as scikit-learn
    copy = pickle.loads(pickle.dumps(clf))
    # the pickle holds no work arrays (nor the last rows predicted); the original keeps them
    assert all(layer.a_prev is None and not layer._buffers for layer in copy.model_.dense_layers)
    assert clf.model_.dense_layers[0].a_prev is not None
    assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
    copy.partial_fit(X, y)  # and the copy trains on
    assert len(copy.loss_curve_) == 3


@ignore_convergence
def test_predictions_across_chunks_and_dtype_given_as_a_type():
    """Predictions run in slices of 4096 rows; each slice's rows are its own."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 3))
    clf = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, dtype=np.float64, random_state=0)
    clf.fit(X[:100], (X[:100, 0] > 0).astype(int))
    assert clf.model_.dtype == np.float64
    proba = clf.predict_proba(X)
    assert_allclose(proba[4000:4200], clf.predict_proba(X[4000:4200]), rtol=1e-12)
    assert_allclose(proba[-5:], clf.predict_proba(X[-5:]), rtol=1e-12)


@ignore_convergence
@pytest.mark.parametrize("solver", ["adamw", "rmsprop"])
def test_other_solvers(solver):
    X, y = small_classification(n=200)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=0.01, max_iter=30,
                        alpha=0.01, random_state=0).fit(X, y)
    assert type(clf._optimizer).__name__ == {"adamw": "AdamW", "rmsprop": "RMSprop"}[solver]
    assert clf.score(X, y) > 0.85


@ignore_convergence
def test_regressor_outputs():
    X, _ = small_classification(n=60)
    Y = np.c_[X[:, 0], -X[:, 1]]
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (60, 2) and reg.n_outputs_ == 2 and reg.out_activation_ == "identity"
    assert reg.model_.loss.name == "mse" and not hasattr(reg, "classes_")
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        column = MLPRegressor(hidden_layer_sizes=(5,), max_iter=3).fit(X, Y[:, :1])
    assert column.predict(X).shape == (60,)


def test_training_that_diverges_says_so():
    X, y = small_classification(n=50)
    reg = MLPRegressor(hidden_layer_sizes=(5,), solver="sgd", learning_rate_init=1e6, max_iter=50)
    with pytest.raises(FloatingPointError, match="training diverged at epoch .*lower learning_rate_init"):
        reg.fit(X * 1e3, y)


# --- parameters: each message -----------------------------------------------------------

BAD_PARAMETERS = [
    ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes must be a positive integer or a sequence of positive "
                                    "integers; received hidden_layer_sizes=(10, 0)"),
    ("hidden_layer_sizes", "big", "hidden_layer_sizes must be a positive integer or a sequence"),
    ("activation", "softmax", "activation must be one of ['identity', 'leaky_relu', 'logistic', 'relu', "
                              "'tanh']; received activation='softmax'"),
    ("solver", "lbfgs", "solver must be one of ['adam', 'adamw', 'rmsprop', 'sgd']; received solver='lbfgs' "
                        "(chainrule trains by mini-batch gradient descent: no 'lbfgs')"),
    ("alpha", -1, "alpha must be a number in [0, inf); received alpha=-1"),
    ("batch_size", 0, "batch_size must be 'auto' or a positive integer; received batch_size=0"),
    ("learning_rate", "cosine", "learning_rate must be one of ['adaptive', 'constant', 'invscaling']; "
                                "received learning_rate='cosine'"),
    ("learning_rate_init", 0, "learning_rate_init must be a number in (0, inf); received learning_rate_init=0"),
    ("power_t", -0.5, "power_t must be a number in [0, inf); received power_t=-0.5"),
    ("max_iter", 0, "max_iter must be a positive integer; received max_iter=0"),
    ("max_iter", 2.5, "max_iter must be a positive integer; received max_iter=2.5"),
    ("shuffle", "yes", "shuffle must be True or False; received shuffle='yes'"),
    ("tol", float("nan"), "tol must be a number in [0, inf); received tol=nan"),
    ("warm_start", 1, "warm_start must be True or False; received warm_start=1"),
    ("momentum", 1.0, "momentum must be a number in [0, 1); received momentum=1.0"),
    ("nesterovs_momentum", None, "nesterovs_momentum must be True or False; received nesterovs_momentum=None"),
    ("early_stopping", "no", "early_stopping must be True or False; received early_stopping='no'"),
    ("validation_fraction", 1.0, "validation_fraction must be a number in [0, 1); received validation_fraction=1.0"),
    ("beta_1", 1, "beta_1 must be a number in [0, 1); received beta_1=1"),
    ("beta_2", -0.1, "beta_2 must be a number in [0, 1); received beta_2=-0.1"),
    ("epsilon", 0.0, "epsilon must be a number in (0, inf); received epsilon=0.0"),
    ("n_iter_no_change", 0, "n_iter_no_change must be a positive integer; received n_iter_no_change=0"),
    ("dropout", 1.0, "dropout must be a number in [0, 1); received dropout=1.0"),
    ("dtype", "float16", "dtype must be one of ['float32', 'float64']; received dtype='float16'"),
    ("loss", "hinge", "loss must be one of ['cross_entropy', 'log_loss', 'mse']; received loss='hinge'"),
]


@pytest.mark.parametrize("name, value, message", BAD_PARAMETERS, ids=[f"{n}={v!r}" for n, v, _ in BAD_PARAMETERS])
def test_each_bad_parameter_is_named_at_fit(name, value, message):
    X, y = small_classification(n=20)
    clf = MLPClassifier(**{name: value})  # __init__ stores, fit checks
    with pytest.raises(InputError, match=re.escape(message)):
        clf.fit(X, y)


def test_regressor_loss_and_early_stopping_messages():
    X, y = small_classification(n=20)
    with pytest.raises(InputError, match=re.escape("loss must be one of ['mse']; received loss='squared_error'")):
        MLPRegressor(loss="squared_error").fit(X, y)
    with pytest.raises(InputError, match=re.escape("validation_fraction must be a number in (0, 1) with "
                                                   "early_stopping=True; received validation_fraction=0")):
        MLPRegressor(early_stopping=True, validation_fraction=0).fit(X, y)
    with pytest.raises(InputError, match="holds out 1 of 20 samples; early stopping needs at least 2"):
        MLPRegressor(early_stopping=True, validation_fraction=0.01).fit(X, y)
    with pytest.raises(InputError, match=re.escape("validation_data must be a pair (X_val, y_val)")):
        MLPRegressor().fit(X, y, validation_data=X)
