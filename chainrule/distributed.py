"""Synchronous data-parallel training on MPI, through mpi4py (``fit(..., distributed=True)``).

N processes (ranks), started by ``mpiexec -n N``, each hold the whole data set and the same
network. Every step of mini-batch SGD becomes:

    each rank r takes its share X_r (n_r rows) of the global batch of B rows and computes
        g_r = dC_r/dW, the gradient of the mean cost over its n_r rows;
    one Allreduce sums  n_r g_r  and  n_r  over the ranks, and  g = sum_r n_r g_r / B  is
        the gradient of the mean over all B rows (with example weights, n_r is the
        share's total weight and B the batch's);
    every rank applies the same optimizer step to the same weights with the same g.

So the weights stay identical on every rank, and equal (up to the order of the sums) to
those of one process training with batch size B. Why it is built this way:

- **Nothing is sent but gradients.** Every rank starts from rank 0's weights and random
  state (broadcast once). From then on the ranks draw the same numbers from the same
  generator: the same validation split, the same shuffled order at every epoch. Dropout
  draws the mask of the whole global batch on every rank and keeps its rows (see
  ``_RowsOfTheBatch``), so the generators never drift apart and the masks are those one
  process would draw; a checkpoint's random state is every rank's.
- **One buffer, one collective.** The weighted gradients (each rank's share weight, its
  number of rows or its total example weight, times its gradient), the share's summed
  loss, weight and correct count and three status counts (stepping, diverged, failed) are packed into one
  contiguous NumPy array and summed in place with ``comm.Allreduce(MPI.IN_PLACE, buf)``:
  no pickling, one message per step. Every collective of a distributed ``fit`` is this
  Allreduce of this buffer: at the start ("ready"), at every step, at the end ("finished")
  and when a rank fails. So a rank that fails anywhere (a NaN, an exception in its step,
  in a callback, in writing the checkpoint) sends its failure in the very Allreduce the
  others are waiting in: all ranks raise together instead of waiting forever. After a
  failure every rank knows it, and only then are the messages gathered (small pickled
  strings) to name the failed rank in the error.
- **Rank 0 alone writes.** Progress bars and checkpoints are rank 0's (``fit``); the command
  line prints and saves on rank 0 only, and ends the job with ``MPI_Abort`` when one rank
  fails outside ``fit`` (reading its data, say), where the others cannot hear of it.
"""

import numpy as np

from .errors import DistributedError, InputTypeError
from .layers import Dropout

INSTALL = "distributed training needs chainrule[distributed]: pip install 'chainrule[distributed]'"


def mpi():
    """The ``mpi4py.MPI`` module, imported on first use (MPI starts when it is imported)."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise DistributedError(INSTALL) from None
    return MPI


def get_communicator(distributed):
    """The communicator of ``distributed``: True gives ``MPI.COMM_WORLD``; an mpi4py
    intracommunicator is returned as it is."""
    MPI = mpi()
    if distributed is True:
        return MPI.COMM_WORLD
    if isinstance(distributed, MPI.Intracomm):
        return distributed
    raise InputTypeError(
        f"distributed must be True, False or an mpi4py communicator; received distributed={distributed!r}"
    )


def share_bounds(n, rank, size):
    """(start, stop) of rank ``rank``'s contiguous share of ``n`` rows split between ``size``
    ranks: the shares differ in size by at most 1 and may be empty (n < size)."""
    return rank * n // size, (rank + 1) * n // size


def share(idx, rank, size):
    """Rank ``rank``'s contiguous share of the indices ``idx`` of a global batch."""
    start, stop = share_bounds(len(idx), rank, size)
    return idx[start:stop]


def broadcast_parameters(model, comm, root=0):
    """Overwrite, in place, every parameter array of ``model`` with those of rank ``root``
    (``Bcast`` on the NumPy buffers) and its random generator's state with root's."""
    for p in model.parameters():
        comm.Bcast(p, root=root)
    model.rng.bit_generator.state = comm.bcast(model.rng.bit_generator.state, root=root)


class _RowsOfTheBatch:
    """Stands in for a Dropout layer's Generator during a distributed fit. It draws the
    mask of the whole global batch, of shape (batch_size, n_features), and gives back the
    rows of this rank's share: every rank draws the same numbers (their generators stay
    in step) and the masks are those one process would draw for the whole batch."""

    def __init__(self, rng):
        self.rng, self.batch_size, self.rows = rng, 0, slice(0, 0)

    def random(self, shape, dtype=np.float64):
        return self.rng.random((self.batch_size, *shape[1:]), dtype=dtype)[self.rows]


# The last slots of the reduced buffer: summed over the ranks, each is a count.
WEIGHT, LOSS, CORRECT, STEPPING, DIVERGED, FAILED = -6, -5, -4, -3, -2, -1


class DataParallel:
    """One rank's side of a synchronous data-parallel ``fit``: the synchronisation strategy
    ``training.fit`` uses on MPI in place of ``training.Local`` (the same methods), as
    ``with DataParallel(model, distributed) as sync:``. On leaving the block normally it
    waits until every rank has finished; on an exception that the other ranks do not know
    of yet, it tells them (they raise too), and marks the exception ``raised_on_every_rank``.
    """

    def __init__(self, model, distributed):
        self.MPI = mpi()
        self.comm = get_communicator(distributed)
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.root = self.rank == 0  # the rank that reports and writes
        self.model = model
        self.gradients = model.gradients()
        # weighted gradients, then the loss sum, correct count and status counts
        self.buffer = np.zeros(sum(g.size for g in self.gradients) + 6, dtype=model.dtype)
        self.problem = None  # (exception, "what happened") on the rank where it happened
        self.everyone_knows = False

    # --- the one collective ----------------------------------------------------------

    def _reduce(self, stepping):
        """Sum the buffer over the ranks, in place; raise on every rank if one failed or
        the ranks are not all at the same point (stepping or not)."""
        buf = self.buffer
        buf[STEPPING] = stepping
        buf[DIVERGED] = self.problem is not None and isinstance(self.problem[0], FloatingPointError)
        buf[FAILED] = self.problem is not None and not buf[DIVERGED]
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        stepping = round(float(buf[STEPPING]))
        if buf[DIVERGED] or buf[FAILED]:
            self.everyone_knows = True
            reports = self.comm.allgather(None if self.problem is None else self.problem[1])
            failed = [f"rank {r}: {text}" for r, text in enumerate(reports) if text is not None]
            own = None if self.problem is None else self.problem[0]
            if buf[FAILED]:
                if own is not None and not isinstance(own, FloatingPointError):
                    raise own
                raise DistributedError(f"training stopped because a rank failed ({'; '.join(failed)})")
            raise FloatingPointError("; ".join(failed))
        if stepping not in (0, self.size):
            self.everyone_knows = True
            raise DistributedError(
                f"the ranks went out of step: {self.size - stepping} of {self.size} stopped training "
                "while the others took another step (stop_training must be set on every rank alike)"
            )

    # --- what fit calls ---------------------------------------------------------------

    def __enter__(self):
        self.dropouts = [layer for layer in self.model.layers if isinstance(layer, Dropout)]
        for layer in self.dropouts:
            layer.rng = _RowsOfTheBatch(layer.rng)
        return self

    def __exit__(self, exc_type, exc, traceback):
        for layer in self.dropouts:
            layer.rng = layer.rng.rng
        if exc is None:
            self.buffer[:] = 0
            try:
                self._reduce(stepping=0)  # wait until every rank has finished
            except BaseException as failure:  # another rank failed at its end
                failure.raised_on_every_rank = True
                raise
            return False
        if not self.everyone_knows:  # tell the others, who wait in the Allreduce
            self.problem = (exc, _describe(exc))
            self.buffer[:] = 0
            try:
                self._reduce(stepping=0)
            except BaseException:
                pass  # this rank raises its own exception below
        exc.raised_on_every_rank = True
        return False

    def start(self, model, n_samples):
        """Check that every rank got here with the same number of examples, then give
        every rank rank 0's weights and random state."""
        self.buffer[:] = 0
        self._reduce(stepping=0)
        counts = self.comm.allgather(n_samples)
        if len(set(counts)) > 1:
            self.everyone_knows = True
            raise DistributedError(
                f"every rank must be given the same X and y; the ranks received {counts} examples"
            )
        broadcast_parameters(model, self.comm)

    def share(self, idx):
        """This rank's contiguous share of the global batch ``idx``."""
        return share(idx, self.rank, self.size)

    def step(self, model, compute, batch_size):
        """(loss, correct, weight) of a global batch of ``batch_size`` rows, after leaving in
        every gradient buffer of ``model`` the gradient of the global batch's (weighted)
        mean cost, the same on every rank. ``compute()`` runs this rank's share (see
        ``training.batch_gradient``): the gradient of its share's mean cost, and its
        (cost, correct, weight). Each rank sends weight * gradient and the sum is divided
        by the total weight. A NaN or infinity on any rank raises FloatingPointError on
        every rank."""
        buf = self.buffer
        buf[:] = 0
        start, stop = share_bounds(batch_size, self.rank, self.size)
        for layer in self.dropouts:
            layer.rng.batch_size, layer.rng.rows = batch_size, slice(start, stop)
        try:
            if stop > start:
                loss, correct, weight = compute()
                if weight:
                    offset = 0
                    for g in self.gradients:  # the share's part of the global weighted sum
                        np.multiply(g, weight, out=buf[offset:offset + g.size].reshape(g.shape))
                        offset += g.size
                    buf[LOSS], buf[WEIGHT] = loss * weight, weight
                buf[CORRECT] = correct or 0
            elif self.dropouts:  # draws this batch's masks, as every rank does
                model.forward_pass(np.empty((0, model.n_features), dtype=model.dtype), training=True)
        except Exception as exc:  # noqa: BLE001 - every rank must hear of it, whatever it is
            self.problem = (exc, _describe(exc))
        self._reduce(stepping=1)
        total = float(buf[WEIGHT])
        if total:
            offset = 0
            for g in self.gradients:
                np.divide(buf[offset:offset + g.size].reshape(g.shape), total, out=g)
                offset += g.size
        return (float(buf[LOSS]) / total if total else 0.0), round(float(buf[CORRECT])), total


def _describe(exc):
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def raised_on_every_rank(exc):
    """Whether ``exc`` left a distributed ``fit`` on every rank (so no rank is left waiting)."""
    return getattr(exc, "raised_on_every_rank", False)
