"""`learnt.sklearn`: the estimators pass scikit-learn's checks and work in its tools."""

from __future__ import annotations

import copy
import pickle  # noqa: TID251 — scikit-learn estimators are pickled; the program inside is bytes
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from learnt.sklearn import LearntClassifier, LearntRegressor


# Every check passes: no `expected_failed_checks`.
@parametrize_with_checks([LearntClassifier(epochs=20), LearntRegressor(epochs=20)])
def test_sklearn_checks(estimator, check) -> None:
    check(estimator)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    return load_breast_cancer(return_X_y=True)


@pytest.fixture
def fitted(cancer) -> LearntClassifier:
    X, y = cancer
    return LearntClassifier(epochs=10).fit(X, y)


def test_cross_val_score_classifier_in_a_pipeline(cancer) -> None:
    X, y = cancer
    pipeline = make_pipeline(StandardScaler(), LearntClassifier(epochs=15))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.mean() > 0.9, scores
    assert not Path("runs").exists()


def test_cross_val_score_regressor() -> None:
    X, y = load_diabetes(return_X_y=True)
    scores = cross_val_score(LearntRegressor(epochs=30, learning_rate=1e-2), X, y, cv=3)
    assert scores.mean() > 0.3, scores
    assert not Path("runs").exists()


def test_grid_search_over_learning_rate(cancer) -> None:
    X, y = cancer
    search = GridSearchCV(LearntClassifier(epochs=5), {"learning_rate": [1e-3, 1e-2]}, cv=2)
    search.fit(X[:300], y[:300])
    assert search.best_params_["learning_rate"] in (1e-3, 1e-2)
    assert search.best_estimator_.predict(X[300:]).shape == (len(X) - 300,)
    assert not Path("runs").exists()


def test_fitted_attributes_and_probabilities(fitted, cancer) -> None:
    X, _ = cancer
    assert list(fitted.classes_) == [0, 1]
    assert fitted.n_features_in_ == X.shape[1]
    assert not hasattr(fitted, "feature_names_in_")
    proba = fitted.predict_proba(X[:20])
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    assert (fitted.predict(X[:20]) == fitted.classes_[proba.argmax(axis=1)]).all()


def test_pickle_deepcopy_and_clone(fitted, cancer) -> None:
    X, _ = cancer
    expected = fitted.predict_proba(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    np.testing.assert_array_equal(copy.deepcopy(fitted).predict_proba(X), expected)
    assert restored._program.path != fitted._program.path  # each owns its folder
    assert not hasattr(clone(fitted), "program_files_")  # clone: same parameters, unfitted


def test_dataframe_with_string_labels_and_categories() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"size": rng.normal(size=200), "colour": rng.choice(["red", "blue", "green"], 200)}
    )
    y = np.where(frame["size"] > 0, "big", "small")
    model = LearntClassifier(epochs=20).fit(frame, y)
    assert list(model.feature_names_in_) == ["size", "colour"]
    assert list(model.classes_) == ["big", "small"]
    assert (model.predict(frame) == y).mean() > 0.9
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[["colour", "size"]])


def test_out_keeps_the_run_directory(tmp_path: Path) -> None:
    X, y = load_diabetes(return_X_y=True)
    model = LearntRegressor(epochs=2, out=tmp_path / "run").fit(X, y)
    assert (tmp_path / "run" / "program" / "program.json").is_file()
    model.fit(X, y)  # a refit replaces the program there
    assert model.predict(X).shape == (len(X),)


def test_settings_are_validated(cancer) -> None:
    from learnt.errors import UsageError

    X, y = cancer
    with pytest.raises(UsageError, match="--lr"):
        LearntClassifier(learning_rate=-1).fit(X, y)
