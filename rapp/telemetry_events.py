"""The rApp's events (trigger, adaptation, gate decision, publish, A1 result) written to InfluxDB
as measurement ``csi_rapp``, or to a line-protocol file.

``EventLog.emit`` stamps and queues an event (no I/O) and never raises. A background thread
(``start``), or ``flush``, writes the queue to the sink; while the sink fails the events stay in
a bounded buffer and are retried, beyond the bound the oldest are dropped and counted, as in
the xApp's telemetry. Events the server refuses as they are (a field that changed type) are
not retried: a refused batch is written again event by event (a point written twice is the
same point), and only those refused alone are dropped and counted.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from influxdb_client import Point, WritePrecision

from rapp.telemetry_base import (
    RAPP_MEASUREMENT,
    FieldValue,
    InfluxHttp,
    TelemetryRejected,
    TelemetryUnavailable,
    file_path,
)

__all__ = [
    "EVENT_KINDS",
    "INTEGER_FIELDS",
    "EventLog",
    "EventSink",
    "FileEventSink",
    "InfluxEventSink",
    "RappEvent",
    "open_event_log",
]

log = logging.getLogger(__name__)

EVENT_KINDS = ("trigger", "adaptation", "gate", "publish", "a1")
"""The kinds of rApp event (the ``kind`` tag) dashboards know; another is written as given."""
INTEGER_FIELDS = frozenset({"event", "samples", "version"})
"""Event fields written as integers. Every other number is written as a float, so that a field
never meets two types (InfluxDB refuses a point whose field changes type)."""


@dataclass(frozen=True)
class RappEvent:
    """One rApp event: tags ``environment`` and ``kind`` (one of ``EVENT_KINDS``); fields such
    as ``trigger``, ``cell``, ``samples``, ``nmse_before_db``, ``nmse_after_db``, ``version``,
    ``a1_status``, ``seconds``, ``reason`` (None values and non-finite floats are left out);
    ``t_ns``: ns since the epoch, stamped by ``EventLog.emit`` when None."""

    kind: str
    environment: str
    fields: Mapping[str, FieldValue | None] = dataclasses.field(default_factory=dict)
    t_ns: int | None = None

    def line(self) -> str:
        """The event in line protocol, with a field ``event=1i`` so that every event has a
        field to count by. ValueError for a field of a type line protocol cannot carry."""
        p = Point(RAPP_MEASUREMENT).tag("environment", self.environment).tag("kind", self.kind)
        p.field("event", 1)
        for k, v in self.fields.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                v = int(v) if k in INTEGER_FIELDS else float(v)
            p.field(k, v)
        if self.t_ns is not None:
            p.time(int(self.t_ns), WritePrecision.NS)
        return p.to_line_protocol()


class EventSink(Protocol):
    """Writes lines of line protocol: TelemetryRejected when the destination refuses them as
    they are, any other exception when it cannot take them now."""

    def write(self, lines: list[str]) -> None: ...

    def close(self) -> None: ...


class InfluxEventSink:
    """Line protocol over HTTP ``POST /write?db=..&rp=..&precision=ns``."""

    def __init__(
        self, url: str, *, bucket: str = "lasco/autogen", token: str = "", timeout_s: float = 2.0
    ) -> None:
        self._influx = InfluxHttp(url, bucket, token, timeout_s)

    def write(self, lines: list[str]) -> None:
        params = {"db": self._influx.db, "precision": "ns"}
        if self._influx.rp:
            params["rp"] = self._influx.rp
        body = "".join(line + "\n" for line in lines).encode()
        r = self._influx.request("POST", "/write", params=params, content=body)
        if r.status_code in (400, 413, 422):
            raise TelemetryRejected(
                f"InfluxDB refused the events ({r.status_code}): {r.text[:200]}"
            )
        if not r.is_success:  # 401, 403, 404 (database not created yet): may change
            raise TelemetryUnavailable(f"InfluxDB answered {r.status_code}: {r.text[:200]}")

    def close(self) -> None:
        self._influx.close()


class FileEventSink:
    """Appends line protocol to a file, creating its folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write("".join(line + "\n" for line in lines))

    def close(self) -> None:
        pass


class EventLog:
    """Queues events and writes them to ``sink`` (None: events are only logged).

    Counters: ``events_written``, ``events_dropped`` (beyond ``max_events`` while the sink
    failed), ``events_rejected`` (refused by the server, or not expressible in line protocol),
    ``write_failures`` (attempts that failed and will be retried).
    """

    def __init__(
        self, sink: EventSink | None, *, interval_s: float = 5.0, max_events: int = 1000
    ) -> None:
        self.sink, self.interval_s, self.max_events = sink, interval_s, max_events
        self._buffer: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.events_written = self.events_dropped = 0
        self.events_rejected = self.write_failures = 0

    def emit(self, event: RappEvent) -> None:
        """Stamp (when the event has no time), log and queue ``event``; never raises."""
        try:
            if event.t_ns is None:
                event = dataclasses.replace(event, t_ns=time.time_ns())
            line = event.line()
        except Exception as exc:  # a field value line protocol has no type for
            self.events_rejected += 1
            log.warning("rApp event %s/%s not written: %s", event.kind, event.environment, exc)
            return
        log.info("rApp event %s", line)
        if self.sink is None:
            return
        self._requeue([line], front=False)
        self._wake.set()

    def _requeue(self, lines: list[str], front: bool) -> None:
        with self._lock:
            if front:
                self._buffer.extendleft(reversed(lines))
            else:
                self._buffer.extend(lines)
            while len(self._buffer) > self.max_events:
                self._buffer.popleft()
                self.events_dropped += 1

    def flush(self) -> bool:
        """Write the queued events; True when all were written or refused for good, False
        when some stay queued for a retry."""
        if self.sink is None:
            return True
        with self._flushing:
            with self._lock:
                batch = list(self._buffer)
                self._buffer.clear()
            if not batch:
                return True
            try:
                self._write(self.sink, batch)
            except Exception as exc:  # any sink failure: keep the events, count, retry later
                self.write_failures += 1
                n = self.write_failures
                if n in (1, 10, 100) or n % 1000 == 0:
                    log.warning("rApp events not written (%d times): %s", n, exc)
                return False
            return True

    def _write(self, sink: EventSink, batch: list[str]) -> None:
        """Write ``batch``; on a refusal, event by event. What was not written when the sink
        fails otherwise goes back to the queue, and the failure is raised."""
        try:
            sink.write(batch)
            self.events_written += len(batch)
            return
        except TelemetryRejected:
            pass  # some of them may be fine: one by one below
        except Exception:
            self._requeue(batch, front=True)
            raise
        for i, line in enumerate(batch):
            try:
                sink.write([line])
            except TelemetryRejected as exc:
                self.events_rejected += 1
                log.warning("rApp event refused, dropped: %s (%s)", line[:200], exc)
                continue
            except Exception:
                self._requeue(batch[i:], front=True)
                raise
            self.events_written += 1

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer)

    def start(self) -> None:
        """Write from a background thread: at once after each event, and every
        ``interval_s`` while some wait for a retry."""
        if self.sink is None or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(self.interval_s)
                self._wake.clear()
                self.flush()

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="rapp-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, try once more to write what is queued, and close the sink."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.flush()
        if self.sink is not None:
            self.sink.close()

    def __enter__(self) -> EventLog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_event_log(
    url: str | None,
    *,
    bucket: str = "lasco/autogen",
    token: str = "",
    timeout_s: float = 2.0,
    interval_s: float = 5.0,
    max_events: int = 1000,
) -> EventLog:
    """An event log on InfluxDB (``http(s)://``), on a file (a path or ``file://``), or, for
    None, only on the log. Not started: ``start`` it, or use it as a context manager."""
    sink: EventSink | None = None
    if url:
        path = file_path(url)
        sink = (
            FileEventSink(path)
            if path
            else InfluxEventSink(url, bucket=bucket, token=token, timeout_s=timeout_s)
        )
    return EventLog(sink, interval_s=interval_s, max_events=max_events)
