"""Checkpoints: everything needed to continue training exactly where it stopped.

A checkpoint is a model file (chainrule.io) with more in it: the optimizer's state
arrays (``optimizer.<slot>.<i>``, e.g. the momentum velocity of parameter i), and
under ``meta["checkpoint"]`` the optimizer's name, settings and step count, the state
of the network's random generator at the start of training and after the last complete
epoch, the number of complete epochs and the settings of the run. ``chainrule.load``
reads it as a model. ``fit(..., resume=PATH)`` restores all of it, so a run that is
stopped (even killed) and resumed ends with the same weights, bit for bit, as one that
never stopped.
"""

import numpy as np

from . import io
from .callbacks import History
from .errors import InputError, ModelFormatError

PREFIX = "optimizer."


def save_checkpoint(path, model, optimizer, epochs_done, rng_start, run):
    """Write the checkpoint of ``model`` after ``epochs_done`` complete epochs, atomically."""
    arrays = io.model_arrays(model)
    for slot, values in optimizer.state.items():
        for i, value in enumerate(values):
            arrays[f"{PREFIX}{slot}.{i}"] = value
    meta = io.model_meta(model)
    meta["checkpoint"] = {
        "epochs_done": epochs_done,
        "optimizer": {"name": type(optimizer).__name__, "config": optimizer.config(),
                      "iterations": optimizer.iterations},
        "rng_start": rng_start,
        "rng": model.rng.bit_generator.state,
        "run": run,
    }
    arrays["meta"] = io.json_array(meta)
    io.write_npz_atomic(path, arrays)


def read_checkpoint(path):
    """(info, optimizer state dict, meta, model arrays) from a checkpoint file: the
    training state under ``meta["checkpoint"]``, the optimizer's arrays, and the model
    part as chainrule.io reads it (``chainrule.load`` builds the network from that)."""
    meta, arrays = io.read_npz(path)
    info = meta.get("checkpoint")
    if not isinstance(info, dict):
        raise ModelFormatError(f"{path} is a model file, not a checkpoint (it has no training state)")
    state = {}
    for name in sorted(a for a in arrays if a.startswith(PREFIX)):
        slot, _, index = name[len(PREFIX):].rpartition(".")
        state.setdefault(slot, {})[int(index)] = arrays.pop(name)
    try:
        opt_state = {"iterations": int(info["optimizer"]["iterations"]),
                     "state": {slot: [v[i] for i in range(len(v))] for slot, v in state.items()}}
        int(info["epochs_done"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: the checkpoint's training state is incomplete: {exc}") from None
    return info, opt_state, meta, arrays


ARCHITECTURE = ("layers", "loss", "dtype")  # what Sequential's repr shows


def restore_into(model, optimizer, path, run):
    """Load the checkpoint at ``path`` into ``model`` and ``optimizer`` (in place) for a
    run with settings ``run``; returns (epochs_done, rng_start, history or None)."""
    info, opt_state, meta, arrays = read_checkpoint(path)
    ours = io.model_meta(model)
    if any(meta.get(key) != ours[key] for key in ARCHITECTURE):
        raise InputError(f"resume={str(path)!r} holds {io.describe(meta)}, which is not this "
                         f"network ({io.describe(ours)})")
    if info["optimizer"]["name"] != type(optimizer).__name__:
        raise InputError(
            f"resume={str(path)!r} was trained with {info['optimizer']['name']}; "
            f"received optimizer {type(optimizer).__name__}"
        )
    if info["run"] != run:
        raise InputError(
            f"resume={str(path)!r} was made by a run with settings {info['run']}; this run has {run}"
        )
    weights = io.model_arrays(model)
    io.check_shapes_before_building(meta["layers"], arrays, str(path))
    shapes = [p.shape for p in model.parameters()]
    for slot, values in opt_state["state"].items():
        if [v.shape for v in values] != shapes:
            raise ModelFormatError(f"{path}: optimizer state {slot!r} does not match the parameters")
    for name, target in weights.items():
        if not np.isfinite(arrays[name]).all():
            raise ModelFormatError(f"{path}: array {name!r} holds NaN or inf")
    for name, target in weights.items():
        target[...] = arrays[name]
    optimizer.load_state_dict(opt_state)
    model.rng.bit_generator.state = info["rng"]
    hist = meta.get("history")
    history = History.from_dict(hist) if isinstance(hist, dict) else None
    return int(info["epochs_done"]), info["rng_start"], history


def optimizer_from(info):
    """A new optimizer with the settings saved in a checkpoint (for the command line)."""
    from . import optimizers

    spec = info["optimizer"]
    classes = {cls.__name__: cls for cls in optimizers.OPTIMIZERS.values()}
    if spec["name"] not in classes:
        raise ModelFormatError(f"unknown optimizer {spec['name']!r} in checkpoint")
    return classes[spec["name"]](**spec["config"])
