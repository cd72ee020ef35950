"""Schema inference: the kind of every column, and the task, decided from the training table."""

from __future__ import annotations

import pandas as pd
import pytest

from learnt.data.schema import infer_schema, infer_task
from learnt.errors import DataError, UsageError


def test_titanic_columns_get_sensible_kinds(titanic: pd.DataFrame) -> None:
    schema = infer_schema(titanic, "survived")
    kinds = {c.name: c.kind for c in schema.features}
    assert kinds == {
        "pclass": "categorical",
        "sex": "boolean",
        "age": "numeric",
        "sibsp": "numeric",
        "parch": "numeric",
        "fare": "numeric",
        "embarked": "categorical",
    }
    dropped = {d.name: d.reason for d in schema.dropped}
    assert dropped["name"].startswith("free text")
    assert dropped["ticket"].startswith("id-like")
    assert set(dropped) == {"name", "ticket", "cabin"}
    assert schema.task == "classification"


def test_dates_ids_constants_and_ignored_columns() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": range(100),
            "signed_up": pd.date_range("2020-01-01", periods=100, freq="37h").strftime(
                "%Y-%m-%d %H:%M"
            ),
            "plan": ["basic", "pro", "team", "free"] * 25,
            "constant": 7,
            "noise": [float(i) / 3 for i in range(100)],
            "spend": [i * 1.5 for i in range(100)],
        }
    )
    schema = infer_schema(frame, "spend", ignore=["noise"])
    assert {c.name: c.kind for c in schema.features} == {
        "signed_up": "datetime",
        "plan": "categorical",
    }
    assert {d.name for d in schema.dropped} == {"customer_id", "constant", "noise"}
    assert schema.task == "regression"


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        (list(range(100)), "regression"),
    ],
)
def test_task_inference(values: list, task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_a_missing_label_column_suggests_the_closest_name(titanic: pd.DataFrame) -> None:
    with pytest.raises(DataError, match=r"no label column 'survive'\. Did you mean 'survived'"):
        infer_schema(titanic, "survive")


def test_ignoring_an_unknown_column_is_a_usage_error(titanic: pd.DataFrame) -> None:
    with pytest.raises(UsageError, match=r"--ignore nmae: no such column.*'name'"):
        infer_schema(titanic, "survived", ignore=["nmae"])


def test_regression_on_text_labels_is_refused(titanic: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="regression needs numeric labels"):
        infer_schema(titanic, "sex", task="regression")
