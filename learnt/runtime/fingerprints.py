"""Row fingerprints: which evaluated rows the program was trained on.

At training time the training and validation rows are hashed — 8 bytes of blake2b over the
canonical values of every column of a row (not only the features, so distinct rows that the
program sees alike are not taken for the same row; canonical, so a CSV, a DataFrame and a JSONL
file of the same rows agree) — and kept sorted in the manifest (a random sample above `LIMIT`
rows). Evaluation hashes its rows the same way, when it has those columns, and counts those found.
"""

from __future__ import annotations

import base64
import hashlib

import numpy as np

from learnt.data.encode import canonical_strings
from learnt.data.tables import Table
from learnt.runtime.format import Manifest, RowFingerprints

LIMIT = 200_000
SEPARATOR, MISSING = "\x1f", "\x00"


def row_hashes(table: Table, columns: list[str]) -> np.ndarray:
    """One uint64 per row of `table`: a hash of the canonical values of `columns`."""
    canonical = [canonical_strings(table.columns[name]).tolist() for name in columns]
    hashes = [
        hashlib.blake2b(
            SEPARATOR.join(MISSING if v is None else v for v in row).encode(), digest_size=8
        ).digest()
        for row in zip(*canonical, strict=True)
    ]
    return np.frombuffer(b"".join(hashes), dtype=">u8").astype(np.uint64)


def record(table: Table, seed: int = 0) -> RowFingerprints:
    """The fingerprints of every row of `table`, or of `LIMIT` of them chosen at random."""
    columns, rows = list(table.columns), len(table)
    if rows > LIMIT:  # the sample is drawn first, so only the rows kept are hashed
        table = table.take(np.random.default_rng(seed).choice(rows, LIMIT, replace=False))
    hashes = row_hashes(table, columns)
    stored = np.unique(hashes).astype(">u8")
    values = base64.b64encode(stored.tobytes()).decode()
    return RowFingerprints(columns=columns, rows=rows, stored=len(hashes), values=values)


def stored_hashes(fingerprints: RowFingerprints) -> np.ndarray:
    return np.frombuffer(base64.b64decode(fingerprints.values), dtype=">u8").astype(np.uint64)


def overlap_warning(manifest: Manifest, table: Table) -> str | None:
    """'N of M rows (x %) were used in training: …', or None (no overlap, or nothing recorded)."""
    fingerprints = manifest.training.row_fingerprints
    if fingerprints is None or not len(table):
        return None
    if any(name not in table.columns for name in fingerprints.columns):
        return None  # rows without a training column cannot be told apart from new ones
    hashes = row_hashes(table, fingerprints.columns)
    found = int(np.isin(hashes, stored_hashes(fingerprints)).sum())
    if not found:
        return None
    sampled = fingerprints.stored < fingerprints.rows
    if sampled:  # each training row had a stored/rows chance of being kept
        found = min(len(table), round(found * fingerprints.rows / fingerprints.stored))
    about = "about " if sampled else ""
    return (
        f"{about}{found} of {len(table)} rows ({100 * found / len(table):.1f} %) were used in "
        "training: these scores are optimistic"
    )
