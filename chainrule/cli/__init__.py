"""The command line: ``chainrule train``, ``evaluate``, ``predict``, ``report``, ``explain``, ``serve``.

This module is the parser and the dispatcher: each command goes to its module by the kind of
data it is given, ``--dataset NAME`` (a data set chainrule ships with, the default: digits)
to chainrule.cli.bundled, ``--data FILE_OR_FOLDER`` (your own data) to chainrule.cli.tables
(explain and serve: chainrule.cli.explain_serve).
The commands print a few ``name: value`` lines on stdout; progress bars and notes go to
stderr. Every error a user can cause (a bad flag, a missing or malformed file, any
ChainruleError, ValueError or OSError) ends the program with one line on stderr,
``chainrule: error: ...``, and exit status 2, never a traceback; Ctrl-C ends it with status 130.
``train`` exits with status 3 when the model it saved is no better than chance.
"""

import argparse
import os
import sys

from .. import __version__, datasets, recipes, settings_text
from ..errors import ChainruleError
from . import bundled, explain_serve, tables
from .common import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_INTERRUPTED, flag as _flag, learning_rate


class _UsageError(Exception):
    """A command-line mistake that argparse found."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors reach ``main`` as exceptions: one line, no usage block."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _by_data(on_dataset, on_data):
    """The command that runs ``on_data`` when --data is given, else ``on_dataset`` (on
    --dataset, digits by default, or on images for predict)."""
    def run(args):
        if getattr(args, "data", None) is not None:
            return on_data(args)
        tables.refuse_data_options(args)
        if getattr(args, "dataset", "") is None:
            args.dataset = "digits"
        return on_dataset(args)
    return run


def _data_options(p, what):
    """--data and --dataset, one or the other."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--data", metavar="FILE_OR_FOLDER",
                       help=f"{what} your own data: a table (.csv, .tsv, .txt, .parquet, .pq, .jsonl, "
                       ".ndjson) or a folder of images, one subfolder per class")
    group.add_argument("--dataset", choices=datasets.NAMES,
                       help="a data set chainrule ships with (default: digits, bundled with scikit-learn)")


# --- the parser and main ----------------------------------------------------------

def _add_network_options(p):
    """The options of the network and its optimizer, shared by train and lr-find. Their
    argparse default is None: the defaults of a data set's run (chainrule.recipes.Recipe) and
    of a table's (chainrule.tabular.settings) differ, and each command fills in its own."""
    p.add_argument("--hidden", type=_flag(settings_text.hidden_sizes), metavar="SIZES",
                   help="hidden layer sizes, comma-separated; '' or 0 for none (default: 128,64; "
                   "64,32 with --data)")
    p.add_argument("--activation", choices=recipes.HIDDEN_ACTIVATIONS,
                   help="activation of the hidden layers (default: relu)")
    p.add_argument("--loss", choices=recipes.LOSSES,
                   help="cross_entropy (softmax outputs), log_loss or mse (sigmoid outputs) "
                   "(default: cross_entropy; with --data the task decides)")
    p.add_argument("--optimizer", choices=recipes.OPTIMIZERS,
                   help="the update rule (default: sgd; adam with --data)")


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

    p = commands.add_parser("train", help="train a network on a data set or your own data and save it",
                            description="Train a network by mini-batch gradient descent on a data set "
                            "(--dataset, report its test accuracy) or on your own table or image folder "
                            "(--data, report its validation scores), and save it.",
                            epilog="Exit status: 0 when the model is trained and saved; 2 for a mistake "
                            "in the command or the data (one line, nothing trained); 3 when the saved "
                            "model is no better than chance (a test or validation accuracy at the level "
                            "of always predicting the most common class, or an R^2 <= 0), after saving it "
                            "(--no-watchdog turns this off); 130 after Ctrl-C (the model saved).")
    _data_options(p, "train on")
    p.add_argument("--target", metavar="COLUMN[,COLUMN...]",
                   help="with a --data table: the column to predict; several, comma-separated, for "
                   "multi-label (0/1 columns)")
    p.add_argument("--task", choices=tables.TASKS,
                   help="with --data: override the task the target's values imply")
    p.add_argument("--image-size", type=_flag(settings_text.positive_integer), metavar="N",
                   help="with a --data folder of images: resize every image to N x N pixels (default: "
                   "the size of the first image)")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files (default: $CHAINRULE_DATA/NAME, "
                   "else a cache folder, downloading them there if missing)")
    _add_network_options(p)
    p.add_argument("--lr", type=_flag(learning_rate), metavar="RATE",
                   help="learning rate, the start of --schedule, or 'auto': run the range test of "
                   "chainrule lr-find first and train with its suggestion (--dataset only) (default: "
                   "0.05 for sgd, 0.01 for sgd with --loss mse, 0.001 for the others and with --data)")
    p.add_argument("--momentum", type=_flag(settings_text.fraction),
                   help="momentum of sgd or rmsprop, in [0, 1) (default: 0.9 for sgd, 0 for rmsprop)")
    p.add_argument("--schedule", choices=recipes.SCHEDULES,
                   help="learning rate over the run: constant; cosine decay from --lr to 0; or "
                   "onecycle, PyTorch's one-cycle policy peaking at --lr (from --lr/25 up over "
                   "30%% of the steps, then down to --lr/250000) (default: cosine, constant with "
                   "--data; a resumed run keeps its own)")
    p.add_argument("--warmup-epochs", type=_flag(settings_text.non_negative_integer), metavar="N",
                   help="raise the learning rate linearly from 0 over the first N epochs, then "
                   "follow --schedule over the epochs left (default: 0, no warm-up)")
    p.add_argument("--weight-decay", type=_flag(settings_text.non_negative_number), metavar="WD",
                   help="weight decay of the weight matrices: decoupled for adamw (W <- W - lr WD W), "
                   "the L2 gradient WD W for the others (default: 0.01 for adamw, 0 for the others)")
    p.add_argument("--alpha", type=_flag(settings_text.non_negative_number), metavar="ALPHA",
                   help="with --data: the L2 penalty of the weights, scikit-learn's alpha (default: 1e-4)")
    p.add_argument("--clip-norm", type=_flag(settings_text.positive_number), metavar="NORM",
                   help="scale the gradients down to this global norm when it is larger (default: no "
                   "clipping)")
    p.add_argument("--early-stopping", type=_flag(settings_text.non_negative_integer), metavar="PATIENCE",
                   help="stop when the validation loss has not improved for PATIENCE epochs, and keep "
                   "the best epoch's weights (needs --validation-split) (default: off; 20 with --data)")
    p.add_argument("--batch-size", type=_flag(settings_text.positive_integer), metavar="N",
                   help="examples per gradient step (default: 32)")
    p.add_argument("--epochs", type=_flag(settings_text.positive_integer), metavar="N",
                   help="passes over the training data (default: 20; at most 200 with --data)")
    p.add_argument("--seed", type=_flag(settings_text.non_negative_integer),
                   help="seed of the initial weights, shuffling and dropout (default: 0)")
    p.add_argument("--dropout", type=_flag(settings_text.fraction), metavar="RATE",
                   help="share of each hidden layer's outputs dropped in training (default: 0)")
    p.add_argument("--validation-split", type=_flag(settings_text.fraction), metavar="FRACTION",
                   help="share of the training data held out to report validation scores after "
                   "training (default: 0; 0.2 with --data, stratified by class)")
    p.add_argument("--dtype", choices=recipes.DTYPES,
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
    p.add_argument("--no-watchdog", action="store_true",
                   help="no watchdog: by default a run going nowhere (a loss rising for 3 epochs or "
                   "ending above its first epoch, NaN, an accuracy at chance level, weights growing "
                   "1000-fold) prints one line 'warning: ...' on stderr with the likely cause, and a "
                   "saved model no better than chance ends train with exit status 3")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training on every process of an MPI job, started with "
                   "mpiexec -n N (needs chainrule[distributed]); rank 0 prints and saves")
    p.set_defaults(run=_by_data(bundled.train, tables.train))

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
    p.set_defaults(run=bundled.sweep_command)

    p = commands.add_parser("evaluate", help="the scores of a saved model on a data set or your own data",
                            description="Print the loss and accuracy of a saved model on the training "
                            "and test examples of a data set (--dataset), or its scores on the labelled "
                            "rows of your own data (--data): accuracy and macro-F1, or R^2 and RMSE.")
    p.add_argument("model", metavar="MODEL", help="a model file saved by chainrule train")
    _data_options(p, "evaluate on")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    p.set_defaults(run=_by_data(bundled.evaluate, tables.evaluate))

    p = commands.add_parser("predict", help="the digit in each image, or a prediction for each row",
                            description="Print the predicted class of each image and the "
                            "probability of every class. Each image (PNG, JPEG, ...) is "
                            "preprocessed as MNIST was (or as the 8x8 digits, for a model of "
                            "64 inputs): ink made bright on dark, cropped, scaled and centred. "
                            "With --data, write a prediction for each row of your own data, in order "
                            "(CSV on stdout, or --output).")
    p.add_argument("model", metavar="MODEL", help="a model file saved by chainrule train")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="an image of one digit")
    p.add_argument("--data", metavar="FILE_OR_FOLDER", help="your own data: a table or a folder of images")
    p.add_argument("--proba", action="store_true",
                   help="with --data: a column proba_<class> of each class's probability")
    p.add_argument("--output", metavar="PATH", help="with --data: write the predictions here, in the "
                   "format of the suffix: .csv, .tsv, .json, .jsonl, .parquet (default: CSV on stdout)")
    p.set_defaults(run=_by_data(bundled.predict, tables.predict))

    p = _add_model_command(commands, "report", "an HTML report with plots of a saved model",
                           "Write a self-contained HTML report and its PNGs: training curves, "
                           "confusion matrix, per-class accuracy, first-layer weights and the most "
                           "confidently wrong test examples (needs chainrule[report]).",
                           "the data set whose test examples are used")
    p.add_argument("--output-dir", default="report", metavar="DIR",
                   help="folder for report.html and the PNGs (default: report)")
    p.set_defaults(run=bundled.report_command)

    p = commands.add_parser("explain", help="the chain rule for one weight, the nudges of one example",
                            description="Lay out the backward pass of a saved model on one test example: the "
                            "chain rule for one weight or bias (--weight), and the nudges the "
                            "example gives every layer (--nudges). With --data, the nudges of one row "
                            "of your table (--row) by column: each column's saliency beside the row's "
                            "value, and the first-layer weights it pushes hardest, named by column.")
    p.add_argument("model", metavar="MODEL", help="a model file saved by chainrule train")
    _data_options(p, "explain a row of")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    p.add_argument("--row", type=_flag(settings_text.non_negative_integer), metavar="I",
                   help="with --data: the row of the table, from 0 (default: 0)")
    p.add_argument("--top-k", type=_flag(settings_text.positive_integer), default=10, metavar="N",
                   help="with --data: the weights listed, the largest gradients first (default: 10)")
    p.add_argument("--example", type=_flag(settings_text.non_negative_integer), default=0, metavar="I",
                   help="index of the example in the test set (default: 0)")
    p.add_argument("--weight", type=_flag(settings_text.weight), metavar="L:J,K",
                   help="the weight w_jk of layer L (layers from 1, neurons from 0), or L:J for the bias b_j")
    p.add_argument("--nudges", action="store_true",
                   help="the desired nudges of every layer, the weights pushed hardest, and a saliency PNG")
    p.add_argument("--png", metavar="PATH", help="where --nudges writes the saliency image "
                   "(default: nudges-I.png)")
    p.set_defaults(run=_by_data(bundled.explain_command, explain_serve.explain))

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
    p.add_argument("--batch-size", type=_flag(settings_text.positive_integer), metavar="N",
                   help="examples per step (default: 32)")
    p.add_argument("--seed", type=_flag(settings_text.non_negative_integer),
                   help="seed of the initial weights and the shuffling (default: 0)")
    p.add_argument("--steps", type=_flag(settings_text.positive_integer), default=200, metavar="N",
                   help="steps of the test (default: 200)")
    p.add_argument("--start-lr", type=_flag(settings_text.positive_number), default=1e-7, metavar="RATE",
                   help="the first rate (default: 1e-7)")
    p.add_argument("--end-lr", type=_flag(settings_text.positive_number), default=10.0, metavar="RATE",
                   help="the last rate (default: 10)")
    p.add_argument("--png", default="lr-find.png", metavar="PATH",
                   help="where to draw the curve (default: lr-find.png)")
    p.set_defaults(run=bundled.lr_find_command)

    p = commands.add_parser("serve", help="a web page where you watch backpropagation learn",
                            description="Start a local web app: draw a digit and see the "
                            "prediction and every layer's activations, the nudges backprop sends "
                            "for a label and one SGD step, train a network live, inspect weights "
                            "and mistakes (needs chainrule[serve]). With --data FILE --target COLUMN, "
                            "a form of your table's columns: edit a row, see its prediction and its "
                            "nudges by column, and train on the table.")
    p.add_argument("--model", metavar="PATH", help="the model to start with (default: a small "
                   "model trained on the data set in a moment; with --data, one trained on the table)")
    _data_options(p, "serve on")
    p.add_argument("--target", metavar="COLUMN[,COLUMN...]",
                   help="with --data: the column to predict; several, comma-separated, for multi-label")
    p.add_argument("--task", choices=tables.TASKS,
                   help="with --data: override the task the target's values imply")
    p.add_argument("--data-dir", type=_flag(settings_text.folder), metavar="DIR",
                   help="folder holding the MNIST-format files")
    p.add_argument("--models-dir", default="models", metavar="DIR",
                   help="the only folder the page loads models from and saves them to; created "
                   "if missing (default: models)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=_flag(settings_text.port), default=8000, help="port to listen on, 0 for any free "
                   "port (default: 8000)")
    p.set_defaults(run=_by_data(bundled.serve_command, explain_serve.serve))
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
        status = args.run(args)  # None, or train's 3 (EXIT_NO_BETTER_THAN_CHANCE)
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
    return status or 0


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
