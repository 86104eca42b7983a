"""The reader: what the rApp adapts on. Lists environments and shards (names only) and
reads an environment's newest samples; a shard that is corrupt (truncated, not an
archive, arrays and metadata that disagree) or of a newer format version is skipped,
logged once with its path, and counted. A reader never writes or deletes anything.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from datastore.layout import Layout
from datastore.samples import CSI_SHAPE, LabelledSamples
from datastore.shard import ShardError, ShardInfo, UnsupportedShard, decode_shard

__all__ = ["DataReader"]

log = logging.getLogger(__name__)


class DataReader:
    """Reads the shards under ``uri`` (any fsspec URL or a folder).

    Args:
        uri: the store's root, as the writer was given it.
        storage_options: passed to the fsspec filesystem.

    Errors reaching the store (other than a shard deleted by retention between listing
    and reading, which is skipped) are raised: the caller retries later.
    """

    def __init__(self, uri: str, *, storage_options: dict[str, Any] | None = None) -> None:
        self.uri = uri
        self.layout = Layout(uri, storage_options)
        self.corrupt: dict[str, str] = {}
        """``{path: why}`` of the corrupt shards found so far (skipped, never deleted)."""
        self.unsupported: dict[str, str] = {}
        """``{path: why}`` of the shards of a newer format version found so far."""
        self._counts = {"shards_read": 0, "samples_read": 0}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DataReader({self.uri!r})"

    def environments(self) -> list[str]:
        """The environments with at least one shard, sorted."""
        return [e for e in self.layout.environments() if self.layout.shards(e)]

    def shards(self, environment: str) -> list[ShardInfo]:
        """The environment's shards, newest first (by the time in their names)."""
        return self.layout.shards(environment)

    def count(self, environment: str) -> int:
        """Samples in the environment's shards, from their names (no shard is opened;
        shards already found corrupt are left out)."""
        return sum(s.n for s in self.shards(environment) if s.path not in self.corrupt)

    def read_shard(self, shard: ShardInfo) -> LabelledSamples:
        """One shard's samples; ShardError (UnsupportedShard) when it cannot be used."""
        samples, _ = decode_shard(self.layout.cat(shard.path))
        if len(samples) != shard.n:
            raise ShardError(f"{len(samples)} samples, its name says {shard.n}")
        return samples

    def read(
        self,
        environment: str,
        max_samples: int | None = None,
        since_ns: int | None = None,
        projection_id: str | None = None,
    ) -> LabelledSamples:
        """The environment's newest samples, oldest first.

        Args:
            environment: the environment id.
            max_samples: at most this many, the newest (None: all).
            since_ns: only samples reported at or after this time (ns since the epoch).
            projection_id: only samples of this projection (None: the projection of the
                newest readable shard; codewords of two projections do not mix).

        Returns:
            ``labels [N, 2, 32, 32] float32``, ``codewords [N, M] float32``, ``cells [N]``
            object (str), ``t_ns [N] int64``, sorted by ``t_ns``; ``N = 0`` (and ``M = 0``
            when no shard was read) when there are none.
        """
        parts: list[LabelledSamples] = []
        threshold: int | None = None  # the max_samples-th newest time so far
        for shard in self.shards(environment):
            if since_ns is not None and shard.t_ns < since_ns:
                break  # a shard's time bounds its samples' times: the rest are older
            if threshold is not None and shard.t_ns <= threshold:
                break  # nothing in this or an older shard is newer than what we hold
            samples = self._load(shard, environment)
            if samples is None:
                continue
            if projection_id is None:
                projection_id = samples.projection_id
            if samples.projection_id != projection_id:
                continue
            if since_ns is not None:
                samples = samples.take(samples.t_ns >= since_ns)
            parts.append(samples)
            if max_samples is not None:
                times = np.concatenate([p.t_ns for p in parts])
                if len(times) >= max(max_samples, 1):
                    k = len(times) - max(max_samples, 1)
                    threshold = int(np.partition(times, k)[k])
        if not parts:
            return _empty(environment, projection_id or "")
        out = LabelledSamples.concat(parts)
        return out.newest(len(out) if max_samples is None else max_samples)

    def counters(self) -> dict[str, int]:
        """``shards_read``, ``samples_read``, ``shards_corrupt`` and ``shards_unsupported``
        (distinct shards found so far)."""
        with self._lock:
            return {
                **self._counts,
                "shards_corrupt": len(self.corrupt),
                "shards_unsupported": len(self.unsupported),
            }

    def _load(self, shard: ShardInfo, environment: str) -> LabelledSamples | None:
        """The shard's samples, or None when it vanished, is corrupt or unsupported."""
        if shard.path in self.corrupt or shard.path in self.unsupported:
            return None
        try:
            samples = self.read_shard(shard)
            if samples.environment != environment:
                raise ShardError(f"holds environment {samples.environment!r}")
        except FileNotFoundError:
            log.debug("shard %s was deleted while reading", shard.path)
            return None
        except UnsupportedShard as exc:
            with self._lock:
                self.unsupported[shard.path] = str(exc)
            log.warning("skipping shard %s: %s", shard.path, exc)
            return None
        except ShardError as exc:
            with self._lock:
                self.corrupt[shard.path] = str(exc)
            log.warning("skipping corrupt shard %s: %s", shard.path, exc)
            return None
        with self._lock:
            self._counts["shards_read"] += 1
            self._counts["samples_read"] += len(samples)
        return samples


def _empty(environment: str, projection_id: str) -> LabelledSamples:
    return LabelledSamples(
        environment,
        projection_id,
        np.zeros((0, *CSI_SHAPE), np.float32),
        np.zeros((0, 0), np.float32),
        np.zeros(0, object),
        np.zeros(0, np.int64),
    )
