"""Reading tables: the sniffed delimiter, each file type, where the data came from."""

import hashlib

import pytest

from chainrule.errors import DataFormatError

pytest.importorskip("pyarrow")
from chainrule.tabular.read import read_table, sniff_delimiter  # noqa: E402


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path, sep):
    path = tmp_path / "t.csv"
    path.write_text(sep.join(["a", "b", "c"]) + "\n" + "\n".join(sep.join(["1.5", "x", "2"]) for _ in range(5)) + "\n")
    assert sniff_delimiter(str(path)) == sep
    table, source = read_table(path)
    assert table.column_names == ["a", "b", "c"] and table.num_rows == 5
    assert source == {"kind": "file", "name": "t.csv", "rows": 5,
                      "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def test_one_column_and_tsv_files(tmp_path):
    (tmp_path / "one.csv").write_text("x\n1\n2\n")
    assert read_table(tmp_path / "one.csv")[0].column_names == ["x"]
    (tmp_path / "t.tsv").write_text("a\tb\n1\t2\n")
    assert read_table(str(tmp_path / "t.tsv"))[0].column_names == ["a", "b"]


def test_parquet_jsonl_and_frames(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, None], "b": ["x", "y"]})
    df.to_parquet(tmp_path / "t.parquet")
    df.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    for source in (tmp_path / "t.parquet", tmp_path / "t.jsonl", df):
        table, _ = read_table(source)
        assert table.column("b").to_pylist() == ["x", "y"] and table.column("a").null_count == 1
    assert read_table(df)[1] == {"kind": "pandas", "rows": 2}


def test_empty_tables_are_refused():
    pd = pytest.importorskip("pandas")
    with pytest.raises(DataFormatError, match="the pandas table has no rows"):
        read_table(pd.DataFrame({"a": []}))
    with pytest.raises(DataFormatError, match="the pandas table has no columns"):
        read_table(pd.DataFrame())


def test_an_empty_field_of_a_csv_is_missing_in_a_text_column_too(tmp_path):
    (tmp_path / "t.csv").write_text('species,sex,mass\nAdelie,,3.5\n,"",\nGentoo,male,4.5\n')
    table, _ = read_table(tmp_path / "t.csv")
    assert table.column("species").to_pylist() == ["Adelie", None, "Gentoo"]
    assert table.column("sex").to_pylist() == [None, None, "male"]
    assert table.column("mass").to_pylist() == [3.5, None, 4.5]
