"""The writer: labelled samples buffered per environment in bounded memory, written as
shards (see :mod:`datastore.shard`) off the caller's hot path, and old shards deleted.

``add`` only appends under a lock (and drops the oldest buffered samples beyond the
bound); ``flush`` does the I/O and is meant for a background thread or a periodic
tick. A write that fails keeps its samples buffered, is counted and logged, and is
retried at the next flush; nothing the store does raises out of ``add`` or ``flush``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datastore.layout import Layout
from datastore.samples import LabelledSamples
from datastore.shard import (
    CODEWORD_DTYPES,
    check_writer_id,
    encode_shard,
    is_temp_name,
    shard_name,
)

__all__ = ["COUNTERS", "DataWriter", "default_writer_id"]

log = logging.getLogger(__name__)

COUNTERS = (
    "samples_written",
    "shards_written",
    "samples_dropped",
    "write_failures",
    "shards_deleted",
)
"""The writer's counters (monotonic); :meth:`DataWriter.counters` adds the gauge
``samples_buffered``."""

TEMP_GRACE_S = 3600.0
"""A temporary file older than this (by the time in its name) was left by a writer that
died mid-write; retention deletes it."""


def default_writer_id() -> str:
    """``<host name>-<pid>``, reduced to the characters a shard name allows (a pod's host
    name is its name, so replicas differ)."""
    raw = re.sub(r"[^A-Za-z0-9._-]", "_", f"{socket.gethostname()}-{os.getpid()}")
    return check_writer_id(raw if raw[:1].isalnum() else f"w{raw}"[:128])


@dataclass(frozen=True)
class _Chunk:
    order: int  # arrival order across all environments: the lowest is the oldest
    added_ns: int
    samples: LabelledSamples


_Key = tuple[str, str]  # (environment, projection id): what one shard holds


class DataWriter:
    """Buffers labelled samples and writes them as shards to ``uri``.

    Args:
        uri: the store (any fsspec URL or a folder); None keeps the samples in memory
            only (within ``max_buffer_samples``) and ``flush`` writes nothing.
        shard_samples: samples per shard; a flush writes every full shard.
        max_buffer_samples: samples buffered over all environments; beyond it the oldest
            (by arrival) are dropped and counted. The shards being written are not
            counted against it.
        max_age_s: retention deletes shards whose time is older than this (None: never).
        max_shards_per_env: retention keeps at most this many shards of an environment,
            the newest (None: no limit). Applies to every writer's shards in the store.
        writer_id: in every shard's name and metadata (default: host name and pid).
        flush_partial_after_s: a flush also writes a partial shard once its oldest sample
            was buffered this long (None: only ``flush(force=True)`` writes partial ones).
        codeword_dtype: how codewords are stored, ``float32`` or ``float16``.
        retention_interval_s: retention also runs when this long passed without it.
        storage_options: passed to the fsspec filesystem.
        clock_ns: wall clock, ns since the epoch (creation times, ages).
    """

    def __init__(
        self,
        uri: str | None,
        *,
        shard_samples: int = 1024,
        max_buffer_samples: int = 16384,
        max_age_s: float | None = 7 * 86400.0,
        max_shards_per_env: int | None = 100,
        writer_id: str | None = None,
        flush_partial_after_s: float | None = None,
        codeword_dtype: str = "float32",
        retention_interval_s: float = 60.0,
        storage_options: dict[str, Any] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if shard_samples < 1 or max_buffer_samples < 1:
            raise ValueError("shard_samples and max_buffer_samples must be at least 1")
        if codeword_dtype not in CODEWORD_DTYPES:
            raise ValueError(f"codeword dtype {codeword_dtype!r} is not one of {CODEWORD_DTYPES}")
        self.uri = uri
        self.layout = None if uri is None else Layout(uri, storage_options)
        self.shard_samples, self.max_buffer_samples = shard_samples, max_buffer_samples
        self.max_age_s, self.max_shards_per_env = max_age_s, max_shards_per_env
        self.writer_id = check_writer_id(writer_id or default_writer_id())
        self.flush_partial_after_s = flush_partial_after_s
        self.codeword_dtype, self.retention_interval_s = codeword_dtype, retention_interval_s
        self.clock_ns = clock_ns
        self.on_count: Callable[[str, int], None] | None = None
        """Told of every counter increment (``(name, n)``), e.g. to mirror them."""
        self._buf: dict[_Key, deque[_Chunk]] = {}
        self._sizes: dict[_Key, int] = {}  # samples buffered per key
        self._buffered = 0  # their sum
        self._order = 0
        self._seq = 0
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._failing = 0  # consecutive failed writes
        self._retry_at: int | None = None  # no automatic flush before (after a failure)
        self._last_retention: int | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DataWriter({self.uri!r}, writer_id={self.writer_id!r})"

    # -- hot path ------------------------------------------------------------------------
    def add(self, samples: LabelledSamples) -> None:
        """Buffer ``samples`` (one environment and projection); beyond the bound the
        oldest buffered samples are dropped and counted. No I/O. ValueError when they
        could never be a shard (no environment id, no codeword values)."""
        if not samples.environment or samples.codewords.shape[1] < 1:
            raise ValueError(
                f"samples of environment {samples.environment!r} with codewords "
                f"{list(samples.codewords.shape)} cannot be stored"
            )
        if not len(samples):
            return
        with self._lock:
            if len(samples) > self.max_buffer_samples:
                extra = len(samples) - self.max_buffer_samples
                samples = samples.take(slice(extra, None))
                self._count("samples_dropped", extra)
            key = (samples.environment, samples.projection_id)
            self._buf.setdefault(key, deque()).append(_Chunk(self._order, self.clock_ns(), samples))
            self._order += 1
            self._sizes[key] = self._sizes.get(key, 0) + len(samples)
            self._buffered += len(samples)
            self._bound()

    def due(self) -> bool:
        """Whether a flush has work: a full shard, a partial one old enough, or retention
        (always False without a store, and during the back-off after a failed write:
        1 s, doubling to 60 s). Cheap: no I/O."""
        if self.layout is None:
            return False
        now = self.clock_ns()
        if self._retry_at is not None and now < self._retry_at:
            return False
        with self._lock:
            if any(self._ready(key, now, False) for key in self._buf):
                return True
        return self._retention_due(now)

    # -- background ----------------------------------------------------------------------
    def flush(self, force: bool = False) -> int:
        """Write every full shard (``force``: the partial ones too), then run retention
        when a shard was written or ``retention_interval_s`` passed. Returns the shards
        written. Never raises: a failed write puts its samples back and is counted."""
        if self.layout is None:
            return 0
        with self._flush_lock:
            now = self.clock_ns()
            batches = self._take(now, force)
            written = 0
            for i, (_key, chunks) in enumerate(batches):
                try:
                    self._write(chunks, now)
                except Exception as exc:  # the store's failures never reach the caller
                    self._put_back(batches[i:])
                    self._failed(exc, now)
                    return written
                written += 1
            if self._failing and written:
                log.info("data store %s writable again after %d failures", self.uri, self._failing)
                self._failing, self._retry_at = 0, None
            if written or self._retention_due(now):
                self.retain(now)
            return written

    def retain(self, now_ns: int | None = None) -> int:
        """Delete shards older than ``max_age_s`` and, per environment, all but the newest
        ``max_shards_per_env`` (oldest first), and temporary files a dead writer left;
        returns the shards deleted. Never raises."""
        if self.layout is None:
            return 0
        now = self.clock_ns() if now_ns is None else now_ns
        self._last_retention = now
        cutoff = None if self.max_age_s is None else now - int(self.max_age_s * 1e9)
        deleted = 0
        try:
            environments = self.layout.environments()
        except Exception as exc:  # the next retention tries again
            log.warning("data store %s: retention could not list: %r", self.uri, exc)
            return 0
        for env in environments:
            try:
                shards, temps = self.layout.shards(env), self.layout.temp_files(env)
            except Exception as exc:
                log.warning("data store %s: retention could not list %s: %r", self.uri, env, exc)
                continue
            for i, s in enumerate(shards):  # newest first
                too_old = cutoff is not None and s.t_ns < cutoff
                too_many = self.max_shards_per_env is not None and i >= self.max_shards_per_env
                if (too_old or too_many) and self.layout.remove_quietly(s.path):
                    deleted += 1
            for name in temps:
                t = is_temp_name(name)
                if t is not None and t < now - int(TEMP_GRACE_S * 1e9):
                    self.layout.remove_quietly(f"{self.layout.env_path(env)}/{name}")
        if deleted:
            log.info("data store %s: retention deleted %d shards", self.uri, deleted)
            with self._lock:
                self._count("shards_deleted", deleted)
        return deleted

    def close(self) -> int:
        """Write everything buffered (partial shards too); returns the shards written."""
        return self.flush(force=True)

    # -- reading the state ---------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """``samples_written``, ``shards_written``, ``samples_dropped``, ``write_failures``,
        ``shards_deleted`` (monotonic) and ``samples_buffered`` (now)."""
        with self._lock:
            return {**self._counts, "samples_buffered": self._buffered}

    @property
    def buffered_samples(self) -> int:
        with self._lock:
            return self._buffered

    def buffered(
        self, environment: str, projection_id: str | None = None
    ) -> LabelledSamples | None:
        """The samples of ``environment`` not written yet, in arrival order (of
        ``projection_id``; None: the projection most recently added); None when none."""
        with self._lock:
            keys = [k for k in self._buf if k[0] == environment]
            if projection_id is None and keys:
                projection_id = max(keys, key=lambda k: self._buf[k][-1].order)[1]
            chunks = list(self._buf.get((environment, projection_id or ""), ()))
        return LabelledSamples.concat([c.samples for c in chunks]) if chunks else None

    # -- internals (the caller holds self._lock where it says so) -------------------------
    def _count(self, name: str, n: int) -> None:
        self._counts[name] += n
        if self.on_count is not None and n:
            self.on_count(name, n)

    def _bound(self) -> None:
        """Drop the oldest buffered samples beyond the bound (holding the lock)."""
        excess = self._buffered - self.max_buffer_samples
        dropped = 0
        while excess > 0:
            key = min(self._buf, key=lambda k: self._buf[k][0].order)
            q = self._buf[key]
            n = len(q[0].samples)
            if n <= excess:
                q.popleft()
            else:
                q[0] = dataclasses.replace(q[0], samples=q[0].samples.take(slice(excess, None)))
                n = excess
            self._sizes[key] -= n
            if not q:
                del self._buf[key], self._sizes[key]
            excess -= n
            dropped += n
        if dropped:
            self._buffered -= dropped
            self._count("samples_dropped", dropped)

    def _ready(self, key: _Key, now: int, force: bool) -> bool:
        """Whether a shard of ``key`` is to be written (holding the lock)."""
        q = self._buf.get(key)
        if not q:
            return False
        if force or self._sizes[key] >= self.shard_samples:
            return True
        after = self.flush_partial_after_s
        return after is not None and now - q[0].added_ns >= int(after * 1e9)

    def _take(self, now: int, force: bool) -> list[tuple[_Key, list[_Chunk]]]:
        """Take the shards to write out of the buffer, oldest first."""
        out = []
        with self._lock:
            for key in sorted(self._buf, key=lambda k: self._buf[k][0].order):
                while self._ready(key, now, force):
                    out.append((key, self._pop(key)))
        return out

    def _pop(self, key: _Key) -> list[_Chunk]:
        """Up to ``shard_samples`` samples of ``key``, oldest first (holding the lock)."""
        q, chunks, need = self._buf[key], [], self.shard_samples
        while q and need > 0:
            c = q[0]
            if len(c.samples) <= need:
                chunks.append(q.popleft())
                need -= len(c.samples)
            else:
                chunks.append(dataclasses.replace(c, samples=c.samples.take(slice(None, need))))
                q[0] = dataclasses.replace(c, samples=c.samples.take(slice(need, None)))
                need = 0
        taken = sum(len(c.samples) for c in chunks)
        self._sizes[key] -= taken
        self._buffered -= taken
        if not q:
            del self._buf[key], self._sizes[key]
        return chunks

    def _put_back(self, batches: list[tuple[_Key, list[_Chunk]]]) -> None:
        """Return unwritten shards to the front of their buffers (then the bound holds)."""
        with self._lock:
            for key, chunks in reversed(batches):
                self._buf.setdefault(key, deque()).extendleft(reversed(chunks))
                n = sum(len(c.samples) for c in chunks)
                self._sizes[key] = self._sizes.get(key, 0) + n
                self._buffered += n
            self._bound()

    def _write(self, chunks: list[_Chunk], now: int) -> None:
        samples = LabelledSamples.concat([c.samples for c in chunks])
        seq, self._seq = self._seq, self._seq + 1
        meta, data = encode_shard(
            samples,
            created_ns=now,
            writer_id=self.writer_id,
            seq=seq,
            codeword_dtype=self.codeword_dtype,
        )
        name = shard_name(max(now, meta["t_max_ns"]), self.writer_id, seq, len(samples))
        path = self.layout.write_atomic(samples.environment, name, data)  # type: ignore[union-attr]
        log.debug("wrote %s (%d samples)", path, len(samples))
        with self._lock:
            self._count("samples_written", len(samples))
            self._count("shards_written", 1)

    def _failed(self, exc: Exception, now: int) -> None:
        self._failing += 1
        self._retry_at = now + int(min(2.0 ** (self._failing - 1), 60.0) * 1e9)
        with self._lock:
            self._count("write_failures", 1)
            n, buffered = self._counts["write_failures"], self._buffered
        if self._failing == 1 or n in (10, 100) or n % 1000 == 0:
            log.warning(
                "data store %s: write failed (%d times), %d samples kept buffered: %r",
                self.uri,
                n,
                buffered,
                exc,
            )

    def _retention_due(self, now: int) -> bool:
        last = self._last_retention
        return last is None or now - last >= int(self.retention_interval_s * 1e9)
