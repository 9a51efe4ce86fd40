"""A table from where it lives: a file (CSV/TSV, Parquet, JSON Lines) or a data frame.

Everything becomes one ``pyarrow.Table``, whatever it came from, with pyarrow's own readers
(multithreaded, typed: numbers, strings, booleans, dates; missing values as nulls). A CSV's
delimiter is found by ``csv.Sniffer`` on the file's first lines, and its first row is the
header. pyarrow, pandas and polars are imported here, when a table is read, never when
chainrule is imported: the core needs NumPy alone.
"""

import csv
import hashlib
import os

from .._checks import fail
from ..errors import DataFormatError, InputError

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
SNIFF_BYTES = 64 * 1024  # the first lines the delimiter is guessed from
DELIMITERS = ",;\t|"


def pyarrow():
    """The pyarrow module, or InputError saying how to install it."""
    try:
        import pyarrow as pa
    except ImportError:
        raise InputError("reading tables needs pyarrow: pip install 'chainrule[tables]'") from None
    return pa


def sniff_delimiter(path):
    """The delimiter of the CSV file at ``path``, one of DELIMITERS, from its first lines
    (a tab for a .tsv file whatever they hold)."""
    if path.lower().endswith(".tsv"):
        return "\t"
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    lines = head.splitlines()
    if len(head) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","  # one column, or a file the sniffer cannot tell: pyarrow's default


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(path):
    """The pyarrow Table of the file at ``path``, read by its suffix."""
    pa = pyarrow()
    lower = path.lower()
    if os.path.getsize(path) == 0:
        raise DataFormatError(f"{path} is empty")
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if lower.endswith(JSONL_SUFFIXES):
            import pyarrow.json as pj

            return pj.read_json(path)
        import pyarrow.csv as pc

        options = pc.ParseOptions(delimiter=sniff_delimiter(path))
        # An empty field is a missing value in a text column too (as in a number's), not the
        # category "": pyarrow reads it as "" unless told.
        return pc.read_csv(path, parse_options=options, convert_options=pc.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowException, OSError) as exc:
        kind = "Parquet" if lower.endswith(PARQUET_SUFFIXES) else \
            "JSON Lines" if lower.endswith(JSONL_SUFFIXES) else "CSV"
        raise DataFormatError(f"{path} could not be read as {kind}: {exc}") from None


def is_polars_frame(data):
    """Whether ``data`` is a polars DataFrame (False when polars is not installed)."""
    module = type(data).__module__
    if not module.startswith("polars"):
        return False
    try:
        import polars
    except ImportError:
        return False
    return isinstance(data, polars.DataFrame)


def is_pandas_frame(data):
    module = type(data).__module__
    if not module.startswith("pandas"):
        return False
    import pandas

    return isinstance(data, pandas.DataFrame)


def read_table(data, name="data"):
    """(table, source): ``data`` as a pyarrow Table of at least one row and column, and a
    dict saying where it came from ({"kind": "file", "name", "rows", "sha256"} for a file,
    {"kind": "pandas" or "polars", "rows"} for a data frame).

    Arguments:
        data: a path (str or os.PathLike) to a .csv, .tsv, .txt, .parquet, .pq, .jsonl or
            .ndjson file, a pandas DataFrame, a polars DataFrame, or a pyarrow Table.
    """
    pa = pyarrow()
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if not os.path.isfile(path):
            fail(name, "an existing file or a data frame", path + " (no such file)")
        if not path.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES + JSONL_SUFFIXES):
            suffixes = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES + JSONL_SUFFIXES)
            fail(name, f"a file ending in one of {suffixes}", path)
        table = read_file(path)
        source = {"kind": "file", "name": os.path.basename(path), "sha256": file_sha256(path)}
    elif isinstance(data, pa.Table):
        table, source = data, {"kind": "arrow"}
    elif is_pandas_frame(data) or is_polars_frame(data):
        kind = "pandas" if is_pandas_frame(data) else "polars"
        try:
            table = pa.Table.from_pandas(data, preserve_index=False) if kind == "pandas" else data.to_arrow()
        except pa.ArrowException as exc:  # an object column of numbers and strings
            raise DataFormatError(f"the {kind} DataFrame could not be read as a table "
                                  f"(a column of mixed types?): {exc}") from None
        source = {"kind": kind}
    else:
        fail(name, "a file path, a pandas or polars DataFrame, or a pyarrow Table",
             f"<{type(data).__name__}>")
    label = source.get("name", f"the {source['kind']} table")
    if table.num_columns == 0:
        raise DataFormatError(f"{label} has no columns")
    if table.num_rows == 0:
        raise DataFormatError(f"{label} has a header but no rows"
                              if source["kind"] == "file" else f"{label} has no rows")
    source["rows"] = table.num_rows
    return table.combine_chunks(), source


def row_table(row, name="row"):
    """One row as a pyarrow Table of one row: ``row`` is a dict {column: value} (None, or a
    float NaN, for a missing value), a pandas Series (a DataFrame's row, ``df.iloc[i]``),
    or a data frame, pyarrow Table or file of exactly one row."""
    pa = pyarrow()
    if type(row).__module__.startswith("pandas") and type(row).__name__ == "Series":
        row = dict(row.items())
    if isinstance(row, dict):
        if not row or not all(isinstance(k, str) for k in row):
            fail(name, "a dict of at least one column name (str) and its value", row)
        columns = {}
        for k, v in row.items():
            if isinstance(v, float) and v != v:  # NaN, as pandas writes a missing value
                v = None
            if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # a NumPy scalar
                v = v.item()
            try:
                columns[k] = pa.array([v])
            except (pa.ArrowException, TypeError) as exc:
                raise InputError(f"{name}[{k!r}] must be a number, a string, a boolean or None; "
                                 f"received {v!r} ({exc})") from None
        return pa.table(columns)
    table, _ = read_table(row, name)
    if table.num_rows != 1:
        raise InputError(f"{name} must be one row; received {table.num_rows} rows")
    return table
