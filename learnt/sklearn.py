"""scikit-learn estimators around `learnt train`: `LearntClassifier` and `LearntRegressor`.

    from learnt.sklearn import LearntClassifier
    model = LearntClassifier(epochs=20).fit(X_train, y_train)
    model.predict_proba(X_test)

`fit` runs the same training path as `learnt.train()`, with no test hold-out (the caller keeps its
own test rows) and, unless `out` is given, in a temporary run directory that is removed at once:
the fitted program's files are kept as bytes on the estimator and written to a temporary folder
owned by it (removed with the estimator), from which it predicts. Pickling, `copy.deepcopy` and `clone` carry those bytes,
never torch objects. Numpy features become columns `x0`, `x1`, …; a DataFrame keeps its columns
(and their kinds: categories, booleans, dates). Missing values (NaN) are allowed, as in
`learnt train`; infinities are refused.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from learnt.console import is_quiet, set_quiet
from learnt.kinds import Task

if TYPE_CHECKING:
    from learnt.runtime.program import Program

LABEL = "__learnt_label__"  # the label column's name in the frame handed to training
MIN_ROWS = 10  # learnt's own minimum of labelled rows


class LearntEstimator(BaseEstimator):
    """What both estimators share: settings as parameters, input checks, fitting and pickling."""

    _task: Task

    def __init__(
        self,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        patience: int = 10,
        arch: str | None = None,
        random_state: int | None = 0,
        val_size: float = 0.1,
        time_budget: float | None = None,
        out: str | Path | None = None,
        verbose: bool = False,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience = patience
        self.arch = arch
        self.random_state = random_state
        self.val_size = val_size
        self.time_budget = time_budget
        self.out = out
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # --- fitting -------------------------------------------------------------------------------

    def _fit(self, X: Any, y: Any) -> None:
        """Train on (X, y-as-label-column) and keep the program."""
        frame = self._features(X, reset=True)
        labels = self._labels(y)
        check_consistent_length(frame, labels)
        if len(frame) < MIN_ROWS:
            raise ValueError(
                f"{type(self).__name__} got {len(frame)} sample(s); learnt needs at least "
                f"{MIN_ROWS} rows to train"
            )
        frame[LABEL] = labels
        self.program_files_ = train_program_files(frame, self._task, self._settings())
        self._materialise()

    def _settings(self) -> dict[str, Any]:
        """The `TrainSettings` fields this estimator's parameters stand for."""
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            "patience": self.patience,
            "arch": self.arch,
            "seed": seed_of(self.random_state),
            "val_size": self.val_size,
            "time_budget": self.time_budget,
            "out": self.out,
            "force": self.out is not None,
            "verbose": self.verbose,
        }

    def _labels(self, y: Any) -> np.ndarray:
        raise NotImplementedError

    # --- inputs --------------------------------------------------------------------------------

    def _features(self, X: Any, *, reset: bool) -> pd.DataFrame:
        """X as the frame learnt reads: a DataFrame's own columns, or x0, x1, … for arrays."""
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, skip_check_array=True, reset=reset)
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required."
                )
            check_finite_numbers(X)
            frame = X.copy()
            frame.columns = [str(c) for c in frame.columns]
            return frame.reset_index(drop=True)
        array = validate_data(self, X, reset=reset, dtype="numeric", ensure_all_finite="allow-nan")
        return pd.DataFrame(
            array.astype(np.float64), columns=[f"x{i}" for i in range(array.shape[1])]
        )

    def _predict_frame(self, X: Any) -> pd.DataFrame:
        check_is_fitted(self, "program_files_")
        return self._program.predict(self._features(X, reset=False))

    # --- the program's files -------------------------------------------------------------------

    def _materialise(self) -> None:
        """Write the program's files to a folder this estimator owns, and open the program."""
        from learnt.runtime.program import Program

        root = Path(tempfile.mkdtemp(prefix="learnt-estimator-"))
        weakref.finalize(self, shutil.rmtree, root, ignore_errors=True)
        for name, data in self.program_files_.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        self._program: Program = Program(root)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_program", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "program_files_" in state:
            self._materialise()


class LearntClassifier(ClassifierMixin, LearntEstimator):
    """A learnt classification program as a scikit-learn classifier.

    Parameters are `learnt train` settings (`random_state` is `--seed`; `out`, when given, keeps
    the run directory there); `verbose=True` prints the run as `learnt train` does.
    Fitted attributes: `classes_`, `n_features_in_`, `feature_names_in_` (DataFrames with string
    column names), `program_files_` (the program directory's files, as bytes).
    """

    _task: Task = "classification"

    def fit(self, X: Any, y: Any) -> LearntClassifier:
        """Train a program on features X and classes y."""
        self._fit(X, y)
        return self

    def _labels(self, y: Any) -> np.ndarray:
        y = check_array(column_or_1d(y, warn=True), ensure_2d=False, dtype=None, input_name="y")
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes; y has 1 class: {self.classes_[0]!r}"
            )
        return codes.astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of `classes_`."""
        check_is_fitted(self)
        frame = self._predict_frame(X)
        columns = [f"proba_{code}" for code in range(len(self.classes_))]
        return frame[columns].to_numpy(dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class LearntRegressor(RegressorMixin, LearntEstimator):
    """A learnt regression program as a scikit-learn regressor.

    Parameters as for `LearntClassifier`. Fitted attributes: `n_features_in_`,
    `feature_names_in_` (DataFrames with string column names), `program_files_`.
    """

    _task: Task = "regression"

    def fit(self, X: Any, y: Any) -> LearntRegressor:
        """Train a program on features X and numeric targets y."""
        self._fit(X, y)
        return self

    def _labels(self, y: Any) -> np.ndarray:
        y = column_or_1d(y, warn=True)
        return check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")

    def predict(self, X: Any) -> np.ndarray:
        """The predicted value of each row."""
        return self._predict_frame(X)["prediction"].to_numpy(dtype=np.float64)


# --- helpers --------------------------------------------------------------------------------------


def train_program_files(
    frame: pd.DataFrame, task: Task, options: dict[str, Any]
) -> dict[str, bytes]:
    """Train on `frame` (label column `LABEL`) and return the program directory's files."""
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    verbose = options.pop("verbose")
    was_quiet = is_quiet()
    set_quiet(not verbose)
    try:
        with tempfile.TemporaryDirectory(prefix="learnt-fit-") as scratch:
            out = Path(options["out"]) if options["out"] is not None else Path(scratch) / "run"
            settings = make_settings(
                label=LABEL, task=task, test_size=0.0, **(options | {"out": out})
            )
            program = run(frame, settings, suggest_next=False).program
            return read_files(program.path)
    finally:
        set_quiet(was_quiet)


def read_files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by its relative path."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def seed_of(random_state: Any) -> int:
    """An integer seed: `random_state` itself, or one drawn from it (None: fresh entropy)."""
    if isinstance(random_state, int | np.integer):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def check_finite_numbers(frame: pd.DataFrame) -> None:
    """Refuse infinities in a DataFrame's numeric columns (NaN is a missing value)."""
    numbers = frame.select_dtypes(include="number").to_numpy(dtype=np.float64)
    if np.isinf(numbers).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
