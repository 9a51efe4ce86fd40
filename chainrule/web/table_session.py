"""The server's state on a table, and what the page asks of it, without HTTP.

A ``TableSession`` holds the table (a pyarrow Table, read once), its target and task, the
live chainrule.tabular.TabularModel, the models folder and the training job (the parts
every server shares are chainrule.web.session.Workspace's). The page sends a row as
{column: value}; the answer is the model's prediction and the row's nudges by column
(chainrule.explain.table_nudges). A training run fits a new TabularModel on the table in a
worker thread (chainrule.web.jobs), through TabularModel.fit and so training.fit, the one
training loop; when it ends (done or stopped), it becomes the live model.
"""

import numpy as np

from .. import explain, loading
from ..errors import ChainruleError
from ..recipes import describe
from ..tabular.model import TabularModel
from . import checks
from .checks import RequestError
from .jobs import JobConflict, TrainingJob
from .session import ROUND, Workspace


def _number(x):
    return round(float(x), ROUND)


def _plain(value):
    """A raw value as JSON holds it (NaN and infinities as null)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


class TableSession(Workspace):
    """The live TabularModel, its table, the models folder and the training job of one server.

    Arguments:
        model: a trained TabularModel whose targets are ``target`` and whose columns the
            table holds.
        table: the pyarrow Table it trains and predicts on; target: the target column
            (or list of columns); task: None (the values decide) or the task to train.
        models_dir: the only folder models are loaded from and saved to (it must exist).
        model_name: the file name of the model, shown in the page, or None.
        data_name: the table's name, shown in the page (its file name).
    """

    def __init__(self, model, table, target, task, models_dir, model_name=None, data_name="the table"):
        self.table, self.task, self.data_name = table, task, data_name
        self.targets = [target] if isinstance(target, str) else list(target)
        self.check_fits(model, "the model")
        super().__init__(model, models_dir, model_name)

    def check_fits(self, model, what):
        if not isinstance(model, TabularModel) or not hasattr(model, "network_"):
            raise RequestError(422, f"{what} must be a trained model of a table; received {type(model).__name__}")
        if list(model.targets_) != self.targets:
            raise RequestError(422, f"{what} predicts {model.targets_}, not {self.targets}, the target of "
                                    f"{self.data_name}")
        try:
            model.encoder_.check_schema(self.table)
        except ChainruleError as exc:
            raise RequestError(422, f"{what} does not fit {self.data_name}: {exc}") from None

    # --- the row and its prediction ------------------------------------------------

    def columns(self, model):
        """The used columns of ``model`` as the page's form needs them."""
        out = []
        for c in model.encoder_.columns:
            column = {"name": c["name"], "kind": c["kind"], "type": c["type"], "missing": c.get("missing", False)}
            if c["kind"] == "categorical":
                column["categories"] = list(c["categories"])
            out.append(column)
        return out

    def example(self, body):
        """Row ``index`` of the table: its value in every used column, and its target."""
        index = checks.integer(body, "index", 0, self.table.num_rows - 1)
        with self.lock:
            names = [c["name"] for c in self.model.encoder_.columns]
        row = self.table.slice(index, 1)
        return {"index": index, "row": {name: _plain(row.column(name)[0].as_py()) for name in names},
                "target": [_plain(row.column(t)[0].as_py()) for t in self.targets]}

    def target_of(self, body, model):
        """The page's target for the loss, or None (a classifier's own prediction)."""
        y = body.get("target")
        if y is None:
            return None
        if model.task_ == "classification" and y not in model.classes_:
            raise RequestError(422, f"target must be one of the classes {model.classes_} or null; "
                                    f"received target={y!r}")
        if model.task_ == "regression" and not checks.ROW_VALUES["numeric"][1](y):
            raise RequestError(422, f"target must be a finite number or null; received target={y!r}")
        if model.task_ == "multilabel" and (not isinstance(y, list) or len(y) != len(self.targets)
                                            or any(v not in (0, 1) or isinstance(v, float) for v in y)):
            raise RequestError(422, f"target must be a list of {len(self.targets)} values of 0 or 1, or "
                                    f"null; received target={y!r}")
        return y

    def predict(self, body):
        """The prediction for the page's row and its nudges by column (none for a regression
        without a target: the loss of a prediction against itself is 0)."""
        with self.lock:
            model = self.model
            row = checks.table_row(body, model.encoder_.columns)
            y = self.target_of(body, model)
            if model.task_ == "regression" and y is None:
                from ..tabular.read import row_table

                value = float(model.predict(row_table(row))[0])
                return {"prediction": _number(value), "probabilities": None, "nudges": None,
                        "note": f"give a value of {self.targets[0]} to see the nudges"}
            n = explain.table_nudges(model, row, y, top_k=10)
        pushes = [{"symbol": p.symbol, "j": p.j, "k": p.k, "source": p.source,
                   "gradient": float(p.gradient), "share": float(p.share)} for p in n.nudges.first_layer_pushes]
        columns = [{"name": c.name, "kind": c.kind, "value": _plain(c.value), "saliency": float(c.saliency),
                    "per_unit": None if c.per_unit is None else float(c.per_unit)} for c in n.columns]
        prediction = _number(n.prediction) if isinstance(n.prediction, float) else n.prediction
        return {"prediction": prediction,
                "probabilities": None if n.probabilities is None else [_number(p) for p in n.probabilities.values()],
                "nudges": {"loss": float(n.nudges.loss), "target": n.target, "target_note": n.target_note,
                           "columns": columns, "pushes": pushes}}

    # --- the model and its files --------------------------------------------------

    def state(self):
        with self.lock:
            model, name = self.model, self.model_name
            text, layers = describe(model.network_), [d.out_features for d in model.network_.dense_layers]
            columns = self.columns(model)
            classes = None if model.classes_ is None else [_plain(c) for c in model.classes_]
            task = model.task_
        return {"kind": "table", "dataset": self.data_name, "target": self.targets, "task": task,
                "classes": classes, "columns": columns, "n_rows": self.table.num_rows,
                "train_defaults": checks.table_training_settings({}),
                "model": {"name": name, "description": text, "layers": layers},
                "models": self.model_names(), "job": self.job_snapshot()}

    def load(self, body):
        path = checks.model_path(self.models_dir, body.get("name"))
        if not path.is_file():
            raise RequestError(404, f"there is no model {path.name} in the models folder")
        try:
            model = loading.load(path)
        except (ChainruleError, ValueError, OSError) as exc:
            raise RequestError(422, f"{path.name} is not a chainrule model file: {exc}") from None
        self.check_fits(model, path.name)
        with self.lock:
            self.model, self.model_name = model, path.name
        return {"loaded": path.name, "model": self.state()["model"]}

    # --- Train --------------------------------------------------------------------

    def start_training(self, body):
        """Start fitting a new TabularModel with the page's settings: 409 while one runs."""
        s = checks.table_training_settings(body)
        with self.job_lock:
            if self.job is not None and not self.job.finished:
                raise JobConflict("a training run is already in progress; stop it (or wait for it "
                                  "to end) before starting another")
            settings = dict(s)
            settings["lr"] = settings.pop("learning_rate")  # the page's name for it
            settings["hidden"] = tuple(settings["hidden"])
            model = TabularModel(**settings)
            try:
                model.recipe("cross_entropy")  # every setting checked before the thread starts
            except ChainruleError as exc:
                raise RequestError(422, " ".join(str(exc).split())) from None
            target = self.targets[0] if len(self.targets) == 1 else self.targets
            self.job = TrainingJob(model, self.table, target, {"task": self.task}, settings=s,
                                   on_end=self.training_ended, epochs=s["epochs"])
            return self.job.snapshot()
