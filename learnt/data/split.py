"""Step 4: keep data aside. A seeded, stratified three-way split of row positions.

The test rows are held out first and never looked at again until evaluation (step 7); the
validation rows are then carved from what remains and are the only rows that stopping,
best-epoch choice and targets see. Same seed and same labels → same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    stratified: bool

    def describe(self) -> str:
        kind = "stratified" if self.stratified else "random"
        return f"{len(self.train)} train / {len(self.validation)} validation / {len(self.test)} test rows ({kind})"


def split_rows(
    classes: np.ndarray | None, rows: int, *, test_size: float, val_size: float, seed: int
) -> Split:
    """Split `rows` positions; stratified by `classes` (int codes) when every class has 2+ rows."""
    rng = np.random.default_rng(seed)
    stratify = (
        classes is not None and len(np.unique(classes)) > 1 and np.bincount(classes).min() >= 2
    )
    groups = _groups(classes if stratify else None, rows)
    train, test = _hold_out(groups, test_size, rng)
    train_groups = [np.intersect1d(g, train) for g in groups]
    train, validation = _hold_out(train_groups, val_size, rng)
    return Split(train, validation, test, bool(stratify))


def _groups(classes: np.ndarray | None, rows: int) -> list[np.ndarray]:
    if classes is None:
        return [np.arange(rows)]
    return [np.flatnonzero(classes == c) for c in np.unique(classes)]


def _hold_out(
    groups: list[np.ndarray], fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): `fraction` of each group, rounded, chosen at random."""
    kept, held = [], []
    for group in groups:
        shuffled = rng.permutation(group)
        count = round(fraction * len(group))
        count = min(count, len(group) - 1) if len(group) > 1 else 0
        held.append(shuffled[:count])
        kept.append(shuffled[count:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))
