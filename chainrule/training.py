"""The mini-batch loop: ``fit``, the one training loop of chainrule, around one ``train_step``.

Mini-batch SGD as the texts describe it: each epoch shuffles the examples (with the
network's seeded Generator), splits them into mini-batches of ``batch_size`` (the last
one smaller if n_samples is not a multiple), and takes one optimizer step per batch,
down the gradient of that batch's mean cost. ``batch_size=None`` uses the whole data
set as one batch: full-batch gradient descent.

Every face trains through this loop: ``Sequential.fit``, the scikit-learn estimators
(with example weights, scikit-learn's penalty and its stopping rules as a callback), the
command line, the sweep and the web page. Where the gradient of a batch comes from is a
synchronisation strategy: ``Local`` (this process computes it) or
``chainrule.distributed.DataParallel`` (every MPI rank computes its share, and one
Allreduce sums them), so the loop itself does not know whether it runs on one process.

Nothing here prints; progress is reported to callbacks.
"""

import math
import os

import numpy as np

from . import data, optimizers
from ._checks import number, positive_int
from .callbacks import Callback, EarlyStopping, History, LambdaCallback  # noqa: F401 (re-exported)
from .errors import InputError, InputTypeError, TrainingDivergedError


class Local:
    """The gradient of a batch as this process computes it: the synchronisation strategy
    of a run on one process (``DataParallel`` is the other, on MPI)."""

    rank, root = 0, True  # this process reports and writes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def start(self, model, n_samples):
        """Called once before training (DataParallel gives every rank rank 0's weights)."""

    def share(self, idx):
        """The rows of the batch ``idx`` this process computes: all of them."""
        return idx

    def step(self, model, compute, n_batch):
        """(loss, correct, weight) of the batch after ``compute()``, which leaves the
        gradient of the batch's cost in the model's gradient buffers."""
        return compute()


def batch_gradient(model, Xb, Yb, lb, wb):
    """Forward pass, cost, finite check and backward pass of one batch: leaves in the
    model's gradient buffers the gradient of the batch's (weighted) mean cost and
    returns (cost, number of correct labels or None, total example weight).

    Xb of shape (n, n_features), Yb of shape (n, n_outputs), labels lb of shape (n,) or
    None, example weights wb of shape (n,) or None (each weighs 1). A batch whose
    weights are all zero has nothing to learn from: weight 0, and no gradient."""
    A = model.forward_pass(Xb, training=True)
    correct = None if lb is None else int(np.count_nonzero(data.predicted_labels(A) == lb))
    weight = float(len(Xb)) if wb is None else float(wb.sum())
    if weight == 0:
        return 0.0, correct, 0.0
    loss = model.cost(Yb, wb)
    if not math.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss}")
    model.backward_pass(Yb, wb)
    return loss, correct, weight


def train_step(model, optimizer, batch, sync, penalty=None):
    """One step of mini-batch gradient descent on ``batch`` = (Xb, Yb, lb, wb, n), this
    process's rows of a global batch of n rows: the batch's gradient (through ``sync``),
    the penalty's gradient added to it, then the optimizer's update. Returns the batch
    logs: loss (the cost, plus the penalty where there is one), size, weight, and
    correct (where the targets are classes). A FloatingPointError means the step
    diverged; where it comes from the optimizer, the update may be half done."""
    Xb, Yb, lb, wb, n = batch
    loss, correct, weight = sync.step(model, lambda: batch_gradient(model, Xb, Yb, lb, wb), n)
    logs = {"loss": loss, "size": n, "weight": weight}
    if lb is not None:
        logs["correct"] = correct
    if weight == 0:
        return logs  # nothing to learn from: no step
    if penalty is not None:
        logs["penalty"] = penalty.inplace_add_gradient(model, weight)
        logs["loss"] = loss + logs["penalty"]
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(f"the loss became {logs['loss']}")
    try:
        optimizer.step(model.parameters(), model.gradients())
    except FloatingPointError as exc:
        exc.during_update = True  # a half-done update: the weights cannot be trusted
        raise
    return logs


def _finite(arrays):
    return all(np.isfinite(a).all() for a in arrays)


def _diverged(model, optimizer, snapshot, epoch, batch, reason, restore=False):
    """Raise TrainingDivergedError; the weights stay as they are if they are all finite
    (and restore is False), else they go back to the snapshot of the epoch's start."""
    if restore or not _finite(model.parameters()):
        weights, state = snapshot
        for p, saved in zip(model.parameters(), weights, strict=True):
            p[...] = saved
        optimizer.load_state_dict(state)
        kept = f"the weights are back to those of the start of epoch {epoch + 1}"
    else:
        kept = "the weights are the last finite ones, from the step before"
    raise TrainingDivergedError(
        f"training diverged at epoch {epoch + 1}, batch {batch + 1} ({reason}); try a smaller "
        f"learning rate (now {optimizer.current_learning_rate():g}); {kept}"
    ) from None


def fit(model, X, y, epochs=1, batch_size=32, optimizer="sgd", validation_data=None,
        validation_split=0.0, shuffle=True, callbacks=(), verbose=0, checkpoint=None, resume=None,
        distributed=False, sample_weight=None, penalty=None):
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
        sample_weight: of shape (n_samples,), finite and non-negative: each batch's cost
            is then the weighted mean sum_i w_i C_i / sum_i w_i (a batch whose weights are
            all zero takes no step). The epoch's loss is the batches' costs weighted alike.
        penalty: an object with ``inplace_add_gradient(model, n) -> value`` (such as
            chainrule.regularizers.L2) whose gradient is added to every batch's, n being
            the batch's total example weight; its value is added to the batch's loss.

    A call that raises on its arguments leaves the network and the optimizer as they
    were. Training that diverges raises TrainingDivergedError and keeps the last finite
    weights (or, when those are gone, the weights of the start of that epoch).
    Setting ``model.stop_training`` in a callback ends training after that batch; the
    callbacks' ``on_train_end`` runs however training ends (its logs hold the exception
    under "error" when it raised).
    """
    if distributed:
        from .distributed import DataParallel

        sync = DataParallel(model, distributed)
    else:
        sync = Local()
    with sync:  # on MPI, an error on one rank (a bad argument included) raises on every rank
        run = _checked(model, X, y, epochs, batch_size, optimizer, validation_data, validation_split,
                       shuffle, callbacks, verbose, sample_weight, checkpoint)
        return _train(model, run, sync, checkpoint, resume, penalty)


def _checked(model, X, y, epochs, batch_size, optimizer, validation_data, validation_split,
             shuffle, callbacks, verbose, sample_weight, checkpoint):
    """Every argument checked and converted, before anything changes: a dict."""
    if checkpoint is not None:  # known before the first epoch, not after it
        folder = os.path.dirname(os.path.abspath(os.fspath(checkpoint)))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"checkpoint must be a file in an existing folder this process can write; "
                             f"received checkpoint={os.fspath(checkpoint)!r}")
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    optimizer = optimizers.get(optimizer)
    validation_split = number("validation_split", validation_split, 0.0, 1.0, high_open=True)
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
    w = data.check_sample_weight(sample_weight, len(X))
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise InputError("validation_data must be a pair (X_val, y_val)")
        Xv = data.check_X(validation_data[0], model.n_features, model.dtype, name="X_val")
        Yv, lv = data.check_targets(validation_data[1], len(Xv), model.n_outputs,
                                    model.loss.name, model.dtype, name="y_val")
        val = (Xv, Yv, lv)
    return {"X": X, "Y": Y, "labels": labels, "w": w, "val": val, "epochs": epochs,
            "batch_size": batch_size, "optimizer": optimizer, "shuffle": bool(shuffle),
            "validation_split": validation_split, "callbacks": callbacks, "verbose": verbose}


def _split(model, r, resume, sync):
    """Resume from a checkpoint, start the synchronisation, hold out the validation
    split; returns (epochs done, rng state at the start, history)."""
    X, Y, labels, w = r["X"], r["Y"], r["labels"], r["w"]
    r["run"] = {"n_samples": len(X), "batch_size": r["batch_size"], "shuffle": r["shuffle"],
                "validation_split": r["validation_split"]}
    epochs_done, history = 0, History()
    rng_start = model.rng.bit_generator.state
    if resume is not None:
        from . import checkpoint as ckpt

        epochs_done, rng_start, saved_history = ckpt.restore_into(model, r["optimizer"], resume, r["run"])
        if saved_history is not None:
            history = saved_history
        rng_now = model.rng.bit_generator.state
        model.rng.bit_generator.state = rng_start  # the validation split is drawn as at the start
    sync.start(model, len(X))  # on MPI: rank 0's weights and random state on every rank
    if r["validation_split"]:
        train_idx, val_idx = data.train_validation_split(len(X), r["validation_split"], model.rng, labels)
        r["val"] = (X[val_idx], Y[val_idx], None if labels is None else labels[val_idx])
        r["X"], r["Y"] = X[train_idx], Y[train_idx]
        r["labels"] = None if labels is None else labels[train_idx]
        r["w"] = None if w is None else w[train_idx]
    if resume is not None:
        model.rng.bit_generator.state = rng_now
    return epochs_done, rng_start, history


def _train(model, r, sync, checkpoint, resume, penalty):
    epochs_done, rng_start, history = _split(model, r, resume, sync)
    X, Y, labels, w, optimizer = r["X"], r["Y"], r["labels"], r["w"], r["optimizer"]
    callbacks = r["callbacks"]
    if r["verbose"] and sync.root:
        from .progress import ProgressBar  # tqdm is needed only here
        callbacks.append(ProgressBar())
    n = len(X)
    step = n if r["batch_size"] is None else min(r["batch_size"], n)
    model.history = history
    model.stop_training = False
    X_buf = np.empty((step, X.shape[1]), dtype=X.dtype)
    Y_buf = np.empty((step, Y.shape[1]), dtype=Y.dtype)
    for cb in callbacks:
        cb.set_model(model)
        cb.on_train_begin({"epochs": r["epochs"], "batches": math.ceil(n / step), "samples": n,
                           "initial_epoch": epochs_done, "optimizer": optimizer, "X": X, "Y": Y,
                           "labels": labels})
    end_logs = {}
    try:
        for epoch in range(epochs_done, r["epochs"]):
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            order = model.rng.permutation(n) if r["shuffle"] else np.arange(n)
            snapshot = [p.copy() for p in model.parameters()], optimizer.state_dict()
            total, weight, correct = 0.0, 0.0, 0
            for batch, start in enumerate(range(0, n, step)):
                # this process's rows of the batch, gathered into buffers that stay in
                # cache (mode="clip": the indices are a permutation, always in range, and
                # numpy then writes straight into out instead of through a temporary)
                idx = sync.share(order[start:start + step])
                Xb = X.take(idx, axis=0, out=X_buf[:len(idx)], mode="clip")
                Yb = Y.take(idx, axis=0, out=Y_buf[:len(idx)], mode="clip")
                batch_rows = (Xb, Yb, None if labels is None else labels[idx],
                              None if w is None else w[idx], min(step, n - start))
                # Overflow or NaN anywhere in a step means training diverged: raise it as
                # such, whatever the caller's numpy error settings are.
                with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
                    try:
                        logs = train_step(model, optimizer, batch_rows, sync, penalty)
                    except FloatingPointError as exc:
                        # Before the update nothing has changed: the weights the last step
                        # left are kept if they are finite (the last finite state).
                        _diverged(model, optimizer, snapshot, epoch, batch, exc,
                                  restore=getattr(exc, "during_update", False))
                total += logs["loss"] * logs["weight"]
                weight += logs["weight"]
                correct += logs.get("correct", 0)
                for cb in callbacks:
                    cb.on_batch_end(batch, logs)
                if model.stop_training and start + step < n:
                    break  # asked to stop in the middle of an epoch
            if model.stop_training and start + step < n:
                break
            if not _finite(model.parameters()):  # compiled updates (chainrule.kernels) raise no numpy errors
                _diverged(model, optimizer, snapshot, epoch, batch, "the weights are no longer finite")
            logs = {"loss": total / weight if weight else 0.0}
            if labels is not None:
                logs["accuracy"] = correct / n
            if r["val"] is not None:
                for key, value in model.evaluate_arrays(*r["val"]).items():
                    logs["val_" + key] = value
            history.append(epoch, logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if checkpoint is not None and sync.root:
                from . import checkpoint as ckpt

                ckpt.save_checkpoint(checkpoint, model, optimizer, epoch + 1, rng_start, r["run"])
            if model.stop_training:
                break
    except BaseException as exc:
        end_logs = {"error": exc}
        raise
    finally:
        for cb in callbacks:
            cb.on_train_end(end_logs)
    return history
