"""The fitted preprocessing, computed by hand on small columns."""

import numpy as np
import pytest

from chainrule.errors import InputError, ModelFormatError

pa = pytest.importorskip("pyarrow")
from chainrule.tabular.columns import infer_columns  # noqa: E402
from chainrule.tabular.encode import HASH_BUCKETS, Encoder, hashed_slots  # noqa: E402


def fitted(columns):
    table = pa.table(columns)
    return Encoder.fit(table, infer_columns(table)), table


def test_numeric_columns_are_standardised_with_a_median_fill_and_an_indicator():
    enc, table = fitted({"x": [1.0, 2.0, None, 5.0], "y": [0.0, 1.0, 2.0, 3.0]})
    assert enc.feature_names == ["x", "x (missing)", "y"]
    X = enc.transform(table)
    mean, std = 8 / 3, np.std([1.0, 2.0, 5.0])
    np.testing.assert_allclose(X[:, 0], (np.array([1, 2, 2, 5]) - mean) / std, rtol=1e-6)  # median 2 fills
    np.testing.assert_array_equal(X[:, 1], [0, 0, 1, 0])
    new = enc.transform(pa.table({"x": [float("nan"), float("inf")], "y": [None, 1.0]}))
    np.testing.assert_allclose(new[:, 0], (2 - mean) / std, rtol=1e-6)
    np.testing.assert_array_equal(new[:, 1], [1, 1])
    assert new[0, 2] == pytest.approx((1.5 - 1.5) / np.std([0, 1, 2, 3]))  # no indicator: filled


def test_categories_one_hot_with_missing_and_unseen_slots():
    enc, table = fitted({"c": ["b", "a", "b", "a", None, "rare"], "n": [1.0, 2, 3, 4, 5, 6]})
    assert enc.feature_names[:4] == ["c=a", "c=b", "c (missing)", "c (unseen)"]
    X = enc.transform(pa.table({"c": ["a", "b", None, "rare", "new"], "n": [1.0] * 5}))
    np.testing.assert_array_equal(X[:, :4], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
                                             [0, 0, 0, 1]])


def test_integer_and_boolean_categories_match_as_numbers():
    enc, _ = fitted({"code": [1, 2, 1, 2, 3, 3], "flag": [True, False] * 3})
    X = enc.transform(pa.table({"code": [2.0, 7.0, None], "flag": [False, None, True]}))
    assert enc.feature_names == ["code=1", "code=2", "code=3", "code (unseen)",
                                 "flag=False", "flag=True", "flag (unseen)"]
    np.testing.assert_array_equal(X, [[0, 1, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 1, 0, 1, 0]])


def test_hashing_is_stable_and_a_missing_value_lights_nothing():
    import zlib

    slots = hashed_slots(pa.array(["apple", None, "apple", "pear"]), HASH_BUCKETS)
    assert slots[1] == -1 and slots[0] == slots[2] == zlib.crc32(b"apple") % HASH_BUCKETS
    values = [f"v{i}" for i in range(60)] * 2
    enc, table = fitted({"h": values, "x": np.arange(120.0) % 7})
    X = enc.transform(table)
    assert X[:, :HASH_BUCKETS].sum(axis=1).tolist() == [1.0] * 120


def test_transform_checks_the_schema():
    enc, _ = fitted({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
    with pytest.raises(InputError, match=r"column 'c' is missing; the model was trained on the columns \['x', 'c'\]"):
        enc.transform(pa.table({"x": [1.0]}))
    with pytest.raises(InputError, match="column 'c' held string values in training and holds integer values now"):
        enc.transform(pa.table({"x": [1.0], "c": [3]}))
    assert enc.check_schema(pa.table({"x": [1.0], "c": [None], "z": [1]})) == ["z"]  # all-missing fits any type


def test_to_meta_and_back_and_hostile_documents():
    enc, table = fitted({"x": [1.0, 2.0, None], "c": ["a", "b", "a"], "k": [1, 2, 2]})
    doc, arrays = enc.to_meta()
    again = Encoder.from_meta(doc, arrays, "f")
    np.testing.assert_array_equal(again.transform(table), enc.transform(table))
    bad = [
        ({"columns": 3}, "the tabular encoder must hold a list of columns"),
        ({"columns": [{"name": "x", "type": "float", "kind": "categorical", "missing": False}]},
         "kind 'categorical' cannot hold values of type 'float'"),
        ({"columns": [{"name": "c", "type": "string", "kind": "categorical", "missing": False,
                       "categories": ["b", "a"]}]}, "'categories' must be sorted, distinct values of type string"),
        ({"columns": [{"name": "h", "type": "string", "kind": "hashed", "buckets": 10 ** 9}]},
         "a hashed column holds strings in 1 to 65536 buckets"),
        ({"columns": [{"name": "x", "type": "float", "kind": "numeric", "missing": "yes"}]},
         "'missing' must be true or false"),
    ]
    for document, message in bad:
        with pytest.raises(ModelFormatError, match=message):
            Encoder.from_meta(document, {}, "f")
    with pytest.raises(ModelFormatError, match=r"array 'tabular.numeric.scale' must be 1 finite floats"):
        Encoder.from_meta(doc, {**arrays, "tabular.numeric.scale": np.array([np.nan])}, "f")
    with pytest.raises(ModelFormatError, match=r"array 'tabular.numeric.scale' must be positive"):
        Encoder.from_meta(doc, {**arrays, "tabular.numeric.scale": np.array([-1.0])}, "f")
