"""The command line: ``chainrule train``, ``evaluate``, ``predict``, ``report``, ``explain``, ``serve``.

Each command maps its flags to the library's arguments and prints a few ``name: value``
lines on stdout; the progress bar of ``train`` goes to stderr. Every error a user can
cause (a bad flag, a missing or malformed file, any ChainruleError, ValueError or
OSError) ends the program with one line on stderr, ``chainrule: error: ...``, and exit
status 2, never a traceback; Ctrl-C ends it with status 130.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__, datasets, recipes, settings_text
from ..callbacks import LambdaCallback
from ..errors import ChainruleError, InputError
from ..recipes import Recipe, describe
from ..saving import load

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report a reader that went away
DEFAULTS = Recipe()  # the defaults of train's options


class _UsageError(Exception):
    """A command-line mistake that argparse found."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach ``main`` as exceptions: one line, no usage block."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


# --- flag values ------------------------------------------------------------------

def _flag(read):
    """The argparse type of a chainrule.settings_text reader: its InputError becomes
    argparse's "argument --NAME: must be ...; received '...'"."""
    def convert(text):
        try:
            return read(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = read.__name__
    return convert


# --- the commands -----------------------------------------------------------------

def _print_results(split, loss, accuracy=None):
    print(f"{split} loss: {loss:.4f}")
    if accuracy is not None:
        print(f"{split} accuracy: {100 * accuracy:.2f}%")


class _StopOnInterrupt:
    """While training, the first Ctrl-C asks ``fit`` to stop after the current batch, so the
    weights are whole and can be saved; a second Ctrl-C interrupts at once."""

    def __init__(self, model, enabled=True):
        self.model, self.interrupted, self.enabled = model, False, enabled

    def __enter__(self):
        if self.enabled:
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True
        self.model.stop_training = True

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self.previous)


def _fit(model, X, y, optimizer, recipe, args, resume=None, root=True):
    """Train with the recipe's callbacks and the progress bar unless --quiet: (History,
    training examples, seconds, interrupted, the recipe's callbacks). With --distributed,
    only rank 0 (``root``) shows the bar and writes the JSON log."""
    seen = {}  # the number of training examples, after the validation split
    own = recipe.build_callbacks()
    callbacks = [LambdaCallback(on_train_begin=lambda logs: seen.update(samples=logs["samples"])), *own]
    quiet = args.quiet or not root
    if args.log_json and root:
        from ..callbacks import JSONLogger

        callbacks.append(JSONLogger(args.log_json, append=resume is not None, optimizer=optimizer))
    if not quiet:
        from ..progress import ProgressBar  # what verbose=1 adds; it closes its bar however fit ends

        callbacks.append(ProgressBar())
    start = time.perf_counter()
    # Under mpiexec, Ctrl-C ends the whole job (mpiexec kills the ranks): the checkpoint
    # is the way to continue, so the first Ctrl-C does not wait for the end of a batch.
    with _StopOnInterrupt(model, enabled=not args.distributed) as guard:
        history = model.fit(X, y, optimizer=optimizer, **recipe.fit_arguments(),
                            callbacks=callbacks, checkpoint=args.checkpoint, resume=resume,
                            distributed=args.distributed)
    return history, seen["samples"], time.perf_counter() - start, guard.interrupted, own


def _check_momentum(args):
    """--momentum only with an optimizer that has one (the flag's own wording)."""
    if args.momentum is not None and args.optimizer not in recipes.MOMENTUM_OPTIMIZERS:
        raise InputError(f"--momentum applies to {' and '.join(recipes.MOMENTUM_OPTIMIZERS)}; "
                         f"{args.optimizer} has none (its beta_1 plays that part)")


def _file_in_a_folder(flag, value):
    """The Path of a file option (--output, --png), which must be in an existing folder."""
    path = Path(value)
    if path.is_dir() or not path.resolve().parent.is_dir():
        raise InputError(f"{flag} must be a file in an existing folder; received {value!r}")
    return path


def _recipe(args):
    """The Recipe of train's options; with --resume, the checkpoint's batch size and
    validation split replace the options', so that the run continues as it began."""
    settings = {name: getattr(args, name) for name in recipes.FIELDS}
    if args.resume:
        from .. import checkpoint

        run = checkpoint.read_checkpoint(args.resume)[0]["run"]
        settings.update(batch_size=run["batch_size"], validation_split=run["validation_split"])
    _check_momentum(args)
    if args.early_stopping is not None and not settings["validation_split"]:
        raise InputError("--early-stopping needs --validation-split above 0 (it watches the "
                         "validation loss)")
    if args.warmup_epochs >= args.epochs:
        raise InputError(f"--warmup-epochs must be below --epochs ({args.epochs}), as the warm-up is "
                         f"part of the run; received {args.warmup_epochs}")
    return Recipe.from_mapping(settings)


def _resumed(path):
    """The model and optimizer of the checkpoint at ``path``."""
    from .. import checkpoint

    info = checkpoint.read_checkpoint(path)[0]
    return load(path), checkpoint.optimizer_from(info)


def train(args):
    root = True  # the process that prints and writes: the only one, or rank 0 of an MPI job
    if args.distributed:
        from .. import distributed

        comm = distributed.get_communicator(True)
        root = comm.Get_rank() == 0
    output = _file_in_a_folder("--output", args.output)
    recipe = _recipe(args)
    (X_train, y_train), (X_test, y_test) = datasets.load(args.dataset, args.data_dir)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    if args.resume:
        model, optimizer = _resumed(args.resume)
        recipe.check_resume_reaches(optimizer, len(X_train))
    else:
        model = recipe.build_model(X_train.shape[1], n_classes)
        optimizer = recipe.build_optimizer(len(X_train))
    done_before = len(model.history.epoch) if model.history is not None else 0
    history, samples, seconds, interrupted, own = _fit(model, X_train, y_train, optimizer, recipe, args,
                                                       resume=args.resume, root=root)
    if not root:
        return
    model.save(output)
    if interrupted:
        print(f"chainrule: interrupted after {len(history.epoch)} complete epochs; saved {output}",
              file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED)
    test = model.evaluate(X_test, y_test)

    epochs = len(history.epoch)
    print(f"dataset: {args.dataset} ({len(X_train):,} training and {len(X_test):,} test "
          f"examples, {X_train.shape[1]} features, {n_classes} classes)")
    print(f"network: {describe(model)}")
    processes = f", {comm.Get_size()} MPI processes" if args.distributed else ""
    print(f"training: {epochs} epochs of {optimizer!r}, batch size {recipe.batch_size}, "
          f"seed {recipe.seed}{processes}")
    print(f"time: {seconds:.2f} s ({(epochs - done_before) * samples / seconds:,.0f} examples/s)")
    kept = recipes.kept_epoch(history, own)
    if kept != -1:
        print(f"early stopping: kept the weights of epoch {history.epoch[kept] + 1} (the lowest "
              f"validation loss)")
    if "val_loss" in history:
        _print_results("validation", history["val_loss"][kept],
                       history["val_accuracy"][kept] if "val_accuracy" in history else None)
    _print_results("test", test["loss"], test.get("accuracy"))
    print(f"saved: {output}")


def sweep_command(args):
    from .. import sweep

    comm, root = None, True
    if args.distributed:
        from .. import distributed

        comm = distributed.get_communicator(True)
        root = comm.Get_rank() == 0
    fixed, grid = sweep.read_grid(args.grid)
    configs = sweep.configurations(fixed, grid)
    workers = comm.Get_size() if comm is not None else args.workers
    if root:
        print(f"sweep: {len(configs)} configurations ({', '.join(grid) or 'no [grid]'}) "
              f"on {workers} {'MPI ' if comm is not None else ''}process{'es' if workers > 1 else ''}",
              flush=True)
    results = sweep.run(configs, args.output_dir, workers=args.workers, comm=comm)
    if not root:
        return
    print(sweep.table(results, list(grid)))
    for path in sweep.write_results(results, args.output_dir, [*fixed, *grid]):
        print(f"saved: {path}")
    best = results[0]
    if best["val_accuracy"] is None:
        raise InputError("every configuration diverged; no model saved (try smaller learning rates)")
    described = " ".join(f"{k}={best['settings'][k]}" for k in grid)
    print(f"best: {Path(args.output_dir) / 'best.npz'} (config {best['index']}{': ' if described else ''}"
          f"{described}; validation accuracy {100 * best['val_accuracy']:.2f}%, "
          f"test accuracy {100 * best['test_accuracy']:.2f}%)")


def _model_and_data(args):
    """The model of MODEL and the data set of --dataset, whose feature count must match."""
    model = load(args.model)
    (X_train, y_train), (X_test, y_test) = datasets.load(args.dataset, args.data_dir)
    if X_test.shape[1] != model.n_features:
        raise InputError(
            f"{args.model} takes {model.n_features} inputs but the {args.dataset} data set has "
            f"{X_test.shape[1]} features; use a model on the data set it was trained on"
        )
    return model, (X_train, y_train), (X_test, y_test)


def evaluate(args):
    model, (X_train, y_train), (X_test, y_test) = _model_and_data(args)
    print(f"model: {args.model} ({describe(model)})")
    print(f"dataset: {args.dataset} ({len(X_train):,} training and {len(X_test):,} test examples)")
    for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        results = model.evaluate(X, y)
        _print_results(split, results["loss"], results.get("accuracy"))


def predict(args):
    from .. import images  # Pillow is needed only here

    model = load(args.model)
    if model.n_features not in images.FORMATS:
        raise InputError(
            f"{args.model} takes {model.n_features} inputs; predict reads images for models "
            "of 784 inputs (28x28, as MNIST) or 64 (8x8, as digits)"
        )
    X = np.concatenate([images.to_model_input(path, model.n_features) for path in args.images])
    for path, p in zip(args.images, model.predict_proba(X), strict=True):
        probabilities = " ".join(f"{k}:{value:.3f}" for k, value in enumerate(p))
        print(f"{path}: {int(np.argmax(p))}  probabilities {probabilities}")


def report_command(args):
    from ..report import write_report

    model, _, (X_test, y_test) = _model_and_data(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        html = write_report(model, X_test, y_test, out, dataset=args.dataset)
    except ImportError as exc:  # matplotlib is an extra
        raise InputError(str(exc)) from None
    print(f"report: {html}")
    for png in sorted(out.glob("*.png")):
        print(f"image: {png}")


def explain_command(args):
    from .. import explain

    model, _, (X_test, y_test) = _model_and_data(args)
    if not 0 <= args.example < len(X_test):
        raise InputError(f"--example must be in [0, {len(X_test) - 1}] (the {args.dataset} test "
                         f"set); received {args.example}")
    x, y = X_test[args.example], y_test[args.example]
    print(f"example {args.example} of the {args.dataset} test set: label {y}, "
          f"predicted {int(model.predict(x[None])[0])}")
    if args.weight:
        layer, j, k = args.weight
        print(explain.chain(model, x, y, layer=layer, j=j, k=k, bias=k is None))
    if args.nudges:
        n = explain.nudges(model, x, y)
        print(n)
        if n.saliency_image is not None:
            png = Path(args.png or f"nudges-{args.example}.png")
            explain.save_saliency_png(n, png)
            print(f"saliency image: {png}")


SERVE_EXTRA = "chainrule serve needs chainrule[serve]: pip install 'chainrule[serve]'"


def lr_find_command(args):
    from .. import lr_finder

    try:
        import matplotlib  # noqa: F401  (checked first: the extra may be missing)
    except ImportError:
        raise InputError("chainrule lr-find draws its curve with matplotlib: "
                         "pip install 'chainrule[report]'") from None
    png = _file_in_a_folder("--png", args.png)
    _check_momentum(args)
    recipe = Recipe(hidden=args.hidden, activation=args.activation, loss=args.loss, optimizer=args.optimizer,
                    momentum=args.momentum, batch_size=args.batch_size, seed=args.seed, schedule="constant")
    (X_train, y_train), (X_test, y_test) = datasets.load(args.dataset, args.data_dir)
    model = recipe.build_model(X_train.shape[1], int(max(y_train.max(), y_test.max())) + 1)
    if not args.start_lr < args.end_lr:
        raise InputError(f"--end-lr must be above --start-lr ({args.start_lr:g}); received {args.end_lr:g}")
    result = model.lr_find(X_train, y_train, optimizer=recipe.build_optimizer(len(X_train)),
                           start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps,
                           batch_size=args.batch_size)
    lr_finder.save_curve_png(result, png)
    print(f"dataset: {args.dataset} ({len(X_train):,} training examples)")
    print(f"network: {describe(model)}; optimizer {args.optimizer}, batch size {args.batch_size}")
    print(result)
    print(f"curve: {png}")


def serve_command(args):
    try:
        import starlette  # noqa: F401  (checked here: the extra may be missing)
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError(SERVE_EXTRA) from None
    from ..web import app as web

    model = load(args.model) if args.model else None
    data = datasets.load(args.dataset, args.data_dir)
    n_features = data[0][0].shape[1]
    if model is not None and model.n_features != n_features:
        raise InputError(
            f"{args.model} takes {model.n_features} inputs but the {args.dataset} data set has "
            f"{n_features} features; use a model on the data set it was trained on (or --dataset)"
        )
    Path(args.models_dir).mkdir(parents=True, exist_ok=True)
    try:
        sock = web.bind(args.host, args.port)
    except OSError as exc:
        raise InputError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    with sock:
        start = time.perf_counter()
        app = web.create_app(model=model, dataset=args.dataset, data=data, models_dir=args.models_dir,
                             model_name=Path(args.model).name if args.model else None,
                             allowed_hosts=web.allowed_hosts(args.host))
        if model is None:
            print(f"model: a starter model trained on {args.dataset} in "
                  f"{time.perf_counter() - start:.1f} s (no --model given)")
        print(f"models folder: {Path(args.models_dir).resolve()}")
        print(f"serving on {web.address(sock)} (Ctrl-C to stop)", flush=True)
        try:
            web.run(app, sock)
        except KeyboardInterrupt:  # uvicorn has shut down and passes the Ctrl-C on: the way to stop
            pass


# --- the parser and main ----------------------------------------------------------

def _add_network_options(p):
    """The options of the network and its optimizer, shared by train and lr-find."""
    p.add_argument("--hidden", type=_flag(settings_text.hidden_sizes), default=DEFAULTS.hidden,
                   metavar="SIZES",
                   help="hidden layer sizes, comma-separated; '' or 0 for none (default: 128,64)")
    p.add_argument("--activation", choices=recipes.HIDDEN_ACTIVATIONS, default=DEFAULTS.activation,
                   help="activation of the hidden layers (default: relu)")
    p.add_argument("--loss", choices=recipes.LOSSES, default=DEFAULTS.loss,
                   help="cross_entropy (softmax outputs), log_loss or mse (sigmoid outputs) "
                   "(default: cross_entropy)")
    p.add_argument("--optimizer", choices=recipes.OPTIMIZERS, default=DEFAULTS.optimizer,
                   help="the update rule (default: sgd)")


def _add_model_command(commands, name, help, description, dataset_help):
    """A subcommand taking MODEL, --dataset and --data-dir."""
    p = commands.add_parser(name, help=help, description=description)
    p.add_argument("model", metavar="MODEL", help="a model file saved by chainrule train")
    p.add_argument("--dataset", choices=datasets.NAMES, default="digits",
                   help=f"{dataset_help} (default: digits)")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    return p


def build_parser():
    parser = _Parser(prog="chainrule", description="Train, evaluate and use neural networks "
                     "written by hand on NumPy.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = commands.add_parser("train", help="train a classifier on a data set and save it",
                            description="Train a classifier by mini-batch gradient descent, "
                            "report its test accuracy and save it.")
    p.add_argument("--dataset", choices=datasets.NAMES, default="digits",
                   help="the data set (default: digits, bundled with scikit-learn)")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files (default: $CHAINRULE_DATA/NAME, "
                   "else a cache folder, downloading them there if missing)")
    _add_network_options(p)
    p.add_argument("--lr", type=_flag(settings_text.positive_number), metavar="RATE",
                   help="learning rate, the start of --schedule (default: 0.05 for sgd, 0.01 for sgd "
                   "with --loss mse, 0.001 for the others)")
    p.add_argument("--momentum", type=_flag(settings_text.fraction),
                   help="momentum of sgd or rmsprop, in [0, 1) (default: 0.9 for sgd, 0 for rmsprop)")
    p.add_argument("--schedule", choices=recipes.SCHEDULES, default=DEFAULTS.schedule,
                   help="learning rate over the run: constant; cosine decay from --lr to 0; or "
                   "onecycle, PyTorch's one-cycle policy peaking at --lr (from --lr/25 up over "
                   "30%% of the steps, then down to --lr/250000) (default: cosine; a resumed run "
                   "keeps its own)")
    p.add_argument("--warmup-epochs", type=_flag(settings_text.non_negative_integer),
                   default=DEFAULTS.warmup_epochs, metavar="N",
                   help="raise the learning rate linearly from 0 over the first N epochs, then "
                   "follow --schedule over the epochs left (default: 0, no warm-up)")
    p.add_argument("--weight-decay", type=_flag(settings_text.non_negative_number), metavar="WD",
                   help="weight decay of the weight matrices: decoupled for adamw (W <- W - lr WD W), "
                   "the L2 gradient WD W for the others (default: 0.01 for adamw, 0 for the others)")
    p.add_argument("--clip-norm", type=_flag(settings_text.positive_number), metavar="NORM",
                   help="scale the gradients down to this global norm when it is larger (default: no "
                   "clipping)")
    p.add_argument("--early-stopping", type=_flag(settings_text.non_negative_integer), metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs, and keep "
                   "the best epoch's weights (needs --validation-split) (default: off)")
    p.add_argument("--batch-size", type=_flag(settings_text.positive_integer),
                   default=DEFAULTS.batch_size, metavar="N", help="examples per gradient step (default: 32)")
    p.add_argument("--epochs", type=_flag(settings_text.positive_integer), default=DEFAULTS.epochs,
                   metavar="N", help="passes over the training data (default: 20)")
    p.add_argument("--seed", type=_flag(settings_text.non_negative_integer), default=DEFAULTS.seed,
                   help="seed of the initial weights, shuffling and dropout (default: 0)")
    p.add_argument("--dropout", type=_flag(settings_text.fraction), default=DEFAULTS.dropout,
                   metavar="RATE",
                   help="share of each hidden layer's outputs dropped in training (default: 0)")
    p.add_argument("--validation-split", type=_flag(settings_text.fraction),
                   default=DEFAULTS.validation_split, metavar="FRACTION",
                   help="share of the training data held out to report validation "
                   "accuracy after every epoch (default: 0)")
    p.add_argument("--dtype", choices=recipes.DTYPES, default=DEFAULTS.dtype,
                   help="floating-point type of the weights and computations (default: float32)")
    p.add_argument("--output", default="model.npz", metavar="PATH",
                   help="where to save the model (default: model.npz)")
    p.add_argument("--checkpoint", metavar="PATH",
                   help="save weights, optimizer state and progress here after every epoch")
    p.add_argument("--resume", metavar="PATH",
                   help="continue the run saved in this checkpoint (its network, optimizer, "
                   "batch size and validation split) up to --epochs epochs in all")
    p.add_argument("--log-json", metavar="FILE",
                   help="write one JSON line per epoch here (loss, accuracy, time, learning rate)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training on every process of an MPI job, started with "
                   "mpiexec -n N (needs chainrule[distributed]); rank 0 prints and saves")
    p.set_defaults(run=train)

    p = commands.add_parser("sweep", help="train every combination of a grid of settings",
                            description="Train every configuration of a grid of settings (a TOML "
                            "file: fixed settings at the top, lists of values under [grid], named "
                            "as the options of train), each with a validation split; print the "
                            "results sorted by validation accuracy, write results.csv and "
                            "results.json and save the best model as best.npz.")
    p.add_argument("grid", metavar="GRID.toml", help="the grid file")
    p.add_argument("--output-dir", default="sweep", metavar="DIR",
                   help="folder for results.csv, results.json and best.npz (default: sweep)")
    p.add_argument("--workers", type=_flag(settings_text.positive_integer), default=1, metavar="N",
                   help="processes training configurations at once on this machine (default: 1)")
    p.add_argument("--distributed", action="store_true",
                   help="deal the configurations to the processes of an MPI job, started with "
                   "mpiexec -n N (needs chainrule[distributed]); rank 0 prints and saves")
    p.set_defaults(run=sweep_command)

    p = _add_model_command(commands, "evaluate", "loss and accuracy of a saved model on a data set",
                           "Print the loss and accuracy of a saved model on the training and "
                           "test examples of a data set.", "the data set")
    p.set_defaults(run=evaluate)

    p = commands.add_parser("predict", help="the digit in each image",
                            description="Print the predicted class of each image and the "
                            "probability of every class. Each image (PNG, JPEG, ...) is "
                            "preprocessed as MNIST was (or as the 8x8 digits, for a model of "
                            "64 inputs): ink made bright on dark, cropped, scaled and centred.")
    p.add_argument("model", metavar="MODEL", help="a model file saved by chainrule train")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="an image of one digit")
    p.set_defaults(run=predict)

    p = _add_model_command(commands, "report", "an HTML report with plots of a saved model",
                           "Write a self-contained HTML report and its PNGs: training curves, "
                           "confusion matrix, per-class accuracy, first-layer weights and the most "
                           "confidently wrong test examples (needs chainrule[report]).",
                           "the data set whose test examples are used")
    p.add_argument("--output-dir", default="report", metavar="DIR",
                   help="folder for report.html and the PNGs (default: report)")
    p.set_defaults(run=report_command)

    p = _add_model_command(commands, "explain", "the chain rule for one weight, the nudges of one example",
                           "Lay out the backward pass of a saved model on one test example: the "
                           "chain rule for one weight or bias (--weight), and the nudges the "
                           "example gives every layer (--nudges).", "the data set of the example")
    p.add_argument("--example", type=_flag(settings_text.non_negative_integer), default=0, metavar="I",
                   help="index of the example in the test set (default: 0)")
    p.add_argument("--weight", type=_flag(settings_text.weight), metavar="L:J,K",
                   help="the weight w_jk of layer L (layers from 1, neurons from 0), or L:J for the bias b_j")
    p.add_argument("--nudges", action="store_true",
                   help="the desired nudges of every layer, the weights pushed hardest, and a saliency PNG")
    p.add_argument("--png", metavar="PATH", help="where --nudges writes the saliency image "
                   "(default: nudges-I.png)")
    p.set_defaults(run=explain_command)

    p = commands.add_parser("lr-find", help="the learning-rate range test: a rate to train with",
                            description="Run the learning-rate range test (chainrule.lr_find) on a "
                            "data set: a few hundred steps with the rate rising exponentially; print "
                            "the suggested rate and draw the curve (needs chainrule[report]).")
    p.add_argument("--dataset", choices=datasets.NAMES, default="digits",
                   help="the data set (default: digits)")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    _add_network_options(p)
    p.add_argument("--momentum", type=_flag(settings_text.fraction),
                   help="momentum of sgd or rmsprop, in [0, 1) (default: 0.9 for sgd, 0 for rmsprop)")
    p.add_argument("--batch-size", type=_flag(settings_text.positive_integer),
                   default=DEFAULTS.batch_size, metavar="N", help="examples per step (default: 32)")
    p.add_argument("--seed", type=_flag(settings_text.non_negative_integer), default=DEFAULTS.seed,
                   help="seed of the initial weights and the shuffling (default: 0)")
    p.add_argument("--steps", type=_flag(settings_text.positive_integer), default=200, metavar="N",
                   help="steps of the test (default: 200)")
    p.add_argument("--start-lr", type=_flag(settings_text.positive_number), default=1e-7, metavar="RATE",
                   help="the first rate (default: 1e-7)")
    p.add_argument("--end-lr", type=_flag(settings_text.positive_number), default=10.0, metavar="RATE",
                   help="the last rate (default: 10)")
    p.add_argument("--png", default="lr-find.png", metavar="PATH",
                   help="where to draw the curve (default: lr-find.png)")
    p.set_defaults(run=lr_find_command)

    p = commands.add_parser("serve", help="a web page where you watch backpropagation learn",
                            description="Start a local web app: draw a digit and see the "
                            "prediction and every layer's activations, the nudges backprop sends "
                            "for a label and one SGD step, train a network live, inspect weights "
                            "and mistakes (needs chainrule[serve]).")
    p.add_argument("--model", metavar="PATH", help="the model to start with (default: a small "
                   "model trained on the data set in a moment)")
    p.add_argument("--dataset", choices=datasets.NAMES, default="digits",
                   help="the data set to draw, train and inspect on (default: digits)")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    p.add_argument("--models-dir", default="models", metavar="DIR",
                   help="the only folder the page loads models from and saves them to; created "
                   "if missing (default: models)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_flag(settings_text.port), default=8000, help="port to listen on, 0 for any free "
                   "port (default: 8000)")
    p.set_defaults(run=serve_command)
    return parser


def _message(exc):
    """The error as one line."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        return f"{exc.filename}: {exc.strerror}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv=None):
    """Run the command line on ``argv`` (default: sys.argv[1:]); returns the exit status."""
    args = None
    try:
        args = build_parser().parse_args(argv)
        args.run(args)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        # The reader went away (`chainrule ... | head`): stop quietly, as a program killed by
        # SIGPIPE does, and point stdout at /dev/null so that the exit's flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (_UsageError, ChainruleError, ValueError, OSError) as exc:
        if getattr(args, "distributed", False):
            return _distributed_error(exc)
        print(f"chainrule: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    return 0


def _distributed_error(exc):
    """An error under mpiexec. If it left ``fit`` on every rank, rank 0 reports it and every
    rank exits with status 2. Otherwise (say one rank could not read its data) the other
    ranks may be waiting for this one: it reports its error and ends the whole job."""
    from .. import distributed

    try:
        comm = distributed.get_communicator(True)
    except ChainruleError:  # no MPI at all: a single process, nothing to end
        print(f"chainrule: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    if distributed.raised_on_every_rank(exc):
        if comm.Get_rank() == 0:
            print(f"chainrule: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"chainrule: error: {_message(exc)} (rank {comm.Get_rank()} of {comm.Get_size()}; "
          "ending the MPI job)", file=sys.stderr, flush=True)
    comm.Abort(EXIT_ERROR)
    return EXIT_ERROR
