"""The mini-batch loop: ``fit``, the one training loop of chainrule.

Mini-batch SGD as the texts describe it: each epoch shuffles the examples (with the
network's seeded Generator), splits them into mini-batches of ``batch_size`` (the last
one smaller if n_samples is not a multiple), and takes one optimizer step per batch,
down the gradient of that batch's mean cost. ``batch_size=None`` uses the whole data
set as one batch: full-batch gradient descent.

Nothing here prints; progress is reported to callbacks.
"""

import math

import numpy as np

from . import data, optimizers
from .callbacks import Callback, EarlyStopping, History, LambdaCallback  # noqa: F401 (re-exported)
from .errors import InputError, InputTypeError, TrainingDivergedError


def _check_positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        extra = " or None" if allow_none else ""
        raise InputError(f"{name} must be a positive integer{extra}; received {name}={value!r}")
    return int(value)


def _finite(arrays):
    return all(np.isfinite(a).all() for a in arrays)


def _diverged(model, optimizer, snapshot, epoch, batch, reason, restore=False):
    """Raise TrainingDivergedError; the weights stay as they are if they are all finite
    (and restore is False), else they go back to the snapshot of the epoch's start."""
    if restore or not _finite(model.parameters()):
        _restore(model, optimizer, snapshot)
        kept = f"the weights are back to those of the start of epoch {epoch + 1}"
    else:
        kept = "the weights are the last finite ones, from the step before"
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch + 1}, batch {batch + 1} ({reason}); try a smaller "
        f"learning rate (now {optimizer.current_learning_rate():g}); {kept}"
    ) from None


def _snapshot(model, optimizer):
    return [p.copy() for p in model.parameters()], optimizer.state_dict()


def _restore(model, optimizer, snapshot):
    weights, state = snapshot
    for p, saved in zip(model.parameters(), weights, strict=True):
        p[...] = saved
    optimizer.load_state_dict(state)


def fit(model, X, y, epochs=1, batch_size=32, optimizer="sgd", validation_data=None,
        validation_split=0.0, shuffle=True, callbacks=(), verbose=0, checkpoint=None, resume=None,
        distributed=False):
    """Train ``model`` by mini-batch gradient descent and return a History.

    Arguments:
        X: inputs of shape (n_samples, n_features).
        y: class labels of shape (n_samples,), or targets of shape (n_samples, n_outputs)
            (see chainrule.data).
        epochs: passes over the training data.
        batch_size: examples per step; None for full-batch gradient descent.
        optimizer: "sgd", "adam", "adamw", "rmsprop" (default settings) or an Optimizer.
        validation_data: (X_val, y_val), evaluated after every epoch.
        validation_split: share of (X, y) held out for validation, shuffled, and
            stratified by class when y holds classes.
        shuffle: shuffle the examples at every epoch.
        callbacks: Callback objects.
        verbose: 1 shows a progress bar on stderr (needs tqdm), 0 is silent.
        checkpoint: a path; after every epoch the weights, optimizer state, random
            state and history are saved there, atomically (see chainrule.checkpoint).
        resume: a checkpoint path to continue from; ``epochs`` counts the epochs of the
            whole run, those already done included. Resuming with the same data and
            settings gives the same weights, bit for bit, as a run that never stopped.
        distributed: True (MPI's COMM_WORLD) or an mpi4py communicator, to train on every
            rank of an MPI job (``mpiexec -n N``) at once by synchronous data-parallel SGD:
            each rank, given the same X and y, computes the gradient of its share of every
            batch of ``batch_size`` and the ranks sum them (see chainrule.distributed).
            Only rank 0 shows a progress bar and writes the checkpoint; callbacks run on
            every rank, with the same logs. Needs chainrule[distributed].

    A call that raises on its arguments leaves the network and the optimizer as they
    were. Training that diverges raises TrainingDivergedError and keeps the last finite
    weights (or, when those are gone, the weights of the start of that epoch).
    Setting ``model.stop_training`` in a callback ends training after that batch.
    """
    args = (model, X, y, epochs, batch_size, optimizer, validation_data, validation_split,
            shuffle, callbacks, verbose, checkpoint, resume)
    if not distributed:
        return _fit(*args, sync=None)
    from .distributed import DataParallel

    with DataParallel(model, distributed) as sync:  # an error on one rank raises on all
        return _fit(*args, sync=sync)


def _fit(model, X, y, epochs, batch_size, optimizer, validation_data, validation_split,
         shuffle, callbacks, verbose, checkpoint, resume, sync):
    epochs = _check_positive_int("epochs", epochs)
    batch_size = _check_positive_int("batch_size", batch_size, allow_none=True)
    optimizer = optimizers.get(optimizer)
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
            or not 0.0 <= validation_split < 1.0:
        raise InputError(f"validation_split must be a number in [0, 1); received validation_split={validation_split!r}")
    if validation_data is not None and validation_split:
        raise InputError("give validation_data or validation_split, not both")
    if verbose not in (0, 1, 2, True, False):
        raise InputError(f"verbose must be 0 or 1; received verbose={verbose!r}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise InputTypeError(f"callbacks must be Callback objects; received {cb!r}")

    X = data.check_X(X, model.n_features, model.dtype)
    Y, labels = data.check_targets(y, len(X), model.n_outputs, model.loss.name, model.dtype)
    val = None
    if validation_data is not None:  # checked before anything changes (resume included)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise InputError("validation_data must be a pair (X_val, y_val)")
        Xv = data.check_X(validation_data[0], model.n_features, model.dtype, name="X_val")
        Yv, lv = data.check_targets(validation_data[1], len(Xv), model.n_outputs,
                                    model.loss.name, model.dtype, name="y_val")
        val = (Xv, Yv, lv)

    run = {"n_samples": len(X), "batch_size": batch_size, "shuffle": bool(shuffle),
           "validation_split": float(validation_split)}
    epochs_done, history = 0, History()
    rng_start = model.rng.bit_generator.state
    if resume is not None:
        from . import checkpoint as ckpt

        epochs_done, rng_start, saved_history = ckpt.restore_into(model, optimizer, resume, run)
        if saved_history is not None:
            history = saved_history
        rng_now = model.rng.bit_generator.state
        model.rng.bit_generator.state = rng_start  # the validation split is drawn as at the start
    if sync is not None:  # rank 0's weights and random state (so split and order) on every rank
        sync.start(model, len(X))
    if validation_split:
        train_idx, val_idx = data.train_validation_split(len(X), validation_split, model.rng, labels)
        val = (X[val_idx], Y[val_idx], None if labels is None else labels[val_idx])
        X, Y = X[train_idx], Y[train_idx]
        labels = None if labels is None else labels[train_idx]
    if resume is not None:
        model.rng.bit_generator.state = rng_now

    root = sync is None or sync.rank == 0  # the process that reports and writes
    if verbose and root:
        from .progress import ProgressBar  # tqdm is needed only here
        callbacks.append(ProgressBar())

    n = len(X)
    step = n if batch_size is None else min(batch_size, n)
    n_batches = math.ceil(n / step)
    model.history = history
    model.stop_training = False
    params, grads = model.parameters(), model.gradients()
    X_buf = np.empty((step, X.shape[1]), dtype=X.dtype)
    Y_buf = np.empty((step, Y.shape[1]), dtype=Y.dtype)
    for cb in callbacks:
        cb.set_model(model)
        cb.on_train_begin({"epochs": epochs, "batches": n_batches, "samples": n,
                           "initial_epoch": epochs_done, "optimizer": optimizer})

    for epoch in range(epochs_done, epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch, {})
        order = model.rng.permutation(n) if shuffle else None
        if sync is not None and order is None:
            order = np.arange(n)
        snapshot = _snapshot(model, optimizer)
        total, correct = 0.0, 0
        for batch, start in enumerate(range(0, n, step)):
            if order is None:
                Xb, Yb = X[start:start + step], Y[start:start + step]
                lb = None if labels is None else labels[start:start + step]
            else:  # gather this batch's rows into buffers that stay in cache
                # (mode="clip": the indices are a permutation, always in range, and numpy
                # then writes straight into out instead of through a temporary)
                idx = order[start:start + step]
                if sync is not None:  # this rank's share of the global batch
                    n_global, idx = len(idx), sync.share(idx)
                Xb = X.take(idx, axis=0, out=X_buf[:len(idx)], mode="clip")
                Yb = Y.take(idx, axis=0, out=Y_buf[:len(idx)], mode="clip")
                lb = None if labels is None else labels[idx]
            # Overflow or NaN anywhere in a step means training diverged: raise it as
            # such, whatever the caller's numpy error settings are.
            with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                try:
                    if sync is None:
                        A = model.forward_pass(Xb, training=True)
                        loss = model.cost(Yb)
                        if not math.isfinite(loss):
                            raise FloatingPointError(f"the loss became {loss}")
                        model.backward_pass(Yb)
                    else:  # every rank gets the global batch's loss, correct count and gradients
                        loss, n_correct = sync.step(model, Xb, Yb, lb, n_global)
                except FloatingPointError as exc:
                    # Nothing has been updated in this step: the weights are those the last
                    # step left, which are kept if they are finite (the last finite state).
                    _diverged(model, optimizer, snapshot, epoch, batch, exc)
                try:
                    optimizer.step(params, grads)
                except FloatingPointError as exc:  # a half-done update: back to the epoch's start
                    _diverged(model, optimizer, snapshot, epoch, batch, exc, restore=True)
            size = len(Xb) if sync is None else n_global
            total += loss * size
            batch_logs = {"loss": loss, "size": size}
            if lb is not None:
                batch_logs["correct"] = (int((data.predicted_labels(A) == lb).sum()) if sync is None
                                         else n_correct)
                correct += batch_logs["correct"]
            for cb in callbacks:
                cb.on_batch_end(batch, batch_logs)
            if model.stop_training and start + step < n:
                break  # asked to stop in the middle of an epoch
        if model.stop_training and start + step < n:
            break
        if not _finite(params):  # compiled updates (chainrule.kernels) raise no numpy errors
            _diverged(model, optimizer, snapshot, epoch, batch, "the weights are no longer finite")
        logs = {"loss": total / n}
        if labels is not None:
            logs["accuracy"] = correct / n
        if val is not None:
            for key, value in model.evaluate_arrays(*val).items():
                logs["val_" + key] = value
        history.append(epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if checkpoint is not None and root:
            from . import checkpoint as ckpt

            ckpt.save_checkpoint(checkpoint, model, optimizer, epoch + 1, rng_start, run)
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end({})
    return history
