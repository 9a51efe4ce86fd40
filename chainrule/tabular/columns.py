"""What each column of a table is: a number, a category, or something the network cannot use.

``infer_columns`` gives every column one kind, from its values in the training rows:

    numeric      floats, and integers with more than MAX_INTEGER_CATEGORIES distinct values
    categorical  strings, booleans, pandas/polars categoricals, and integers with at most
                 MAX_INTEGER_CATEGORIES distinct values (a code such as 1, 2, 3)
    hashed       strings with more than MAX_ONE_HOT distinct values (see chainrule.tabular.encode)
    dropped      with a reason: all values missing; one value in every row; an ID (a different
                 string in every row, or integers counting up like row numbers); free text;
                 dates and times, which are not used unless parsed into numbers (the year, the
                 day of the week) as columns of their own; values that are not scalars

A string column most of whose values are numbers, with some that are not ("12", "7",
"unknown"), mixes types: that is a DataFormatError naming the column and a value, since
guessing whether it is a number or a category would be wrong either way.
"""

from ..errors import DataFormatError

MAX_INTEGER_CATEGORIES = 10
MAX_ONE_HOT = 50
FREE_TEXT_WORDS = 4  # the mean number of words from which a string column is free text
NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
KINDS = ("numeric", "categorical", "hashed", "dropped")
TYPES = ("float", "integer", "bool", "string", "date", "null", "other")


def value_type(arrow_type):
    """The type of a column's values, one of TYPES, from its pyarrow type (a categorical
    is the type of its categories)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_temporal(t):
        return "date"
    if pa.types.is_null(t):
        return "null"
    return "other"


def plain(array):
    """A column as a plain pyarrow Array: a categorical decoded into its values."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return array


def missing(array):
    """Which rows of a plain column are missing: bool of shape (n_rows,) (NaN counts)."""
    return array.is_null(nan_is_null=True).to_numpy(zero_copy_only=False)


def infer_column(name, array):
    """{"name", "type", "kind"} of one column (and "reason" where it is dropped)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = plain(array)
    spec = {"name": name, "type": value_type(array.type)}

    def dropped(reason):
        return {**spec, "kind": "dropped", "reason": reason}

    if spec["type"] == "date":
        return dropped("dates and times are not used unless parsed into numbers "
                       "(e.g. the year or the day of the week as columns of their own)")
    if spec["type"] == "other":
        return dropped(f"values of type {array.type} are not numbers or categories")
    absent = missing(array)
    if absent.all():
        return dropped("all values are missing")
    values = array.filter(pa.array(~absent))
    n_distinct = pc.count_distinct(values).as_py()
    if n_distinct == 1:
        return dropped(f"constant: every row holds {values[0].as_py()!r}"
                       + (" or nothing" if absent.any() else ""))
    if spec["type"] == "float":
        return {**spec, "kind": "numeric"}
    if spec["type"] == "integer":
        if n_distinct == len(values) and pc.max(values).as_py() - pc.min(values).as_py() + 1 == n_distinct:
            return dropped("an ID: integers that count up like row numbers, a different one in every row")
        return {**spec, "kind": "categorical" if n_distinct <= MAX_INTEGER_CATEGORIES else "numeric"}
    if spec["type"] == "bool":
        return {**spec, "kind": "categorical"}
    is_number = pc.match_substring_regex(values, NUMBER).to_numpy(zero_copy_only=False)
    if is_number.mean() >= 0.5 and not is_number.all():
        example = values.filter(pa.array(~is_number))[0].as_py()
        raise DataFormatError(f"column {name!r} mixes types: most of its values are numbers, but "
                              f"some are text, such as {example!r}; make it all numbers (missing "
                              f"values left empty) or all text")
    if n_distinct == len(values):
        return dropped("an ID: a different string in every row")
    words = pc.mean(pc.add(pc.count_substring(pc.utf8_trim_whitespace(values), " "), 1)).as_py()
    if words >= FREE_TEXT_WORDS and n_distinct > len(values) / 2:
        return dropped(f"free text: {words:.1f} words a value on average, most values different")
    return {**spec, "kind": "hashed" if n_distinct > MAX_ONE_HOT else "categorical"}


def infer_columns(table, exclude=()):
    """The spec of every column of ``table`` (a pyarrow Table) but those in ``exclude``
    (the targets), in the table's order: a list of dicts (see ``infer_column``)."""
    return [infer_column(name, table.column(name)) for name in table.column_names if name not in exclude]


def dropped_columns(specs):
    """{name: reason} of the columns that the specs drop."""
    return {s["name"]: s["reason"] for s in specs if s["kind"] == "dropped"}

