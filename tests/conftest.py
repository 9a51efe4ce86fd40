"""Test settings: numpy floating-point errors raise, so a hidden overflow, a division by
zero or a NaN fails the test that caused it (underflow to zero is ordinary and allowed).
Warnings are errors too (pyproject's filterwarnings)."""

import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def numpy_errors_raise():
    old = np.seterr(all="raise", under="ignore")
    yield
    np.seterr(**old)


def shared_datasets():
    """The data home for the tests: $CHAINRULE_DATA, else ../shared/datasets beside the repo."""
    if os.environ.get("CHAINRULE_DATA"):
        return Path(os.environ["CHAINRULE_DATA"]).resolve()
    return Path(__file__).resolve().parents[2] / "shared" / "datasets"


# Subprocesses (the CLI tests) run in other folders: give them an absolute data home.
os.environ["CHAINRULE_DATA"] = str(shared_datasets())


@pytest.fixture(scope="session")
def mnist():
    """((X_train, y_train), (X_test, y_test)) of MNIST, loaded once per test session."""
    from chainrule import datasets

    folder = shared_datasets()
    if not (folder / "mnist").is_dir():
        pytest.fail(f"MNIST files are missing: expected them in {folder / 'mnist'} (set CHAINRULE_DATA)")
    return datasets.load("mnist", data_dir=folder)


@pytest.fixture
def blobs():
    """Three separable classes in 4 features: (X of shape (90, 4) float32, y of shape (90,))."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    X = rng.normal(size=(90, 4)) + np.eye(3, 4)[y] * 3
    return X.astype(np.float32), y
