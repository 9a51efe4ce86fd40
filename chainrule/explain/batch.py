"""From one example to the batch: the cost of a batch is the mean of its per-example costs,
so its gradient is the mean of the per-example gradients (batch_check), and a mini-batch's
gradient is a noisy estimate of the full-data one (gradient_noise).
"""

from dataclasses import dataclass

import numpy as np

from .. import data
from .._checks import fail
from ..errors import InputError
from .common import float64_copy, integer_in


@dataclass(frozen=True)
class BatchCheck:
    """The mean of the per-example gradients against the batch gradient of one pass.

    max_abs_difference: the largest |difference| over every weight and bias (float64).
    relative_difference: max_abs_difference / the largest |batch gradient| entry.
    """

    n_samples: int
    max_abs_difference: float
    relative_difference: float

    def __str__(self):
        return (f"the mean of {self.n_samples} per-example gradients (one backprop pass each) "
                f"against the batch gradient (one pass over all {self.n_samples}):\n"
                f"  max |difference| = {self.max_abs_difference:.3g}, "
                f"{self.relative_difference:.3g} of the largest gradient entry: "
                f"{'the same up to rounding' if self.relative_difference < 1e-12 else 'NOT the same'}")


def batch_check(model, X, y):
    """Whether the batch gradient is the mean of the per-example gradients (it is: the
    cost of a batch is the mean of the per-example costs). Computed in float64.

    Arguments:
        X: inputs of shape (n_samples, n_features); y: their labels or targets.

    Returns:
        a BatchCheck; its max_abs_difference is rounding, about 1e-16 of the gradient.
    """
    m = float64_copy(model)
    X = data.check_X(X, m.n_features, np.float64)
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)
    _, batch = m.loss_and_gradients(X, Y)
    mean = [np.zeros_like(g) for g in batch]
    for r in range(len(X)):
        _, grads = m.loss_and_gradients(X[r:r + 1], Y[r:r + 1])
        for total, g in zip(mean, grads, strict=True):
            total += g
    diff = max(float(np.abs(t / len(X) - g).max()) for t, g in zip(mean, batch, strict=True))
    scale = max(float(np.abs(g).max()) for g in batch)
    return BatchCheck(n_samples=len(X), max_abs_difference=diff,
                      relative_difference=diff / scale if scale > 0 else diff)


@dataclass(frozen=True)
class NoiseRow:
    """The cosines between n_batches mini-batch gradients and the full-data gradient.

    batch_size: examples per batch (n_samples for the full data).
    downhill: the share of batches whose gradient has cosine > 0 with the full one: a
        small enough step along them lowers the full-data cost.
    mean_angle: the mean angle between the two gradients, in degrees.
    """

    batch_size: int
    n_batches: int
    mean_cosine: float
    std_cosine: float
    min_cosine: float
    mean_angle: float
    downhill: float


@dataclass(frozen=True)
class GradientNoise:
    """How noisy the mini-batch gradient is: one NoiseRow per batch size."""

    n_samples: int
    rows: tuple

    def __str__(self):
        lines = [f"cosine between the mini-batch gradient and the full-data gradient "
                 f"({self.n_samples} examples)",
                 "  batch size   batches   mean cos   std cos   min cos   mean angle   downhill"]
        for r in self.rows:
            size = f"all {r.batch_size}" if r.batch_size == self.n_samples else str(r.batch_size)
            lines.append(f"  {size:>10}   {r.n_batches:>7}   {r.mean_cosine:>8.3f}   {r.std_cosine:>7.3f}   "
                         f"{r.min_cosine:>7.3f}   {r.mean_angle:>6.1f} deg   {100 * r.downhill:>7.0f}%")
        first = self.rows[0]
        lines.append(f"  cos 1: the step points straight down the full-data slope; cos <= 0: it climbs. "
                     f"With batches of {first.batch_size}, SGD is the drunk person stumbling downhill: "
                     f"each step is off by {first.mean_angle:.0f} degrees on average and "
                     f"{100 * first.downhill:.0f}% of them go downhill; larger batches stumble less.")
        return "\n".join(lines)


def _mean_gradient(m, X, Y, chunk=4096):
    """The gradient of the mean cost over all of X, flattened, computed in slices."""
    total = None
    for i in range(0, len(X), chunk):
        rows = slice(i, i + chunk)
        _, grads = m.loss_and_gradients(X[rows], Y[rows])
        g = np.concatenate([a.ravel() for a in grads]) * len(X[rows])  # undo the slice's 1/n
        total = g if total is None else total + g
    return total / len(X)


def gradient_noise(model, X, y, batch_sizes=(1, 10, 100, None), n_batches=20, seed=0):
    """How well mini-batch gradients point along the full-data gradient.

    Arguments:
        X: inputs of shape (n_samples, n_features); y: their labels or targets.
        batch_sizes: sizes to try, each a positive integer up to n_samples, or None for
            all of X (one batch: its cosine is 1).
        n_batches: mini-batches drawn per size (each without repetition within it).
        seed: seeds the draws.

    Returns:
        a GradientNoise: per batch size, the mean, spread and minimum of the cosine
        similarity g_batch . g / (|g_batch| |g|) over the batches, in float64.
    """
    m = float64_copy(model)
    X = data.check_X(X, m.n_features, np.float64)
    Y, _ = data.check_targets(y, len(X), m.n_outputs, m.loss.name, np.float64)
    n = len(X)
    if isinstance(batch_sizes, (str, bytes)) or not hasattr(batch_sizes, "__iter__") or not list(batch_sizes):
        fail("batch_sizes", "a non-empty list of batch sizes", batch_sizes)
    sizes = [n if b is None else integer_in("batch_sizes", b, 1, n, "examples per batch, or None for all")
             for b in batch_sizes]
    n_batches = integer_in("n_batches", n_batches, 1, 10**6, "mini-batches per size")
    rng = np.random.default_rng(seed)
    full = _mean_gradient(m, X, Y)
    full_norm = float(np.linalg.norm(full))
    if full_norm == 0:
        raise InputError("the full-data gradient is 0 (the cost is at a stationary point): "
                         "there is no downhill direction to compare with")
    rows = []
    for b in sizes:
        draws = [np.arange(n)] if b == n else [rng.choice(n, b, replace=False) for _ in range(n_batches)]
        cosines = []
        for idx in draws:
            g = _mean_gradient(m, X[idx], Y[idx])
            norm = float(np.linalg.norm(g))
            cosines.append(float(g @ full) / (norm * full_norm) if norm > 0 else 0.0)
        c = np.clip(np.array(cosines), -1.0, 1.0)
        rows.append(NoiseRow(batch_size=b, n_batches=len(draws), mean_cosine=float(c.mean()),
                             std_cosine=float(c.std()), min_cosine=float(c.min()),
                             mean_angle=float(np.degrees(np.arccos(c)).mean()),
                             downhill=float((c > 0).mean())))
    return GradientNoise(n_samples=n, rows=tuple(rows))
