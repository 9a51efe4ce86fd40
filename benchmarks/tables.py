"""TabularModel's defaults on real tables that install offline, side by side with
scikit-learn's MLP pipeline and its gradient boosting (issue 13):

    python benchmarks/tables.py                       # every table, 3 seeds
    python benchmarks/tables.py --tables wine,penguins --seeds 1 batch_size=64 alpha=0

Tables: scikit-learn's bundled wine, breast cancer (classification) and diabetes
(regression); the penguins of palmerpenguins (species; rows with missing values kept);
vega_datasets' cars (Miles_per_Gallon, regression; its Year as a number) and Seattle
weather (weather, 5 classes; its date as the month); and a synthetic table of
--synthetic-rows rows x 50 columns (benchmarks/tables_scale.py's). Rows without a target are
left out. For each seed the table is split 75/25 (stratified for classes), both parts
written to CSV files and read back as a user would: chainrule from the path, scikit-learn
with pandas.read_csv. The time is reading the training file plus the fit, in seconds; the
score is on the test rows: accuracy and macro-F1 for classes, R^2 for regression. Medians
over the seeds. Every system runs on one thread (threadpoolctl's limit over BLAS and
OpenMP, which gradient boosting uses): on a shared 2-core machine, more threads measure the
neighbours. The systems:

    chainrule  TabularModel(seed=seed) with its defaults (chainrule.tabular.settings), or
               the settings given as setting=value
    mlp        make_pipeline(ColumnTransformer(numbers: SimpleImputer(median) +
               StandardScaler, the rest: SimpleImputer(most_frequent) +
               OneHotEncoder(handle_unknown="ignore")), MLPClassifier/MLPRegressor(defaults
               and early_stopping=True)); the regressor learns the standardised target
               (scikit-learn's MLPRegressor does not scale it) and is scored in its units
    hgb        HistGradientBoostingClassifier/Regressor (defaults: early stopping from
               10,000 rows) on the numbers as they are and the other columns as ordinal
               categories (OrdinalEncoder, unknown and missing as NaN; categorical_features)
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import datasets
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, f1_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # measure this working tree's chainrule

from chainrule.tabular import TabularModel  # noqa: E402

SYSTEMS = ("chainrule", "mlp", "hgb")


def tables(synthetic_rows):
    """(name, frame, target, task) of every table."""
    for name, loader in (("wine", datasets.load_wine), ("breast_cancer", datasets.load_breast_cancer),
                         ("diabetes", datasets.load_diabetes)):
        frame = loader(as_frame=True).frame
        yield name, frame, "target", "classification" if name != "diabetes" else "regression"
    try:
        import palmerpenguins
    except ImportError:
        print("palmerpenguins is not installed: skipped (pip install -e '.[bench]')", file=sys.stderr)
    else:
        yield "penguins", palmerpenguins.load_penguins(), "species", "classification"
    try:
        from vega_datasets import local_data
    except ImportError:
        print("vega_datasets is not installed: cars and seattle_weather skipped", file=sys.stderr)
    else:
        cars = local_data.cars()
        yield "cars", cars.assign(Year=cars["Year"].dt.year), "Miles_per_Gallon", "regression"
        weather = local_data.seattle_weather()
        yield ("seattle_weather", weather.assign(date=weather["date"].dt.month).rename(columns={"date": "month"}),
               "weather", "classification")
    if synthetic_rows:
        import tables_scale

        yield (f"synthetic {synthetic_rows // 1000}k", tables_scale.synthetic(synthetic_rows).to_pandas(),
               "label", "classification")


def is_number(frame):
    return [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
            for c in frame.columns]


def mlp(task, seed):
    pre = make_column_transformer(
        (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
         make_column_selector(dtype_include="number")),
        (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
         make_column_selector(dtype_exclude="number")))
    net = (MLPClassifier if task == "classification" else MLPRegressor)(early_stopping=True, random_state=seed)
    return make_pipeline(pre, net)


def hgb(task, seed, X):
    numbers = [c for c, n in zip(X.columns, is_number(X)) if n]
    others = [c for c in X.columns if c not in numbers]
    pre = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan),
         others), ("passthrough", numbers))
    model = (HistGradientBoostingClassifier if task == "classification" else HistGradientBoostingRegressor)(
        categorical_features=list(range(len(others))) or None, random_state=seed)
    return make_pipeline(pre, model)


def scores(task, y, pred):
    if task == "regression":
        return {"score": r2_score(y, pred)}
    return {"score": accuracy_score(y, pred), "f1": f1_score(y, pred, average="macro")}


def run(system, task, target, train_path, test, seed, settings):
    """(seconds of reading and fitting, scores on the test rows) of one system."""
    y_test = test[target].to_numpy()
    start = time.perf_counter()
    if system == "chainrule":
        model = TabularModel(seed=seed, **settings).fit(train_path, target=target)
        seconds = time.perf_counter() - start
        return seconds, scores(task, y_test, model.predict(test)), len(model.history_.epoch)
    train = pd.read_csv(train_path)
    X, y = train.drop(columns=target), train[target]
    X_test = test.drop(columns=target)
    center, scale = (y.mean(), y.std()) if system == "mlp" and task == "regression" else (0.0, 1.0)
    pipe = mlp(task, seed) if system == "mlp" else hgb(task, seed, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning
        pipe.fit(X, (y - center) / scale if task == "regression" else y)
    seconds = time.perf_counter() - start
    fitted = pipe[-1]
    epochs = getattr(fitted, "n_iter_", None)
    return seconds, scores(task, y_test, pipe.predict(X_test) * scale + center if task == "regression"
                          else pipe.predict(X_test)), epochs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", help="comma-separated names (default: all)")
    parser.add_argument("--synthetic-rows", type=int, default=200_000, help="0 skips the synthetic table")
    parser.add_argument("settings", nargs="*", help="TabularModel settings as name=value")
    args = parser.parse_args(argv)
    settings = {}
    for arg in args.settings:
        key, value = arg.split("=")
        settings[key] = eval(value)  # noqa: S307 (a benchmark's own command line)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        report(args, settings)


def report(args, settings):
    folder = Path(tempfile.mkdtemp())
    print(f"chainrule settings: {settings or 'defaults'}; {args.seeds} seeds; load average at the start "
          f"{os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print()
    print("| table | rows | task | chainrule score (F1) | s | epochs | MLP score (F1) | s | HGB score (F1) | s "
          "| chainrule - MLP | chainrule - HGB | s chainrule / MLP | s chainrule / HGB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    wanted = None if args.tables is None else args.tables.split(",")
    for name, frame, target, task in tables(args.synthetic_rows):
        if wanted is not None and name.split()[0] not in wanted:
            continue
        frame = frame[frame[target].notna()]
        results = {s: [] for s in SYSTEMS}
        for seed in range(args.seeds):
            train, test = train_test_split(frame, test_size=0.25, random_state=seed,
                                           stratify=frame[target] if task == "classification" else None)
            train_path, test_path = folder / f"{name}-{seed}-train.csv", folder / f"{name}-{seed}-test.csv"
            train.to_csv(train_path, index=False)
            test.to_csv(test_path, index=False)
            test = pd.read_csv(test_path)
            for system in SYSTEMS:
                results[system].append(run(system, task, target, train_path, test, seed, settings))
                print(f"[{name} seed {seed}] {system}: {results[system][-1]}", file=sys.stderr)
        print(row(name, len(frame), task, results), flush=True)
    print()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


def row(name, n, task, results):
    med = {}
    for system, runs in results.items():
        med[system] = {"s": statistics.median(r[0] for r in runs),
                       "score": statistics.median(r[1]["score"] for r in runs),
                       "f1": statistics.median(r[1]["f1"] for r in runs) if task != "regression" else None,
                       "epochs": statistics.median(r[2] for r in runs) if runs[0][2] is not None else None}

    def score(s):
        m = med[s]
        return f"{m['score']:.3f}" + (f" ({m['f1']:.3f})" if m["f1"] is not None else "")

    c, m, h = med["chainrule"], med["mlp"], med["hgb"]
    return (f"| {name} | {n:,} | {task} | {score('chainrule')} | {c['s']:.2f} | {c['epochs']:.0f} "
            f"| {score('mlp')} | {m['s']:.2f} | {score('hgb')} | {h['s']:.2f} "
            f"| {100 * (c['score'] - m['score']):+.1f} | {100 * (c['score'] - h['score']):+.1f} "
            f"| {c['s'] / m['s']:.2f} | {c['s'] / h['s']:.2f} |")


if __name__ == "__main__":
    main()
