"""Tables at scale: the encoded inputs are one float32 copy (tracemalloc counts what fit
allocates on a 20,000 x 50 table), and a file too large for the memory of the machine is
refused before it is read (a sparse file: its size on disk is a few bytes)."""

import os
import tracemalloc

import numpy as np
import pytest

from chainrule.cli import main
from chainrule.errors import InputError

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pa_csv  # noqa: E402  (after the skip: pyarrow is an extra)
import pyarrow.parquet as pq  # noqa: E402

from chainrule.tabular import TabularModel, read  # noqa: E402
from chainrule.tabular.columns import infer_columns  # noqa: E402
from chainrule.tabular.encode import Encoder  # noqa: E402

CARDINALITIES = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20)


def synthetic(n, seed=0):
    """n rows of 40 float columns (every fourth with 5% missing), 10 string columns of
    2 to 20 categories (2% missing) and a "yes"/"no" label that depends on x1 and c0."""
    rng = np.random.default_rng(seed)
    columns = {}
    for j in range(40):
        x = rng.normal(size=n).round(4)
        columns[f"x{j}"] = pa.array(x, mask=rng.random(n) < 0.05) if j % 4 == 0 else x
    for j, k in enumerate(CARDINALITIES):
        names = np.array([f"c{j}_{i}" for i in range(k)], dtype=object)[rng.integers(0, k, n)]
        columns[f"c{j}"] = pa.array(names.tolist(), mask=rng.random(n) < 0.02)
    score = columns["x1"] + (names == "c9_0") + rng.normal(size=n)
    columns["label"] = np.where(score > 0, "yes", "no").tolist()
    return pa.table(columns)


def test_the_encoder_writes_one_float32_c_contiguous_array_in_the_order_of_rows():
    hashed = pa.array([f"h{i % 80}" for i in range(500)])  # first: every kind of column after it
    table = synthetic(500).add_column(0, "h", hashed)
    encoder = Encoder.fit(table, infer_columns(table, exclude=["label"]))
    assert encoder.columns[0]["kind"] == "hashed"
    X = encoder.transform(table)
    assert X.dtype == np.float32 and X.flags.c_contiguous and X.shape == (500, encoder.n_features)
    rows = np.random.default_rng(1).permutation(500)[:300]
    X_rows = encoder.transform(table, rows=rows)
    assert X_rows.dtype == np.float32 and X_rows.flags.c_contiguous
    np.testing.assert_array_equal(X_rows, X[rows])
    # fitted on some rows alone: their statistics, not the table's
    some = Encoder.fit(table, infer_columns(table, exclude=["label"]), rows=rows)
    present = table.column("x1").to_numpy()[rows]
    assert some.stats["mean"][1] == pytest.approx(present.mean())
    np.testing.assert_array_equal(some.transform(table, rows=rows), some.transform(table)[rows])
    assert some.stats["mean"][1] != pytest.approx(encoder.stats["mean"][1])


def test_fit_holds_one_float32_copy_of_the_inputs(tmp_path):
    path = tmp_path / "synthetic.csv"
    pa_csv.write_csv(synthetic(20_000), path)
    TabularModel(epochs=1).fit(synthetic(300, seed=1), target="label")  # imports and compiled kernels first
    # Arrow's buffers come from Arrow's own allocator, which tracemalloc does not see: what
    # it counts here is NumPy's arrays and Python's objects.
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        model = TabularModel(epochs=1, seed=0).fit(path, target="label")
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_copy = 20_000 * model.encoder_.n_features * 4
    assert model.encoder_.n_features > 100  # the one-hot columns make X the largest array
    # X itself, then the batches' work arrays, the one-hot targets, the weights: no
    # X[train], X[val] or float64 copy of X, and no copy of the table's rows in Python
    assert peak - before < 1.5 * one_copy + 4e6, (peak - before, one_copy)
    # the model keeps its layers' work arrays (for blocks of 4,096 rows), not X or a view of it
    assert after - before < 0.5 * one_copy, (after - before, one_copy)


def sparse_csv(path, size):
    """A CSV file of a header and ``size`` bytes in all, of which only the header is on disk."""
    with open(path, "wb") as f:
        f.write(b"x,colour,label\n")
        f.truncate(size)
    return path


def never_read(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the file was read")
    monkeypatch.setattr(pa_csv, "read_csv", fail)
    monkeypatch.setattr(read, "file_sha256", fail)


def test_a_file_too_large_for_memory_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = sparse_csv(tmp_path / "big.csv", 10 * 2**30)
    never_read(monkeypatch)
    monkeypatch.setattr(read, "available_memory", lambda: 8 * 2**30)
    message = (r"big.csv \(10.7 GB\) is too large for the memory of this machine: reading and encoding it "
               r"would need about [0-9.]+ GB \(its table, 10.7 GB, and one float32 copy of the inputs of "
               r"about [0-9,]+ rows\), and 8.6 GB is available; train on a sample of its rows, or on a "
               r"machine with more memory")
    with pytest.raises(InputError, match=message):
        TabularModel().fit(path, target="label")
    needed, table, rows = read.memory_needed(str(path))
    # the header's 15 bytes stand for a row: 3 columns of float32 for every one of them
    assert table == 10 * 2**30 and rows == 10 * 2**30 // 15 and needed == table + rows * 3 * 4
    monkeypatch.setattr(read, "available_memory", lambda: 2**40)  # a terabyte: not refused
    read.check_memory(str(path))


def test_the_command_line_refuses_a_large_file_in_one_line(tmp_path, monkeypatch, capsys):
    free = read.available_memory()
    assert free is not None and free > 0
    path = sparse_csv(tmp_path / "big.csv", max(10 * 2**30, 2 * free))  # larger than the memory here
    never_read(monkeypatch)
    assert main(["train", "--data", str(path), "--target", "label", "--output", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("chainrule: error: "), err
    assert "GB is available; train on a sample of its rows" in err and "is too large for the memory" in err
    assert not (tmp_path / "m.npz").exists()


def test_an_ordinary_file_is_not_refused_and_its_estimate_is_close(tmp_path):
    table = synthetic(5000)
    pa_csv.write_csv(table, tmp_path / "t.csv")
    pq.write_table(table, tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        needed, table_bytes, rows = read.memory_needed(str(tmp_path / name))
        read.check_memory(str(tmp_path / name))
        assert 0.8 * 5000 < rows < 1.2 * 5000, (name, rows)
        assert 0.5 < table_bytes / table.nbytes < 2, (name, table_bytes, table.nbytes)
        assert needed == table_bytes + rows * 51 * 4
    model = TabularModel(epochs=1).fit(tmp_path / "t.csv", target="label")
    assert model.source_["rows"] == 5000
    assert os.path.getsize(tmp_path / "t.csv") < read.available_memory()
