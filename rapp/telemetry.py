"""The xApp's per-cell telemetry read back, and the rApp's own events written, in InfluxDB or in
a line-protocol file.

Reading: ``open_telemetry(url)`` gives an ``InfluxTelemetry`` for an ``http(s)://`` URL
(InfluxQL over HTTP: ``/query`` is native on InfluxDB 1.x and the v1-compatibility endpoint on
2.x) or a ``FileTelemetry`` for a path or ``file://`` URL (the file the xApp's
``LineProtocolFile`` appends to). Both return the points newer than a time: ``TelemetryRow``s of
the xApp's measurement ``csi_xapp`` and ``RappEvent``s of the rApp's ``csi_rapp``. A source that
cannot answer now (server down, 5xx, timeout, file missing) raises ``TelemetryUnavailable``; a
query the server refuses (unknown database, bad credentials) raises ``TelemetryRejected``.

Writing: an ``EventLog`` queues ``RappEvent``s and writes them to an ``InfluxEventSink`` (line
protocol over ``/write``: native on 1.x, the v1 compatibility on 2.x) or a ``FileEventSink``,
from a background thread or on ``flush``. Like the xApp's telemetry it keeps them in a bounded
buffer while the server is unreachable and retries; beyond the bound the oldest are dropped
and counted. It never raises into its caller.

InfluxDB's database and retention policy come from the bucket in the xApp's ``db/rp`` form
(``lasco/autogen``); a token, when set, is sent as ``Authorization: Token ...`` (a 2.x token,
or ``user:password`` on 1.8+). The event writer lives in ``rapp.telemetry_events`` and what
both halves share (errors, HTTP client, line-protocol parser) in ``rapp.telemetry_base``; this
module re-exports their public names, so callers import from here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rapp.telemetry_base import (
    RAPP_MEASUREMENT,
    XAPP_MEASUREMENT,
    FieldValue,
    InfluxHttp,
    TelemetryError,
    TelemetryRejected,
    TelemetryUnavailable,
    file_path,
    parse_line,
)
from rapp.telemetry_events import (
    EVENT_KINDS,
    EventLog,
    EventSink,
    FileEventSink,
    InfluxEventSink,
    RappEvent,
    open_event_log,
)

__all__ = [
    "EVENT_KINDS",
    "RAPP_MEASUREMENT",
    "XAPP_MEASUREMENT",
    "EventLog",
    "EventSink",
    "FileEventSink",
    "FileTelemetry",
    "InfluxEventSink",
    "InfluxTelemetry",
    "RappEvent",
    "TelemetryError",
    "TelemetryRejected",
    "TelemetryRow",
    "TelemetrySettings",
    "TelemetrySource",
    "TelemetryUnavailable",
    "open_event_log",
    "open_telemetry",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TelemetrySettings:
    """Where the xApp's telemetry is read and the rApp's events are written."""

    url: str | None = None
    """InfluxDB (``http(s)://host:8086``), or the xApp's line-protocol file (a path or
    ``file://`` URL); None: no telemetry, nothing to watch."""
    events_url: str | None = None
    """Where events go, in the same forms; None: to ``url`` (only to the log when both are
    None)."""
    token: str = ""
    """InfluxDB token (``user:password`` on 1.8+); empty: no authentication."""
    bucket: str = "lasco/autogen"
    """InfluxDB ``database/retention-policy``, as in the xApp's settings."""
    timeout_s: float = 2.0
    """Seconds, the limit on each InfluxDB request (connect, send, each read)."""
    events_interval_s: float = 5.0
    """Seconds between retries of events the sink did not take (new events go at once)."""
    events_buffer: int = 1000
    """Events kept while the sink fails; beyond it the oldest are dropped and counted."""

    def open_source(self) -> TelemetrySource | None:
        """The telemetry source ``url`` names (None when it is not set)."""
        if not self.url:
            return None
        return open_telemetry(
            self.url, bucket=self.bucket, token=self.token, timeout_s=self.timeout_s
        )

    def open_event_log(self) -> EventLog:
        """An event log (not started) on ``events_url``, else ``url``."""
        return open_event_log(
            self.events_url or self.url,
            bucket=self.bucket,
            token=self.token,
            timeout_s=self.timeout_s,
            interval_s=self.events_interval_s,
            max_events=self.events_buffer,
        )


@dataclass(frozen=True)
class TelemetryRow:
    """One interval of one cell from the xApp: its numeric fields (``served``, ``dropped``,
    ``dropped_<reason>``, ``p50_ms``, ``p99_ms``; ``nmse_db`` with ``labelled`` when the
    interval had labelled reports) and the SAM version that served it (None: none)."""

    cell: str
    env: str
    t_ns: int
    fields: Mapping[str, float]
    sam_version: int | None = None


class TelemetrySource(Protocol):
    """The points written after ``since_ns`` and up to ``until_ns`` (ns since the epoch; None:
    no upper bound), oldest first."""

    def read(self, since_ns: int, until_ns: int | None = None) -> list[TelemetryRow]: ...

    def read_events(self, since_ns: int, until_ns: int | None = None) -> list[RappEvent]: ...

    def close(self) -> None: ...


_Raw = tuple[dict[str, str], int, dict[str, FieldValue]]


class _Reader:
    """Turns the raw points of a source into rows and events."""

    def _points(self, measurement: str, since_ns: int, until_ns: int | None) -> list[_Raw]:
        raise NotImplementedError

    def read(self, since_ns: int, until_ns: int | None = None) -> list[TelemetryRow]:
        rows = []
        for tags, t_ns, values in self._points(XAPP_MEASUREMENT, since_ns, until_ns):
            fields = {
                k: float(v)
                for k, v in values.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            version = fields.pop("sam_version", -1)
            rows.append(
                TelemetryRow(
                    cell=tags.get("cell", ""),
                    env=tags.get("env", "none"),
                    t_ns=t_ns,
                    fields=fields,
                    sam_version=int(version) if version >= 0 else None,
                )
            )
        return sorted(rows, key=lambda r: (r.t_ns, r.cell))

    def read_events(self, since_ns: int, until_ns: int | None = None) -> list[RappEvent]:
        events = []
        for tags, t_ns, values in self._points(RAPP_MEASUREMENT, since_ns, until_ns):
            values.pop("event", None)
            events.append(
                RappEvent(tags.get("kind", ""), tags.get("environment", ""), values, t_ns)
            )
        return sorted(events, key=lambda e: e.t_ns or 0)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ident(name: str) -> str:
    """An InfluxQL identifier, double-quoted."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class InfluxTelemetry(_Reader):
    """The xApp's telemetry and the rApp's events in InfluxDB, through InfluxQL ``/query``."""

    def __init__(
        self,
        url: str,
        *,
        bucket: str = "lasco/autogen",
        token: str = "",
        timeout_s: float = 2.0,
    ) -> None:
        self._influx = InfluxHttp(url, bucket, token, timeout_s)

    def _points(self, measurement: str, since_ns: int, until_ns: int | None) -> list[_Raw]:
        rp = self._influx.rp
        source = f"{_ident(rp)}.{_ident(measurement)}" if rp else _ident(measurement)
        q = f"SELECT * FROM {source} WHERE time > {int(since_ns)}"
        if until_ns is not None:
            q += f" AND time <= {int(until_ns)}"
        q += " GROUP BY *"
        params = {"db": self._influx.db, "q": q, "epoch": "ns"}
        r = self._influx.request("GET", "/query", params=params)
        try:
            body = r.json()
            if r.status_code >= 400 or "error" in body:
                raise TelemetryRejected(f"InfluxDB answered {r.status_code}: {body.get('error')}")
            points: list[_Raw] = []
            for result in body.get("results", []):
                if "error" in result:
                    raise TelemetryRejected(f"InfluxDB refused the query: {result['error']}")
                for series in result.get("series", []):
                    tags, columns = series.get("tags") or {}, series["columns"]
                    for values in series.get("values", []):
                        row = dict(zip(columns, values, strict=True))
                        t_ns = int(row.pop("time"))
                        points.append((tags, t_ns, {k: v for k, v in row.items() if v is not None}))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise TelemetryUnavailable(
                f"InfluxDB answered {r.status_code}, unreadable: {exc!r}"
            ) from exc
        return points

    def close(self) -> None:
        self._influx.close()


class FileTelemetry(_Reader):
    """The points in a line-protocol file (the xApp's ``LineProtocolFile``, or events written
    by a ``FileEventSink``).

    Lines are appended in time order, so a read from at or after the newest point already
    parsed starts where the last read stopped; an earlier ``since_ns``, a shorter file or a
    new file (rotation) reads it all again. A line being written (no newline yet) waits for the
    next read; a line that does not parse is skipped and counted in ``lines_skipped``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines_skipped = 0
        self._offset, self._newest, self._inode = 0, -1, -1

    def _points(self, measurement: str, since_ns: int, until_ns: int | None) -> list[_Raw]:
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_ino != self._inode or st.st_size < self._offset or since_ns < self._newest:
                    self._offset, self._newest, self._inode = 0, -1, st.st_ino
                f.seek(self._offset)
                data = f.read()
        except OSError as exc:
            raise TelemetryUnavailable(f"telemetry file {self.path}: {exc}") from exc
        end = data.rfind(b"\n") + 1
        self._offset += end
        points: list[_Raw] = []
        for raw in data[:end].decode("utf-8", "replace").splitlines():
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            try:
                name, tags, values, t_ns = parse_line(raw)
            except ValueError as exc:
                self.lines_skipped += 1
                log.log(
                    logging.WARNING if self.lines_skipped == 1 else logging.DEBUG,
                    "%s: line skipped: %s",
                    self.path,
                    exc,
                )
                continue
            if t_ns is None:
                self.lines_skipped += 1
                continue
            self._newest = max(self._newest, t_ns)
            in_range = t_ns > since_ns and (until_ns is None or t_ns <= until_ns)
            if name == measurement and in_range:
                points.append((tags, t_ns, values))
        return points


def open_telemetry(
    url: str, *, bucket: str = "lasco/autogen", token: str = "", timeout_s: float = 2.0
) -> InfluxTelemetry | FileTelemetry:
    """The source ``url`` names: InfluxDB for ``http(s)://``, else the line-protocol file a
    path or ``file://`` URL names."""
    path = file_path(url)
    if path is not None:
        return FileTelemetry(path)
    return InfluxTelemetry(url, bucket=bucket, token=token, timeout_s=timeout_s)
