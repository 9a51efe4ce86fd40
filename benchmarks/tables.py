"""TabularModel's defaults on real tables that install offline, against scikit-learn's MLP
pipeline: python benchmarks/tables.py [setting=value ...] (e.g. batch_size=64 alpha=0).

Tables: scikit-learn's bundled wine, breast cancer and diabetes, written to CSV files, and
the penguins of palmerpenguins (species; rows with missing values kept). Each is split
75/25 (stratified for classes) with three seeds; the score is accuracy or R^2 on the test
rows, the time the fit's seconds.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from chainrule.tabular import TabularModel


def tables():
    for name, loader in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer),
                         ("diabetes", datasets.load_diabetes)):
        frame = loader(as_frame=True).frame
        yield name, frame, "target", "classification" if name != "diabetes" else "regression"
    try:
        import palmerpenguins
    except ImportError:
        return
    yield "penguins", palmerpenguins.load_penguins(), "species", "classification"


def sklearn_pipeline(task, seed):
    pre = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), make_column_selector(dtype_include="number")),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_exclude="number")))
    net = MLPClassifier(max_iter=500, random_state=seed) if task == "classification" \
        else MLPRegressor(max_iter=500, random_state=seed)
    return make_pipeline(pre, net)


def main(argv):
    settings = {}
    for arg in argv:
        key, value = arg.split("=")
        settings[key] = eval(value)  # noqa: S307 (a benchmark's own command line)
    folder = Path(tempfile.mkdtemp())
    print(f"settings: {settings or 'defaults'}")
    print("| table | rows | chainrule score | seconds | epochs | sklearn MLP score | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, frame, target, task in tables():
        ours, theirs, t_ours, t_theirs, epochs = [], [], [], [], []
        for seed in range(3):
            train, test = train_test_split(frame, test_size=0.25, random_state=seed,
                                           stratify=frame[target] if task == "classification" else None)
            path = folder / f"{name}-{seed}.csv"
            train.to_csv(path, index=False)
            start = time.perf_counter()
            model = TabularModel(seed=seed, **settings).fit(path, target=target)
            t_ours.append(time.perf_counter() - start)
            epochs.append(len(model.history_.epoch))
            scores = model.evaluate(test)
            ours.append(scores["accuracy" if task == "classification" else "r2"])
            pipe = sklearn_pipeline(task, seed)
            start = time.perf_counter()
            X = train.drop(columns=target)
            y = train[target] if task == "classification" else (train[target] - train[target].mean()) / train[target].std()
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pipe.fit(X, y)
            t_theirs.append(time.perf_counter() - start)
            if task == "classification":
                theirs.append(float((pipe.predict(test.drop(columns=target)) == test[target]).mean()))
            else:
                pred = pipe.predict(test.drop(columns=target)) * train[target].std() + train[target].mean()
                y_test = test[target].to_numpy()
                theirs.append(1 - ((y_test - pred) ** 2).sum() / ((y_test - y_test.mean()) ** 2).sum())
        print(f"| {name} | {len(frame)} | {np.mean(ours):.3f} | {np.mean(t_ours):.2f} | {np.mean(epochs):.0f} "
              f"| {np.mean(theirs):.3f} | {np.mean(t_theirs):.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
