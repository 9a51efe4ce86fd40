"""chainrule: neural networks trained by backpropagation and mini-batch SGD, on NumPy.

The public API, re-exported from the modules that define it.
"""

from . import activations, losses, optimizers
from ._version import __version__
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, JSONLogger, LambdaCallback,
                        LearningRateScheduler, ModelCheckpoint, ReduceLROnPlateau)
from .errors import (ChainruleError, DataFormatError, DatasetNotFoundError, DistributedError, InputError,
                     InputTypeError, ModelFormatError, TrainingDivergedError, TrainingWarning)
from .gradcheck import gradcheck
from .layers import Dense, Dropout
from .loading import load
from .lr_finder import lr_find
from .network import Sequential
from .watchdog import Watchdog

__all__ = [
    "CSVLogger", "Callback", "ChainruleError", "DataFormatError", "DatasetNotFoundError", "Dense",
    "DistributedError", "Dropout", "EarlyStopping", "History", "InputError", "InputTypeError", "JSONLogger",
    "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ModelFormatError", "ReduceLROnPlateau",
    "Sequential", "TrainingDivergedError", "TrainingWarning", "Watchdog", "activations", "datasets",
    "gradcheck", "load", "losses", "lr_find", "optimizers", "__version__",
]


def __getattr__(name):
    # chainrule.datasets, chainrule.tabular and chainrule.folders import lazily: they are not
    # part of the NumPy-only core.
    if name in ("datasets", "tabular", "folders"):
        import importlib

        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
