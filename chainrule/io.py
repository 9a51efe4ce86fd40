"""Model files: data, never code.

This module is the format alone: the safe container (``read_npz``, ``write_npz_atomic``)
and the layers' configs; it never builds a network (chainrule.saving does that).

A model file is one ``.npz`` archive (a zip of ``.npy`` arrays) holding
    W1, b1, W2, b2, ...   the parameters, layers numbered from 1
    meta                  uint8 bytes of a UTF-8 JSON document: format name and
                          version, chainrule version, the layer list, loss, dtype,
                          classifier flag and the training history.
It is read with ``allow_pickle=False``: nothing in it can run code. Writes go to a
temporary file in the same folder, are flushed and fsync'ed, then renamed over the
target, so a crash leaves the old file or the new one, never a broken one.
"""

import json
import math
import os
import stat
import tempfile
import time
import zipfile
import zlib

import numpy as np

from ._version import __version__
from . import activations
from .errors import ModelFormatError
from .layers import Dense, Dropout

FORMAT = "chainrule-model"
FORMAT_VERSION = 1
MAX_META_BYTES = 1 << 24
MAX_ARRAY_BYTES = 1 << 31  # 2 GiB: far above any MLP this library trains on a CPU
MAX_ENTRIES = 10_000


def layer_config(layer):
    """A layer's settings as a JSON object (what ``build_layer`` reads back)."""
    if isinstance(layer, Dropout):
        return {"type": "Dropout", "rate": layer.rate}
    config = {"type": "Dense", "in_features": layer.in_features,
              "out_features": layer.out_features, "activation": layer.activation.name,
              "init": layer.init}
    if layer.activation.name == "leaky_relu":
        config["alpha"] = layer.activation.alpha
    return config


def model_arrays(model):
    """{"W1": ..., "b1": ..., ...}: the parameters by name, layers numbered from 1."""
    arrays = {}
    for i, layer in enumerate(model.dense_layers, 1):
        arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
    return arrays


def model_meta(model):
    """The meta document of ``model`` (a Sequential, read through its attributes)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "chainrule_version": __version__,
        "layers": [layer_config(layer) for layer in model.layers],
        "loss": model.loss.name,
        "dtype": str(model.dtype),
        "classifier": model.classifier,
        "seed": model.seed if isinstance(model.seed, int) else None,
        "history": model.history.to_dict() if model.history is not None else None,
    }


def describe(meta):
    """A meta document's network in words, as Sequential's repr writes it."""
    layers = []
    for c in meta.get("layers") or []:
        if isinstance(c, dict) and c.get("type") == "Dropout":
            layers.append(f"Dropout(rate={c.get('rate')})")
        elif isinstance(c, dict):
            layers.append(f"Dense({c.get('in_features')}, {c.get('out_features')}, "
                          f"activation={c.get('activation')!r}, init={c.get('init')!r})")
    return f"Sequential([{', '.join(layers)}], loss={meta.get('loss')!r}, dtype={meta.get('dtype')!r})"


TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".tmp-", ".npz"
STALE_SECONDS = 60  # an unlocked temporary file untouched this long is a killed save's


def _lock(fd, blocking=True):
    """Take the exclusive lock of an open file (fcntl.flock), where the system has it."""
    try:
        import fcntl
    except ImportError:  # no fcntl (Windows): no locks, and no cleaning of temporaries
        return False
    fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    return True


def remove_stale_temporaries(folder, suffix=TEMPORARY_SUFFIX):
    """Delete the temporary files that killed saves left in ``folder``: those of our own
    naming (.tmp-*.npz, or another ``suffix``) that no process holds locked (a save holds its file's lock until
    the file is renamed) and that nothing has written to for STALE_SECONDS."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(TEMPORARY_PREFIX) and n.endswith(suffix)]
    except OSError:
        return
    for name in names:
        path = os.path.join(folder, name)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode) or time.time() - os.fstat(fd).st_mtime < STALE_SECONDS:
                continue
            if _lock(fd, blocking=False):
                os.unlink(path)
        except OSError:  # locked by a live save, or gone already
            pass
        finally:
            os.close(fd)


def _new_file_mode(path):
    """The mode the file at ``path`` should get: its own when it exists (an overwrite keeps
    it), else what the umask leaves of 0o666, as for any new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_npz_atomic(path, arrays):
    """Write ``arrays`` (name -> ndarray) as an .npz at exactly ``path``, atomically
    (see ``write_atomic``)."""
    write_atomic(path, lambda f: np.savez(f, **arrays))


def write_atomic(path, write, suffix=TEMPORARY_SUFFIX):
    """Write a file at exactly ``path``, atomically: ``write(f)`` fills ``f``, a binary file.

    The data goes to a temporary file in the same folder (.tmp-*``suffix``), locked while it
    is written, flushed and fsync'ed, given the mode the target has (or a new file's), then
    renamed over the target; temporary files of killed saves are removed first."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(folder, suffix)
    fd, tmp = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _lock(f.fileno())
            write(f)
            f.flush()
            os.fchmod(f.fileno(), _new_file_mode(path))
            os.fsync(f.fileno())
            os.replace(tmp, path)  # while the lock is held: a cleaner never takes a file in use
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def json_array(obj):
    return np.frombuffer(json.dumps(obj).encode("utf-8"), dtype=np.uint8)


def save(model, path):
    """Save ``model`` to ``path`` (see the module docstring for the format)."""
    arrays = model_arrays(model)
    arrays["meta"] = json_array(model_meta(model))
    write_npz_atomic(path, arrays)


def _read_member(zf, info, path):
    """One .npy member of the archive as an array, checked before anything is allocated:
    a plain numeric dtype (never object, so never pickle) and a header whose shape matches
    the member's size exactly."""
    if info.file_size > MAX_ARRAY_BYTES:
        raise ModelFormatError(f"{path}: entry {info.filename!r} is larger than {MAX_ARRAY_BYTES} bytes")
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10000)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise ModelFormatError(
                f"{path}: entry {info.filename!r} has dtype {dtype}; only numeric arrays are allowed"
            )
        size = math.prod(shape) * dtype.itemsize
        if size != info.file_size - f.tell():
            raise ModelFormatError(
                f"{path}: entry {info.filename!r} claims shape {shape} ({size} bytes) but holds "
                f"{info.file_size - f.tell()} bytes"
            )
        raw = f.read(size)
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_npz(path):
    """(meta dict, arrays dict) from a chainrule .npz file, or ModelFormatError.

    Reads the zip archive entry by entry rather than through np.load, so that sizes and
    dtypes are checked before anything is allocated: a damaged or hostile file is refused,
    it cannot run code or make the reader exhaust memory.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            if len(members) > MAX_ENTRIES:
                raise ModelFormatError(f"{path}: too many entries ({len(members)})")
            arrays = {}
            for info in members:
                if not info.filename.endswith(".npy"):
                    raise ModelFormatError(f"{path}: unexpected entry {info.filename!r}")
                arrays[info.filename[:-4]] = _read_member(zf, info, path)
    except ModelFormatError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            KeyError, NotImplementedError, RuntimeError, SyntaxError, zlib.error) as exc:
        raise ModelFormatError(f"{path} is not a readable chainrule model file: {exc}") from None
    if "meta" not in arrays:
        raise ModelFormatError(f"{path} is not a chainrule model file (no 'meta' entry)")
    meta = arrays.pop("meta")
    if meta.dtype != np.uint8 or meta.ndim != 1 or meta.size > MAX_META_BYTES:
        raise ModelFormatError(f"{path}: the 'meta' entry must be UTF-8 JSON bytes")
    try:
        meta = json.loads(meta.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFormatError(f"{path}: the 'meta' entry is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFormatError(f"{path} is not a chainrule model file (format is not {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFormatError(f"{path}: format_version must be a positive integer; received {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{path} has format version {version}, newer than this chainrule reads "
            f"({FORMAT_VERSION}); upgrade chainrule"
        )
    return meta, arrays


def build_layer(config, i):
    """The layer that the config of layer ``i`` (from 1) describes, or ModelFormatError."""
    if not isinstance(config, dict):
        raise ModelFormatError(f"layer {i} must be a JSON object; received {config!r}")
    kind = config.get("type")
    if kind == "Dropout":
        return Dropout(config["rate"])
    if kind == "Dense":
        name = config.get("activation")
        if name not in activations.ACTIVATIONS:
            raise ModelFormatError(
                f"layer {i}: unknown activation {name!r}; known: {sorted(activations.ACTIVATIONS)}"
            )
        act = activations.LeakyReLU(config.get("alpha", 0.01)) if name == "leaky_relu" else name
        return Dense(config["in_features"], config["out_features"], activation=act,
                     init=config.get("init", "auto"), seed=0)
    raise ModelFormatError(f"layer {i}: unknown layer type {kind!r}; known: ['Dense', 'Dropout']")


def check_shapes_before_building(configs, arrays, path):
    """Every Dense layer's sizes must match the arrays in the file before any layer is
    built: a file cannot make the loader allocate more than the file itself holds."""
    dense = [c for c in configs if isinstance(c, dict) and c.get("type") == "Dense"]
    for i, config in enumerate(dense, 1):
        shape = (config.get("out_features"), config.get("in_features"))
        W, b = arrays.get(f"W{i}"), arrays.get(f"b{i}")
        if W is None or b is None or W.shape != shape or b.shape != shape[:1]:
            raise ModelFormatError(
                f"{path}: Dense layer {i} has (out_features, in_features) = {shape}, which does "
                f"not match its arrays W{i} {None if W is None else W.shape} and "
                f"b{i} {None if b is None else b.shape}"
            )
