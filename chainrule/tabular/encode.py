"""The fitted preprocessing of a table: raw rows in, the network's input matrix out.

``Encoder.fit`` learns from the training rows only; ``transform`` turns any rows with the
same columns (new ones, with missing values and categories never seen) into X of shape
(n_samples, n_features), float32. Each used column becomes a block of features, in the
table's order:

    numeric      (x - mean) / std, a missing value (null, NaN or inf) first filled with the
                 training median; plus a 0/1 "missing" feature where training rows had any.
    categorical  one-hot over the categories seen in at least MIN_FREQUENCY training rows,
                 then a "missing" slot (where training rows had missing values) and an
                 "unseen" slot for the rest: categories rarer than that in training, and
                 those that appear only at prediction time.
    hashed       one-hot over HASH_BUCKETS buckets: value -> crc32(value) mod HASH_BUCKETS
                 (a missing value lights none).

High-cardinality columns are hashed rather than given a learned embedding for now: the
network stays a stack of Dense layers over one float matrix (an embedding would need a
layer of its own with its own backward pass and gradient check, and integer inputs beside
the float ones), the width is fixed whatever the number of categories, and nothing but the
bucket count is fitted; the price is that colliding categories share a slot.

Everything fitted is data: ``to_meta`` gives a JSON document (the columns, their
categories) and float64 arrays (the medians, means and scales of the numeric columns), and
``from_meta`` checks every field of them back before use (chainrule.io's rule: a model
file is data, never code).
"""

import zlib

import numpy as np

from ..errors import InputError, ModelFormatError
from .columns import TYPES, missing, plain, value_type

MIN_FREQUENCY = 2
HASH_BUCKETS = 32
MAX_HASH_BUCKETS = 1 << 16
USED_KINDS = ("numeric", "categorical", "hashed")
# The value types a column may hold at prediction time, for the type it held in training
# (a column whose values are all missing, of pyarrow's null type, fits any).
COMPATIBLE = {"float": ("float", "integer"), "integer": ("integer", "float"), "bool": ("bool",),
              "string": ("string",)}
KIND_TYPES = {"numeric": ("float", "integer"), "categorical": ("integer", "bool", "string"),
              "hashed": ("string",)}
ARRAYS = ("fill", "mean", "scale")  # tabular.numeric.<name>, each of shape (n_numeric,)


def numbers(array):
    """A plain numeric or boolean column as float64 of shape (n_rows,), missing as NaN."""
    import pyarrow as pa

    return np.array(array.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)  # writable


class Encoder:
    """The preprocessing of a table, fitted (build one with ``Encoder.fit``).

    Attributes:
        columns: the used columns, in order: dicts of name, type, kind, missing (whether
            training rows had missing values) and categories (categorical) or buckets (hashed).
        stats: {"fill", "mean", "scale"}, each float64 of shape (n_numeric,), one value per
            numeric column in the order of ``columns``.
        feature_names: the name of every feature (network input), of length n_features.
        feature_columns: the used column every feature comes from, of length n_features
            (a categorical's one-hot slots and a numeric column's "missing" feature name it).
        blocks: {column name: slice of its features in X}, in the order of ``columns``.
    """

    def __init__(self, columns, stats):
        self.columns, self.stats = columns, stats
        self.feature_names = [name for c in columns for name in block_names(c)]
        self.feature_columns = [c["name"] for c in columns for _ in block_names(c)]
        self.n_features = len(self.feature_names)
        self.blocks, start = {}, 0
        for c in columns:
            self.blocks[c["name"]] = slice(start, start + len(block_names(c)))
            start += len(block_names(c))

    def scale_of(self, name):
        """The standard deviation (over the training rows) that divides the numeric column
        ``name``: its feature is (x - mean) / scale, so dL/dx = dL/dfeature / scale."""
        numeric = [c["name"] for c in self.columns if c["kind"] == "numeric"]
        if name not in numeric:
            raise InputError(f"name must be a numeric column of the encoder, one of {numeric}; "
                             f"received name={name!r}")
        return float(self.stats["scale"][numeric.index(name)])

    @classmethod
    def fit(cls, table, specs, rows=None):
        """The Encoder of the columns ``specs`` (chainrule.tabular.columns) that are not
        dropped, fitted on the rows of ``table`` (a pyarrow Table), or on those of index
        ``rows`` (int64 of shape (n_rows,)) alone: one column at a time, so the table is
        never copied."""
        import pyarrow.compute as pc

        columns, stats = [], {name: [] for name in ARRAYS}
        for spec in specs:
            if spec["kind"] == "dropped":
                continue
            array = column_rows(table, spec["name"], rows)
            column = {k: spec[k] for k in ("name", "type", "kind")}
            if spec["kind"] == "numeric":
                x = numbers(array)
                present = x[np.isfinite(x)]
                column["missing"] = bool(len(present) < len(x))
                stats["fill"].append(float(np.median(present)))
                stats["mean"].append(float(present.mean()))
                stats["scale"].append(float(present.std()) or 1.0)
            elif spec["kind"] == "categorical":
                absent = missing(array)
                column["missing"] = bool(absent.any())
                counts = pc.value_counts(array.drop_null()).to_pylist()
                column["categories"] = sorted(c["values"] for c in counts if c["counts"] >= MIN_FREQUENCY)
            else:
                column["buckets"] = HASH_BUCKETS
            columns.append(column)
        return cls(columns, {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()})

    def check_schema(self, table):
        """InputError naming the first used column that ``table`` lacks or whose values
        changed type; returns the names of its columns this encoder does not use."""
        names = set(table.column_names)
        for c in self.columns:
            if c["name"] not in names:
                raise InputError(f"column {c['name']!r} is missing; the model was trained on the "
                                 f"columns {[c['name'] for c in self.columns]}")
            now = value_type(table.column(c["name"]).type)
            if now != "null" and now not in COMPATIBLE[c["type"]]:
                raise InputError(f"column {c['name']!r} held {c['type']} values in training and "
                                 f"holds {now} values now")
        used = {c["name"] for c in self.columns}
        return [name for name in table.column_names if name not in used]

    def transform(self, table, rows=None):
        """X of shape (n_samples, n_features), float32 and C-contiguous, for the rows of
        ``table``, or for its rows of index ``rows`` (int64 of shape (n_samples,)) in that
        order. X is the one float32 copy: each column is encoded in turn into its block of
        features (a column's float64 values are the largest temporary)."""
        self.check_schema(table)
        X = np.zeros((table.num_rows if rows is None else len(rows), self.n_features), dtype=np.float32)
        start, i_numeric = 0, 0
        for c in self.columns:
            array = column_rows(table, c["name"], rows)
            width = len(block_names(c))
            if c["kind"] == "numeric":
                x = numbers(array)
                absent = ~np.isfinite(x)
                x[absent] = self.stats["fill"][i_numeric]
                X[:, start] = (x - self.stats["mean"][i_numeric]) / self.stats["scale"][i_numeric]
                if c["missing"]:
                    X[:, start + 1] = absent
                i_numeric += 1
            elif c["kind"] == "categorical":
                X[np.arange(len(X)), start + category_slots(c, array)] = 1
            else:
                slots = hashed_slots(array, c["buckets"])
                hit = np.flatnonzero(slots >= 0)  # the rows whose value is not missing
                X[hit, start + slots[hit]] = 1
            start += width
        return X

    def to_meta(self):
        """(JSON document, {"tabular.numeric.<name>": float64 array})."""
        return ({"columns": self.columns},
                {f"tabular.numeric.{k}": v for k, v in self.stats.items()})

    @classmethod
    def from_meta(cls, doc, arrays, path):
        """The Encoder that ``to_meta`` wrote, every field checked: ModelFormatError if not."""
        if not isinstance(doc, dict) or not isinstance(doc.get("columns"), list):
            raise ModelFormatError(f"{path}: the tabular encoder must hold a list of columns")
        columns = [checked_column(c, i, path) for i, c in enumerate(doc["columns"], 1)]
        n_numeric = sum(c["kind"] == "numeric" for c in columns)
        stats = {}
        for k in ARRAYS:
            a = arrays.get(f"tabular.numeric.{k}")
            if a is None or a.dtype.kind != "f" or a.shape != (n_numeric,) or not np.isfinite(a).all():
                raise ModelFormatError(f"{path}: array 'tabular.numeric.{k}' must be {n_numeric} finite "
                                       f"floats; received {None if a is None else (a.dtype, a.shape)}")
            stats[k] = a.astype(np.float64)
        if (stats["scale"] <= 0).any():
            raise ModelFormatError(f"{path}: array 'tabular.numeric.scale' must be positive")
        return cls(columns, stats)


def column_rows(table, name, rows=None):
    """The column ``name`` of ``table`` as a plain pyarrow Array, of the rows of index
    ``rows`` alone when it is given (a copy of that column only)."""
    column = table.column(name)
    return plain(column if rows is None else column.take(rows))


def block_names(c):
    """The names of the features a used column becomes."""
    if c["kind"] == "numeric":
        return [c["name"]] + ([f"{c['name']} (missing)"] if c["missing"] else [])
    if c["kind"] == "categorical":
        return ([f"{c['name']}={v}" for v in c["categories"]]
                + ([f"{c['name']} (missing)"] if c["missing"] else []) + [f"{c['name']} (unseen)"])
    return [f"{c['name']}#{b}" for b in range(c["buckets"])]


def category_slots(c, array):
    """The one-hot slot of every row in a categorical column's block, int64 of shape (n_rows,)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    k = len(c["categories"])
    unseen = k + int(c["missing"])
    if value_type(array.type) == "null":  # every value missing (a column read as pyarrow's null type)
        slots = np.full(len(array), -1, dtype=np.int64)
    elif c["type"] == "string":
        found = pc.index_in(array, value_set=pa.array(c["categories"], pa.string()))
        slots = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    else:  # integers and booleans, matched as numbers (an integer column read as floats too)
        x = numbers(array) if value_type(array.type) != "null" else np.full(len(array), np.nan)
        known = np.asarray(c["categories"], dtype=np.float64)
        slots = np.full(len(x), -1, dtype=np.int64)
        if k:
            at = np.clip(np.searchsorted(known, x), 0, k - 1)
            hit = known[at] == x  # a NaN matches nothing
            slots[hit] = at[hit]
    absent = missing(array)
    slots[slots < 0] = unseen
    slots[absent] = k if c["missing"] else unseen
    return slots


def hashed_slots(array, buckets):
    """crc32(value) mod buckets of every row of a string column, -1 where it is missing."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array)
    table = np.array([zlib.crc32(str(v).encode("utf-8")) % buckets
                      for v in encoded.dictionary.to_pylist()] + [-1], dtype=np.int64)
    return table[pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)]


def checked_column(c, i, path):
    """Column ``i`` of a model file's encoder, with every field of the right type."""
    where = f"{path}: tabular column {i}"
    if not isinstance(c, dict) or not isinstance(c.get("name"), str) or c.get("type") not in TYPES \
            or c.get("kind") not in USED_KINDS:
        raise ModelFormatError(f"{where} must be an object with a name, a type in {list(TYPES)} and "
                               f"a kind in {list(USED_KINDS)}")
    if c["type"] not in KIND_TYPES[c["kind"]]:
        raise ModelFormatError(f"{where}: kind {c['kind']!r} cannot hold values of type {c['type']!r}")
    if c["kind"] == "hashed":
        if c["type"] != "string" or not isinstance(c.get("buckets"), int) \
                or not 1 <= c["buckets"] <= MAX_HASH_BUCKETS:
            raise ModelFormatError(f"{where}: a hashed column holds strings in 1 to {MAX_HASH_BUCKETS} buckets")
        return {k: c[k] for k in ("name", "type", "kind", "buckets")}
    if not isinstance(c.get("missing"), bool):
        raise ModelFormatError(f"{where}: 'missing' must be true or false")
    clean = {k: c[k] for k in ("name", "type", "kind", "missing")}
    if c["kind"] == "categorical":
        kind = {"string": str, "bool": bool, "integer": int}[c["type"]]
        cats = c.get("categories")
        if not isinstance(cats, list) or not all(type(v) is kind for v in cats) \
                or cats != sorted(set(cats)):
            raise ModelFormatError(f"{where}: 'categories' must be sorted, distinct values of type {c['type']}")
        clean["categories"] = cats
    return clean
