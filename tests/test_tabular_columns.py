"""Each column kind, and each reason a column is dropped, from the values."""

import pytest

from chainrule.errors import DataFormatError

pa = pytest.importorskip("pyarrow")
from chainrule.tabular.columns import MAX_ONE_HOT, infer_column  # noqa: E402


def kind(values, type=None):
    spec = infer_column("c", pa.array(values, type))
    return spec["kind"], spec.get("reason")


def test_numbers_and_categories():
    assert kind([0.5, 1.5, None, 2.5]) == ("numeric", None)
    assert kind(list(range(30)) * 2) == ("numeric", None)  # many integer values
    assert kind([1, 2, 3, 1, 2, 3]) == ("categorical", None)  # a code
    assert kind([True, False, None, True]) == ("categorical", None)
    assert kind(["a", "b", "a", None]) == ("categorical", None)
    assert kind(pa.array(["u", "v", "u"]).dictionary_encode()) == ("categorical", None)
    many = [f"v{i}" for i in range(MAX_ONE_HOT + 1)] * 2
    assert kind(many) == ("hashed", None)


def test_the_reasons_a_column_is_dropped():
    assert kind([None, None], pa.float64()) == ("dropped", "all values are missing")
    assert kind([float("nan")] * 3) == ("dropped", "all values are missing")
    assert kind([None, None]) == ("dropped", "all values are missing")  # pyarrow's null type
    assert kind([7, 7, 7]) == ("dropped", "constant: every row holds 7")
    assert kind(["x", None]) == ("dropped", "constant: every row holds 'x' or nothing")
    assert kind(["a1", "b2", "c3"]) == ("dropped", "an ID: a different string in every row")
    assert kind([5, 3, 4, 6]) == ("dropped", "an ID: integers that count up like row numbers, "
                                             "a different one in every row")
    text = [f"this is sentence number {i} of the review" for i in range(8)] + ["same words here now"] * 2
    assert kind(text)[0] == "dropped" and kind(text)[1].startswith("free text: ")
    import datetime

    assert kind([datetime.date(2020, 1, i) for i in (1, 2, 3)]) == (
        "dropped", "dates and times are not used unless parsed into numbers (e.g. the year or the day "
                   "of the week as columns of their own)")
    assert kind([[1], [2]]) == ("dropped", "values of type list<item: int64> are not numbers or categories")


def test_a_string_column_of_mostly_numbers_mixes_types():
    with pytest.raises(DataFormatError, match=r"column 'c' mixes types: most of its values are numbers, but "
                                              r"some are text, such as 'n/a'; make it all numbers"):
        kind(["1", "2.5", "n/a", "4"])
    assert kind(["a", "b", "1", "a"]) == ("categorical", None)  # mostly text: categories
