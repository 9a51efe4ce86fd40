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

from . import io
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
    """(model, checkpoint info, optimizer state dict) from a checkpoint file."""
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
    model = io.model_from(meta, arrays, str(path))
    return model, info, opt_state


def restore_into(model, optimizer, path, run):
    """Load the checkpoint at ``path`` into ``model`` and ``optimizer`` (in place) for a
    run with settings ``run``; returns (epochs_done, rng_start, history)."""
    saved, info, opt_state = read_checkpoint(path)
    if repr(saved) != repr(model):
        raise InputError(f"resume={str(path)!r} holds {saved!r}, which is not this network ({model!r})")
    if info["optimizer"]["name"] != type(optimizer).__name__:
        raise InputError(
            f"resume={str(path)!r} was trained with {info['optimizer']['name']}; "
            f"received optimizer {type(optimizer).__name__}"
        )
    if info["run"] != run:
        raise InputError(
            f"resume={str(path)!r} was made by a run with settings {info['run']}; this run has {run}"
        )
    for p, q in zip(model.parameters(), saved.parameters(), strict=True):
        p[...] = q
    for slot, values in opt_state["state"].items():
        shapes = [p.shape for p in model.parameters()]
        if [v.shape for v in values] != shapes:
            raise ModelFormatError(f"{path}: optimizer state {slot!r} does not match the parameters")
    optimizer.load_state_dict(opt_state)
    model.rng.bit_generator.state = info["rng"]
    return int(info["epochs_done"]), info["rng_start"], saved.history


def optimizer_from(info):
    """A new optimizer with the settings saved in a checkpoint (for the command line)."""
    from . import optimizers

    spec = info["optimizer"]
    classes = {cls.__name__: cls for cls in optimizers.OPTIMIZERS.values()}
    if spec["name"] not in classes:
        raise ModelFormatError(f"unknown optimizer {spec['name']!r} in checkpoint")
    return classes[spec["name"]](**spec["config"])
