"""A table to a file, its format chosen by the file's suffix, written atomically.

    .csv            comma-separated, a header row (pyarrow.csv)
    .tsv            tab-separated, a header row (pyarrow.csv)
    .json           one JSON array of records: [{"column": value, ...}, ...]
    .jsonl, .ndjson JSON Lines: one record per line
    .parquet, .pq   Parquet (pyarrow.parquet)

The file is written as chainrule's model files are (chainrule.io.write_atomic): to a
temporary file in the same folder, then renamed over the target, so that a reader never
sees half a table. pyarrow is imported only when a table is written.
"""

import json
import os

from .. import io
from .._checks import fail
from .read import JSONL_SUFFIXES, PARQUET_SUFFIXES, pyarrow

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", **{s: "jsonl" for s in JSONL_SUFFIXES},
           **{s: "parquet" for s in PARQUET_SUFFIXES}}
TEMPORARY_SUFFIX = ".part"


def output_format(path, name="path"):
    """The format of FORMATS that ``path`` asks for by its suffix, once checked that it is a
    file in an existing folder; InputError naming ``name`` if not."""
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        fail(name, f"a file ending in one of {', '.join(FORMATS)}", path)
    if os.path.isdir(path) or not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        fail(name, "a file in an existing folder", path)
    return FORMATS[suffix]


def write_to(f, table, format):
    """Write ``table`` (a pyarrow Table) to ``f``, a binary file, in ``format`` (one of
    FORMATS' values)."""
    pyarrow()
    if format in ("csv", "tsv"):
        import pyarrow.csv as pc

        pc.write_csv(table, f, pc.WriteOptions(delimiter="\t" if format == "tsv" else ","))
    elif format == "json":
        f.write((json.dumps(table.to_pylist(), ensure_ascii=False) + "\n").encode("utf-8"))
    elif format == "jsonl":
        for row in table.to_pylist():
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, f)


def write_table(table, path):
    """Write ``table`` (a pyarrow Table) at ``path`` in the format of its suffix (see
    FORMATS), atomically. Returns the format."""
    format = output_format(path)
    io.write_atomic(path, lambda f: write_to(f, table, format), suffix=TEMPORARY_SUFFIX)
    return format
