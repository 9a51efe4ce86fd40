"""A report on a trained classifier that people can look at: PNGs and one HTML page.

``write_report`` writes into a folder
    curves.png      loss and accuracy per epoch, train and validation where recorded
                    (from ``model.history``, which model files keep)
    confusion.png   the confusion matrix of the test set, with the count in every cell
    per_class.png   the accuracy on each class (the diagonal over the row sums)
    weights.png     the first Dense layer's W, one image per neuron (a row of W, of shape
                    (n_features,), reshaped to 28x28 for 784 inputs, 8x8 for 64)
    wrong.png       the test examples the model gets wrong with the highest probability
    report.html     all of the above in one self-contained page: every PNG embedded as a
                    base64 data URI, no external resources
A picture that cannot be drawn (no history, inputs that are not images, no wrong
examples) is left out and the page says why.

The numbers come from chainrule.metrics (NumPy only; ``compute`` and ``ReportData`` are
its ``classifier_metrics`` and ``ClassifierMetrics``); the pictures from ``figures``, with
matplotlib's object-oriented API on the Agg canvas: no pyplot, no window, no change to
matplotlib's global state. matplotlib is imported only when a picture is drawn, so the
rest of chainrule never needs it.
"""

import base64
import html
import io
import math
from pathlib import Path

import numpy as np

from .errors import InputTypeError
from .metrics import confusion_matrix, has_curves, most_confident_wrong  # noqa: F401 (report.X as before)
from .metrics import ClassifierMetrics as ReportData  # the report's names for the numbers
from .metrics import classifier_metrics as compute

# n_features -> (rows, columns) of the picture an input is.
IMAGE_SHAPES = {784: (28, 28), 64: (8, 8)}
MAX_NEURONS = 64
PNG_NAMES = ("curves", "confusion", "per_class", "weights", "wrong")


# --- the pictures ---------------------------------------------------------------------

def _figure(width, height):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "the report's pictures need matplotlib: pip install 'chainrule[report]'"
        ) from exc

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def panels(fig):
    """The axes of ``fig`` that are panels (its colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def plot_curves(history):
    """Loss per epoch and, where recorded, accuracy per epoch: train and validation."""
    fig = _figure(10, 4)
    kinds = [k for k in ("loss", "accuracy") if history.history.get(k)]
    for ax, kind in zip(fig.subplots(1, len(kinds), squeeze=False)[0], kinds, strict=True):
        for key, label in ((kind, "train"), ("val_" + kind, "validation")):
            values = history.history.get(key)
            if not values:
                continue
            epochs = np.asarray(history.epoch) + 1  # History counts epochs from 0
            if len(epochs) != len(values):
                epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_title(kind)
        ax.set_xlabel("epoch")
        ax.set_ylabel(kind)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_confusion(matrix):
    """The confusion matrix as a heat map, the count written in every cell."""
    n = len(matrix)
    side = min(max(4.0, 0.55 * n + 2), 14.0)
    fig = _figure(side + 1, side)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1, int(matrix.max())))
    fig.colorbar(image, ax=ax, shrink=0.8, label="examples")
    if n <= 30:
        half = max(1, int(matrix.max())) / 2
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8,
                    color="white" if count > half else "black")
    ticks = np.arange(n) if n <= 30 else np.arange(0, n, max(1, n // 10))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix ({int(matrix.sum())} test examples)")
    return fig


def plot_per_class(per_class, counts):
    """One bar per class: its accuracy, with the class's number of test examples."""
    n = len(per_class)
    fig = _figure(min(max(6.0, 0.5 * n + 2), 16.0), 4)
    ax = fig.add_subplot()
    heights = np.nan_to_num(per_class, nan=0.0)
    bars = ax.bar(np.arange(n), heights, color="tab:blue")
    if n <= 30:
        for bar, accuracy, count in zip(bars, per_class, counts, strict=True):
            text = "no examples" if count == 0 else f"{accuracy:.0%}\nn={count}"
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.01, text,
                    ha="center", va="bottom", fontsize=7)
    ax.set_ylim(0, 1.15)
    ax.set_xticks(np.arange(n) if n <= 30 else np.arange(0, n, max(1, n // 10)))
    ax.set_xlabel("true class")
    ax.set_ylabel("accuracy")
    ax.set_title("accuracy per class")
    ax.grid(axis="y", alpha=0.3)
    return fig


def _grid(n):
    columns = math.ceil(math.sqrt(n))
    return math.ceil(n / columns), columns


def plot_weights(W):
    """The first MAX_NEURONS rows of W, of shape (out_features, in_features), each drawn
    as an image; one diverging colour scale, symmetric around 0, for all of them."""
    shape = IMAGE_SHAPES[W.shape[1]]
    shown = W[:MAX_NEURONS].astype(np.float64)
    limit = float(np.abs(shown).max()) or 1.0
    rows, columns = _grid(len(shown))
    fig = _figure(max(6.0, 1.1 * columns + 1.2), 1.1 * rows + 0.8)
    axes = fig.subplots(rows, columns, squeeze=False)
    image, used = None, []
    for k, ax in enumerate(axes.flat):
        if k >= len(shown):
            ax.remove()
            continue
        used.append(ax)
        image = ax.imshow(shown[k].reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"neuron {k}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=used, shrink=0.6, label="weight")
    fig.suptitle(f"first layer weights: {len(shown)} of {len(W)} neurons, each a "
                 f"{shape[0]}x{shape[1]} image\n(red: positive, blue: negative)")
    return fig


def plot_wrong(X_wrong, y_true, y_pred, confidence):
    """The wrong examples as images, each titled with its true and predicted class and
    the probability the model gave its prediction."""
    shape = IMAGE_SHAPES[X_wrong.shape[1]]
    n = len(X_wrong)
    columns = min(8, n)
    rows = math.ceil(n / columns)
    fig = _figure(max(4.0, 1.4 * columns + 0.4), 1.6 * rows + 0.6)
    axes = fig.subplots(rows, columns, squeeze=False)
    low, high = float(X_wrong.min()), float(X_wrong.max())
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.remove()
            continue
        ax.imshow(X_wrong[k].reshape(shape), cmap="gray_r", vmin=low, vmax=max(high, low + 1e-12))
        ax.set_title(f"true {y_true[k]}, pred {y_pred[k]}\nP({y_pred[k]}) = {confidence[k]:.2f}",
                     fontsize=8, color="tab:red")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("most confidently wrong test examples")
    return fig


def figures(report):
    """{name: matplotlib Figure} for every picture ``report`` (a ClassifierMetrics) allows, and
    {name: why it is left out} for the others."""
    drawn, notes = {}, {}
    if has_curves(report.history):
        drawn["curves"] = plot_curves(report.history)
    else:
        notes["curves"] = ("This model has no training history (it was not trained with "
                           "chainrule's fit, or was saved without it), so there are no curves.")
    drawn["confusion"] = plot_confusion(report.confusion)
    drawn["per_class"] = plot_per_class(report.per_class, report.confusion.sum(axis=1))
    n_features = report.W.shape[1]
    if n_features in IMAGE_SHAPES:
        drawn["weights"] = plot_weights(report.W)
    else:
        notes["weights"] = (f"The inputs have {n_features} features, not an image of "
                            f"{' or '.join(map(str, IMAGE_SHAPES))} pixels, so the weights "
                            "are not drawn as images.")
    if report.n_wrong == 0:
        notes["wrong"] = "Every test example is classified correctly."
    elif len(report.wrong) == 0:
        notes["wrong"] = f"max_wrong=0: none of the {report.n_wrong} wrong test examples is shown."
    elif n_features in IMAGE_SHAPES:
        i = report.wrong
        drawn["wrong"] = plot_wrong(report.X_wrong, report.y_true[i], report.y_pred[i],
                                    report.confidence[i])
    else:
        notes["wrong"] = (f"The inputs have {n_features} features, not images; the wrong "
                          "examples are listed in the table below.")
    return drawn, notes


def _png_bytes(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# --- the page -------------------------------------------------------------------------

CAPTIONS = {
    "curves": "Training curves",
    "confusion": "Confusion matrix (test set)",
    "per_class": "Accuracy per class (test set)",
    "weights": "First layer weights",
    "wrong": "Most confidently wrong test examples",
}

_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
pre { margin: 0; font-size: 0.85em; }
img { max-width: 100%; }
.note { background: #fff6d5; border-left: 4px solid #e0b000; padding: 0.5em 1em; }
"""


def _e(value):
    return html.escape(str(value), quote=True)


def _summary_rows(model, report, dataset):
    architecture = model.summary() if hasattr(model, "summary") else repr(model)
    rows = []
    if dataset is not None:
        rows.append(("Data set", _e(dataset)))
    rows += [
        ("Architecture", f"<pre>{_e(architecture)}</pre>"),
        ("Test examples", _e(len(report.y_true))),
        ("Classes", _e(report.n_classes)),
        ("Test loss", _e(f"{report.metrics['loss']:.4f}")),
        ("Test accuracy", _e(f"{report.metrics['accuracy']:.2%}")),
        ("Epochs trained", _e(report.n_epochs if report.n_epochs else "unknown (no history)")),
    ]
    return "\n".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)


def _wrong_table(report):
    if len(report.wrong) == 0:
        return ""
    shown = (f"<p>The {len(report.wrong)} most confident of the {report.n_wrong} wrong "
             "predictions, the most confident first.</p>")
    rows = "\n".join(
        f"<tr><td>{_e(i)}</td><td>{_e(report.y_true[i])}</td><td>{_e(report.y_pred[i])}</td>"
        f"<td>{_e(f'{report.confidence[i]:.4f}')}</td></tr>"
        for i in report.wrong
    )
    return (shown + "<table><tr><th>Test index</th><th>True class</th><th>Predicted class</th>"
            f"<th>Probability of the prediction</th></tr>\n{rows}</table>")


def write_report(model, X_test, y_test, out_dir, title=None, dataset=None, max_wrong=16):
    """Write the report on ``model`` for a test set into the folder ``out_dir`` (created
    if needed): the PNGs of the module docstring and ``report.html``; returns the Path
    of report.html. PNGs of an earlier report that this one leaves out are removed.

    Arguments:
        model: a trained Sequential with classifier=True.
        X_test: of shape (n_samples, n_features).
        y_test: class labels of shape (n_samples,).
        out_dir: a folder (str or os.PathLike).
        title: the page's heading; by default "chainrule report" and the data set.
        dataset: the data set's name, shown in the summary.
        max_wrong: at most this many wrong examples are shown (an integer >= 0).

    Raises:
        InputError: the model is a regressor, or the data or max_wrong are not valid.
    """
    if title is None:
        title = "chainrule report" + (f": {dataset}" if dataset is not None else "")
    elif not isinstance(title, str):
        raise InputTypeError(f"title must be a string or None; received title={title!r}")
    report = compute(model, X_test, y_test, max_wrong)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn, notes = figures(report)
    sections = []
    for name in PNG_NAMES:
        path = out_dir / f"{name}.png"
        heading = f"<h2>{_e(CAPTIONS[name])}</h2>"
        if name in drawn:
            png = _png_bytes(drawn[name])
            path.write_bytes(png)
            uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            body = (f'<img src="{uri}" alt="{_e(CAPTIONS[name])}" '
                    f'data-name="{name}" data-panels="{len(panels(drawn[name]))}">')
        else:
            path.unlink(missing_ok=True)
            body = f'<p class="note" data-name="{name}">{_e(notes[name])}</p>'
        if name == "wrong":
            body += _wrong_table(report)
        sections.append(f"<section>{heading}\n{body}</section>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n<table>\n{_summary_rows(model, report, dataset)}\n</table>\n"
        + "\n".join(sections) + "\n</body>\n</html>\n"
    )
    target = out_dir / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
