"""Reading the xApp's telemetry and writing the rApp's events (rapp.telemetry): against the real
InfluxDB of the test fixtures, a line-protocol file, and servers that are down or broken."""

from __future__ import annotations

import itertools
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lasco.errors import ConfigError
from rapp.telemetry import (
    XAPP_MEASUREMENT,
    EventLog,
    FileEventSink,
    FileTelemetry,
    InfluxEventSink,
    InfluxTelemetry,
    RappEvent,
    TelemetryRejected,
    TelemetryRow,
    TelemetrySettings,
    TelemetryUnavailable,
    open_event_log,
    open_telemetry,
)
from rapp.telemetry_base import TelemetryError, parse_line
from tests.rapp.test_telemetry_events import EVENTS, stamped, written
from tests.servers import free_port
from xapp import telemetry as xt

CELLS = ("c1", "cell 2,x=y")  # the second needs escaping in line protocol
_names = itertools.count()


def xapp_intervals(sink: xt.Sink, n: int = 3) -> list[xt.Point]:
    """``n`` intervals of the xApp's telemetry for CELLS, written the way the xApp writes."""
    tel = xt.Telemetry(sink)
    points = []
    for i in range(n):
        tel.record("c1", "umi", 3, served=5, latency_s=0.002, nmse=[0.05, 0.1 * (i + 1)])
        tel.dropped("c1", "queue-full", 2)
        tel.record("cell 2,x=y", "uma", None, served=7, latency_s=0.004)
        points += tel.close_interval()
        assert tel.flush()
    return points


def expected_rows(points: list[xt.Point]) -> list[TelemetryRow]:
    rows = [
        TelemetryRow(
            p.cell, p.env, p.time_ns, {k: float(v) for k, v in p.fields.items()}, p.sam_version
        )
        for p in points
    ]
    return sorted(rows, key=lambda r: (r.t_ns, r.cell))


def assert_rows(got: list[TelemetryRow], want: list[TelemetryRow]) -> None:
    assert [(r.cell, r.env, r.t_ns, r.sam_version) for r in got] == [
        (r.cell, r.env, r.t_ns, r.sam_version) for r in want
    ]
    for g, w in zip(got, want, strict=True):
        assert g.fields == pytest.approx(w.fields, rel=1e-5)


# --- line protocol ---------------------------------------------------------------------------


def test_the_measurement_is_the_xapps():
    assert XAPP_MEASUREMENT == xt.MEASUREMENT


@pytest.mark.parametrize("cell", [*CELLS, "a\\b", "x=1"])
def test_the_xapps_lines_parse_back(cell):
    p = xt.Point(cell, "u mi", 7, 123, {"served": 5, "nmse_db": -8.25, "p50_ms": 2.0})
    assert parse_line(p.line()) == (
        XAPP_MEASUREMENT,
        {"cell": cell, "env": "u mi"},
        {"served": 5, "nmse_db": -8.25, "p50_ms": 2.0, "sam_version": 7},
        123,
    )


@pytest.mark.parametrize(
    "line", ["m", "m f", "m f=", "m,a f=1", 'm f="x', "m f=1 abc", "m f=1 1 2", "m f=x"]
)
def test_lines_that_are_not_line_protocol_are_refused(line):
    with pytest.raises(ValueError):
        parse_line(line)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://influxdb:8086", InfluxTelemetry),
        ("https://influxdb:8086/", InfluxTelemetry),
        ("file:///var/lib/xapp/telemetry.lp", FileTelemetry),
        ("telemetry.lp", FileTelemetry),
        ("/var/lib/xapp/telemetry.lp", FileTelemetry),
    ],
)
def test_the_url_chooses_the_source(url, kind):
    source = open_telemetry(url)
    assert isinstance(source, kind)
    source.close()


def test_an_unknown_scheme_is_a_config_error():
    with pytest.raises(ConfigError):
        open_telemetry("redis://localhost:6379")


# --- the file source and sink ----------------------------------------------------------------


def test_the_file_source_reads_what_the_xapp_wrote(tmp_path):
    path = tmp_path / "xapp" / "telemetry.lp"
    points = xapp_intervals(xt.LineProtocolFile(path))
    source = open_telemetry(f"file://{path}")
    assert_rows(source.read(0), expected_rows(points))
    assert source.read(points[-1].time_ns) == []
    later = xapp_intervals(xt.LineProtocolFile(path), n=1)
    assert_rows(source.read(points[-1].time_ns), expected_rows(later))
    assert_rows(source.read(0, until_ns=points[-1].time_ns), expected_rows(points))


def test_the_file_source_waits_for_a_line_being_written_and_skips_bad_ones(tmp_path):
    path = tmp_path / "telemetry.lp"
    (p,) = [q for q in xapp_intervals(xt.LineProtocolFile(tmp_path / "x.lp"), 1) if q.cell == "c1"]
    line = p.line()
    path.write_text("not line protocol\n" + line[:20])
    source = FileTelemetry(path)
    assert source.read(0) == []
    assert source.lines_skipped == 1
    with open(path, "a") as f:
        f.write(line[20:] + "\n")
    assert [r.cell for r in source.read(0)] == ["c1"]


def test_a_rewritten_file_is_read_again(tmp_path):
    path = tmp_path / "telemetry.lp"
    points = xapp_intervals(xt.LineProtocolFile(path), 2)
    source = FileTelemetry(path)
    assert len(source.read(0)) == 4
    path.unlink()
    xt.LineProtocolFile(path).write(points[:1])
    assert len(source.read(0)) == 1


def test_a_missing_file_is_unavailable(tmp_path):
    with pytest.raises(TelemetryUnavailable):
        FileTelemetry(tmp_path / "none.lp").read(0)


def test_events_to_a_file_are_read_back_beside_the_xapps_telemetry(tmp_path):
    path = tmp_path / "telemetry.lp"
    points = xapp_intervals(xt.LineProtocolFile(path), 1)
    with open_event_log(str(path)) as log:
        assert isinstance(log.sink, FileEventSink)
        for e in stamped(EVENTS):
            log.emit(e)
    assert log.events_written == len(EVENTS)
    source = FileTelemetry(path)
    assert source.read_events(0) == [written(e) for e in stamped(EVENTS)]
    assert len(source.read(0)) == len(points)


# --- InfluxDB ------------------------------------------------------------------------------


@pytest.fixture
def bucket(influx) -> str:
    server, _ = influx
    db = f"rapp_{next(_names)}"
    server.create_db(db)
    return f"{db}/autogen"


@pytest.mark.integration
def test_influx_source_reads_what_the_xapp_wrote(influx, bucket):
    server, bridge = influx
    db, _, _ = bucket.partition("/")
    sink = xt.InfluxSink(bridge.url, "", "lasco", bucket)
    points = xapp_intervals(sink)
    sink.client.close()
    with open_telemetry(server.url, bucket=bucket) as source:
        assert isinstance(source, InfluxTelemetry)
        assert_rows(source.read(0), expected_rows(points))
        assert_rows(source.read(points[1].time_ns), expected_rows(points[2:]))
        assert_rows(source.read(0, until_ns=points[1].time_ns), expected_rows(points[:2]))
        assert source.read_events(0) == []
    with InfluxTelemetry(server.url, bucket=db) as default_rp:
        assert len(default_rp.read(0)) == len(points)


@pytest.mark.integration
@pytest.mark.parametrize("bucket_name", ["nodb/autogen", "{db}/no_rp"])
def test_influx_refuses_an_unknown_database_or_policy(influx, bucket, bucket_name):
    server, _ = influx
    name = bucket_name.format(db=bucket.partition("/")[0])
    with InfluxTelemetry(server.url, bucket=name) as source, pytest.raises(TelemetryRejected):
        source.read(0)


@pytest.mark.integration
def test_events_to_influx_are_read_back(influx, bucket):
    server, _ = influx
    settings = TelemetrySettings(url=server.url, bucket=bucket)
    with settings.open_event_log() as log:
        assert isinstance(log.sink, InfluxEventSink)
        for e in stamped(EVENTS):
            log.emit(e)
    assert (log.events_written, log.write_failures) == (len(EVENTS), 0)
    with settings.open_source() as source:
        assert source.read_events(0) == [written(e) for e in stamped(EVENTS)]
        assert source.read(0) == []


@pytest.mark.integration
def test_influx_refuses_a_field_that_changes_type_and_takes_the_rest(influx, bucket):
    server, _ = influx
    log = EventLog(InfluxEventSink(server.url, bucket=bucket))
    log.emit(RappEvent("gate", "umi", {"reason": "kept"}, 1))
    assert log.flush()
    for e in [RappEvent("gate", "umi", {"reason": 3.0}, 2), RappEvent("gate", "umi", {}, 3)]:
        log.emit(e)
    assert log.flush()
    assert (log.events_written, log.events_rejected, log.buffered) == (2, 1, 0)
    log.stop()
    with InfluxTelemetry(server.url, bucket=bucket) as source:
        assert [e.t_ns for e in source.read_events(0)] == [1, 3]


# --- InfluxDB down or broken -------------------------------------------------------------------


@pytest.fixture
def stub():
    """An HTTP server answering every request with the status and body it is set to."""

    class Handler(BaseHTTPRequestHandler):
        status, body = 503, b""

        def log_message(self, *a: object) -> None:
            pass

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(Handler.status)
            self.send_header("Content-Length", str(len(Handler.body)))
            self.end_headers()
            self.wfile.write(Handler.body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield Handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_url():
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, b"", TelemetryUnavailable),
        (500, b'{"error": "engine"}', TelemetryUnavailable),
        (200, b"<html>proxy</html>", TelemetryUnavailable),
        (
            200,
            b'{"results": [{"series": [{"columns": ["time"], "values": [[1, 2]]}]}]}',
            TelemetryUnavailable,
        ),
        (401, b'{"error": "authorization failed"}', TelemetryRejected),
        (400, b'{"error": "error parsing query"}', TelemetryRejected),
    ],
)
def test_a_broken_influx_gives_a_typed_error(stub, status, body, error):
    handler, url = stub
    handler.status, handler.body = status, body
    with InfluxTelemetry(url) as source, pytest.raises(error) as caught:
        source.read(0)
    assert isinstance(caught.value, TelemetryError)


@pytest.mark.parametrize("where", ["closed", "silent"])
def test_an_influx_that_is_down_is_unavailable_and_events_wait(where, silent_url):
    url = silent_url if where == "silent" else f"http://127.0.0.1:{free_port()}"
    with InfluxTelemetry(url, timeout_s=0.2) as source, pytest.raises(TelemetryUnavailable):
        source.read(0)
    log = open_event_log(url, timeout_s=0.2)
    log.emit(EVENTS[0])
    assert not log.flush()
    assert (log.write_failures, log.buffered, log.events_written) == (1, 1, 0)
    log.sink.close()


@pytest.mark.parametrize("status", [404, 503])
def test_events_the_server_cannot_take_now_wait(stub, status):
    handler, url = stub
    handler.status = status
    log = EventLog(InfluxEventSink(url, bucket="lasco"))
    log.emit(EVENTS[0])
    assert not log.flush()
    handler.status = 204
    assert log.flush()
    assert (log.events_written, log.buffered) == (1, 0)
    log.stop()


def test_settings_without_influx(tmp_path: Path):
    assert TelemetrySettings().open_source() is None
    assert TelemetrySettings().open_event_log().sink is None
    settings = TelemetrySettings(url=str(tmp_path / "x.lp"), events_url=str(tmp_path / "e.lp"))
    assert isinstance(settings.open_source(), FileTelemetry)
    assert settings.open_event_log().sink.path == tmp_path / "e.lp"
