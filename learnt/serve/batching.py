"""Micro-batching: network calls of concurrent requests merged into one ONNX Runtime call.

Each request is read and encoded in its own worker thread, exactly as `learnt predict` does it
(`predict_table` with a runner); the runner handed in is a `Batcher`, which queues the encoded rows
and waits for the answer. One batching thread takes the first pending call, waits up to
`wait_ms` for more while other requests are in flight (never when a request is alone), up to
`max_rows` rows, concatenates their inputs, runs the network once and hands each caller its rows.
Text inputs of different lengths are padded as the tokenizer pads one chunk (pad token, mask 0).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from learnt.data.encode import Encoded
from learnt.runtime.predict import Run


@dataclass
class Pending:
    """One network call waiting in the queue, and where its answer goes."""

    encoded: Encoded
    answer: Future[np.ndarray] = field(default_factory=Future)


class Admission:
    """A thread-safe count of requests admitted and not yet finished, with a ceiling."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        with self._lock:
            if self._count >= self.limit:
                return False
            self._count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        return self._count


class Batcher:
    """A `Run` (encoded rows → raw outputs) that merges concurrent calls into one call of `run`."""

    def __init__(
        self,
        run: Run,
        *,
        wait_ms: float,
        max_rows: int,
        padding: dict[str, int] | None = None,
        in_flight: Callable[[], int] = lambda: 1,
    ) -> None:
        self._run = run
        self._wait = wait_ms / 1000
        self._max_rows = max_rows
        self._padding = padding or {}
        self._in_flight = in_flight
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="learnt-batcher", daemon=True)
        self._thread.start()

    def __call__(self, encoded: Encoded) -> np.ndarray:
        pending = Pending(encoded)
        self._queue.put(pending)
        return pending.answer.result()

    def close(self) -> None:
        """Stop the batching thread once the calls already queued are answered."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            batch, stop = self._gather(first)
            self._answer(batch)
            if stop:
                return

    def _gather(self, first: Pending) -> tuple[list[Pending], bool]:
        """`first` and the calls that arrive within the wait, while more requests are in flight."""
        batch, rows = [first], len(first.encoded)
        deadline = time.monotonic() + self._wait
        while rows < self._max_rows and len(batch) < self._in_flight():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                item = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            rows += len(item.encoded)
        return batch, False

    def _answer(self, batch: list[Pending]) -> None:
        for group in mergeable_groups(batch, self._padding):
            try:
                outputs = self._run(merge([p.encoded for p in group], self._padding))
            except BaseException as error:  # the callers re-raise it in their own threads
                for pending in group:
                    pending.answer.set_exception(error)
                continue
            start = 0
            for pending in group:
                stop = start + len(pending.encoded)
                pending.answer.set_result(outputs[start:stop])
                start = stop


def mergeable_groups(batch: list[Pending], padding: dict[str, int]) -> list[list[Pending]]:
    """Calls whose inputs can be concatenated: equal names, and equal shapes past the rows except
    for arrays that `padding` can widen."""
    groups: dict[tuple, list[Pending]] = {}
    for pending in batch:
        key = tuple(
            (name, array.dtype.str, None if name in padding else array.shape[1:])
            for name, array in sorted(pending.encoded.arrays.items())
        )
        groups.setdefault(key, []).append(pending)
    return list(groups.values())


def merge(parts: list[Encoded], padding: dict[str, int]) -> Encoded:
    """One `Encoded` holding every part's rows in order; padded arrays widened to the widest."""
    if len(parts) == 1:
        return parts[0]
    merged = {}
    for name in parts[0].arrays:
        arrays = [part.arrays[name] for part in parts]
        if name in padding:
            width = max(a.shape[1] for a in arrays)
            arrays = [widen(a, width, padding[name]) for a in arrays]
        merged[name] = np.concatenate(arrays)
    return Encoded(merged)


def widen(array: np.ndarray, width: int, value: int) -> np.ndarray:
    """`array` [rows, T] padded on the right to [rows, width] with `value`."""
    if array.shape[1] == width:
        return array
    return np.pad(array, ((0, 0), (0, width - array.shape[1])), constant_values=value)
