"""The commands on the data sets chainrule ships with: ``train``, ``evaluate``, ``predict``
(images), ``report``, ``explain``, ``lr-find``, ``serve`` with ``--dataset NAME``, and ``sweep``.

Each maps its flags to the library's arguments and prints a few ``name: value`` lines on
stdout; the progress bar of ``train`` goes to stderr. The options that train shares with a
run on a table (chainrule.cli.tables) arrive as None when the user left them out, and take
the defaults of chainrule.recipes.Recipe here.
"""

import dataclasses
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .. import datasets, recipes
from ..callbacks import LambdaCallback
from ..errors import InputError
from ..loading import load as load_any
from ..network import Sequential
from ..recipes import Recipe, describe
from ..saving import load
from .common import (EXIT_INTERRUPTED, EXIT_NO_BETTER_THAN_CHANCE, check_momentum, file_in_a_folder,
                     fill_defaults, useless_model, watchdog)

DEFAULTS = Recipe()  # the defaults of train's options on a data set


def network_file(path, command):
    """The Sequential saved at ``path``; a table model's file is refused with the way to use it."""
    model = load_any(path)
    if not isinstance(model, Sequential):
        source = getattr(model, "source_", {}).get("name", "its own data")
        use = (f"use it with chainrule {command} {path} --data FILE" if command in ("evaluate", "predict")
               else f"chainrule {command} takes a network trained on a bundled data set")
        raise InputError(f"{path} is a model of your own data (trained on {source}); {use}")
    return model


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
    guard_dog = watchdog(args) if root else None
    if guard_dog is not None:
        callbacks.append(guard_dog)
    start = time.perf_counter()
    # Under mpiexec, Ctrl-C ends the whole job (mpiexec kills the ranks): the checkpoint
    # is the way to continue, so the first Ctrl-C does not wait for the end of a batch.
    with _StopOnInterrupt(model, enabled=not args.distributed) as guard:
        history = model.fit(X, y, optimizer=optimizer, **recipe.fit_arguments(),
                            callbacks=callbacks, checkpoint=args.checkpoint, resume=resume,
                            distributed=args.distributed)
    return history, seen["samples"], time.perf_counter() - start, guard.interrupted, own


def _recipe(args):
    """The Recipe of train's options; with --resume, the checkpoint's batch size and
    validation split replace the options', so that the run continues as it began.
    ``--lr auto`` leaves lr at its default here (train replaces it by the range test's)."""
    settings = {name: getattr(args, name) for name in recipes.FIELDS}
    if settings["lr"] == "auto":
        if args.resume:
            raise InputError("--lr auto chooses the rate of a new run; a resumed run keeps its own "
                             "(leave --lr out with --resume)")
        settings["lr"] = None
    if args.resume:
        from .. import checkpoint

        run = checkpoint.read_checkpoint(args.resume)[0]["run"]
        settings.update(batch_size=run["batch_size"], validation_split=run["validation_split"])
    check_momentum(args.momentum, args.optimizer)
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
    fill_defaults(args, DEFAULTS)
    output = file_in_a_folder("--output", args.output)
    recipe = _recipe(args)
    (X_train, y_train), (X_test, y_test) = datasets.load(args.dataset, args.data_dir)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    if args.resume:
        model, optimizer = _resumed(args.resume)
        recipe.check_resume_reaches(optimizer, len(X_train))
    else:
        model = recipe.build_model(X_train.shape[1], n_classes)
        if args.lr == "auto":
            recipe = auto_lr(model, recipe, X_train, y_train, root)
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
    useless = None if args.no_watchdog else useless_model(test, y_test, "test", output)
    if useless:
        sys.stdout.flush()
        print(useless, file=sys.stderr)
        return EXIT_NO_BETTER_THAN_CHANCE  # main's exit status


def auto_lr(model, recipe, X, y, root=True):
    """``--lr auto``: the recipe with lr set to the range test's suggestion (the test runs
    with the recipe's optimizer at a constant rate, its batch size, on the training data;
    the network ends as it began). With no clear suggestion the recipe keeps its default
    rate. One line on stdout says which."""
    trial = dataclasses.replace(recipe, schedule="constant", warmup_epochs=0).build_optimizer(len(X))
    result = model.lr_find(X, y, optimizer=trial, batch_size=recipe.batch_size)
    if result.suggestion is None:
        if root:
            print(f"learning rate: {trial.learning_rate:g}, the default: the range test found no clear "
                  f"minimum ({result.reason})")
        return recipe
    if root:
        print(f"learning rate: {result.suggestion:.3g}, suggested by the range test (confidence "
              f"{result.confidence}: {result.reason})")
    return dataclasses.replace(recipe, lr=result.suggestion)


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
    model = network_file(args.model, args.command)
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

    if not args.images:
        raise InputError("predict needs the image files to read, or --data FILE for your own data")
    model = network_file(args.model, "predict")
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
    png = file_in_a_folder("--png", args.png)
    fill_defaults(args, DEFAULTS)
    check_momentum(args.momentum, args.optimizer)
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

    model = network_file(args.model, "serve") if args.model else None
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
