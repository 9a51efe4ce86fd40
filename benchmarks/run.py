"""chainrule against PyTorch, scikit-learn and the GEMM floor: the benchmark of issue 4.

    python benchmarks/run.py                 # the full run (tens of minutes on 2 cores)
    python benchmarks/run.py --quick         # every section on a few hundred batches
    python benchmarks/run.py --help

One process runs, in order: the peak RSS of `chainrule train`, the MNIST epoch of every
system at every batch size and optimizer (interleaved epoch by epoch), Nielsen's
configuration against a per-example loop, and the time to 98% test accuracy. It prints
a Markdown report and writes it with a JSON file of every number (see README.md here).
"""

import argparse
import datetime
import importlib
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import resource
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

import chainrule  # noqa: E402
from chainrule import Callback, Dense, Sequential, datasets, optimizers  # noqa: E402

import nielsen_loop  # noqa: E402
import systems  # noqa: E402

PEERS = {"torch": "torch", "sklearn": "sklearn"}  # system -> module it needs
MNIST_FLOAT32_BYTES = 70_000 * 784 * 4  # training and test images, float32
MB = 1e6

# Time to accuracy: the recipe, the same for chainrule and PyTorch. Checked with seeds 0, 1, 2
# (one thread): 98.0% first reached at epoch 3 of 4 (98.15%, 98.26%, 98.20%).
TTA = {"sizes": (784, 512, 256, 10), "batch_size": 128, "lr": 0.1, "momentum": 0.9,
       "nesterov": True, "schedule": "cosine decay to 0 over --tta-epochs (4) epochs, per step",
       "init": "He normal (chainrule's), copied into the PyTorch model", "seed": 0}

# Targets of issue 4 on the epoch ratios: (ratio, batch sizes, optimizers, upper limit).
RATIO_TARGETS = [
    ("chainrule/torch", (128,), ("sgd",), 0.55),
    ("chainrule/gemm", (128,), ("sgd",), 1.25),
    ("chainrule/torch", (32,), ("sgd",), 0.5),
    ("chainrule/torch", (512,), ("sgd",), 0.8),
    ("chainrule/gemm", (512,), ("sgd",), 1.25),
    ("chainrule/sklearn", (32, 128, 512), ("sgd", "adam"), 0.5),
]


def main(argv=None):
    args = parse_args(argv)
    report = {"settings": {k: v for k, v in vars(args).items() if k not in ("output_json", "output_md")},
              "load_average_start": os.getloadavg(), "started": _now(), "notes": []}
    notes = report["notes"]
    names = []
    for name in args.systems:
        if name in PEERS and importlib.util.find_spec(PEERS[name]) is None:
            notes.append(f"{name} is not installed: skipped (pip install -e '.[bench]')")
        else:
            names.append(name)

    # First, so that RUSAGE_CHILDREN sees only the children started here.
    if not args.skip_rss:
        report["peak_rss"] = peak_rss(args.data_dir, args.threads, args.rss_epochs, notes)

    (X, y), (X_test, y_test) = datasets.load("mnist", data_dir=args.data_dir)
    if args.limit:
        X, y = X[:args.limit], y[:args.limit]
    if X.dtype != np.float32 or not X.flags.c_contiguous or X.min() < 0 or X.max() > 1:
        sys.exit("expected MNIST as C-contiguous float32 in [0, 1] from chainrule.datasets.load")

    if "sklearn" in names:
        importlib.import_module("sklearn.neural_network")  # loads its BLAS before the pinning
    from threadpoolctl import threadpool_info, threadpool_limits

    with threadpool_limits(limits=args.threads):
        # every system in its own process (see Worker), forked before PyTorch starts here
        report["epoch"] = epoch_benchmarks(X, y, names, args)
        torch = importlib.import_module("torch") if "torch" in names else None
        if torch is not None:
            torch.set_num_threads(args.threads)
        report["machine"] = machine_info(torch, threadpool_info())
        if not args.skip_nielsen:
            report["nielsen"] = nielsen(X, y, X_test, y_test, args)
        if not args.skip_tta:
            report["time_to_accuracy"] = time_to_accuracy(X, y, X_test, y_test, names, args)
    report["load_average_end"] = os.getloadavg()
    if report["load_average_start"][0] > 0.5:
        notes.append(f"the 1-minute load average was {report['load_average_start'][0]:.2f} at the start: "
                     "other processes were using the CPU, so the times are not reliable")
    report["targets"] = targets(report)
    markdown = to_markdown(report)
    print(markdown)
    _write(args.output_md, markdown)
    _write(args.output_json, json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.output_md} and {args.output_json}", file=sys.stderr)


# --- the MNIST epoch --------------------------------------------------------------

class Worker:
    """One system in a process of its own, driven epoch by epoch through a pipe.

    As a user runs them: each library's thread pools, allocator and floating-point state
    stay in its own process (PyTorch's OpenMP threads spin for a while after its work,
    on the cores the next system wants). Each worker is forked from this process, which
    has the data loaded and has not started PyTorch; it pins its own threads and times
    its epochs itself, so the pipe is not in the measurement.
    """

    def __init__(self, name, X, y, batch_size, optimizer, seed, threads):
        context = multiprocessing.get_context("fork")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, daemon=True,
                                       args=(child, name, X, y, batch_size, optimizer, seed, threads))
        self.process.start()

    def epoch(self):
        """(seconds, training loss) of one epoch."""
        self.connection.send("epoch")
        ok, value = self.connection.recv()
        if not ok:
            raise RuntimeError(f"a benchmark worker failed: {value}")
        return value

    def close(self):
        self.connection.send("stop")
        self.process.join(timeout=60)


def _serve(connection, name, X, y, batch_size, optimizer, seed, threads):
    from threadpoolctl import threadpool_limits

    try:
        if name == "torch":
            import torch

            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads):
            runner = systems.SYSTEMS[name](X, y, batch_size, optimizer, seed=seed)
            while connection.recv() == "epoch":
                start = time.perf_counter()
                loss = runner.epoch()
                connection.send((True, (time.perf_counter() - start, loss)))
    except BaseException as exc:  # report it to the parent rather than hang it
        connection.send((False, repr(exc)))


def interleave(runners, epochs):
    """Seconds of each runner's epochs: one warm-up epoch each, then A B C A B C ..."""
    for runner in runners.values():
        runner.epoch()
    seconds = {name: [] for name in runners}
    losses = {}
    for _ in range(epochs):
        for name, runner in runners.items():
            elapsed, losses[name] = runner.epoch()
            seconds[name].append(elapsed)
    return seconds, losses


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "all": list(values)}


def epoch_benchmarks(X, y, names, args):
    rows = []
    for optimizer in args.optimizers:
        for batch_size in args.batch_sizes:
            runners = {name: Worker(name, X, y, batch_size, optimizer, args.seed, args.threads)
                       for name in names}
            try:
                seconds, losses = interleave(runners, args.epochs)
            finally:
                for runner in runners.values():
                    runner.close()
            row = {"optimizer": optimizer, "batch_size": batch_size, "load_average_after": os.getloadavg(),
                   "steps": math.ceil(len(X) / batch_size),
                   "seconds": {name: summary(s) for name, s in seconds.items()},
                   "last_epoch_loss": {n: v for n, v in losses.items() if n != "gemm"},
                   "ratios": {}}
            if "chainrule" in seconds:
                ours = row["seconds"]["chainrule"]["median"]
                for peer in names:
                    if peer != "chainrule":
                        row["ratios"][f"chainrule/{peer}"] = ours / row["seconds"][peer]["median"]
            rows.append(row)
            medians = ", ".join(f"{n} {s['median']:.3f} s" for n, s in row["seconds"].items())
            print(f"[epoch] {optimizer} batch {batch_size}: {medians}", file=sys.stderr)
    return rows


# --- Nielsen's configuration --------------------------------------------------------

def nielsen(X, y, X_test, y_test, args):
    """784-30-10 sigmoid, quadratic cost, batch 10, eta 3.0 in the book's convention
    (C = ||a - y||^2 / 2): chainrule's mse has no 1/2, so its learning rate is 1.5.
    Both start from the same N(0, 1) weights and see the examples in the same shuffled
    order every epoch (chainrule in float32, the loop in float64); epochs alternate.
    chainrule shuffles as a user's fit does; the loop is handed the same order, drawn
    from a copy of the network's generator before the epoch."""
    sizes, batch_size, eta = (784, 30, 10), 10, 3.0
    loop = nielsen_loop.Network(sizes, seed=args.seed)
    model = Sequential([Dense(784, 30, "sigmoid"), Dense(30, 10, "sigmoid")],
                       loss="mse", seed=args.seed, classifier=True)
    for layer, W, b in zip(model.dense_layers, loop.weights, loop.biases, strict=True):
        layer.W[...], layer.b[...] = W, b.ravel()
    sgd = optimizers.SGD(eta / 2)
    train, test = nielsen_loop.training_pairs(X, y), nielsen_loop.test_pairs(X_test, y_test)
    result = {"sizes": sizes, "batch_size": batch_size, "eta_book": eta, "lr_chainrule": eta / 2,
              "chainrule": {"seconds": [], "accuracy": []}, "loop": {"seconds": [], "accuracy": []}}
    for _ in range(args.nielsen_epochs):
        upcoming = np.random.Generator(np.random.PCG64())
        upcoming.bit_generator.state = model.rng.bit_generator.state
        order = upcoming.permutation(len(X))  # the order fit is about to draw
        start = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=sgd)
        result["chainrule"]["seconds"].append(time.perf_counter() - start)
        result["chainrule"]["accuracy"].append(model.evaluate(X_test, y_test)["accuracy"])
        start = time.perf_counter()
        loop.train_epoch(train, order, batch_size, eta)
        result["loop"]["seconds"].append(time.perf_counter() - start)
        result["loop"]["accuracy"].append(loop.evaluate(test) / len(test))
        print(f"[nielsen] chainrule {result['chainrule']['seconds'][-1]:.2f} s "
              f"{result['chainrule']['accuracy'][-1]:.4f}, loop {result['loop']['seconds'][-1]:.2f} s "
              f"{result['loop']['accuracy'][-1]:.4f}", file=sys.stderr)
    for side in ("chainrule", "loop"):
        result[side]["summary"] = summary(result[side]["seconds"])
    result["speedup"] = result["loop"]["summary"]["median"] / result["chainrule"]["summary"]["median"]
    return result


# --- time to accuracy -----------------------------------------------------------------

class _StopAtAccuracy(Callback):
    """Evaluates the test set after every epoch; stops training once it reaches ``target``."""

    def __init__(self, X_test, y_test, target, start):
        self.X_test, self.y_test, self.target, self.start = X_test, y_test, target, start
        self.record = {"accuracy": [], "train_seconds": 0.0, "eval_seconds": 0.0, "reached": None}

    def on_epoch_begin(self, epoch, logs):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs):
        trained = time.perf_counter()
        accuracy = self.model.evaluate(self.X_test, self.y_test)["accuracy"]
        _log_epoch(self.record, epoch, accuracy, self.epoch_start, trained, self.start, self.target)
        self.model.stop_training = self.record["reached"] is not None


def _log_epoch(record, epoch, accuracy, epoch_start, trained, start, target):
    now = time.perf_counter()
    record["accuracy"].append(accuracy)
    record["train_seconds"] += trained - epoch_start
    record["eval_seconds"] += now - trained
    if record["reached"] is None and accuracy >= target:
        record["reached"] = {"epoch": epoch + 1, "train_seconds": record["train_seconds"],
                             "wall_seconds": now - start}


def _tta_model(sizes, seed):
    return Sequential([Dense(n_in, n_out, "relu") for n_in, n_out in zip(sizes[:-2], sizes[1:-1])]
                      + [Dense(sizes[-2], sizes[-1], "softmax")], seed=seed)


def tta_chainrule(X, y, X_test, y_test, target, epochs):
    r = TTA
    start = time.perf_counter()  # the clock starts with the data loaded, the model not built
    model = _tta_model(r["sizes"], r["seed"])
    steps = epochs * math.ceil(len(X) / r["batch_size"])
    sgd = optimizers.SGD(optimizers.CosineDecay(r["lr"], steps), momentum=r["momentum"],
                         nesterov=r["nesterov"])
    watch = _StopAtAccuracy(X_test, y_test, target, start)
    model.fit(X, y, epochs=epochs, batch_size=r["batch_size"], optimizer=sgd, callbacks=[watch])
    return watch.record


def tta_torch(X, y, X_test, y_test, target, epochs, initial):
    import torch
    from torch import nn

    r = TTA
    X, y, X_test, y_test = map(torch.from_numpy, (X, y, X_test, y_test))
    start = time.perf_counter()
    layers = []
    for n_in, n_out in zip(r["sizes"][:-1], r["sizes"][1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    with torch.no_grad():  # the same initial weights as chainrule's run
        params = [p for layer in model if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)]
        for p, value in zip(params, initial, strict=True):
            p.copy_(torch.from_numpy(value))
    loss_fn = nn.CrossEntropyLoss()
    sgd = torch.optim.SGD(model.parameters(), lr=r["lr"], momentum=r["momentum"], nesterov=r["nesterov"])
    steps = epochs * math.ceil(len(X) / r["batch_size"])
    schedule = torch.optim.lr_scheduler.LambdaLR(
        sgd, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    record = {"accuracy": [], "train_seconds": 0.0, "eval_seconds": 0.0, "reached": None}
    for epoch in range(epochs):
        epoch_start = time.perf_counter()
        perm = torch.randperm(len(X))
        for i in range(0, len(X), r["batch_size"]):
            idx = perm[i:i + r["batch_size"]]
            sgd.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            sgd.step()
            schedule.step()
        trained = time.perf_counter()
        with torch.no_grad():
            accuracy = (model(X_test).argmax(dim=1) == y_test).double().mean().item()
        _log_epoch(record, epoch, accuracy, epoch_start, trained, start, target)
        if record["reached"] is not None:
            break
    return record


def time_to_accuracy(X, y, X_test, y_test, names, args):
    result = {"recipe": TTA, "target": args.tta_target, "epochs": args.tta_epochs,
              "timed": "from model construction (data already loaded) until the test evaluation "
                       "that first reaches the target; train_seconds excludes the evaluations"}
    if "chainrule" in names:
        result["chainrule"] = tta_chainrule(X, y, X_test, y_test, args.tta_target, args.tta_epochs)
        print(f"[tta] chainrule {result['chainrule']}", file=sys.stderr)
    if "torch" in names:
        initial = [p.copy() for p in _tta_model(TTA["sizes"], TTA["seed"]).parameters()]
        result["torch"] = tta_torch(X, y, X_test, y_test, args.tta_target, args.tta_epochs, initial)
        print(f"[tta] torch {result['torch']}", file=sys.stderr)
    return result


# --- peak memory --------------------------------------------------------------------

def peak_rss(data_dir, threads, epoch_counts, notes):
    """Peak RSS of `python -m chainrule train --dataset mnist --epochs N --quiet` for each N,
    read from getrusage(RUSAGE_CHILDREN): the largest peak of the children so far, so a
    later (longer) run shows growth only if it peaks higher."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    runs = []
    for epochs in epoch_counts:
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "chainrule", "train", "--dataset", "mnist",
                       "--data-dir", str(data_dir), "--epochs", str(epochs), "--quiet",
                       "--output", str(Path(tmp) / "model.npz")]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - start
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            notes.append(f"peak RSS skipped: `chainrule train` exited {done.returncode}: {last}")
            return None
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
        runs.append({"epochs": epochs, "peak_rss_bytes": peak, "seconds": seconds,
                     "command": " ".join(command[1:]).replace(tmp, "TMP")})
        print(f"[rss] {epochs} epoch(s): {peak / MB:.0f} MB", file=sys.stderr)
    return {"runs": runs, "budget_bytes": 1.3 * MNIST_FLOAT32_BYTES + 150 * MB,
            "dataset_float32_bytes": MNIST_FLOAT32_BYTES}


# --- the report -----------------------------------------------------------------------

def machine_info(torch, blas):
    cpu = next((line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines()
                if line.startswith("model name")), platform.processor())
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "chainrule": chainrule.__version__,
                "torch": torch.__version__ if torch is not None else None,
                "torch_threads": torch.get_num_threads() if torch is not None else None}
    if importlib.util.find_spec("sklearn"):
        import sklearn
        versions["sklearn"] = sklearn.__version__
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer",
            "num_threads", "filepath")
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                          "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"cpu": cpu, "cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "versions": versions, "environment": env,
            "blas": [{k: lib.get(k) for k in keys} for lib in blas], "commit": _commit()}


def targets(report):
    """Each target of issue 4 next to what this run measured."""
    checks = []
    for ratio, batch_sizes, opts, limit in RATIO_TARGETS:
        for row in report.get("epoch", []):
            if row["batch_size"] in batch_sizes and row["optimizer"] in opts and ratio in row["ratios"]:
                value = row["ratios"][ratio]
                checks.append((f"{ratio} at batch {row['batch_size']}, {row['optimizer']}",
                               f"<= {limit}", f"{value:.2f}", value <= limit))
    if report.get("nielsen"):
        value = report["nielsen"]["speedup"]
        checks.append(("Nielsen: loop / chainrule epoch time", ">= 10", f"{value:.1f}", value >= 10))
    tta = report.get("time_to_accuracy") or {}
    ours = (tta.get("chainrule") or {}).get("reached")
    if "chainrule" in tta:
        value = ours["train_seconds"] if ours else None
        checks.append((f"chainrule to {tta['target']:.1%}: training seconds", "<= 10",
                       _maybe(value), value is not None and value <= 10))
    if "torch" in tta and "chainrule" in tta:
        theirs = tta["torch"]["reached"]
        met = ours is not None and (theirs is None or ours["wall_seconds"] < theirs["wall_seconds"])
        checks.append((f"chainrule to {tta['target']:.1%} faster than torch (wall)", "<",
                       f"{_maybe(ours and ours['wall_seconds'])} vs {_maybe(theirs and theirs['wall_seconds'])}",
                       met))
    rss = report.get("peak_rss")
    if rss:
        peak = max(run["peak_rss_bytes"] for run in rss["runs"])
        checks.append(("peak RSS of `chainrule train` (MB)", f"<= {rss['budget_bytes'] / MB:.0f}",
                       f"{peak / MB:.0f}", peak <= rss["budget_bytes"]))
        if len(rss["runs"]) > 1:
            growth = rss["runs"][-1]["peak_rss_bytes"] - rss["runs"][0]["peak_rss_bytes"]
            checks.append((f"RSS growth, {rss['runs'][0]['epochs']} -> {rss['runs'][-1]['epochs']} epochs (MB)",
                           "~ 0", f"{growth / MB:.0f}", growth <= 5 * MB))
    return [{"target": t, "limit": lim, "measured": m, "met": bool(ok)} for t, lim, m, ok in checks]


def to_markdown(report):
    m = report["machine"]
    v = m["versions"]
    blas = "; ".join(dict.fromkeys(_describe_library(lib) for lib in m["blas"]))  # libgomp may be there twice
    env = ", ".join(f"{k}={val}" for k, val in m["environment"].items() if val is not None) or "none set"
    s = report["settings"]
    lines = [
        "# chainrule benchmark", "",
        *(["**A smoke run (--quick): these times are not measurements.**", ""] if s["quick"] else []),
        f"{report['started']}, commit {m['commit']}. {m['cpu']}, {m['cores']} cores "
        f"({m['usable_cores']} usable), {m['platform']}.",
        f"Python {v['python']}, NumPy {v['numpy']}, PyTorch {v['torch']}, scikit-learn {v.get('sklearn')}; "
        f"{s['threads']} threads for every system. BLAS: {blas}. Environment: {env}.",
        f"Load average (1, 5, 15 min): {_load(report['load_average_start'])} at the start, "
        f"{_load(report['load_average_end'])} at the end.", "",
    ]
    if report.get("epoch"):
        names = list(report["epoch"][0]["seconds"])
        ratios = list(report["epoch"][0]["ratios"])
        n = len(report["epoch"][0]["seconds"][names[0]]["all"])
        limit = f", first {s['limit']:,} examples" if s["limit"] else ""
        lines += [f"## One MNIST training epoch (784-256-128-10 ReLU{limit})", "",
                  f"Seconds per epoch: median (min-max) of {n} epochs after a warm-up epoch, "
                  "systems interleaved epoch by epoch. Ratios are of medians; below 1 means chainrule is faster.", "",
                  "| optimizer | batch | " + " | ".join(names) + " | " + " | ".join(ratios) + " |",
                  "|---|---:|" + "---:|" * (len(names) + len(ratios))]
        for row in report["epoch"]:
            cells = [f"{st['median']:.3f} ({st['min']:.3f}-{st['max']:.3f})" for st in row["seconds"].values()]
            cells += [f"{row['ratios'][r]:.2f}" for r in ratios]
            lines.append(f"| {row['optimizer']} | {row['batch_size']} | " + " | ".join(cells) + " |")
        lines.append("")
    ni = report.get("nielsen")
    if ni:
        lines += ["## Nielsen's configuration (784-30-10 sigmoid, quadratic cost, batch 10, eta 3.0)", "",
                  "chainrule `fit` against a per-example loop in the book's style (benchmarks/nielsen_loop.py), "
                  "same initial weights and example order, epochs alternating; test accuracy after each epoch.", "",
                  "| epoch | chainrule s | chainrule accuracy | loop s | loop accuracy |", "|---:|---:|---:|---:|---:|"]
        for i, row in enumerate(zip(ni["chainrule"]["seconds"], ni["chainrule"]["accuracy"],
                                    ni["loop"]["seconds"], ni["loop"]["accuracy"]), 1):
            lines.append(f"| {i} | {row[0]:.2f} | {row[1]:.2%} | {row[2]:.2f} | {row[3]:.2%} |")
        lines += ["", f"Median epoch: chainrule {ni['chainrule']['summary']['median']:.2f} s, loop "
                      f"{ni['loop']['summary']['median']:.2f} s: chainrule is {ni['speedup']:.1f}x faster.", ""]
    tta = report.get("time_to_accuracy")
    if tta:
        r = tta["recipe"]
        lines += [f"## Time to {tta['target']:.1%} MNIST test accuracy", "",
                  f"Recipe: {'-'.join(map(str, r['sizes']))} ReLU, SGD lr {r['lr']} momentum {r['momentum']} "
                  f"(Nesterov {r['nesterov']}), batch {r['batch_size']}, {r['schedule']} "
                  f"(here {tta['epochs']}), init {r['init']}. Timed {tta['timed']}.", "",
                  "| system | reached at epoch | training s | wall s (with evaluations) | test accuracy per epoch |",
                  "|---|---:|---:|---:|---|"]
        for name in ("chainrule", "torch"):
            if name in tta:
                rec, hit = tta[name], tta[name]["reached"]
                curve = " ".join(f"{a:.2%}" for a in rec["accuracy"])
                if hit:
                    lines.append(f"| {name} | {hit['epoch']} | {hit['train_seconds']:.2f} | {hit['wall_seconds']:.2f} | {curve} |")
                else:
                    lines.append(f"| {name} | not reached | ({rec['train_seconds']:.2f}) | - | {curve} |")
        lines.append("")
    rss = report.get("peak_rss")
    if rss:
        lines += ["## Peak memory of `chainrule train` on MNIST", "",
                  f"Budget: 1.3 x {rss['dataset_float32_bytes'] / MB:.0f} MB (the float32 data set) + 150 MB "
                  f"= {rss['budget_bytes'] / MB:.0f} MB. Read with getrusage(RUSAGE_CHILDREN).", "",
                  "| command | peak RSS MB | seconds |", "|---|---:|---:|"]
        for run in rss["runs"]:
            lines.append(f"| `{run['command']}` | {run['peak_rss_bytes'] / MB:.0f} | {run['seconds']:.1f} |")
        lines.append("")
    if report["targets"]:
        lines += ["## Targets of issue 4", "", "| target | limit | measured | met |", "|---|---|---|---|"]
        lines += [f"| {t['target']} | {t['limit']} | {t['measured']} | {'yes' if t['met'] else 'no'} |"
                  for t in report["targets"]]
        lines.append("")
    if report["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in report["notes"]] + [""]
    return "\n".join(lines)


# --- small helpers ----------------------------------------------------------------------

def _describe_library(lib):
    """'libscipy_openblas 0.3.31 (SkylakeX, 2 threads, NumPy's)' from a threadpool_info() entry."""
    owner = next((name for name in ("numpy", "scipy", "torch", "scikit_learn") if name in lib["filepath"]), None)
    details = [lib["architecture"] or lib["internal_api"], f"{lib['num_threads']} threads",
               *([f"{owner}'s"] if owner else [])]
    return f"{' '.join(filter(None, (lib['prefix'], lib['version'])))} ({', '.join(details)})"


def _read(path):
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _commit():
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return f"{sha}{' (modified)' if dirty else ''}" if sha else "unknown"
    except OSError:
        return "unknown"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load(values):
    return ", ".join(f"{x:.2f}" for x in values)


def _maybe(value):
    return "-" if value is None else f"{value:.2f}"


def _write(path, text):
    """Write atomically: a .tmp file beside the target, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _list(kind, choices=None):
    def parse(text):
        values = [kind(part) for part in text.split(",") if part.strip()]
        bad = [v for v in values if (choices and v not in choices) or (kind is int and v < 1)]
        if not values or bad:
            allowed = f"a comma-separated list of {', '.join(choices)}" if choices else \
                "positive integers separated by commas"
            raise argparse.ArgumentTypeError(f"must be {allowed}; received {text!r}")
        return values
    return parse


def parse_args(argv):
    default_data = os.environ.get("CHAINRULE_DATA") or REPO.parent / "shared" / "datasets"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="BLAS / torch threads for every system")
    p.add_argument("--batch-sizes", type=_list(int), default=[32, 128, 512], metavar="B,B,...",
                   help="mini-batch sizes of the epoch benchmark")
    p.add_argument("--epochs", type=int, default=5, help="measured epochs per system (plus one warm-up)")
    p.add_argument("--systems", type=_list(str, list(systems.SYSTEMS)), default=list(systems.SYSTEMS),
                   metavar="NAME,...", help=f"any of {', '.join(systems.SYSTEMS)}")
    p.add_argument("--optimizers", type=_list(str, ["sgd", "adam"]), default=["sgd", "adam"], metavar="NAME,...",
                   help="sgd (lr 0.1, momentum 0.9) and/or adam (lr 1e-3)")
    p.add_argument("--data-dir", type=Path, default=Path(default_data),
                   help="folder holding mnist/: $CHAINRULE_DATA, else ../shared/datasets beside the repo")
    p.add_argument("--limit", type=int, default=0, help="use only the first N training examples (0: all)")
    p.add_argument("--nielsen-epochs", type=int, default=5, help="epochs of Nielsen's configuration")
    p.add_argument("--tta-target", type=float, default=0.98, help="test accuracy of the time to accuracy")
    p.add_argument("--tta-epochs", type=int, default=4,
                   help="length of the cosine schedule; training stops there if the target is not reached")
    p.add_argument("--rss-epochs", type=_list(int), default=[1, 3], metavar="N,N",
                   help="`chainrule train --epochs N` runs whose peak RSS is read")
    p.add_argument("--skip-nielsen", action="store_true", help="no Nielsen comparison")
    p.add_argument("--skip-tta", action="store_true", help="no time to accuracy")
    p.add_argument("--skip-rss", action="store_true", help="no peak RSS of `chainrule train`")
    p.add_argument("--seed", type=int, default=0, help="seed of every model and shuffle")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: --limit 6400 --epochs 1 --nielsen-epochs 1 --tta-epochs 1 "
                        "--rss-epochs 1, written to results/quick.*")
    p.add_argument("--output-json", type=Path, help="default: results/latest.json here")
    p.add_argument("--output-md", type=Path, help="default: results/latest.md here")
    args = p.parse_args(argv)
    if args.quick:
        args.limit, args.epochs, args.nielsen_epochs = args.limit or 6400, 1, 1
        args.tta_epochs, args.rss_epochs = 1, [1]
    stem = "quick" if args.quick else "latest"
    args.output_json = args.output_json or HERE / "results" / f"{stem}.json"
    args.output_md = args.output_md or HERE / "results" / f"{stem}.md"
    for name in ("threads", "epochs", "nielsen_epochs", "tta_epochs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


if __name__ == "__main__":
    main()
