"""chainrule sweep GRID.toml: every configuration of a grid, one worker each at a time,
in one process, a process pool, and the ranks of an MPI job (mpiexec -n 2)."""

import json
import sys
import textwrap

import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.sweep import configurations, read_grid

from test_distributed import run

GRID = textwrap.dedent("""
    # every configuration shares these
    dataset = "digits"
    epochs = 3
    hidden = [32]
    batch_size = 33

    [grid]
    lr = [0.05, 0.1]
    optimizer = ["sgd", "adam"]
""")


def write(folder, text=GRID):
    path = folder / "grid.toml"
    path.write_text(text)
    return path


def test_the_grid_is_every_combination_with_the_fixed_settings(tmp_path):
    fixed, grid = read_grid(write(tmp_path))
    assert fixed == {"dataset": "digits", "epochs": "3", "hidden": "32", "batch_size": "33",
                     "validation_split": "0.2"}
    assert [(c["lr"], c["optimizer"]) for c in configurations(fixed, grid)] == [
        ("0.05", "sgd"), ("0.05", "adam"), ("0.1", "sgd"), ("0.1", "adam")]


def check_sweep_folder(folder, stdout):
    results = json.loads((folder / "results.json").read_text())["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]  # every configuration
    scores = [r["val_accuracy"] for r in results]
    assert scores == sorted(scores, reverse=True) and all(0.5 < s <= 1 for s in scores)
    assert all(r["status"] == "ok" and 0 < r["test_accuracy"] <= 1 for r in results)
    recorded = [r["seconds"] for r in results]  # the table's time column is filled in
    assert all(isinstance(t, float) and t > 0 for t in recorded)
    csv_lines = (folder / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("rank,config,dataset,epochs,hidden,batch_size,validation_split,lr,optimizer,")
    assert len(csv_lines) == 5
    best = cr.load(folder / "best.npz")
    (X, y), (X_test, y_test) = cr.datasets.load("digits")
    assert best.evaluate(X_test, y_test)["accuracy"] == results[0]["test_accuracy"]  # the best one
    assert best.n_parameters() == 64 * 32 + 32 + 32 * 10 + 10
    assert not (folder / "models").exists()  # the other models are removed
    lines = stdout.splitlines()
    assert lines[0].startswith("sweep: 4 configurations (lr, optimizer) on ")
    assert lines[1].split() == ["#", "config", "lr", "optimizer", "val", "acc", "test", "acc", "time",
                                "(s)", "status"]
    assert lines[2].split()[0] == "1" and lines[2].split()[1] == str(results[0]["index"])
    assert lines[-1].startswith("best: ") and lines[-1].endswith(
        f"best.npz (config {results[0]['index']}: lr={results[0]['settings']['lr']} "
        f"optimizer={results[0]['settings']['optimizer']}; validation accuracy "
        f"{100 * results[0]['val_accuracy']:.2f}%, test accuracy {100 * results[0]['test_accuracy']:.2f}%)")
    return results


def test_a_sweep_in_one_process_returns_every_configuration_and_saves_the_best(tmp_path, capsys):
    assert main(["sweep", str(write(tmp_path)), "--output-dir", str(tmp_path / "out")]) == 0
    results = check_sweep_folder(tmp_path / "out", capsys.readouterr().out)
    assert {r["settings"]["optimizer"] for r in results} == {"sgd", "adam"}


def test_a_sweep_on_two_mpi_ranks_gives_the_results_of_one_process(tmp_path):
    write(tmp_path)
    mpi = run([sys.executable, "-m", "chainrule", "sweep", "grid.toml", "--output-dir", "mpi",
               "--distributed"], tmp_path, tag=True)
    assert mpi.returncode == 0, mpi.stderr
    assert all(line.startswith("[1,0]<stdout>: ") for line in mpi.stdout.splitlines())  # rank 1 is silent
    stdout = "\n".join(line.removeprefix("[1,0]<stdout>: ") for line in mpi.stdout.splitlines())
    assert stdout.startswith("sweep: 4 configurations (lr, optimizer) on 2 MPI processes")
    mpi_results = check_sweep_folder(tmp_path / "mpi", stdout)
    pool = run([sys.executable, "-m", "chainrule", "sweep", "grid.toml", "--output-dir", "pool",
                "--workers", "2"], tmp_path, n=None)
    assert pool.returncode == 0, pool.stderr
    pool_results = check_sweep_folder(tmp_path / "pool", pool.stdout)
    for a, b in zip(mpi_results, pool_results, strict=True):  # same seeds, same numbers
        assert (a["index"], a["val_accuracy"], a["test_loss"]) == (b["index"], b["val_accuracy"], b["test_loss"])


@pytest.mark.parametrize("text, message", [
    ("epochs = 3\nlrate = 0.1\n",
     "unknown setting 'lrate'; allowed: dataset, data_dir, hidden, activation, loss, optimizer, lr, "
     "momentum, schedule, batch_size, epochs, seed, dropout, validation_split, dtype, warmup_epochs, "
     "early_stopping, weight_decay, clip_norm"),
    ("[grid]\nweight_decay = [0.1, -1]\n", "weight_decay = '-1': must be a number in [0, inf); received '-1'"),
    ("[grid]\nlr = [0.1, -1]\n", "lr = '-1': must be a positive number; received '-1'"),
    ("[grid]\noptimizer = ['sgd', 'sgdd']\n", "optimizer = 'sgdd': invalid choice: 'sgdd' (choose from"),
    ("[grid]\nlr = []\n", "grid.lr must be a non-empty list of values; received lr = []"),
    ("[grid]\nlr = 0.1\n", "grid.lr must be a non-empty list of values; received lr = 0.1"),
    ("epochs = true\n", "epochs must be a string or a number; received epochs = True"),
    ("lr = 0.1\n[grid]\nlr = [0.2]\n", "lr is both fixed and in [grid]; give it once"),
    ("epochs = 3\n[grid]\nwarmup_epochs = [1, 3]\n", "warmup_epochs must be a non-negative integer below "
     "epochs=3 (the warm-up is part of the run); received warmup_epochs=3"),
    ("validation_split = 0\n", "validation_split must be above 0 in a sweep, which scores "
     "configurations by their validation accuracy; received 0"),
    ("epochs = = 3\n", "is not valid TOML: "),
])
def test_a_bad_grid_is_one_line_naming_the_setting(tmp_path, capsys, text, message):
    path = write(tmp_path, text)
    assert main(["sweep", str(path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chainrule: error: {path}") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_grid_varies_the_schedule_and_warm_up_and_early_stopping_keeps_the_best_epoch(tmp_path, capsys):
    """The settings of a run reach a grid through the Recipe; an early-stopped configuration is
    scored by the epoch whose weights it keeps (the lowest validation loss)."""
    grid = textwrap.dedent("""
        epochs = 6
        hidden = [16]
        early_stopping = 1
        weight_decay = 0.0001
        clip_norm = 5.0

        [grid]
        schedule = ["onecycle", "cosine"]
        warmup_epochs = [0, 2]
    """)
    assert main(["sweep", str(write(tmp_path, grid)), "--output-dir", str(tmp_path / "out")]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert sorted((r["settings"]["schedule"], r["settings"]["warmup_epochs"]) for r in results) == [
        ("cosine", "0"), ("cosine", "2"), ("onecycle", "0"), ("onecycle", "2")]
    assert all(r["status"] == "ok" and r["val_accuracy"] > 0.5 for r in results)
    best = cr.load(tmp_path / "out" / "best.npz")
    kept = best.history["val_loss"].index(min(best.history["val_loss"]))
    assert results[0]["val_loss"] == best.history["val_loss"][kept]
    assert results[0]["val_accuracy"] == best.history["val_accuracy"][kept]
