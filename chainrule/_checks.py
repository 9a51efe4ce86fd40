"""Checks of single arguments, with one message format for all of chainrule.

Every message names the argument, says what is allowed, and shows what was received:

    batch_size must be a positive integer; received batch_size=0
    momentum must be a number in [0, 1); received momentum=1.0

A number may be given as any real type (int, float, NumPy scalars, fractions); a
boolean is never a number. The arrays' checks (shapes, NaN, labels) are in chainrule.data.
"""

import math
import numbers

import numpy as np

from .errors import InputError


def fail(name, allowed, value):
    """Raise InputError: ``{name} must be {allowed}; received {name}={value!r}``. The error's
    ``allowed`` is the text of the rule, which chainrule.settings_text words again for a
    value given as text (``must be a positive integer; received '2.5'``)."""
    error = InputError(f"{name} must be {allowed}; received {name}={value!r}")
    error.allowed = allowed
    raise error


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def is_integer(value):
    """Whether ``value`` is an integer (int or NumPy integer, not a boolean)."""
    return isinstance(value, numbers.Integral) and not _is_bool(value)


def is_number(value):
    """Whether ``value`` is a real number (any real type, not a boolean)."""
    return isinstance(value, numbers.Real) and not _is_bool(value)


def positive_int(name, value, allow_none=False):
    """``value`` as an int >= 1 (or None where ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_integer(value) or value < 1:
        fail(name, "a positive integer" + (" or None" if allow_none else ""), value)
    return int(value)


def non_negative_int(name, value):
    """``value`` as an int >= 0."""
    if not is_integer(value) or value < 0:
        fail(name, "a non-negative integer", value)
    return int(value)


def interval(low=-math.inf, high=math.inf, low_open=False, high_open=False):
    """The text of an interval, e.g. "[0, 1)"; an infinite end is always open."""
    left = "(" if low_open or low == -math.inf else "["
    right = ")" if high_open or high == math.inf else "]"
    return f"{left}{low:g}, {high:g}{right}"


def number(name, value, low=-math.inf, high=math.inf, low_open=False, high_open=False,
           allow_none=False):
    """``value`` as a finite float in the interval from ``low`` to ``high`` (closed
    ends unless ``low_open`` / ``high_open``), or None where ``allow_none``."""
    if value is None and allow_none:
        return None
    ok = is_number(value) and math.isfinite(value) \
        and not (value <= low if low_open else value < low) \
        and not (value >= high if high_open else value > high)
    if not ok:
        fail(name, f"a number in {interval(low, high, low_open, high_open)}"
             + (" or None" if allow_none else ""), value)
    return float(value)


def positive_number(name, value, allow_none=False):
    """``value`` as a finite float > 0 (or None where ``allow_none``)."""
    if value is None and allow_none:
        return None
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        fail(name, "a positive number" + (" or None" if allow_none else ""), value)
    return float(value)


def boolean(name, value):
    """``value`` as a bool; only True and False (and NumPy's) are accepted."""
    if not _is_bool(value):
        fail(name, "True or False", value)
    return bool(value)


def one_of(name, value, choices, hint=""):
    """``value`` if it is one of ``choices`` (strings); the message lists them, sorted."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {sorted(choices)}; received {name}={value!r}{hint}")
    return value
