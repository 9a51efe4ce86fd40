"""What the commands of chainrule.cli share: exit statuses, flag values and their checks."""

import argparse
from pathlib import Path

from .. import recipes
from ..errors import InputError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report a reader that went away


def flag(read):
    """The argparse type of a chainrule.settings_text reader: its InputError becomes
    argparse's "argument --NAME: must be ...; received '...'"."""
    def convert(text):
        try:
            return read(text)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = read.__name__
    return convert


def check_momentum(momentum, optimizer):
    """--momentum only with an optimizer that has one (the flag's own wording)."""
    if momentum is not None and optimizer not in recipes.MOMENTUM_OPTIMIZERS:
        raise InputError(f"--momentum applies to {' and '.join(recipes.MOMENTUM_OPTIMIZERS)}; "
                         f"{optimizer} has none (its beta_1 plays that part)")


def file_in_a_folder(flag_name, value):
    """The Path of a file option (--output, --png), which must be in an existing folder."""
    path = Path(value)
    if path.is_dir() or not path.resolve().parent.is_dir():
        raise InputError(f"{flag_name} must be a file in an existing folder; received {value!r}")
    return path


def given(args, names):
    """The options of ``names`` that the command line set: those whose value is not
    argparse's default of None or False, as --flag names."""
    return [f"--{name.replace('_', '-')}" for name in names if getattr(args, name, None) not in (None, False)]


def fill_defaults(args, defaults):
    """Set every option of ``args`` that the user left out (None) to its value in
    ``defaults`` (a chainrule.recipes.Recipe): train's options have None as their argparse
    default, so that a run on a bundled data set and one on a table each get their own."""
    for name in recipes.FIELDS:
        if getattr(args, name, 0) is None:
            setattr(args, name, getattr(defaults, name))
    return args
