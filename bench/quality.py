"""Test-set quality of `learnt.train` with defaults, next to scikit-learn's gradient boosting.

    .venv/bin/python bench/quality.py [--quick]

For each seed, learnt trains with its defaults (the seed also picks its split), then
`HistGradientBoostingClassifier` / `HistGradientBoostingRegressor` (defaults, categorical columns
as pandas categories with `categorical_features="from_dtype"`) is fitted on exactly learnt's
training + validation rows, using exactly the feature columns learnt kept, and both are scored on
the same held-out test rows: accuracy on titanic (label survived), R² on diamonds (label price).
Wall time per training is shown for both (learnt: the whole `learnt.train` — read, split, train,
freeze, evaluate; gradient boosting: fit and predict on data already in memory).

Goal: learnt within 0.01 of gradient boosting (mean over seeds of learnt − HGB ≥ −0.01).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common import (
    data_file,
    goal,
    heading,
    machine_load,
    others_watched,
    parse_args,
    require_modules,
)

if TYPE_CHECKING:
    import pandas as pd

    from learnt.training.lifecycle import TrainResult

GOAL_GAP = 0.01
MAX_CATEGORIES = 255  # gradient boosting's limit for a categorical feature


@dataclass(frozen=True)
class Task:
    file: str
    label: str
    metric: str  # "accuracy" or "r2"


@dataclass(frozen=True)
class Outcome:
    seed: int
    learnt: float
    boosting: float
    learnt_seconds: float
    boosting_seconds: float


TASKS = (Task("titanic.csv", "survived", "accuracy"), Task("diamonds.csv", "price", "r2"))


def train_learnt(path: Path, label: str, seed: int, out: Path) -> tuple[TrainResult, float]:
    """`learnt.train` with defaults (through `lifecycle.run`, which also returns the split)."""
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    started = time.perf_counter()
    result = run(path, make_settings(label=label, seed=seed, out=out), suggest_next=False)
    return result, time.perf_counter() - started


def boosting_inputs(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """learnt's feature columns; text and booleans as categories (codes past 255 categories)."""
    import pandas as pd

    columns = {}
    for name in features:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            column = column.astype("category")
            if len(column.cat.categories) > MAX_CATEGORIES:
                column = column.cat.codes.astype(float).where(column.notna())
        columns[name] = column
    return pd.DataFrame(columns)


def train_boosting(
    inputs: pd.DataFrame, labels: pd.Series, result: TrainResult, metric: str, seed: int
) -> tuple[float, float]:
    """(test score, seconds) of gradient boosting fitted on learnt's train + validation rows."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import accuracy_score, r2_score

    split = result.split
    fit_rows = np.sort(np.concatenate([split.train, split.validation]))
    kind = HistGradientBoostingClassifier if metric == "accuracy" else HistGradientBoostingRegressor
    model = kind(categorical_features="from_dtype", random_state=seed)
    started = time.perf_counter()
    model.fit(inputs.iloc[fit_rows], labels.iloc[fit_rows])
    predicted = model.predict(inputs.iloc[split.test])
    seconds = time.perf_counter() - started
    score = accuracy_score if metric == "accuracy" else r2_score
    return float(score(labels.iloc[split.test], predicted)), seconds


def labelled(path: Path, label: str) -> pd.DataFrame:
    """The rows with a label, in file order: what learnt's split positions refer to."""
    import pandas as pd

    frame = pd.read_csv(path, low_memory=False)
    return frame[frame[label].notna()].reset_index(drop=True)


def one_seed(
    task: Task, path: Path, frame: pd.DataFrame, seed: int, work: Path
) -> tuple[Outcome, list[str]]:
    """Train both on one split; return the scores and the feature columns learnt kept."""
    result, learnt_seconds = train_learnt(path, task.label, seed, work / f"seed-{seed}")
    split = result.split
    if len(split.train) + len(split.validation) + len(split.test) != len(frame):
        raise SystemExit(f"{path}: learnt labelled a different number of rows than pandas")
    features = [c.name for c in result.program.manifest.input_schema.features]
    inputs = boosting_inputs(frame, features)
    score, boosting_seconds = train_boosting(inputs, frame[task.label], result, task.metric, seed)
    ours = float(result.program.manifest.metrics[task.metric])
    return Outcome(seed, ours, score, learnt_seconds, boosting_seconds), features


def compare(task: Task, path: Path, seeds: range) -> None:
    """Print one table: per seed, learnt's and gradient boosting's test score and the gap."""
    frame = labelled(path, task.label)
    heading(f"{task.file} (label {task.label}), test {task.metric}, seeds {seeds[0]}–{seeds[-1]}")
    print(f"  {'seed':>4}  {'learnt':>8}  {'HGB':>8}  {'learnt−HGB':>10}")
    outcomes = []
    with tempfile.TemporaryDirectory() as tmp, others_watched():
        for seed in seeds:
            outcome, features = one_seed(task, path, frame, seed, Path(tmp))
            outcomes.append(outcome)
            print(
                f"  {seed:>4}  {outcome.learnt:8.4f}  {outcome.boosting:8.4f}  "
                f"{outcome.learnt - outcome.boosting:+10.4f}",
                flush=True,
            )
    print(f"  features both used (last seed): {', '.join(features)}")
    summarise(task, outcomes)


def summarise(task: Task, outcomes: list[Outcome]) -> None:
    """Mean scores, mean gap, mean wall time per training, and the goal line."""

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    gaps = [o.learnt - o.boosting for o in outcomes]
    gap = mean(gaps)
    print(
        f"  mean  {mean([o.learnt for o in outcomes]):8.4f}  "
        f"{mean([o.boosting for o in outcomes]):8.4f}  {gap:+10.4f}"
        f"  (median gap {statistics.median(gaps):+.4f}, worst {min(gaps):+.4f})"
    )
    learnt_s = mean([o.learnt_seconds for o in outcomes])
    boosting_s = mean([o.boosting_seconds for o in outcomes])
    print(
        f"  mean wall time per training: learnt {learnt_s:.1f} s, HGB {boosting_s:.2f} s "
        f"({learnt_s / boosting_s:.0f}×)"
    )
    goal(
        f"{task.file} {task.metric}: learnt within {GOAL_GAP} of HGB (mean gap {gap:+.4f})",
        gap >= -GOAL_GAP,
    )


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    require_modules("torch", "sklearn", "pandas")
    from learnt.console import set_quiet

    set_quiet(True)
    machine_load()
    seeds = range(2) if args.quick else range(5)
    for task in TASKS:
        path = data_file(task.file)
        if path is not None:
            compare(task, path, seeds)


if __name__ == "__main__":
    main()
