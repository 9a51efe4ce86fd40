"""Peak memory and time of training on a table of 1,000,000 rows x 50 columns (issue 13):

    python benchmarks/tables_scale.py                      # 1M rows, CSV and Parquet, 3 repeats
    python benchmarks/tables_scale.py --rows 200000 --repeats 1

The synthetic table (written to a temporary folder as CSV and as Parquet): 40 float
columns, every fourth with 5% of its values missing, 10 string columns of 2 to 20
categories with 2% missing, and a "yes"/"no" label. Each run is a child process of its
own, so that its peak RSS (the kernel's high-water mark: VmHWM of /proc/self/status for
`TabularModel.fit` in Python, getrusage's ru_maxrss of `chainrule train --data` read with
os.wait4) is its alone. The report sets the peak against the sizes the budget of issue 13
is made of: the file, its Arrow table (table.nbytes) and one float32 copy of the encoded
inputs X (n_rows x n_features x 4 bytes); "imports" is the RSS of the child before it
reads the file (Python, NumPy, pyarrow and chainrule loaded). Training runs --epochs
epochs (2): the peak is reached before the first one, and an epoch adds nothing to it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # measure this working tree's chainrule
MB = 1e6
CARDINALITIES = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20)


def synthetic(n, seed=0):
    """The pyarrow Table of n synthetic rows (see the module docstring)."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns = {}
    for j in range(40):
        x = rng.normal(size=n).round(4)
        columns[f"x{j}"] = pa.array(x, mask=rng.random(n) < 0.05) if j % 4 == 0 else pa.array(x)
    logit = 0.8 * columns["x1"].to_numpy() - 0.6 * columns["x2"].to_numpy() * columns["x3"].to_numpy()
    for j, k in enumerate(CARDINALITIES):
        codes = rng.integers(0, k, n)
        names = pa.array([f"c{j}_{i}" for i in range(k)])
        columns[f"c{j}"] = pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=rng.random(n) < 0.02), names).dictionary_decode()
        logit = logit + (codes % 3 - 1) * 0.3
    columns["label"] = pa.array(np.where(logit + rng.logistic(size=n) * 0.5 > 0, "yes", "no"))
    return pa.table(columns)


def vm(field):
    """A field of /proc/self/status in bytes (VmHWM: the peak RSS; VmRSS: the RSS now)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def child(path, epochs):
    """In the child process: TabularModel().fit(path) and its numbers, as one JSON line."""
    from chainrule.tabular import TabularModel
    import pyarrow  # noqa: F401 (loaded before the baseline is read, as fit loads it)
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    imports = vm("VmRSS")
    start = time.perf_counter()
    model = TabularModel(epochs=epochs, seed=0).fit(path, target="label")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak": vm("VmHWM"), "imports": imports,
                      "n_features": model.encoder_.n_features, "rows": model.source_["rows"],
                      "epochs": len(model.history_.epoch), "validation": model.validation_scores_}))


def run_python(path, epochs):
    done = subprocess.run([sys.executable, __file__, "--child", str(path), "--epochs", str(epochs)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(path, epochs, folder):
    """(seconds, peak RSS in bytes) of `chainrule train --data path` in a child process,
    its peak from os.wait4 (this child's alone)."""
    command = [sys.executable, "-m", "chainrule", "train", "--data", str(path), "--target", "label",
               "--epochs", str(epochs), "--quiet", "--output", str(Path(folder) / "model.npz")]
    log = Path(folder) / "train.log"
    start = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                   stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"chainrule train failed: {log.read_text().strip()}")
    return seconds, usage.ru_maxrss * 1024


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="runs of TabularModel.fit a format (median)")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--skip-cli", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.epochs)
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from chainrule.tabular.read import memory_needed, read_table

    print(f"load average at the start: {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        table = synthetic(args.rows)
        paths = {"csv": Path(folder) / "synthetic.csv", "parquet": Path(folder) / "synthetic.parquet"}
        pa_csv.write_csv(table, paths["csv"])
        pq.write_table(table, paths["parquet"])
        del table
        for kind in args.formats.split(","):
            path = paths[kind]
            read, _ = read_table(path)
            arrow_bytes, estimate = read.nbytes, memory_needed(str(path))
            del read
            runs = [run_python(path, args.epochs) for _ in range(args.repeats)]
            print(f"[{kind}] python: {[round(r['seconds'], 1) for r in runs]} s, "
                  f"{[round(r['peak'] / MB) for r in runs]} MB", file=sys.stderr)
            first = runs[0]
            x_bytes = first["rows"] * first["n_features"] * 4
            row = {"format": kind, "file": os.path.getsize(path), "arrow": arrow_bytes, "x": x_bytes,
                   "n_features": first["n_features"], "estimate": estimate,
                   "imports": statistics.median(r["imports"] for r in runs),
                   "python_seconds": statistics.median(r["seconds"] for r in runs),
                   "python_peak": statistics.median(r["peak"] for r in runs),
                   "epochs": first["epochs"], "validation": first["validation"]}
            if not args.skip_cli:
                row["cli_seconds"], row["cli_peak"] = run_cli(path, args.epochs, folder)
                print(f"[{kind}] cli: {row['cli_seconds']:.1f} s, {row['cli_peak'] / MB:.0f} MB", file=sys.stderr)
            rows.append(row)
    report(rows, args)


def report(rows, args):
    print(f"{args.rows:,} rows x 50 columns (+ label), {args.epochs} epochs, median of {args.repeats} "
          f"run(s) of TabularModel.fit; load average {os.getloadavg()[0]:.2f} at the end")
    print()
    print("| file | file MB | Arrow MB | X float32 MB (features) | imports MB | peak RSS MB (fit) "
          "| peak - imports | / (Arrow + X) | fit s | `chainrule train` peak MB | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        budget = r["arrow"] + r["x"]
        cli = (f"{r['cli_peak'] / MB:.0f} | {r['cli_seconds']:.1f}" if "cli_peak" in r else "- | -")
        print(f"| {r['format']} | {r['file'] / MB:.0f} | {r['arrow'] / MB:.0f} | {r['x'] / MB:.0f} "
              f"({r['n_features']}) | {r['imports'] / MB:.0f} | {r['python_peak'] / MB:.0f} "
              f"| {(r['python_peak'] - r['imports']) / MB:.0f} | {(r['python_peak'] - r['imports']) / budget:.2f} "
              f"| {r['python_seconds']:.1f} | {cli} |")
    print()
    for r in rows:
        need, table, n = r["estimate"]
        print(f"{r['format']}: the refusal's estimate before reading: table {table / MB:.0f} MB "
              f"({table / r['arrow']:.2f} x the real one), {n:,} rows, {need / MB:.0f} MB in all; "
              f"validation after {r['epochs']} epochs: {r['validation']}")


if __name__ == "__main__":
    main()
