"""Encoding: fitted on training rows only, applied identically whatever reader produced the values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from learnt.data.encode import (
    MISSING_SLOT,
    UNKNOWN,
    canonical_strings,
    encode,
    fit_labels,
    fit_preprocessing,
)
from learnt.data.tables import Table, dataframe_to_table
from learnt.errors import DataError
from learnt.runtime.format import Column, Schema


def table(**columns: list) -> Table:
    return Table({k: np.array(v, dtype=object) for k, v in columns.items()}, "data.csv")


def test_canonical_values_agree_across_readers() -> None:
    pandas_like = np.array([1.0, np.nan, 2.5, 3.0])
    csv_like = np.array(["1", "", "2.5", "3.0"], dtype=object)
    json_like = np.array([1, None, 2.5, "3"], dtype=object)
    expected = ["1", None, "2.5", "3"]
    for column in (pandas_like, csv_like, json_like):
        assert canonical_strings(column).tolist() == expected
    assert canonical_strings(np.array(["true", "False", "NA", " x "], dtype=object)).tolist() == [
        "True",
        "False",
        None,
        "x",
    ]


def test_numeric_missing_values_get_the_training_median_and_an_indicator() -> None:
    schema = Schema(label="y", task="regression", features=[Column(name="age", kind="numeric")])
    train = table(age=[10, 20, None, 40])
    preprocessing = fit_preprocessing(train, schema)
    (spec,) = preprocessing.numeric
    assert spec.median == 20 and spec.indicator
    encoded = encode(table(age=["", "20"]), preprocessing)
    assert encoded.arrays["numeric"].shape == (2, 2)
    assert encoded.arrays["numeric"][0, 0] == encoded.arrays["numeric"][1, 0]  # missing → median
    assert encoded.arrays["numeric"][:, 1].tolist() == [1.0, 0.0]


def test_statistics_come_from_the_training_rows_only() -> None:
    schema = Schema(label="y", task="regression", features=[Column(name="x", kind="numeric")])
    preprocessing = fit_preprocessing(table(x=[1, 2, 3]), schema)
    assert preprocessing.numeric[0].mean == 2.0  # a test row of 1,000 would have moved it


def test_categories_missing_and_unknown_slots() -> None:
    schema = Schema(
        label="y", task="classification", features=[Column(name="port", kind="categorical")]
    )
    preprocessing = fit_preprocessing(table(port=["S", "S", "C", "C", "Q", None]), schema)
    assert preprocessing.categorical[0].categories == ["C", "S"]  # Q is seen once: rare → unknown
    codes = encode(table(port=["S", "C", "Q", None, "Atlantis"]), preprocessing).arrays[
        "categorical"
    ][:, 0]
    assert codes[2] == UNKNOWN and codes[3] == MISSING_SLOT and codes[4] == UNKNOWN
    assert codes[0] != codes[1] and min(codes[:2]) >= 2


def test_booleans_and_dates() -> None:
    schema = Schema(
        label="y",
        task="regression",
        features=[Column(name="member", kind="boolean"), Column(name="joined", kind="datetime")],
    )
    train = table(
        member=["yes", "no", "yes", "no"],
        joined=["2024-01-01", "2024-02-15 10:30", "2023-12-31", "2024-03-03"],
    )
    preprocessing = fit_preprocessing(train, schema)
    transforms = [n.transform for n in preprocessing.numeric]
    assert transforms == ["boolean", "year", "month", "day", "dayofyear", "weekday", "hour"]
    assert preprocessing.numeric[0].true_value == "yes"


def test_an_unparsable_number_names_file_row_and_column() -> None:
    schema = Schema(label="y", task="regression", features=[Column(name="age", kind="numeric")])
    preprocessing = fit_preprocessing(table(age=[1, 2, 3]), schema)
    with pytest.raises(
        DataError, match=r"data.csv, row 3, column 'age': expected a number, got 'abc'"
    ):
        encode(table(age=["1", "2", "abc"]), preprocessing)


def test_dataframe_rows_are_named_by_their_index() -> None:
    frame = pd.DataFrame({"age": ["1", "oops"]}, index=["alice", "bob"])
    schema = Schema(label="y", task="regression", features=[Column(name="age", kind="numeric")])
    preprocessing = fit_preprocessing(table(age=[1, 2]), schema)
    with pytest.raises(DataError, match="DataFrame, row bob, column 'age'"):
        encode(dataframe_to_table(frame, "DataFrame"), preprocessing)


def test_labels() -> None:
    classes = fit_labels(np.array(["spam", "ham", "ham", None], dtype=object), "classification")
    assert classes.classes == ["ham", "spam"]
    numbers = fit_labels(np.array([1.0, 3.0]), "regression")
    assert (numbers.mean, numbers.std) == (2.0, 1.0)


def test_numbers_outside_the_training_range_are_clipped_to_it() -> None:
    schema = Schema(label="y", task="regression", features=[Column(name="width", kind="numeric")])
    preprocessing = fit_preprocessing(table(width=[3.0, 5.0, 7.0]), schema)
    assert (preprocessing.numeric[0].low, preprocessing.numeric[0].high) == (3.0, 7.0)
    encoded = encode(table(width=["58.9", "7", "-1", ""]), preprocessing).arrays["numeric"][:, 0]
    assert encoded[0] == encoded[1]  # 58.9 reads as the largest training width
    assert encoded[2] == encode(table(width=["3"]), preprocessing).arrays["numeric"][0, 0]
