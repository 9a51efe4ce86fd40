"""Reading a model file back into a network: ``chainrule.load``.

The file format itself (a safe .npz container, the layers' configs) is chainrule.io;
this module builds the Sequential it describes, checking every shape against the
architecture before a weight is copied in.
"""

import os

import numpy as np

from . import io, losses
from .callbacks import History
from .data import DTYPES
from .errors import ModelFormatError
from .network import Sequential


def model_from(meta, arrays, path="model"):
    """A Sequential from a parsed meta document and its arrays, every shape checked."""
    try:
        if meta.get("dtype") not in DTYPES:
            raise ModelFormatError(f"{path}: dtype must be one of {list(DTYPES)}; received {meta.get('dtype')!r}")
        if meta.get("loss") not in losses.LOSSES:
            raise ModelFormatError(f"{path}: unknown loss {meta.get('loss')!r}; known: {sorted(losses.LOSSES)}")
        layers = meta.get("layers")
        if not isinstance(layers, list) or not layers:
            raise ModelFormatError(f"{path}: 'layers' must be a non-empty list")
        io.check_shapes_before_building(layers, arrays, path)
        layers = [io.build_layer(c, i) for i, c in enumerate(layers, 1)]
        model = Sequential(layers, loss=meta["loss"], seed=meta.get("seed"),
                           dtype=meta["dtype"], classifier=bool(meta.get("classifier")))
    except ModelFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: invalid architecture: {exc}") from None
    expected = io.model_arrays(model)
    extra = set(arrays) - set(expected)
    if extra:
        raise ModelFormatError(f"{path}: unexpected arrays {sorted(extra)}")
    for name, target in expected.items():
        if name not in arrays:
            raise ModelFormatError(f"{path}: missing array {name!r}")
        value = arrays[name]
        if value.shape != target.shape or value.dtype.kind != "f":
            raise ModelFormatError(
                f"{path}: array {name!r} must be floats of shape {target.shape} for this "
                f"architecture; received {value.dtype} of shape {value.shape}"
            )
        if not np.isfinite(value).all():
            raise ModelFormatError(f"{path}: array {name!r} holds NaN or inf")
        target[...] = value
    hist = meta.get("history")
    if isinstance(hist, dict):
        model.history = History.from_dict(hist)
    return model


def network_from(meta, arrays, path="model"):
    """The Sequential of a model file or a training checkpoint, read by ``io.read_npz``."""
    if "checkpoint" in meta:  # a checkpoint also holds the optimizer's state: not needed here
        arrays = {k: v for k, v in arrays.items() if not k.startswith("optimizer.")}
    return model_from(meta, arrays, path)


def load(path):
    """The Sequential saved at ``path`` by ``Sequential.save`` (or a training checkpoint)."""
    meta, arrays = io.read_npz(path)
    return network_from(meta, arrays, os.fspath(path))
