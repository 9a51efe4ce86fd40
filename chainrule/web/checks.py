"""What the web API accepts: every request body is checked here before anything changes.

Each check returns the clean value or raises ``RequestError(status, message)``; the
message names the field, what is allowed and what was received, as everywhere in
chainrule. 400 is a request that cannot be read (malformed JSON, a model name that is
not a plain file name), 413 a body over MAX_BODY_BYTES, 422 a readable request with a
wrong value, 404 a model file that does not exist.
"""

import json
import math
import re
from pathlib import Path

from ..recipes import HIDDEN_ACTIVATIONS, LOSSES, OPTIMIZERS, Recipe
from ..tabular.settings import DEFAULTS as TABLE_DEFAULTS

MAX_BODY_BYTES = 64 * 1024  # a drawing of 784 numbers written with 17 digits is ~15 KiB
GRID_SIDE = 28  # the drawing pad is sent as GRID_SIDE x GRID_SIDE ink levels
N_PIXELS = GRID_SIDE * GRID_SIDE
MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
# Names Windows keeps for devices, with any extension (NUL.npz is the null device there).
DEVICE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}
MAX_LAYERS, MAX_WIDTH, MAX_EPOCHS, MAX_BATCH_SIZE = 4, 2048, 1000, 60000
DEFAULTS = Recipe()  # of the settings the page may leave out (it trains 10 epochs at 0.1)


class RequestError(Exception):
    """A request the API refuses: ``status`` is the HTTP status, ``message`` says why."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def parse_json(body):
    """The JSON object of a request body (bytes); NaN and Infinity are read as floats, and
    then refused by the checks of numbers, as are integers too large for a float."""
    if len(body) > MAX_BODY_BYTES:
        raise RequestError(413, f"the request body must be at most {MAX_BODY_BYTES} bytes; "
                                f"received {len(body)}")
    try:
        value = json.loads(body, parse_int=_json_integer)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise RequestError(400, f"the request body must be JSON; it is not ({exc})") from None
    if not isinstance(value, dict):
        raise RequestError(400, f"the request body must be a JSON object; received {type(value).__name__}")
    return value


def _json_integer(text):
    """A JSON integer as an int; past 300 digits as a float (inf beyond float's range), so
    that the checks of numbers refuse it by its field (Python will not even convert an
    int of over 4,300 digits to text, and math.isfinite fails on ints past 1e308)."""
    return int(text) if len(text) <= 300 else float(text)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(body, name):
    if name not in body:
        raise RequestError(422, f"{name} is missing from the request")
    return body[name]


def pixels(body):
    """The drawing: exactly N_PIXELS finite numbers in [0, 1], rows one after the other,
    ink bright (1) on a background of 0. Returns a list of floats."""
    value = _field(body, "pixels")
    if not isinstance(value, list):
        raise RequestError(422, f"pixels must be a list of {N_PIXELS} numbers in [0, 1] "
                                f"({GRID_SIDE}x{GRID_SIDE}, row by row); received {type(value).__name__}")
    if len(value) != N_PIXELS:
        raise RequestError(422, f"pixels must hold exactly {N_PIXELS} numbers ({GRID_SIDE}x{GRID_SIDE}); "
                                f"received {len(value)}")
    for i, p in enumerate(value):
        if not _is_number(p):
            raise RequestError(422, f"pixels must be numbers in [0, 1]; received pixels[{i}]={p!r}")
        if not math.isfinite(p):
            raise RequestError(422, f"pixels must be finite numbers in [0, 1]; received pixels[{i}]={p!r}")
        if not 0 <= p <= 1:
            raise RequestError(422, f"pixels must be in [0, 1]; received pixels[{i}]={p!r}")
    return [float(p) for p in value]


def integer(body, name, low, high, default=None):
    """An integer field in [low, high] (a JSON number without a fraction)."""
    value = body.get(name, default) if default is not None else _field(body, name)
    if not _is_number(value) or not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise RequestError(422, f"{name} must be an integer in [{low}, {high}]; received {name}={value!r}")
    return int(value)


def positive_number(body, name, high, default=None):
    """A finite number in (0, high]."""
    value = body.get(name, default) if default is not None else _field(body, name)
    if not _is_number(value) or not math.isfinite(value) or not 0 < value <= high:
        raise RequestError(422, f"{name} must be a number in (0, {high}]; received {name}={value!r}")
    return float(value)


def choice(body, name, choices, default):
    value = body.get(name, default)
    if value not in choices:
        raise RequestError(422, f"{name} must be one of {', '.join(choices)}; received {name}={value!r}")
    return value


def hidden_sizes(body, default=DEFAULTS.hidden):
    """The hidden layer sizes: a list of 0 to MAX_LAYERS integers in [1, MAX_WIDTH]."""
    value = body.get("hidden", list(default))
    if not isinstance(value, list) or len(value) > MAX_LAYERS or not all(
            _is_number(n) and math.isfinite(n) and n == int(n) and 1 <= n <= MAX_WIDTH for n in value):
        raise RequestError(422, f"hidden must be a list of at most {MAX_LAYERS} layer sizes, integers "
                                f"in [1, {MAX_WIDTH}]; received hidden={value!r}")
    return [int(n) for n in value]


def training_settings(body):
    """The settings of a training run from the Train tab, with defaults."""
    settings = {
        "hidden": hidden_sizes(body),
        "activation": choice(body, "activation", HIDDEN_ACTIVATIONS, DEFAULTS.activation),
        "loss": choice(body, "loss", LOSSES, DEFAULTS.loss),
        "optimizer": choice(body, "optimizer", OPTIMIZERS, DEFAULTS.optimizer),
        "learning_rate": positive_number(body, "learning_rate", 10.0, default=0.1),
        "batch_size": integer(body, "batch_size", 1, MAX_BATCH_SIZE, default=DEFAULTS.batch_size),
        "epochs": integer(body, "epochs", 1, MAX_EPOCHS, default=10),
        "seed": integer(body, "seed", 0, 2**31 - 1, default=DEFAULTS.seed),
    }
    return settings


def table_training_settings(body):
    """The settings of a training run on a table from the Train tab, with the defaults of
    chainrule.tabular.settings (the task decides the loss)."""
    return {
        "hidden": hidden_sizes(body, TABLE_DEFAULTS["hidden"]),
        "activation": choice(body, "activation", HIDDEN_ACTIVATIONS, TABLE_DEFAULTS["activation"]),
        "optimizer": choice(body, "optimizer", OPTIMIZERS, TABLE_DEFAULTS["optimizer"]),
        "learning_rate": positive_number(body, "learning_rate", 10.0, default=TABLE_DEFAULTS["lr"]),
        "batch_size": integer(body, "batch_size", 1, MAX_BATCH_SIZE, default=TABLE_DEFAULTS["batch_size"]),
        "epochs": integer(body, "epochs", 1, MAX_EPOCHS, default=TABLE_DEFAULTS["epochs"]),
        "seed": integer(body, "seed", 0, 2**31 - 1, default=TABLE_DEFAULTS["seed"]),
    }


def _finite(v):
    return _is_number(v) and math.isfinite(v)


# The JSON values a column takes, by its kind, or for a categorical by its values' type.
ROW_VALUES = {"numeric": ("a finite number", _finite),
              "integer": ("an integer", lambda v: _finite(v) and v == int(v)),
              "bool": ("true or false", lambda v: isinstance(v, bool)),
              "string": ("a string", lambda v: isinstance(v, str))}


def table_row(body, columns):
    """One row of a table: ``body["row"]``, an object holding every column of ``columns``
    (the used columns of a chainrule.tabular.encode.Encoder) and no other, each value of
    the column's kind (a finite number for a numeric column; for a categorical, a value of
    its type: a string, an integer or true/false) or null for a missing value.
    Returns the row as a dict {column: value}."""
    row = _field(body, "row")
    names = [c["name"] for c in columns]
    if not isinstance(row, dict):
        raise RequestError(422, f"row must be an object of the columns {names}; received {type(row).__name__}")
    extra = [k for k in row if k not in names]
    if extra:
        raise RequestError(422, f"row holds {extra[0]!r}, which is not a column the model takes; its "
                                f"columns are {names}")
    clean = {}
    for c in columns:
        if c["name"] not in row:
            raise RequestError(422, f"row is missing the column {c['name']!r} (null for a missing value)")
        value = row[c["name"]]
        words, fits = ROW_VALUES["numeric" if c["kind"] == "numeric" else c["type"]]
        if value is not None and not fits(value):
            raise RequestError(422, f"row[{c['name']!r}] must be {words} or null (missing); received {value!r}")
        clean[c["name"]] = value
    return clean


def model_path(models_dir, name):
    """The file ``name`` names inside ``models_dir``: a plain file name of letters, digits,
    '_', '.' and '-' (not starting with '.', not a device name of Windows such as NUL),
    with '.npz' added if it has no such ending.
    Anything else (slashes, '..', absolute paths, a symlink leading out of the folder)
    is refused with 400."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name) or ".." in name:
        raise RequestError(400, "name must be a file name of at most 100 letters, digits, '_', '.' "
                                f"and '-', not starting with '.' (no folders); received name={name!r}")
    if name.split(".")[0].upper() in DEVICE_NAMES:
        raise RequestError(400, f"name must not be a device name of Windows ({', '.join(sorted(DEVICE_NAMES))}, "
                                f"with any extension); received name={name!r}")
    if not name.endswith(".npz"):
        name += ".npz"
    folder = Path(models_dir).resolve()
    path = folder / name
    if path.resolve().parent != folder:
        raise RequestError(400, f"name must stay inside the models folder; {name!r} leads out of it")
    return path
