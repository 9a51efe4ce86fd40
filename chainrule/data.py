"""Checks at the edge: turn what a user passes into the arrays the math expects.

Inside chainrule, inputs are X of shape (n_samples, n_features) and targets Y of shape
(n_samples, n_outputs), both in the network's dtype. Class labels are int64 of shape
(n_samples,). This module converts once, at the edge, and nowhere else:
    - a multi-output network takes integer labels (one-hot encoded here) or targets of
      shape (n_samples, n_outputs), for every loss;
    - a one-output network takes targets of shape (n_samples,) or (n_samples, 1).
Each check raises InputError (a ValueError) or InputTypeError (a TypeError) naming the
argument, what is allowed, and what was received.
"""

import numpy as np

from .errors import InputError, InputTypeError

DTYPES = ("float32", "float64")  # the floating-point types a network computes in


def numeric_array(value, name):
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(f"{name} must be an array of numbers; could not convert it: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InputTypeError(
            f"{name} must be an array of numbers; received an array of dtype {arr.dtype}"
        )
    return arr


def require_finite(arr, name):
    # One pass over the data, which fit makes at every call: a NaN or an inf anywhere
    # makes the sum NaN or inf. Only then (or when finite values overflow the sum) min
    # and max, which propagate NaN and show inf, decide, and argwhere finds the place.
    if arr.dtype.kind != "f" or not arr.size:
        return
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(arr.sum()):
            return
    if not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise InputError(
            f"{name} must be finite; received NaN or inf at index {tuple(int(i) for i in bad)}"
        )


def check_X(X, n_features, dtype, name="X"):
    """X as a C-contiguous array of shape (n_samples, n_features) in ``dtype``."""
    arr = numeric_array(X, name)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be 2-D of shape (n_samples, n_features); received shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise InputError(f"{name} must hold at least one sample; received shape {arr.shape}")
    if arr.shape[1] != n_features:
        raise InputError(
            f"{name} must have {n_features} features (the first layer's in_features); "
            f"received {arr.shape[1]}"
        )
    require_finite(arr, name)
    return as_dtype(arr, dtype, name)


def as_dtype(arr, dtype, name):
    """``arr`` as a C-contiguous array of ``dtype``, refusing values the narrower type
    cannot hold (a float64 1e39 would become inf in float32)."""
    dtype = np.dtype(dtype)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > dtype.itemsize and dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            if not np.isfinite(out.sum()) and not np.isfinite(out).all():
                bad = np.argwhere(~np.isfinite(out))[0]
                where = tuple(int(i) for i in bad)
                raise InputError(
                    f"{name} must lie within the range of {dtype} (|value| <= {np.finfo(dtype).max:.4g}); "
                    f"received {arr[where].item()!r} at index {where}"
                )
    return out


def check_sample_weight(sample_weight, n_samples, name="sample_weight"):
    """Example weights as float64 of shape (n_samples,), finite and non-negative, or None."""
    if sample_weight is None:
        return None
    w = numeric_array(sample_weight, name).astype(np.float64)
    if w.shape != (n_samples,):
        raise InputError(f"{name} must be of shape ({n_samples},) (one weight per sample); "
                         f"received shape {w.shape}")
    require_finite(w, name)
    if (w < 0).any():
        raise InputError(f"{name} must be non-negative; received {float(w[w < 0][0])!r} "
                         f"at index {int(np.flatnonzero(w < 0)[0])}")
    return w


def one_hot(labels, n_classes, dtype):
    """Y of shape (n_samples, n_classes): Y[i, labels[i]] = 1, else 0."""
    Y = np.zeros((len(labels), n_classes), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def check_labels(y, n_classes, name="y"):
    """Integer class labels of shape (n_samples,), each in [0, n_classes)."""
    arr = numeric_array(y, name)
    if arr.ndim != 1:
        raise InputError(f"{name} must be 1-D class labels; received shape {arr.shape}")
    require_finite(arr, name)
    if arr.dtype.kind == "f" and len(arr) and not np.array_equal(arr, np.round(arr)):
        raise InputError(
            f"{name} must be integer class labels; received non-integer values such as "
            f"{arr[arr != np.round(arr)][0].item()!r}"
        )
    labels = arr.astype(np.int64)
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)][0]
        raise InputError(
            f"{name} must hold class labels in [0, {n_classes - 1}] (the network has "
            f"{n_classes} outputs); received label {bad}"
        )
    return labels


def check_targets(y, n_samples, n_outputs, loss_name, dtype, name="y"):
    """(Y, labels): targets of shape (n_samples, n_outputs) and, where y holds classes,
    their int64 labels of shape (n_samples,) (else None) for computing accuracy."""
    arr = numeric_array(y, name)
    if arr.ndim not in (1, 2):
        raise InputError(f"{name} must be 1-D or 2-D; received shape {arr.shape}")
    if len(arr) != n_samples:
        raise InputError(
            f"X and {name} must have the same number of samples; received {n_samples} and {len(arr)}"
        )
    require_finite(arr, name)
    if n_outputs > 1 and arr.ndim == 1:
        labels = check_labels(arr, n_outputs, name)
        return one_hot(labels, n_outputs, dtype), labels
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[1] != n_outputs:
        kind = "one-hot labels" if n_outputs > 1 else "targets"
        raise InputError(
            f"{name} as {kind} must have {n_outputs} columns (the network's outputs); "
            f"received shape {arr.shape}"
        )
    if loss_name in ("log_loss", "cross_entropy") and (arr.min() < 0 or arr.max() > 1):
        raise InputError(
            f"{name} must lie in [0, 1] for loss={loss_name!r}; received values in "
            f"[{arr.min().item()}, {arr.max().item()}]"
        )
    Y = as_dtype(arr, dtype, name)
    labels = None
    is_binary = np.isin(arr, (0, 1)).all()
    if n_outputs == 1 and is_binary:
        labels = arr[:, 0].astype(np.int64)
    elif n_outputs > 1 and is_binary and (arr.sum(axis=1) == 1).all():
        labels = arr.argmax(axis=1).astype(np.int64)
    return Y, labels


def predicted_labels(A):
    """Class labels of shape (n_samples,) from outputs A of shape (n_samples, n_outputs):
    the largest output, or output > 0.5 for a one-output network."""
    if A.shape[1] == 1:
        return (A[:, 0] > 0.5).astype(np.int64)
    return A.argmax(axis=1)


def train_validation_split(n_samples, fraction, rng, labels=None):
    """(train_index, validation_index): a shuffled split holding ``fraction`` of the
    samples out; stratified by class when labels are given, so every class keeps its share."""
    if labels is None:
        order = rng.permutation(n_samples)
        n_val = max(1, int(round(fraction * n_samples)))
        return np.sort(order[n_val:]), np.sort(order[:n_val])
    val = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        val.append(members[: int(round(fraction * len(members)))])
    val = np.sort(np.concatenate(val))
    if len(val) == 0 or len(val) == n_samples:
        raise InputError(
            f"validation_split={fraction} leaves no samples for validation or for training "
            f"with {n_samples} samples"
        )
    train = np.setdiff1d(np.arange(n_samples), val, assume_unique=True)
    return train, val
