"""The library's own errors.

Every error a user can cause is a ValueError or TypeError (so ordinary ``except
ValueError`` code keeps working) and also a ``ChainruleError``, so the command line
can turn exactly these into one line and exit status 2.
"""


class ChainruleError(Exception):
    """Base class of every error chainrule raises on purpose."""


class InputError(ChainruleError, ValueError):
    """An argument has a value that is not allowed (the message names it)."""


class InputTypeError(ChainruleError, TypeError):
    """An argument has a type that is not allowed (the message names it)."""


class DataFormatError(ChainruleError, ValueError):
    """A data file (IDX, image, download) is not what it claims to be."""


class DatasetNotFoundError(ChainruleError, FileNotFoundError):
    """The files of a data set are nowhere on disk and could not be downloaded."""


class ModelFormatError(ChainruleError, ValueError):
    """A model or checkpoint file is not a valid chainrule file."""


class TrainingDivergedError(ChainruleError, FloatingPointError):
    """The loss or the weights became NaN or infinite during training."""


class DistributedError(ChainruleError, RuntimeError):
    """A distributed run cannot go on: MPI is not installed, or another rank failed."""


class TrainingWarning(UserWarning):
    """Training went on but is going nowhere: a loss that rises or ends above its start, a
    loss or weights that stop being finite, an accuracy at chance level, weights that grow
    by orders of magnitude (see chainrule.watchdog.Watchdog). The message says what
    happened, with its numbers, the most likely cause and the fix to try; ``kind`` and
    ``epoch`` (from 1) say which check fired and when."""

    def __init__(self, message, kind=None, epoch=None):
        super().__init__(message)
        self.kind, self.epoch = kind, epoch
