"""Tables: learnt's defaults next to the strongest published defaults, on the same splits.

    .venv/bin/python bench/quality.py [--quick] [--seeds N] [--table NAME ...] [--peer NAME ...]
    (needs the benchmark-only peers: pip install -c constraints.txt -e ".[bench]")

For each table and seed, learnt trains with its defaults (the seed also picks its split); then
scikit-learn's HistGradientBoosting and pytabkit's RealMLP_TD and TabM_D (their defaults, CPU) are
fitted on exactly learnt's training + validation rows with exactly the feature columns learnt kept
(dates as learnt's numeric date parts, text and booleans as pandas categories; missing numbers
filled with the training median for the two MLP peers), and all are scored on the same held-out test rows: accuracy, or R² for
regression. Wall time per training is printed beside each (learnt: the whole `learnt.train`).

Tables: titanic and diamonds (../shared/data), scikit-learn's diabetes, breast_cancer and wine,
and vega_datasets' seattle-weather (label weather, with its dates).
Goals: learnt ≥ max(peers) − 0.01 on every table (mean over seeds); learnt no slower than TabM_D.
`--quick`: one seed of titanic, breast_cancer and wine against gradient boosting only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from common import data_file, goal, heading, require_modules

GOAL_GAP = 0.01
PEERS = ("HGB", "RealMLP_TD", "TabM_D")


@dataclass(frozen=True)
class Table:
    name: str
    label: str
    metric: str  # accuracy or r2
    write: Callable[[Path], Path | None]


def shared(file: str) -> Callable[[Path], Path | None]:
    return lambda _: data_file(file)


def sklearn_table(loader: str, label: str) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        import sklearn.datasets

        frame = getattr(sklearn.datasets, loader)(as_frame=True).frame.rename(
            columns={"target": label}
        )
        path = folder / f"{loader}.csv"
        frame.to_csv(path, index=False)
        return path

    return write


def seattle_weather(folder: Path) -> Path:
    from vega_datasets import local_data

    path = folder / "seattle-weather.csv"
    local_data.seattle_weather().to_csv(path, index=False)
    return path


TABLES = (
    Table("titanic", "survived", "accuracy", shared("titanic.csv")),
    Table("diamonds", "price", "r2", shared("diamonds.csv")),
    Table("diabetes", "progression", "r2", sklearn_table("load_diabetes", "progression")),
    Table(
        "breast_cancer", "malignant", "accuracy", sklearn_table("load_breast_cancer", "malignant")
    ),
    Table("wine", "cultivar", "accuracy", sklearn_table("load_wine", "cultivar")),
    Table("seattle-weather", "weather", "accuracy", seattle_weather),
)


def peer_inputs(frame: pd.DataFrame, features: dict[str, str]) -> pd.DataFrame:
    """learnt's feature columns: dates as the numeric parts learnt uses (year, month, day,
    day of year, weekday, hour); text and booleans as categories; numbers as floats."""
    columns = {}
    for name, kind in features.items():
        column = frame[name]
        if kind == "datetime":
            moments = pd.to_datetime(column, errors="coerce")
            for part in ("year", "month", "day", "day_of_year", "day_of_week", "hour"):
                values = getattr(moments.dt, part)
                columns[f"{name}_{part}"] = values.astype(float)
            continue
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            column = column.astype(str).where(column.notna(), "missing").astype("category")
        else:
            column = column.astype(float)
        columns[name] = column
    return pd.DataFrame(columns)


def fill_numbers(inputs: pd.DataFrame, fit_rows: np.ndarray) -> pd.DataFrame:
    filled = inputs.copy()
    for name in filled.columns:
        if not isinstance(filled[name].dtype, pd.CategoricalDtype):
            filled[name] = filled[name].fillna(filled[name].iloc[fit_rows].median())
    return filled


def fit_peer(
    peer: str, inputs: pd.DataFrame, labels: pd.Series, fit_rows, test_rows, metric: str, seed: int
) -> tuple[float, float]:
    from sklearn.metrics import accuracy_score, r2_score

    classify = metric == "accuracy"
    if peer == "HGB":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        kind = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        model = kind(categorical_features="from_dtype", random_state=seed)
    else:
        import pytabkit

        name = f"{peer}_{'Classifier' if classify else 'Regressor'}"
        model = getattr(pytabkit, name)(random_state=seed, device="cpu", verbosity=0)
        inputs = fill_numbers(inputs, fit_rows)
    targets = labels.astype(str) if classify else labels.astype(float)
    started = time.perf_counter()
    model.fit(inputs.iloc[fit_rows], targets.iloc[fit_rows])
    predicted = model.predict(inputs.iloc[test_rows])
    seconds = time.perf_counter() - started
    truth = targets.iloc[test_rows]
    score = (
        accuracy_score(truth, np.asarray(predicted).astype(str))
        if classify
        else r2_score(truth, predicted)
    )
    return float(score), seconds


def one_table(table: Table, path: Path, seeds: int, peers: list[str], work: Path) -> None:
    from learnt.settings import make_settings
    from learnt.training.lifecycle import run

    frame = pd.read_csv(path, low_memory=False)
    frame = frame[frame[table.label].notna()].reset_index(drop=True)
    heading(f"{table.name} (label {table.label}, {len(frame):,} rows), test {table.metric}")
    scores: dict[str, list[float]] = {side: [] for side in ("learnt", *peers)}
    seconds: dict[str, list[float]] = {side: [] for side in ("learnt", *peers)}
    for seed in range(seeds):
        started = time.perf_counter()
        settings = make_settings(label=table.label, seed=seed, out=work / f"{table.name}-{seed}")
        result = run(path, settings, suggest_next=False)
        seconds["learnt"].append(time.perf_counter() - started)
        scores["learnt"].append(float(result.program.manifest.metrics[table.metric]))
        split = result.split
        fit_rows = np.sort(np.concatenate([split.train, split.validation]))
        features = {c.name: c.kind for c in result.program.manifest.input_schema.features}
        inputs = peer_inputs(frame, features)
        for peer in peers:
            score, spent = fit_peer(
                peer, inputs, frame[table.label], fit_rows, split.test, table.metric, seed
            )
            scores[peer].append(score)
            seconds[peer].append(spent)
        line = "  ".join(f"{side} {scores[side][-1]:.4f}" for side in scores)
        print(f"  seed {seed}: {line}", flush=True)
    means = {side: statistics.mean(values) for side, values in scores.items()}
    times = {side: statistics.mean(values) for side, values in seconds.items()}
    for side in scores:
        print(f"  {side:<11} mean {means[side]:.4f}   {times[side]:7.1f} s per training")
    best_peer = max(peers, key=lambda p: means[p])
    gap = means["learnt"] - means[best_peer]
    goal(
        f"{table.name}: learnt ≥ best peer ({best_peer}) − {GOAL_GAP} over {seeds} seed(s) "
        f"(got {gap:+.4f})",
        gap >= -GOAL_GAP,
    )
    if "TabM_D" in peers:
        goal(
            f"{table.name}: learnt no slower than TabM_D ({times['learnt']:.1f} s vs "
            f"{times['TabM_D']:.1f} s)",
            times["learnt"] <= times["TabM_D"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, three small tables, HGB")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--table", action="append", choices=[t.name for t in TABLES])
    parser.add_argument("--peer", action="append", choices=PEERS)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.table = 1, args.table or ["titanic", "breast_cancer", "wine"]
        args.peer = args.peer or ["HGB"]
    peers = args.peer or list(PEERS)
    needed = ["torch", "sklearn", "vega_datasets"] + (["pytabkit"] if set(peers) - {"HGB"} else [])
    require_modules(*needed)
    from learnt.console import set_quiet

    set_quiet(True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for table in TABLES:
            if args.table and table.name not in args.table:
                continue
            path = table.write(work)
            if path is not None:
                one_table(table, path, args.seeds, peers, work)


if __name__ == "__main__":
    main()
