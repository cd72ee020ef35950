"""Steps 3–4 for training fit preprocessing on the training rows — or reuse a program's as it is
and only encode (what transfer from a program and a resumed run need)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import learnt
from learnt.data.encode import encode
from learnt.data.tables import dataframe_to_table
from learnt.runtime.predict import read_inputs
from learnt.settings import make_settings
from learnt.training.prepare import Fitted, prepare


def test_a_programs_preprocessing_is_reused_not_refitted(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    other = titanic.sample(300, random_state=1).reset_index(drop=True)
    other["fare"] *= 3  # refitting would change the standardisation; reuse must not
    fitted = Fitted.from_program(titanic_program)
    _, split, prepared = prepare(other, make_settings(), tmp_path, fitted)
    assert prepared.fitted is fitted
    manifest = titanic_program.manifest
    assert prepared.fitted.preprocessing == manifest.preprocessing
    table = dataframe_to_table(other, "other")
    expected = encode(table.take(split.train), manifest.preprocessing)
    numeric, categorical = (x.numpy() for x in prepared.train.inputs)
    np.testing.assert_array_equal(numeric, expected.arrays["numeric"])
    np.testing.assert_array_equal(categorical, expected.arrays["categorical"])
    assert prepared.sizes["n_outputs"] == 2


def test_fitting_afresh_follows_the_data(titanic: pd.DataFrame, tmp_path: Path) -> None:
    other = titanic.assign(fare=titanic["fare"] * 3)
    _, _, prepared = prepare(other, make_settings(label="survived"), tmp_path)
    fare = next(n for n in prepared.fitted.preprocessing.numeric if n.column == "fare")
    _, _, original = prepare(titanic, make_settings(label="survived"), tmp_path)
    original_fare = next(n for n in original.fitted.preprocessing.numeric if n.column == "fare")
    assert fare.mean == pytest.approx(3 * original_fare.mean)


def test_a_text_programs_tokenizer_is_reused(
    text_program: learnt.Program, sms_file: Path, tmp_path: Path
) -> None:
    fitted = Fitted.from_program(text_program)
    _, split, prepared = prepare(sms_file, make_settings(), tmp_path, fitted)
    tokens = prepared.train.inputs[0].numpy()
    spec = text_program.manifest.preprocessing.text
    assert prepared.sizes["vocabulary_size"] == spec.vocabulary_size
    expected = encode(
        read_inputs(text_program, [sms_file], labelled=True).take(split.train[:5]),
        text_program.manifest.preprocessing,
        tokenizer=text_program.tokenizer(),
    )
    width = expected.arrays["tokens"].shape[1]
    np.testing.assert_array_equal(tokens[split.train[:5], :width], expected.arrays["tokens"])


def test_an_image_programs_size_and_statistics_are_reused(
    image_program: learnt.Program, digit_folder: Path, tmp_path: Path
) -> None:
    fitted = Fitted.from_program(image_program)
    _, _, prepared = prepare(digit_folder, make_settings(), tmp_path, fitted)
    spec = image_program.manifest.preprocessing.image
    assert (prepared.sizes["size"], prepared.sizes["channels"]) == (spec.size, spec.channels)
    assert prepared.fitted.preprocessing.image == spec


def test_reused_preprocessing_with_other_classes_fits_new_labels(
    titanic_program: learnt.Program, titanic: pd.DataFrame, tmp_path: Path
) -> None:
    relabelled = titanic.assign(survived=titanic["survived"].replace({1: "yes", 0: "no"}))
    fitted = Fitted.from_program(titanic_program)
    _, _, prepared = prepare(relabelled, make_settings(), tmp_path, fitted)
    assert prepared.fitted.labels.classes == ["no", "yes"]  # a new head will be made for these
    assert prepared.fitted.preprocessing == fitted.preprocessing
    subset = titanic.head(60)  # both classes, known to the program
    _, _, same = prepare(subset, make_settings(), tmp_path, fitted)
    assert same.fitted.labels is fitted.labels  # classes the program knows: its labels stay


def test_fitted_preprocessing_saves_and_loads_beside_a_checkpoint(
    text_program: learnt.Program, tmp_path: Path
) -> None:
    fitted = Fitted.from_program(text_program)
    fitted.save(tmp_path / "checkpoint")
    assert {p.name for p in (tmp_path / "checkpoint").iterdir()} == {
        "fitted.json",
        "tokenizer.json",
    }
    loaded = Fitted.load(tmp_path / "checkpoint")
    assert (loaded.schema, loaded.preprocessing, loaded.labels) == (
        fitted.schema,
        fitted.preprocessing,
        fitted.labels,
    )
    assert loaded.tokenizer.encode("free prize").ids == fitted.tokenizer.encode("free prize").ids
