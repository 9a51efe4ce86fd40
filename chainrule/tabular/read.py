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
# The bytes of a text file's pyarrow Table per byte of the file (measured in
# benchmarks/tables_scale.py): a number's text is about as long as its float64, a string
# column holds its text and 4-byte offsets; JSON Lines repeats every key in every row.
ARROW_BYTES_PER_BYTE = {"csv": 1.0, "jsonl": 0.5}


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


def available_memory():
    """The bytes of memory this process can still take, or None where it cannot tell:
    MemAvailable of /proc/meminfo (else the free pages of os.sysconf), and no more than
    the limit of its cgroup (a container's) leaves."""
    free = None
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            pass
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as used:
            left = int(limit.read()) - int(used.read())  # "max" (no limit) is no int
        free = left if free is None else min(free, left)
    except (OSError, ValueError):
        pass
    return free


def memory_needed(path):
    """(bytes, table bytes, rows): an estimate of the memory that reading the file at
    ``path`` and encoding it take, from its size and first lines alone (a Parquet file's
    footer): its pyarrow Table, plus one float32 copy of the inputs at 4 bytes a cell
    (more where a categorical column becomes several one-hot features). None for a
    Parquet file whose footer cannot be read (read_file then says why)."""
    size, lower = os.path.getsize(path), path.lower()
    if lower.endswith(PARQUET_SUFFIXES):
        import pyarrow.parquet as pq

        try:
            meta = pq.ParquetFile(path).metadata
        except (pyarrow().ArrowException, OSError):
            return None
        table = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows, columns = meta.num_rows, meta.num_columns
    else:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
        lines = head.split(b"\n")[:-1] if len(head) == SNIFF_BYTES else head.split(b"\n")
        lines = [line for line in lines if line.strip()] or [head]
        if lower.endswith(JSONL_SUFFIXES):
            kind, rows_sample, columns = "jsonl", lines, lines[0].count(b":") or 1
        else:
            delimiter = sniff_delimiter(path).encode()
            kind, rows_sample, columns = "csv", lines[1:] or lines, lines[0].count(delimiter) + 1
        rows = int(size / (sum(len(line) + 1 for line in rows_sample) / len(rows_sample)))
        table = int(size * ARROW_BYTES_PER_BYTE[kind])
    return table + rows * columns * 4, table, rows


def check_memory(path):
    """InputError, before reading, if the file at ``path`` needs more memory than is available
    (see ``memory_needed``): refused with one line, rather than swapped to death."""
    free, needed = available_memory(), memory_needed(path)
    if free is None or needed is None or needed[0] <= free:
        return
    need, table, rows = needed
    raise InputError(f"{path} ({os.path.getsize(path) / 1e9:.1f} GB) is too large for the memory of this "
                     f"machine: reading and encoding it would need about {need / 1e9:.1f} GB (its table, "
                     f"{table / 1e9:.1f} GB, and one float32 copy of the inputs of about {rows:,} rows), "
                     f"and {free / 1e9:.1f} GB is available; train on a sample of its rows, or on a "
                     f"machine with more memory")


def read_file(path):
    """The pyarrow Table of the file at ``path``, read by its suffix with pyarrow's
    multithreaded readers, once ``check_memory`` has found the memory to hold it."""
    pa = pyarrow()
    lower = path.lower()
    if os.path.getsize(path) == 0:
        raise DataFormatError(f"{path} is empty")
    check_memory(path)
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            return pq.read_table(path, use_threads=True)
        if lower.endswith(JSONL_SUFFIXES):
            import pyarrow.json as pj

            return pj.read_json(path, read_options=pj.ReadOptions(use_threads=True))
        import pyarrow.csv as pc

        options = pc.ParseOptions(delimiter=sniff_delimiter(path))
        # An empty field is a missing value in a text column too (as in a number's), not the
        # category "": pyarrow reads it as "" unless told.
        return pc.read_csv(path, read_options=pc.ReadOptions(use_threads=True), parse_options=options,
                           convert_options=pc.ConvertOptions(strings_can_be_null=True))
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
    return table, source  # chunked as read: combining the chunks would copy every buffer


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
