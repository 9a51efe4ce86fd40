"""The server's state and what the page asks of it, without HTTP.

A ``Session`` holds the data set, the live model (the one Draw, Backprop and Inspect
use), the models folder and the current training job. A Sequential reuses its work
arrays, so two threads must never run it at once: every use of the live model holds
``self.lock``. A training run trains a new model of its own in a worker thread
(chainrule.web.jobs) and, when it ends (done or stopped, not failed), becomes the live model.

Arrays go out as lists of floats rounded to ROUND digits (JSON has no NaN or Infinity,
and the page needs no more).
"""

import threading

import numpy as np
from PIL import Image

from .. import data, explain, images, metrics, optimizers, saving, training
from ..errors import ChainruleError
from ..recipes import Recipe, describe
from . import checks
from .checks import RequestError
from .jobs import JobConflict, TrainingJob

ROUND = 5
MAX_WEIGHT_IMAGES = 64  # first-layer neurons drawn in Inspect
MAX_WRONG = 24  # misclassified test examples shown in Inspect
VALIDATION_SPLIT = 0.1  # of the training set, held out for the validation curves


def _list(array):
    return np.round(np.asarray(array, dtype=np.float64), ROUND).tolist()


def starter_model(X_train, y_train, n_classes, seed=0):
    """A small model trained quickly so that Draw works at once: one hidden layer of 64
    ReLUs, SGD with momentum, batches of 32; 20 epochs on a small set such as digits
    (about 97% test accuracy in a fraction of a second), one epoch on a large one such as
    MNIST (about 93% in a second or two)."""
    recipe = Recipe(hidden=(64,), optimizer="sgd", lr=0.1, momentum=0.9, batch_size=32,
                    epochs=20 if len(X_train) < 10_000 else 1, seed=seed)
    model = recipe.build_model(X_train.shape[1], n_classes)
    model.fit(X_train, y_train, optimizer=recipe.build_optimizer(len(X_train)), **recipe.fit_arguments())
    return model


class Workspace:
    """What a server keeps whatever its data: the live model (used only under ``lock``), its
    name, the models folder and the current training job; saving the model and the job's
    buttons. Session (a bundled data set) and chainrule.web.table_session.TableSession
    (a table) add their data and what the page asks of it."""

    def __init__(self, model, models_dir, model_name=None):
        self.models_dir = models_dir
        self.lock = threading.Lock()  # guards self.model, self.model_name
        self.model, self.model_name = model, model_name
        self.job = None
        self.job_lock = threading.Lock()  # one run at a time

    def model_names(self):
        """The model files of the folder (not those whose symlinks lead out of it)."""
        folder = self.models_dir.resolve()
        return sorted(p.name for p in self.models_dir.glob("*.npz") if p.is_file()
                      and checks.MODEL_NAME.fullmatch(p.name) and p.resolve().parent == folder)

    def save(self, body):
        path = checks.model_path(self.models_dir, body.get("name"))
        overwrite = body.get("overwrite", False)
        if not isinstance(overwrite, bool):
            raise RequestError(422, f"overwrite must be true or false; received overwrite={overwrite!r}")
        if path.exists() and not overwrite:
            raise RequestError(409, f"{path.name} already exists in the models folder; "
                                    "choose another name or save with overwrite")
        with self.lock:
            self.model.save(path)  # atomic: the old file or the new one, never half of one
            self.model_name = path.name
        return {"saved": path.name, "models": self.model_names()}

    def job_snapshot(self):
        job = self.job
        return None if job is None else job.snapshot()

    def training_ended(self, job):
        """The on_end of a run: its model becomes the live one, unless the run failed."""
        if job.snapshot()["status"] in ("done", "stopped"):  # a failed run keeps the old model
            with self.lock:
                self.model, self.model_name = job.model, None

    def control(self, action):
        """pause, resume or stop the current run (409 when there is none or its state does
        not allow it)."""
        job = self.job
        if job is None:
            raise JobConflict(f"there is no training run to {action}")
        getattr(job, action)()
        return job.snapshot()

    def wait_for_training(self, timeout=None):
        """Block until the current run (if any) ends; for tests and shutdown."""
        if self.job is not None:
            self.job.join(timeout)


class Session(Workspace):
    """The live model, its data set, the models folder and the training job of one server.

    Arguments:
        model: a classifier Sequential whose n_features is the data set's and whose
            outputs are its classes.
        dataset: the name of the data set; data: ((X_train, y_train), (X_test, y_test)).
        models_dir: the only folder models are loaded from and saved to (it must exist).
        model_name: the file name of the model, shown in the page, or None.
    """

    def __init__(self, model, dataset, data, models_dir, model_name=None):
        (self.X_train, self.y_train), (self.X_test, self.y_test) = data
        self.dataset = dataset
        self.n_classes = int(max(self.y_train.max(), self.y_test.max())) + 1
        self._check_fits(model, "the model")
        super().__init__(model, models_dir, model_name)

    def _check_fits(self, model, what):
        if model.n_features != self.X_train.shape[1] or not model.classifier \
                or model.n_outputs != self.n_classes:
            raise RequestError(422, (
                f"{what} must be a classifier of {self.X_train.shape[1]} inputs and "
                f"{self.n_classes} outputs for the {self.dataset} data set; it has "
                f"{model.n_features} inputs and {model.n_outputs} outputs"
                + ("" if model.classifier else " and is not a classifier")))

    # --- Draw and Backprop --------------------------------------------------------

    def model_input(self, pixels):
        """The drawing (N_PIXELS ink levels) preprocessed as the training images were:
        X of shape (1, n_features)."""
        grid = np.asarray(pixels, dtype=np.float32).reshape(checks.GRID_SIDE, checks.GRID_SIDE)
        if grid.max() < images.MIN_CONTRAST:
            raise RequestError(422, "pixels hold no ink: draw a digit first "
                                    f"(every value is below {images.MIN_CONTRAST})")
        return images.to_model_input(Image.fromarray(grid), self.model.n_features)

    def _label(self, body):
        return checks.integer(body, "label", 0, self.n_classes - 1)

    def _outputs(self, X):
        """Probabilities of shape (n_classes,) and the activations of every Dense layer
        (the lock is held by the caller)."""
        p = self.model.predict_proba(X)[0]
        self.model.forward(X)  # predict_proba ran in slices: run once more to read each layer
        layers = [{"size": d.out_features, "activation": d.activation.name, "a": _list(d.a[0])}
                  for d in self.model.dense_layers]
        return p, layers

    def predict(self, body):
        pixels = checks.pixels(body)
        with self.lock:
            X = self.model_input(pixels)
            p, layers = self._outputs(X)
        side = images.FORMATS[X.shape[1]].side
        return {"prediction": int(np.argmax(p)), "probabilities": _list(p), "layers": layers,
                "input": _list(X[0]), "input_side": side}

    def nudges(self, body):
        pixels, label = checks.pixels(body), self._label(body)
        with self.lock:
            X = self.model_input(pixels)
            n = explain.nudges(self.model, X[0], label, top_k=10)
        pushes = [{"symbol": p.symbol, "layer": p.layer, "j": p.j, "k": p.k,
                   "gradient": float(p.gradient), "delta_j": float(p.delta_j),
                   "a_k": float(p.a_k), "share": float(p.share)} for p in n.pushes]
        return {"label": label, "loss": float(n.loss), "prediction": int(np.argmax(n.y_hat)),
                "probabilities": _list(n.y_hat), "output": _list(n.output),
                "output_note": n.output_note, "hidden": [_list(h) for h in n.hidden],
                "pushes": pushes, "saliency": _list(n.saliency),
                "input_side": images.FORMATS[X.shape[1]].side}

    def step(self, body):
        """One step of plain gradient descent, p <- p - lr dL/dp, on the drawing with the
        chosen label (the training loop's own step, training.train_step, on a batch of
        one): the probabilities and the loss before and after."""
        pixels, label = checks.pixels(body), self._label(body)
        lr = checks.positive_number(body, "learning_rate", 10.0, default=0.1)
        with self.lock:
            model = self.model
            X = data.check_X(self.model_input(pixels), model.n_features, model.dtype)
            Y, labels = data.check_targets(np.array([label]), 1, model.n_outputs, model.loss.name, model.dtype)
            before = model.predict_proba(X)[0]
            loss_before = model.evaluate(X, np.array([label]))["loss"]
            saved = [p.copy() for p in model.parameters()]
            try:
                with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                    training.train_step(model, optimizers.SGD(learning_rate=lr), (X, Y, labels, None, 1),
                                        training.Local())
            except FloatingPointError as exc:
                for p, q in zip(model.parameters(), saved, strict=True):
                    p[...] = q
                raise RequestError(422, f"this step diverged ({exc}); try a smaller learning_rate, "
                                        f"the weights are unchanged") from None
            loss_after = model.evaluate(X, np.array([label]))["loss"]
            after = model.predict_proba(X)[0]
        return {"label": label, "learning_rate": lr, "before": _list(before), "after": _list(after),
                "loss_before": float(loss_before), "loss_after": float(loss_after),
                "prediction_before": int(np.argmax(before)), "prediction_after": int(np.argmax(after))}

    # --- Inspect ------------------------------------------------------------------

    def inspect(self):
        with self.lock:
            r = metrics.classifier_metrics(self.model, self.X_test, self.y_test, max_wrong=MAX_WRONG)
        side = images.FORMATS[self.model.n_features].side
        W = r.W[:MAX_WEIGHT_IMAGES]
        wrong = [{"index": int(i), "label": int(r.y_true[i]), "predicted": int(r.y_pred[i]),
                  "confidence": float(r.confidence[i]), "pixels": _list(x)}
                 for i, x in zip(r.wrong, r.X_wrong, strict=True)]
        return {"side": side, "weights": [_list(w) for w in W], "n_neurons": int(len(r.W)),
                "confusion": r.confusion.tolist(), "accuracy": float(r.metrics["accuracy"]),
                "loss": float(r.metrics["loss"]), "n_test": int(len(self.y_test)),
                "n_wrong": r.n_wrong, "wrong": wrong}

    # --- the model and its files --------------------------------------------------

    def state(self):
        with self.lock:
            model, name = self.model, self.model_name
            layers = [d.out_features for d in model.dense_layers]
            text = describe(model)
        return {"kind": "images", "dataset": self.dataset, "n_features": model.n_features, "n_classes": self.n_classes,
                "input_side": images.FORMATS[model.n_features].side, "grid_side": checks.GRID_SIDE,
                "model": {"name": name, "description": text, "layers": layers},
                "models": self.model_names(), "job": self.job_snapshot()}

    def load(self, body):
        path = checks.model_path(self.models_dir, body.get("name"))
        if not path.is_file():
            raise RequestError(404, f"there is no model {path.name} in the models folder")
        try:
            model = saving.load(path)
        except (ChainruleError, ValueError, OSError) as exc:
            raise RequestError(422, f"{path.name} is not a chainrule model file: {exc}") from None
        self._check_fits(model, path.name)
        with self.lock:
            self.model, self.model_name = model, path.name
        return {"loaded": path.name, "model": self.state()["model"]}

    # --- Train --------------------------------------------------------------------

    def start_training(self, body):
        """Start a run of a new model with the page's settings: 409 while one is running."""
        s = checks.training_settings(body)
        with self.job_lock:
            if self.job is not None and not self.job.finished:
                raise JobConflict("a training run is already in progress; stop it (or wait for it "
                                  "to end) before starting another")
            settings = dict(s)
            settings["lr"] = settings.pop("learning_rate")  # the page's name for it
            recipe = Recipe.from_mapping({**settings, "validation_split": VALIDATION_SPLIT})
            model = recipe.build_model(self.X_train.shape[1], self.n_classes)
            fit_arguments = {"optimizer": recipe.build_optimizer(len(self.X_train)),
                             **recipe.fit_arguments()}
            self.job = TrainingJob(model, self.X_train, self.y_train, fit_arguments, settings=s,
                                   on_end=self.training_ended)
            return self.job.snapshot()
