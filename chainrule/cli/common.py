"""What the commands of chainrule.cli share: exit statuses, flag values and their checks."""

import argparse
import sys
from pathlib import Path

from .. import recipes, settings_text
from ..errors import InputError
from ..watchdog import Watchdog, at_chance, chance_level

EXIT_ERROR = 2
EXIT_NO_BETTER_THAN_CHANCE = 3  # train saved a model that does no better than chance
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


def learning_rate(text):
    """--lr: a positive number, or "auto" for the range test's suggestion."""
    return "auto" if text.strip().lower() == "auto" else settings_text.positive_number(text)


def say(line, bars):
    """One line on stderr; through tqdm while progress bars may be drawn, so as not to cut one."""
    if bars:
        from tqdm.auto import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def watchdog(args):
    """The Watchdog of ``chainrule train`` (None with --no-watchdog): each warning as one
    line on stderr, "warning: ..." (not for a run that stops with TrainingDivergedError,
    whose error line, "chainrule: error: training diverged ...", is the one line)."""
    if args.no_watchdog:
        return None
    return Watchdog(on_warning=lambda w: say(f"warning: {w['message']}", bars=not args.quiet),
                    on_error=False)  # a run that diverges ends with its own error line


def useless_model(scores, labels, split, output):
    """The line saying the saved model is no better than chance, or None. ``scores`` are a
    split's: {"accuracy"} (``labels``, int64 of shape (n_samples,), or the share of the most
    common class, give chance) or {"r2"} (no better than the mean: R^2 <= 0)."""
    if "r2" in scores:
        if scores["r2"] > 0:
            return None
        return (f"chainrule: the model is no better than predicting the mean: {split} R^2 "
                f"{scores['r2']:.4f}; saved {output} anyway (exit status {EXIT_NO_BETTER_THAN_CHANCE})")
    if "accuracy" not in scores or labels is None:
        return None
    share = labels if isinstance(labels, float) else chance_level(labels)[0]
    if not at_chance(scores["accuracy"], share):
        return None
    return (f"chainrule: the model is no better than chance: {split} accuracy {100 * scores['accuracy']:.2f}%, "
            f"where always predicting the most common class scores {100 * share:.2f}%; saved {output} "
            f"anyway (exit status {EXIT_NO_BETTER_THAN_CHANCE})")
