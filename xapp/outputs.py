"""Where the xApp's results go: SDL (reconstructed CSI, active policies), telemetry,
and the labelled samples the rApp adapts on (shards in the data store, see
docs/data-store.md; in memory only when no store is set).

SDL layout (namespace: the setting ``sdl.namespace``, default ``lasco-csi``):

    csi/<cell_id>/<ue_id>   msgpack {"ts": ns, "env": id, "sam_version": int|None,
                                     "h_hat": {"dtype": "float16", "shape": [2, 32, 32],
                                               "data": bytes}}
                            written only when newer than what is stored (its report's
                            ``ts``), expiring after ``sdl.csi_ttl_s``
    policy/<instance_id>    the A1 policy instance (JSON text), for restart recovery

The in-memory SDL serves the local demo and unit tests; ``RedisSdl`` is ricsdl's
SyncStorage on a real Redis (DBAAS_SERVICE_HOST/PORT), the same calls as the
framework's ``sdl_set``/``sdl_get``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import msgpack
import numpy as np

from datastore import DataWriter, LabelledSamples
from xapp.settings_stores import DataSettings

__all__ = ["DatasetSink", "InMemorySdl", "Sdl", "decode_csi_entry", "encode_csi_entry"]

log = logging.getLogger(__name__)


class Sdl(Protocol):
    def set(self, ns: str, data: dict[str, bytes]) -> None: ...
    def get(self, ns: str, keys: list[str]) -> dict[str, bytes]: ...
    def find_and_get(self, ns: str, prefix: str) -> dict[str, bytes]: ...
    def remove(self, ns: str, keys: list[str]) -> None: ...

    def set_latest(self, ns: str, data: dict[str, tuple[int, bytes]], ttl_ms: int) -> int:
        """Write each ``key: (ts, value)`` unless the stored value is newer (its ``ts``),
        to expire after ``ttl_ms``; returns how many were written."""
        ...


class InMemorySdl:
    """A thread-safe in-process stand-in for SDL with the same calls (expiry checked when
    read)."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, bytes]] = defaultdict(dict)
        self._expires: dict[tuple[str, str], float] = {}
        self._ts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def _live(self, ns: str) -> dict[str, bytes]:
        now = time.monotonic()
        data = self._data[ns]
        for k in [k for k in data if self._expires.get((ns, k), now + 1) <= now]:
            del data[k]
            self._expires.pop((ns, k), None)
            self._ts.pop((ns, k), None)
        return data

    def set(self, ns: str, data: dict[str, bytes]) -> None:
        with self._lock:
            self._data[ns].update(data)
            for k in data:
                self._expires.pop((ns, k), None)
                self._ts.pop((ns, k), None)

    def set_latest(self, ns: str, data: dict[str, tuple[int, bytes]], ttl_ms: int) -> int:
        with self._lock:
            live, written = self._live(ns), 0
            for k, (ts, value) in data.items():
                if k in live and self._ts.get((ns, k), -1) > ts:
                    continue
                live[k] = value
                self._ts[(ns, k)] = ts
                self._expires[(ns, k)] = time.monotonic() + ttl_ms / 1e3
                written += 1
            return written

    def get(self, ns: str, keys: list[str]) -> dict[str, bytes]:
        with self._lock:
            live = self._live(ns)
            return {k: live[k] for k in keys if k in live}

    def find_and_get(self, ns: str, prefix: str) -> dict[str, bytes]:
        with self._lock:
            return {k: v for k, v in self._live(ns).items() if k.startswith(prefix)}

    def remove(self, ns: str, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._data[ns].pop(k, None)


def encode_csi_entry(h_hat: np.ndarray, ts: int, env: str, version: int | None) -> bytes:
    block = {
        "dtype": "float16",
        "shape": [2, 32, 32],
        "data": np.ascontiguousarray(h_hat, dtype="<f2").tobytes(),
    }
    return msgpack.packb({"ts": ts, "env": env, "sam_version": version, "h_hat": block})


def decode_csi_entry(data: bytes) -> dict:
    obj = msgpack.unpackb(data)
    b = obj["h_hat"]
    obj["h_hat"] = np.frombuffer(b["data"], "<f2").reshape(b["shape"]).astype(np.float32)
    return obj


class DatasetSink:
    """Labelled samples per environment, handed to a :class:`datastore.DataWriter` that
    writes them as shards for the rApp (or, without a store, keeps them in memory).

    ``add`` is the hot path: it only buffers (memory bounded by the writer, the oldest
    dropped and counted). ``tick`` starts a background flush when the writer has work
    and none is running; ``flush`` writes synchronously (at the end of a run).
    """

    def __init__(self, writer: DataWriter | None = None) -> None:
        self.writer = writer if writer is not None else DataWriter(None)
        self._added: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._count: Callable[[str, int], None] | None = None
        self.refused = 0

    @classmethod
    def from_settings(cls, s: DataSettings, *, writer_id: str | None = None) -> DatasetSink:
        """A sink on the store ``s.uri`` (None: memory only) with the settings' bounds."""
        return cls(
            DataWriter(
                s.uri,
                shard_samples=s.shard_samples,
                max_buffer_samples=s.max_buffer_samples,
                max_age_s=s.max_age_s,
                max_shards_per_env=s.max_shards_per_env,
                flush_partial_after_s=s.flush_partial_after_s,
                writer_id=writer_id,
            )
        )

    def report_to(self, count: Callable[[str, int], None], prefix: str = "data_") -> None:
        """Mirror the writer's counters, and ``samples_refused``, into
        ``count(prefix + name, n)`` (the xApp's)."""
        self._count = lambda name, n: count(prefix + name, n)
        self.writer.on_count = self._count

    # -- hot path ------------------------------------------------------------------------
    def add(
        self,
        environment: str,
        projection_id: str,
        cell: str,
        t_ns: int,
        labels: np.ndarray,
        codewords: np.ndarray,
    ) -> bool:
        """Buffer the labelled rows of one report; False (counted as ``samples_refused``,
        never raised) when they cannot be stored (a time outside int64, bad shapes).

        Args:
            environment: the environment id (``cell:<id>`` for a cell no policy maps).
            projection_id: the projection the codewords were made with.
            cell: the reporting cell.
            t_ns: the report's time, ns since the epoch.
            labels: ``[k, 2, 32, 32] float32``, the full CSI of the labelled rows.
            codewords: ``[k, M]``, their codewords (stored as float32).
        """
        k = len(labels)
        try:
            samples = LabelledSamples(
                environment,
                projection_id,
                np.asarray(labels, np.float32),
                np.asarray(codewords, np.float32),
                np.full(k, cell, dtype=object),
                np.full(k, t_ns, dtype=np.int64),
            )
        except (ValueError, OverflowError, TypeError, IndexError) as exc:
            with self._lock:
                self.refused += k
                n = self.refused
            if self._count is not None:
                self._count("samples_refused", k)
            if n == k or n // 1000 > (n - k) // 1000:  # the first, then every 1000th
                log.warning("labelled rows of %s refused (%d so far): %s", cell, n, exc)
            return False
        self.writer.add(samples)
        with self._lock:
            self._added[environment] += k
        return True

    def count(self, environment: str) -> int:
        """Samples of ``environment`` added so far (written, buffered or dropped since)."""
        with self._lock:
            return self._added[environment]

    def buffered(self, environment: str) -> LabelledSamples | None:
        """The samples of ``environment`` not written (yet), oldest first; None: none."""
        return self.writer.buffered(environment)

    # -- off the hot path ----------------------------------------------------------------
    def tick(self) -> bool:
        """Start a background flush when the writer has work (a full or old enough shard,
        retention) and no flush runs; returns whether one started. No I/O here."""
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return False
            if not self.writer.due():
                return False
            self._flusher = threading.Thread(
                target=self.writer.flush, name="data-writer", daemon=True
            )
            self._flusher.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for a background flush that ``tick`` started to end (at shutdown)."""
        with self._lock:
            flusher = self._flusher
        if flusher is not None:
            flusher.join(timeout)

    def flush(self, force: bool = False) -> int:
        """Write now (``force``: partial shards too), after a running background flush;
        returns the shards written. Never raises."""
        return self.writer.flush(force=force)

    def counters(self) -> dict[str, int]:
        """The writer's counters (``samples_written``, ``shards_written``,
        ``samples_dropped``, ``write_failures``, ``shards_deleted``, ``samples_buffered``)."""
        return self.writer.counters()
