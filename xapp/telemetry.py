"""Per-cell telemetry, aggregated per interval and written off the hot path.

The hot path calls ``record`` (a dict update under a lock, no I/O). A background
writer thread closes each interval into points (per cell: reports served and
dropped, p50/p99 latency, NMSE on labelled reports, the strongest beam's share of the channel
energy in dB, environment and SAM version)
and hands them to a sink. When the sink fails (InfluxDB down) points stay in a
bounded buffer and are retried; beyond the bound the oldest are dropped and
counted in ``points_dropped``. Sinks: ``LineProtocolFile`` (the local default)
and ``InfluxSink`` (influxdb-client's write API).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

__all__ = ["InfluxSink", "LineProtocolFile", "Point", "Telemetry"]

log = logging.getLogger(__name__)
MEASUREMENT = "csi_xapp"


@dataclass
class Point:
    cell: str
    env: str
    sam_version: int | None
    time_ns: int
    fields: dict[str, float]

    def line(self) -> str:
        tags = f"cell={_esc(self.cell)},env={_esc(self.env)}"
        f = ",".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}i" for k, v in self.fields.items()
        )
        f += f",sam_version={self.sam_version if self.sam_version is not None else -1}i"
        return f"{MEASUREMENT},{tags} {f} {self.time_ns}"


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace(" ", "\\ ").replace(",", "\\,").replace("=", "\\=")


class Sink(Protocol):
    def write(self, points: list[Point]) -> None: ...


class LineProtocolFile:
    """Appends InfluxDB line protocol to a file (the default outside a cluster)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, points: list[Point]) -> None:
        with open(self.path, "a") as f:
            f.write("".join(p.line() + "\n" for p in points))


class InfluxSink:
    """influxdb-client's synchronous write API (InfluxDB 2.x, or 1.8+ via /api/v2/write)."""

    def __init__(self, url: str, token: str, org: str, bucket: str, timeout_ms: int = 2000) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)
        self.api = self.client.write_api(write_options=SYNCHRONOUS)
        self.bucket, self.org = bucket, org

    def write(self, points: list[Point]) -> None:
        self.api.write(bucket=self.bucket, org=self.org, record=[p.line() for p in points])


@dataclass
class _Cell:
    env: str = ""
    sam_version: int | None = None
    served: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: collections.defaultdict(int))
    latencies: list[float] = field(default_factory=list)
    nmse: list[float] = field(default_factory=list)
    beam: list[float] = field(default_factory=list)


class Telemetry:
    def __init__(self, sink: Sink | None, interval_s: float = 1.0, max_points: int = 10000) -> None:
        self.sink, self.interval_s, self.max_points = sink, interval_s, max_points
        self._cells: dict[str, _Cell] = collections.defaultdict(_Cell)
        self._lock = threading.Lock()
        self._buffer: collections.deque[Point] = collections.deque()
        self.points_dropped = 0
        self.points_written = 0
        self.write_failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observers: list = []

    def add_observer(self, observer) -> None:
        """Also tell ``observer`` (with ``record`` and ``dropped`` like these) of every
        report and drop: the Prometheus metrics are fed this way."""
        self._observers.append(observer)

    # hot path ---------------------------------------------------------------------
    def record(
        self,
        cell: str,
        env: str,
        sam_version: int | None,
        served: int,
        latency_s: float | None = None,
        nmse: list[float] | None = None,
        beam_share: float | None = None,
    ) -> None:
        """One report's outcome: rows served, latency, NMSE of its labelled rows (linear),
        and the mean share of its reconstructed channels' strongest beam (a channel statistic,
        ``lasco.metrics.beam_share``)."""
        with self._lock:
            c = self._cells[cell]
            c.env, c.sam_version = env, sam_version
            c.served += served
            if latency_s is not None:
                c.latencies.append(latency_s)
            if nmse:
                c.nmse.extend(nmse)
            if beam_share is not None:
                c.beam.append(beam_share)
        for obs in self._observers:
            obs.record(cell, env, sam_version, served, latency_s, nmse, beam_share)

    def dropped(self, cell: str, reason: str, n: int = 1) -> None:
        with self._lock:
            self._cells[cell].dropped[reason] += n
        for obs in self._observers:
            obs.dropped(cell, reason, n)

    # background -------------------------------------------------------------------
    def close_interval(self) -> list[Point]:
        """Turn the interval's counters into points and queue them (bounded)."""
        now = time.time_ns()
        with self._lock:
            cells, self._cells = self._cells, collections.defaultdict(_Cell)
        points = []
        for cell, c in cells.items():
            f: dict[str, float] = {"served": c.served, "dropped": sum(c.dropped.values())}
            for reason, n in c.dropped.items():
                f[f"dropped_{reason.replace('-', '_')}"] = n
            if c.latencies:
                f["p50_ms"] = float(np.percentile(c.latencies, 50) * 1e3)
                f["p99_ms"] = float(np.percentile(c.latencies, 99) * 1e3)
            if c.nmse:
                f["nmse_db"] = float(10 * np.log10(max(np.mean(c.nmse), 1e-12)))
                f["labelled"] = len(c.nmse)
            if c.beam:
                f["beam_db"] = float(10 * np.log10(max(np.mean(c.beam), 1e-12)))
            points.append(Point(cell, c.env or "none", c.sam_version, now, f))
        with self._lock:
            self._buffer.extend(points)
            while len(self._buffer) > self.max_points:
                self._buffer.popleft()
                self.points_dropped += 1
        return points

    def flush(self) -> bool:
        """Write the buffered points to the sink; on failure put them back (the bound still
        holds: the oldest beyond it are dropped and counted). True when all were written."""
        with self._lock:
            batch = list(self._buffer)
            self._buffer.clear()
        if not batch:
            return True
        try:
            if self.sink is None:
                raise RuntimeError("no telemetry sink")
            self.sink.write(batch)
        except Exception as exc:  # any sink failure: keep the points, count, retry later
            self.write_failures += 1
            if self.write_failures in (1, 10, 100) or self.write_failures % 1000 == 0:
                log.warning("telemetry write failed (%d times): %s", self.write_failures, exc)
            with self._lock:
                self._buffer.extendleft(reversed(batch))
                while len(self._buffer) > self.max_points:
                    self._buffer.popleft()
                    self.points_dropped += 1
            return False
        self.points_written += len(batch)
        return True

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer)

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self.close_interval()
                self.flush()

        self._thread = threading.Thread(target=loop, name="telemetry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.close_interval()
        self.flush()
