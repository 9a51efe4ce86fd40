"""scikit-learn estimators on chainrule's core: MLPClassifier and MLPRegressor.

They take scikit-learn's parameters with scikit-learn's meanings (``hidden_layer_sizes``,
``activation``, ``solver``, ``alpha``, ``batch_size``, ``learning_rate``, ``tol``,
``n_iter_no_change``, ``early_stopping``, ``warm_start``, ...) and expose its fitted
attributes (``coefs_``, ``intercepts_``, ``loss_curve_``, ``n_iter_``, ``t_``, ...), so they
work in Pipeline, GridSearchCV and the rest of the ecosystem. What scikit-learn's MLP does
not have: ``dropout``, ``class_weight``, a ``loss`` choice for the classifier, a
validation loss curve, the solvers "adamw" and "rmsprop", a ``dtype``, and an optimizer
whose state (momentum velocity, Adam moments) survives ``partial_fit`` and ``warm_start``.

The network is a chainrule ``Sequential`` (the fitted ``model_``), trained by chainrule's
one loop, ``chainrule.training.fit``, with the example weights (``sample_weight``) and
scikit-learn's L2 penalty (``chainrule.regularizers.L2``) it takes, and scikit-learn's
bookkeeping and stopping rules as a callback. A step that diverges raises
TrainingDivergedError and leaves the weights as ``fit`` does: the last finite ones.

Conventions, where scikit-learn and chainrule differ:

- L2 penalty, as scikit-learn: the cost of a batch of n examples (or of total example
  weight n) gets (alpha / 2) ||W||^2 / n, summed over the weight matrices (not the
  biases), so its gradient adds alpha W / n to dL/dW. With solver="adamw", alpha is
  AdamW's decoupled weight decay instead (W <- W - lr alpha W at each step) and no
  penalty enters the cost.
- Example weights (``sample_weight`` times the ``class_weight`` of each example's class):
  a batch's cost is the weighted mean sum_i w_i C_i / sum_i w_i, as in scikit-learn.
  A batch whose weights are all zero is skipped.
- The regressor trains on chainrule's "mse", C = sum_j (a_j - y_j)^2 per example,
  whose gradient 2 (a - y) is twice that of scikit-learn's squared_error (half the
  squared error). The penalty's gradient is doubled with it (2 alpha W / n), so the
  minimiser is scikit-learn's and alpha means what it means there; with solver="sgd"
  a given learning_rate_init takes steps twice as long as scikit-learn's (Adam and
  RMSprop are insensitive to that scale). ``loss_curve_`` is reported in
  scikit-learn's units, 0.5 * mean squared error (over examples and outputs) plus the
  penalty: the same number scikit-learn would print for the same weights, and the
  number ``tol`` is compared with.
- The classifier's costs ("cross_entropy" and its scikit-learn name "log_loss") are
  scikit-learn's log-loss exactly; loss="mse" is chainrule's mse of the probabilities.
- Weights start as scikit-learn's do, Glorot-uniform in every layer (chainrule's
  "glorot", U(-r, r) with r = sqrt(6 / (n_in + n_out))), but biases start at zero and
  logistic layers get the same r (scikit-learn draws biases too, and narrows r for
  "logistic"). With that start the estimators converge about as fast as scikit-learn's
  in the same number of epochs; chainrule's own default for ReLU, He, starts larger.
- ``coefs_[i]`` is ``model_.dense_layers[i].W.T``, a transposed view of the live
  weights, of shape (n_in, n_out) as in scikit-learn; ``intercepts_[i]`` is the live
  bias vector itself. Neither is a copy: writing into them (``clf.coefs_[0][...] = 0``)
  changes the network.
- A pickle (or joblib dump, or deepcopy) of a fitted estimator holds the weights and the
  optimizer's state, not what the layers keep of their last pass (work arrays, the last
  rows predicted).
- Adam's step is chainrule's, lr * m_hat / (sqrt(v_hat) + epsilon); scikit-learn's is
  the same with epsilon / sqrt(1 - beta_2^t) in place of epsilon, so the two differ
  only where sqrt(v_hat) is not far above epsilon.
- The library never prints: there is no ``verbose``; there is no "lbfgs" solver.
"""

import math
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.class_weight import compute_class_weight
    from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # validate_data and the estimator tags arrived in scikit-learn 1.6
    raise ImportError(f"chainrule.sklearn needs scikit-learn >= 1.6 ({exc})") from None

from . import data, losses, training
from ._checks import boolean, fail, is_integer, number, one_of, positive_int
from .callbacks import Callback
from .errors import InputError, TrainingDivergedError
from .data import DTYPES
from .layers import Dense, Dropout
from .network import Sequential
from .optimizers import SGD, Adam, AdamW, RMSprop
from .regularizers import L2

__all__ = ["MLPClassifier", "MLPRegressor"]

# scikit-learn's activation names -> chainrule's
ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "leaky_relu": "leaky_relu"}
SOLVERS = ("adam", "adamw", "rmsprop", "sgd")
LEARNING_RATES = ("adaptive", "constant", "invscaling")
INIT = "glorot"
CHUNK = 4096  # rows per forward pass at prediction time, to bound memory


# --- checks of the parameters (in fit, never in __init__, as scikit-learn asks) ------

def _real(est, name, low, high=math.inf, low_open=False, high_open=False):
    """getattr(est, name) as a float in [low, high] (open ends where asked)."""
    return number(name, getattr(est, name), low, high, low_open, high_open)


def _hidden_layer_sizes(value):
    sizes = [value] if is_integer(value) else value
    try:
        sizes = list(sizes)
    except TypeError:
        sizes = None
    if sizes is None or not all(is_integer(s) and s >= 1
                                for s in sizes):
        fail("hidden_layer_sizes", "a positive integer or a sequence of positive integers", value)
    return tuple(int(s) for s in sizes)


class _Rules(Callback):
    """scikit-learn's bookkeeping and stopping rules around chainrule's loop: after every
    epoch, ``loss_curve_`` (in scikit-learn's units), the validation scores, ``n_iter_`` and
    ``t_``, the "invscaling" and "adaptive" learning rates, and the stop after
    ``n_iter_no_change`` epochs without improvement (``model.stop_training``)."""

    def __init__(self, estimator, s, val, n_samples):
        self.est, self.s, self.val, self.n = estimator, s, val, n_samples
        self.stopped = False

    def on_epoch_begin(self, epoch, logs):
        self.total = 0.0

    def on_batch_end(self, batch, logs):
        # the batch's cost in scikit-learn's units, weighted by its rows as scikit-learn does
        penalty = logs.get("penalty", 0.0)
        cost = (logs["loss"] - penalty) * self.est._report_scale() + penalty / self.est._grad_scale
        self.total += cost * logs["size"]

    def on_epoch_end(self, epoch, logs):
        est, s, optimizer = self.est, self.s, self.est._optimizer
        sgd = s["solver"] == "sgd"
        est.n_iter_ += 1
        est.t_ += self.n
        est.loss_ = self.total / self.n
        est.loss_curve_.append(est.loss_)
        if self.val is not None:
            score, val_loss = est._validate(*self.val)
            est.validation_scores_.append(score)
            est.validation_loss_curve_.append(val_loss)
        est._update_no_improvement_count(s, self.val)
        if sgd and s["learning_rate"] == "invscaling":
            optimizer.learning_rate = s["learning_rate_init"] / (est.t_ + 1) ** s["power_t"]
        if est._no_improvement_count > s["n_iter_no_change"]:
            # not better than the last n_iter_no_change epochs by tol: stop, or with
            # learning_rate="adaptive" (sgd) divide the learning rate by 5
            if sgd and s["learning_rate"] == "adaptive" and optimizer.learning_rate > 1e-6:
                optimizer.learning_rate /= 5.0
                est._no_improvement_count = 0
            else:
                self.stopped = self.model.stop_training = True


def _store_parameters(estimator, arguments):
    """Keep every __init__ argument unchanged under its own name, as scikit-learn requires
    (checks happen in fit); ``arguments`` is the __init__'s locals()."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class _BaseMLP(BaseEstimator):
    """The training and the fitted attributes shared by MLPClassifier and MLPRegressor."""

    # How the cost chainrule trains on relates to scikit-learn's: its gradient is
    # _grad_scale times scikit-learn's (2 for chainrule's mse against half the squared
    # error), and loss_curve_ reports cost * _report_scale(n_outputs).
    _grad_scale = 1.0

    def _report_scale(self):
        return 1.0

    # --- fitted attributes in scikit-learn's layout -----------------------------------

    @property
    def coefs_(self):
        """List of the weight matrices, coefs_[i] of shape (n_in, n_out): transposed views
        W.T of the live weights of layer i + 1 (not copies)."""
        check_is_fitted(self)
        return [layer.W.T for layer in self.model_.dense_layers]

    @property
    def intercepts_(self):
        """List of the bias vectors, intercepts_[i] of shape (n_out,): the live arrays."""
        check_is_fitted(self)
        return [layer.b for layer in self.model_.dense_layers]

    # --- settings ----------------------------------------------------------------------

    def _settings(self):
        """The parameters checked and normalised; raises InputError naming a bad one."""
        solver = one_of("solver", self.solver, SOLVERS,
                         " (chainrule trains by mini-batch gradient descent: no 'lbfgs')"
                         if self.solver == "lbfgs" else "")
        if not (isinstance(self.batch_size, str) and self.batch_size == "auto"):
            if not is_integer(self.batch_size) or self.batch_size < 1:
                fail("batch_size", "'auto' or a positive integer", self.batch_size)
        n_iter_no_change = self.n_iter_no_change
        if n_iter_no_change != np.inf:
            n_iter_no_change = positive_int("n_iter_no_change", n_iter_no_change)
        dtype = getattr(self.dtype, "__name__", self.dtype)  # "float32", np.float32 or np.dtype
        if str(dtype) not in DTYPES:
            fail("dtype", f"one of {list(DTYPES)}", self.dtype)
        s = dict(
            hidden_layer_sizes=_hidden_layer_sizes(self.hidden_layer_sizes),
            activation=one_of("activation", self.activation, ACTIVATIONS),
            solver=solver,
            alpha=_real(self, "alpha", 0),
            learning_rate=one_of("learning_rate", self.learning_rate, LEARNING_RATES),
            learning_rate_init=_real(self, "learning_rate_init", 0, low_open=True),
            power_t=_real(self, "power_t", 0),
            max_iter=positive_int("max_iter", self.max_iter),
            shuffle=boolean("shuffle", self.shuffle),
            tol=_real(self, "tol", 0),
            warm_start=boolean("warm_start", self.warm_start),
            momentum=_real(self, "momentum", 0, 1, high_open=True),
            nesterovs_momentum=boolean("nesterovs_momentum", self.nesterovs_momentum),
            early_stopping=boolean("early_stopping", self.early_stopping),
            validation_fraction=_real(self, "validation_fraction", 0, 1, high_open=True),
            beta_1=_real(self, "beta_1", 0, 1, high_open=True),
            beta_2=_real(self, "beta_2", 0, 1, high_open=True),
            epsilon=_real(self, "epsilon", 0, low_open=True),
            n_iter_no_change=n_iter_no_change,
            dropout=_real(self, "dropout", 0, 1, high_open=True),
            dtype=str(dtype),
            loss=self._check_loss(),
        )
        check_random_state(self.random_state)  # its own message for a bad value
        return s

    def _make_optimizer(self, s):
        lr = s["learning_rate_init"]
        if s["solver"] == "sgd":
            mu = s["momentum"]
            return SGD(lr, momentum=mu, nesterov=s["nesterovs_momentum"] and mu > 0)
        if s["solver"] == "adam":
            return Adam(lr, beta_1=s["beta_1"], beta_2=s["beta_2"], epsilon=s["epsilon"])
        if s["solver"] == "adamw":
            return AdamW(lr, beta_1=s["beta_1"], beta_2=s["beta_2"], epsilon=s["epsilon"],
                         weight_decay=s["alpha"])
        return RMSprop(lr, epsilon=s["epsilon"])

    @staticmethod
    def _optimizer_key(s):
        keys = ("solver", "learning_rate_init", "momentum", "nesterovs_momentum", "beta_1",
                "beta_2", "epsilon") + (("alpha",) if s["solver"] == "adamw" else ())
        return tuple(s[k] for k in keys)

    def _architecture(self, s, n_features, n_outputs):
        return (n_features, s["hidden_layer_sizes"], s["activation"], s["dropout"], s["dtype"],
                n_outputs, self.out_activation_, s["loss"])

    def _seed(self):
        rs = self.random_state
        if is_integer(rs):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _initialize(self, s, n_features, n_outputs):
        """Build the network and optimizer, and reset every fitted attribute."""
        sizes = [n_features, *s["hidden_layer_sizes"]]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers.append(Dense(n_in, n_out, activation=ACTIVATIONS[s["activation"]], init=INIT))
            if s["dropout"]:
                layers.append(Dropout(s["dropout"]))
        out = {"logistic": "sigmoid"}.get(self.out_activation_, self.out_activation_)
        layers.append(Dense(sizes[-1], n_outputs, activation=out, init=INIT))
        loss = self._chainrule_loss(s["loss"])
        self.model_ = Sequential(layers, loss=loss, seed=self._seed(), dtype=s["dtype"],
                                 classifier=isinstance(self, ClassifierMixin))
        self._optimizer = self._make_optimizer(s)
        self._optimizer_settings = self._optimizer_key(s)
        self._arch = self._architecture(s, n_features, n_outputs)
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(s["hidden_layer_sizes"]) + 2
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_ = None
        self.loss_curve_ = []
        self.validation_loss_curve_ = None
        self.validation_scores_ = None
        self.best_validation_score_ = None
        self.best_loss_ = None if s["early_stopping"] else np.inf
        self._no_improvement_count = 0
        self._best_parameters = None

    # --- fit, partial_fit -------------------------------------------------------------

    def _fit(self, X, y, sample_weight, incremental, validation_data=None, classes=None):
        s = self._settings()
        if incremental and s["early_stopping"]:
            raise InputError("partial_fit does not support early_stopping=True; use fit, or set "
                             "early_stopping=False")
        fitted = hasattr(self, "model_")
        first = not fitted or (not incremental and not s["warm_start"])
        X, y = validate_data(self, X, y, multi_output=True, dtype=(np.float64, np.float32),
                             y_numeric=not isinstance(self, ClassifierMixin), reset=first)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples,), for example using ravel().",
                          DataConversionWarning, stacklevel=3)
            y = y[:, 0]
        Y, example_weight = self._encode_targets(y, first, incremental, classes)
        w = data.check_sample_weight(sample_weight, len(X))
        if example_weight is not None:
            w = example_weight if w is None else w * example_weight
        if w is not None and not w.sum() > 0:
            raise InputError("sample_weight (times class_weight) must have at least one non-zero "
                             "weight; received all weights zero")
        if first:
            self._initialize(s, X.shape[1], Y.shape[1])
        else:
            self._check_continuation(s, X.shape[1], Y.shape[1])
        dtype = self.model_.dtype
        X = np.ascontiguousarray(X, dtype=dtype)
        Y = np.ascontiguousarray(Y, dtype=dtype)

        val = None
        if validation_data is not None:
            val = self._validation_set(validation_data)
        elif s["early_stopping"]:
            if s["validation_fraction"] == 0:
                fail("validation_fraction", "a number in (0, 1) with early_stopping=True",
                      self.validation_fraction)
            train, held = data.train_validation_split(len(X), s["validation_fraction"],
                                                      self.model_.rng, self._strata(Y))
            if len(held) < 2:
                raise InputError(f"validation_fraction={s['validation_fraction']} holds out "
                                 f"{len(held)} of {len(X)} samples; early stopping needs at least 2")
            val = (X[held], Y[held], y[held], None if w is None else w[held])
            X, Y, w = X[train], Y[train], None if w is None else w[train]
        if val is not None and self.validation_scores_ is None:
            self.validation_scores_, self.validation_loss_curve_ = [], []
            self.best_validation_score_ = -np.inf
        self._run(s, X, Y, w, val, incremental)
        return self

    def _check_continuation(self, s, n_features, n_outputs):
        """partial_fit and warm_start continue the same network: same shape and settings."""
        arch = self._architecture(s, n_features, n_outputs)
        if arch != self._arch:
            names = ("n_features", "hidden_layer_sizes", "activation", "dropout", "dtype",
                     "n_outputs", "out_activation_", "loss")
            changed = [f"{n}: {a!r} -> {b!r}" for n, a, b in zip(names, self._arch, arch) if a != b]
            raise InputError("partial_fit and warm_start continue the fitted network, which needs "
                             f"the same architecture; changed: {', '.join(changed)}")
        key = self._optimizer_key(s)
        if key != self._optimizer_settings:  # new optimizer settings: a new optimizer
            self._optimizer = self._make_optimizer(s)
            self._optimizer_settings = key

    def _run(self, s, X, Y, w, val, incremental):
        """Epochs of mini-batch training through chainrule's one loop (training.fit), with
        example weights, scikit-learn's penalty and its stopping rules (``_Rules``)."""
        step = min(200 if self.batch_size == "auto" else self.batch_size, len(X))
        penalty = None
        if s["alpha"] and s["solver"] != "adamw":
            # scikit-learn's penalty (alpha / 2) ||W||^2 / n: gradient alpha W / n (times
            # _grad_scale, to stay in proportion to chainrule's cost)
            penalty = L2(s["alpha"], scale=self._grad_scale)
        rules = _Rules(self, s, val, len(X))
        self.n_iter_ = 0
        try:
            training.fit(self.model_, X, Y, epochs=1 if incremental else s["max_iter"], batch_size=step,
                         optimizer=self._optimizer, shuffle=s["shuffle"], callbacks=[rules],
                         sample_weight=w, penalty=penalty)
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(
                f"{exc}; scale the inputs (e.g. StandardScaler) or lower learning_rate_init "
                f"(now {s['learning_rate_init']:g})") from None
        if not incremental and not rules.stopped and self.n_iter_ == s["max_iter"]:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({s['max_iter']}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        if s["early_stopping"] and self._best_parameters is not None:
            for p, best in zip(self.model_.parameters(), self._best_parameters, strict=True):
                p[...] = best

    def _update_no_improvement_count(self, s, val):
        """scikit-learn's rule: an epoch improves when the training loss drops by more than
        tol, or with early stopping when the validation score rises by at least tol."""
        if s["early_stopping"]:
            score = self.validation_scores_[-1]
            self._no_improvement_count = 0 if score >= self.best_validation_score_ + s["tol"] \
                else self._no_improvement_count + 1
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_parameters = [p.copy() for p in self.model_.parameters()]
            return
        if val is not None:
            self.best_validation_score_ = max(self.best_validation_score_, self.validation_scores_[-1])
        loss = self.loss_curve_[-1]
        best = np.inf if self.best_loss_ is None else self.best_loss_  # None after early stopping
        self._no_improvement_count = self._no_improvement_count + 1 if loss > best - s["tol"] else 0
        self.best_loss_ = min(best, loss)

    def _validation_set(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise InputError("validation_data must be a pair (X_val, y_val); received "
                             f"{type(validation_data).__name__}")
        Xv, yv = validate_data(self, validation_data[0], validation_data[1], multi_output=True,
                               dtype=(np.float64, np.float32), reset=False,
                               y_numeric=not isinstance(self, ClassifierMixin))
        if yv.ndim == 2 and yv.shape[1] == 1 and self.n_outputs_ == 1 \
                and not isinstance(self, ClassifierMixin):
            yv = yv[:, 0]
        Yv = self._encode_validation_targets(yv)
        return (np.ascontiguousarray(Xv, dtype=self.model_.dtype),
                np.ascontiguousarray(Yv, dtype=self.model_.dtype), yv, None)

    def _validate(self, Xv, Yv, yv, wv):
        """(score, loss) on the validation set: accuracy or R^2, and the mean cost in
        loss_curve_'s units without the penalty."""
        outputs, costs = [], []
        for i in range(0, len(Xv), CHUNK):
            self.model_.forward_pass(Xv[i:i + CHUNK], training=False)
            outputs.append(self._outputs_from_layer())
            costs.append(self.model_.example_costs(Yv[i:i + CHUNK]))
        loss = float(np.average(np.concatenate(costs), weights=wv)) * self._report_scale()
        return float(self._score_outputs(np.concatenate(outputs), yv, wv)), loss

    # --- prediction -------------------------------------------------------------------

    def _network_outputs(self, X):
        """The network's outputs for X (float64, of shape (n_samples, n_outputs_)), in
        inference mode; for a classifier, the pre-activations z of the output layer."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=(np.float64, np.float32), reset=False)
        X = np.ascontiguousarray(X, dtype=self.model_.dtype)
        outputs = []
        for i in range(0, len(X), CHUNK):
            self.model_.forward_pass(X[i:i + CHUNK], training=False)
            outputs.append(self._outputs_from_layer())
        return np.concatenate(outputs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier, trained by chainrule's backpropagation.

    Parameters (those of scikit-learn's MLPClassifier keep its meaning and default):
        hidden_layer_sizes: int or sequence of int, default (100,): the neurons of each
            hidden layer; () for none.
        activation: "relu" (default), "logistic" (sigmoid), "tanh", "identity" or
            "leaky_relu" (slope 0.01 for z < 0): the hidden layers' activation.
        solver: "adam" (default), "sgd", "adamw" or "rmsprop" (rho 0.9).
        alpha: L2 penalty, (alpha / 2) ||W||^2 / batch_size added to each batch's cost
            (the decoupled weight decay with "adamw"). Default 1e-4.
        batch_size: examples per step, "auto" = min(200, n_samples); clipped to n_samples.
        learning_rate: "constant", "invscaling" (lr = learning_rate_init / (t + 1)^power_t
            after each epoch, t the samples seen) or "adaptive" (divided by 5 when an epoch
            does not improve); "sgd" only, as in scikit-learn.
        learning_rate_init, power_t, max_iter (epochs), shuffle, random_state, tol,
        momentum and nesterovs_momentum ("sgd"), beta_1, beta_2, epsilon ("adam",
        "adamw"; epsilon also for "rmsprop"), early_stopping, validation_fraction,
        n_iter_no_change, warm_start: as in scikit-learn. random_state seeds the initial
        weights, the shuffling, the dropout masks and the validation split. warm_start
        and partial_fit keep the optimizer's state (scikit-learn's warm_start does not).
        loss: "cross_entropy" (default) or its scikit-learn name "log_loss": softmax outputs
            with categorical cross-entropy for 3 or more classes, one sigmoid output with
            the binary log-loss for 2 classes and for multilabel targets, as scikit-learn;
            "mse": the same outputs, trained on the squared error of the probabilities.
        dropout: the rate of a Dropout layer after each hidden layer (0 for none).
        class_weight: None, "balanced" (n_samples / (n_classes * count of the class)) or
            a dict {class label: weight}; multiplies the example weights.
        dtype: "float64" (default, as scikit-learn computes) or "float32" (faster), the
            network's floating-point type.

    Fitted attributes: ``classes_``, ``coefs_``, ``intercepts_`` (views, see the module
    docstring), ``loss_``, ``loss_curve_``, ``best_loss_``, ``validation_scores_``
    (accuracy) and ``best_validation_score_``, ``validation_loss_curve_`` (the mean
    log-loss on the validation set, without the penalty; None without a validation set),
    ``n_iter_`` (epochs of the last call), ``t_`` (samples seen), ``n_features_in_``,
    ``n_layers_``, ``n_outputs_``, ``out_activation_`` ("softmax" or "logistic") and
    ``model_``, the chainrule Sequential.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, loss="cross_entropy", dropout=0.0, class_weight=None,
                 dtype="float64"):
        _store_parameters(self, locals())

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train on X of shape (n_samples, n_features) and class labels y of shape
        (n_samples,) (any labels: ints, strings, ...) or a multilabel indicator matrix
        of shape (n_samples, n_labels), for up to max_iter epochs.

        sample_weight: of shape (n_samples,), multiplies each example's cost.
        validation_data: (X_val, y_val), scored after every epoch (validation_scores_,
            validation_loss_curve_); with early_stopping=True it is the set early
            stopping watches, instead of a validation_fraction held out of X. In a
            Pipeline, X_val does not pass through the steps before this one: there,
            prefer early_stopping with validation_fraction.
        Returns self.
        """
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y), continuing the network and the optimizer's state.
        ``classes`` (every class label of the whole problem) is required on the first
        call, as in scikit-learn. Returns self."""
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """Class labels, of shape (n_samples,) (or (n_samples, n_labels) for multilabel)."""
        proba = self._probabilities(X)
        return self._label_binarizer.inverse_transform(proba[:, 0] if self.n_outputs_ == 1 else proba)

    def predict_proba(self, X):
        """Class probabilities, float64 of shape (n_samples, n_classes), in the order of
        ``classes_``; computed from the output layer's z in float64."""
        proba = self._probabilities(X)
        return np.hstack([1 - proba, proba]) if self.n_outputs_ == 1 else proba

    def predict_log_proba(self, X):
        """log(predict_proba(X)), computed from z (finite where the probability underflows)."""
        z = self._network_outputs(X)
        if self.out_activation_ == "softmax":
            return losses.log_softmax(z)
        if self.n_outputs_ == 1:
            return np.hstack([losses.log_sigmoid(-z), losses.log_sigmoid(z)])
        return losses.log_sigmoid(z)

    def _probabilities(self, X):
        z = self._network_outputs(X)
        if self.out_activation_ == "softmax":
            return np.exp(losses.log_softmax(z))
        return np.exp(losses.log_sigmoid(z))

    def _outputs_from_layer(self):
        return self.model_.layers[-1].z.astype(np.float64)

    def _score_outputs(self, z, y, sample_weight):
        proba = np.exp(losses.log_softmax(z) if self.out_activation_ == "softmax"
                       else losses.log_sigmoid(z))
        pred = self._label_binarizer.inverse_transform(proba[:, 0] if self.n_outputs_ == 1 else proba)
        return accuracy_score(y, pred, sample_weight=sample_weight)

    # --- targets ------------------------------------------------------------------------

    def _check_loss(self):
        return one_of("loss", self.loss, ("cross_entropy", "log_loss", "mse"))

    def _chainrule_loss(self, loss):
        if loss == "mse":
            return "mse"
        return "cross_entropy" if self.out_activation_ == "softmax" else "log_loss"

    def _strata(self, Y):
        """Class indices of shape (n_samples,) to stratify the validation split by
        (None for multilabel targets, as scikit-learn)."""
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1)
        return Y[:, 0].astype(np.int64) if self.n_outputs_ == 1 else None

    def _encode_targets(self, y, first, incremental, classes):
        """(Y of shape (n_samples, n_outputs) in 0/1, the class weight of each example or None)."""
        check_classification_targets(y)
        if incremental and not hasattr(self, "classes_"):
            if classes is None:
                raise InputError("classes must be passed on the first call to partial_fit "
                                 "(every class label of the problem, e.g. np.unique(y_all))")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
            first = True
        elif first:
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            if incremental and classes is not None \
                    and not np.array_equal(unique_labels(classes), self.classes_):
                raise InputError(f"classes={list(classes)!r} differs from the classes of the first "
                                 f"call to partial_fit, {self.classes_.tolist()}")
            labels = unique_labels(y)
            if self.warm_start and not incremental and set(labels) != set(self.classes_):
                raise InputError("warm_start needs y to have the same classes as the previous fit; "
                                 f"previously {self.classes_.tolist()}, now {labels.tolist()}")
            unknown = np.setdiff1d(labels, self.classes_)
            if len(unknown):
                raise InputError(f"y has classes {unknown.tolist()} not in classes_ "
                                 f"{self.classes_.tolist()}")
        if first:
            multiclass = self._label_binarizer.y_type_ == "multiclass"
            self.out_activation_ = "softmax" if multiclass else "logistic"
        Y = self._label_binarizer.transform(y)
        return Y, self._class_weight_of_examples(y, incremental)

    def _encode_validation_targets(self, y):
        unknown = np.setdiff1d(unique_labels(y), self.classes_)
        if len(unknown):
            raise InputError(f"y_val has classes {unknown.tolist()} not in classes_ "
                             f"{self.classes_.tolist()}")
        return self._label_binarizer.transform(y)

    def _class_weight_of_examples(self, y, incremental):
        cw = self.class_weight
        if cw is None:
            return None
        if not (isinstance(cw, dict) or (isinstance(cw, str) and cw == "balanced")):
            fail("class_weight", "None, 'balanced' or a dict {class label: weight}", cw)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise InputError("class_weight applies to single-label targets; received a multilabel y")
        if incremental and isinstance(cw, str):
            raise InputError("class_weight='balanced' needs the class counts of the whole data set, "
                             "which partial_fit does not see; pass a dict, e.g. from "
                             "sklearn.utils.class_weight.compute_class_weight('balanced', "
                             "classes=classes, y=y_all)")
        if isinstance(cw, dict):
            unknown = [c for c in cw if c not in set(self.classes_.tolist())]
            if unknown:
                raise InputError(f"class_weight has labels {unknown} not in classes_ "
                                 f"{self.classes_.tolist()}")
            per_class = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
            if not np.isfinite(per_class).all() or (per_class < 0).any():
                fail("class_weight", "a dict of finite non-negative weights", cw)
        else:
            present = np.unique(y)
            per_class = np.ones(len(self.classes_))
            per_class[np.searchsorted(self.classes_, present)] = compute_class_weight(
                "balanced", classes=present, y=y)
        return per_class[np.searchsorted(self.classes_, y)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor, trained by chainrule's backpropagation.

    The parameters are MLPClassifier's (see there) without ``class_weight``, and with
    loss="mse" (chainrule's squared error, sum_j (a_j - y_j)^2 per example; scikit-learn's
    "squared_error" is half of it, see the module docstring for what that changes).
    Unlike scikit-learn's MLPRegressor, whose first positional parameter is ``loss``,
    hidden_layer_sizes and activation come first and ``loss`` is keyword-only.

    Targets y are of shape (n_samples,) or (n_samples, n_outputs); predict returns the
    same shape, in float64. Fitted attributes are MLPClassifier's without ``classes_``;
    ``loss_curve_`` and ``validation_loss_curve_`` are in scikit-learn's units (half the
    mean squared error), ``validation_scores_`` hold R^2, out_activation_ is "identity".
    """

    _grad_scale = 2.0  # chainrule's mse: gradient 2 (a - y), scikit-learn's (a - y)

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, loss="mse", dropout=0.0, dtype="float64"):
        _store_parameters(self, locals())

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Train on X of shape (n_samples, n_features) and targets y of shape (n_samples,)
        or (n_samples, n_outputs). sample_weight and validation_data: as MLPClassifier.fit.
        Returns self."""
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing the network and the optimizer's state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predictions, float64 of shape (n_samples,), or (n_samples, n_outputs) when
        trained on 2-D targets with several columns."""
        out = self._network_outputs(X)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def _report_scale(self):
        # scikit-learn reports 0.5 * the squared error averaged over the outputs
        return 0.5 / self.n_outputs_

    def _outputs_from_layer(self):
        return self.model_.layers[-1].a.astype(np.float64)

    def _score_outputs(self, outputs, y, sample_weight):
        return r2_score(y, outputs[:, 0] if y.ndim == 1 else outputs, sample_weight=sample_weight)

    def _check_loss(self):
        return one_of("loss", self.loss, ("mse",))

    def _chainrule_loss(self, loss):
        return "mse"

    def _strata(self, Y):
        return None

    def _encode_targets(self, y, first, incremental, classes):
        if first:
            self.out_activation_ = "identity"
        return (y[:, None] if y.ndim == 1 else y), None

    def _encode_validation_targets(self, y):
        return y[:, None] if y.ndim == 1 else y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
