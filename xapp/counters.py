"""The xApp's counters: what was served, dropped by reason, A1 results. Read like a
mapping (a missing key counts 0); ``drop`` also tells telemetry, and ``log_limited``
logs at most once per key and interval, so malformed input never floods the log."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Protocol

__all__ = ["Counters", "DropSink"]

log = logging.getLogger(__name__)


class DropSink(Protocol):
    """Where drops are reported per cell (the telemetry)."""

    def dropped(self, cell: str, reason: str, n: int = 1) -> None: ...


class Counters(Mapping[str, int]):
    """Thread-safe named counts.

    Args:
        drops: told of every drop, per cell and reason (None: no one).
        log_every_s: the least time between two log lines of one key.
    """

    def __init__(self, drops: DropSink | None = None, *, log_every_s: float = 10.0) -> None:
        self.drops, self.log_every_s = drops, log_every_s
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._log_times: dict[str, float] = {}

    # -- mapping -------------------------------------------------------------------------
    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._counts

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._counts))

    def __len__(self) -> int:
        with self._lock:
            return len(self._counts)

    def get(self, key: str, default: int | None = None) -> int | None:  # type: ignore[override]
        with self._lock:
            return self._counts.get(key, default)

    def snapshot(self) -> dict[str, int]:
        """A copy, for the metrics probe and summaries."""
        with self._lock:
            return dict(self._counts)

    # -- counting ------------------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def drop(self, reason: str, n: int = 1, *, cell: str = "?", detail: str = "") -> None:
        """``n`` rows or messages dropped for ``reason``: counted as ``dropped`` and
        ``dropped_<reason>``, told to telemetry, and logged (limited) when ``detail``."""
        with self._lock:
            self._counts["dropped"] += n
            self._counts[f"dropped_{reason}"] += n
        if self.drops is not None:
            self.drops.dropped(cell, reason, n)
        if detail:
            self.log_limited(reason, "dropped (%s): %s", reason, detail)

    def log_limited(self, key: str, msg: str, *args: object) -> bool:
        """Log a warning unless ``key`` was logged less than ``log_every_s`` ago; returns
        whether it was logged."""
        now = time.monotonic()
        with self._lock:
            if now - self._log_times.get(key, -float("inf")) < self.log_every_s:
                return False
            self._log_times[key] = now
        log.warning(msg, *args)
        return True
