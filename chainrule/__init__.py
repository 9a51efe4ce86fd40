"""chainrule: neural networks trained by backpropagation and mini-batch SGD, on NumPy.

The public API, re-exported from the modules that define it.
"""

from . import activations, losses, optimizers
from .callbacks import CSVLogger, JSONLogger, LearningRateScheduler, ModelCheckpoint  # noqa: I001
from .errors import (ChainruleError, DataFormatError, DatasetNotFoundError, DistributedError, InputError,
                     InputTypeError, ModelFormatError, TrainingDivergedError)
from .gradcheck import gradcheck
from .saving import load
from .layers import Dense, Dropout
from .network import Sequential
from .callbacks import Callback, EarlyStopping, History, LambdaCallback, ReduceLROnPlateau

from ._version import __version__

__all__ = [
    "CSVLogger", "Callback", "ChainruleError", "DataFormatError", "DatasetNotFoundError", "Dense",
    "DistributedError", "Dropout", "EarlyStopping", "History", "InputError", "InputTypeError", "JSONLogger",
    "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ModelFormatError", "ReduceLROnPlateau",
    "Sequential",
    "TrainingDivergedError", "activations", "datasets", "gradcheck", "load", "losses", "optimizers",
    "__version__",
]


def __getattr__(name):
    # chainrule.datasets imports lazily: it is not part of the NumPy-only core.
    if name == "datasets":
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
