"""The split: seeded, stratified, disjoint, covering every row."""

from __future__ import annotations

import numpy as np

from learnt.data.split import split_rows


def test_split_is_disjoint_complete_and_stratified() -> None:
    classes = np.array([0] * 600 + [1] * 300 + [2] * 100)
    split = split_rows(classes, len(classes), test_size=0.2, val_size=0.1, seed=0)
    everything = np.concatenate([split.train, split.validation, split.test])
    assert sorted(everything.tolist()) == list(range(1000))
    assert len(split.test) == 200 and len(split.validation) == 80
    assert split.stratified
    assert np.bincount(classes[split.test]).tolist() == [120, 60, 20]
    assert np.bincount(classes[split.validation]).tolist() == [48, 24, 8]


def test_same_seed_same_split_other_seed_other_split() -> None:
    classes = np.arange(500) % 2
    first = split_rows(classes, 500, test_size=0.2, val_size=0.1, seed=3)
    again = split_rows(classes, 500, test_size=0.2, val_size=0.1, seed=3)
    other = split_rows(classes, 500, test_size=0.2, val_size=0.1, seed=4)
    assert np.array_equal(first.test, again.test) and np.array_equal(
        first.validation, again.validation
    )
    assert not np.array_equal(first.test, other.test)


def test_a_class_with_one_row_falls_back_to_a_random_split() -> None:
    classes = np.array([0] * 50 + [1])
    split = split_rows(classes, 51, test_size=0.2, val_size=0.1, seed=0)
    assert not split.stratified
    assert len(split.test) == 10


def test_regression_split_and_empty_validation() -> None:
    split = split_rows(None, 100, test_size=0.25, val_size=0.0, seed=0)
    assert len(split.test) == 25 and len(split.validation) == 0 and len(split.train) == 75
