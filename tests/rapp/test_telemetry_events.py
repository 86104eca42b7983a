"""The rApp's event log (rapp.telemetry_events): events as line protocol, and how the log
buffers, retries and drops whatever its sink does."""

from __future__ import annotations

import pytest

from rapp.telemetry import RAPP_MEASUREMENT, EventLog, RappEvent, TelemetryRejected, open_event_log
from rapp.telemetry_base import parse_line

EVENTS = [
    RappEvent("trigger", "umi", {"trigger": "drift", "cell": "c1", "nmse_before_db": -15.0}),
    RappEvent("adaptation", "umi", {"samples": 2048.0, "seconds": 12, "nmse_after_db": -17.25}),
    RappEvent("gate", "umi", {"reason": 'kept: "better" by 2.3 dB, a=b', "passed": True}),
    RappEvent("publish", "umi city", {"version": 4, "seconds": 0.5}),
    RappEvent("a1", "umi", {"a1_status": 201, "version": 4, "skipped": None}),
]


def stamped(events: list[RappEvent], t0: int = 1_700_000_000_000_000_000) -> list[RappEvent]:
    return [RappEvent(e.kind, e.environment, e.fields, t0 + i) for i, e in enumerate(events)]


def written(e: RappEvent) -> RappEvent:
    """What reading ``e`` back gives: None fields left out."""
    return RappEvent(
        e.kind, e.environment, {k: v for k, v in e.fields.items() if v is not None}, e.t_ns
    )


@pytest.mark.parametrize("event", stamped(EVENTS), ids=[e.kind for e in EVENTS])
def test_events_are_lines_that_parse_back(event):
    name, tags, fields, t_ns = parse_line(event.line())
    assert (name, tags, t_ns) == (
        RAPP_MEASUREMENT,
        {"environment": event.environment, "kind": event.kind},
        event.t_ns,
    )
    assert fields.pop("event") == 1
    assert fields == written(event).fields


def test_event_fields_keep_one_type_each():
    line = RappEvent("adaptation", "umi", {"samples": 10.0, "seconds": 3, "version": 2.0}).line()
    assert parse_line(line)[2] == {"event": 1, "samples": 10, "seconds": 3.0, "version": 2}
    assert "samples=10i" in line
    assert "seconds=3" in line
    assert "seconds=3i" not in line


# --- the event log, whatever its sink --------------------------------------------------------


class FlakySink:
    """Fails its first ``failures`` writes, then keeps what it is given; refuses some lines."""

    def __init__(self, failures: int, refuse: str = "\x00") -> None:
        self.failures, self.refuse, self.lines = failures, refuse, []

    def write(self, lines: list[str]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("down")
        if any(self.refuse in line for line in lines):
            raise TelemetryRejected("field type conflict")
        self.lines += lines

    def close(self) -> None:
        pass


def test_events_wait_while_the_sink_fails_and_go_in_order_after():
    sink = FlakySink(failures=2)
    log = EventLog(sink, max_events=4)
    for e in stamped(EVENTS):
        log.emit(e)
    assert not log.flush()
    assert not log.flush()
    assert (log.write_failures, log.buffered, log.events_dropped) == (2, 4, 1)
    assert log.flush()
    assert sink.lines == [e.line() for e in stamped(EVENTS)[1:]]
    assert log.events_written == 4


def test_a_refused_event_is_dropped_and_the_others_written():
    sink = FlakySink(failures=0, refuse="kind=gate")
    log = EventLog(sink)
    for e in stamped(EVENTS):
        log.emit(e)
    assert log.flush()
    assert (log.events_written, log.events_rejected, log.buffered) == (4, 1, 0)
    assert [parse_line(line)[1]["kind"] for line in sink.lines] == [
        "trigger",
        "adaptation",
        "publish",
        "a1",
    ]


def test_emit_never_raises_and_stamps_the_time():
    log = EventLog(FlakySink(0))
    log.emit(RappEvent("gate", "umi", {"bad": [1, 2]}))  # no line-protocol type for a list
    assert log.events_rejected == 1
    log.emit(RappEvent("trigger", "umi"))
    assert log.flush()
    (line,) = log.sink.lines
    assert parse_line(line)[3] is not None


def test_without_a_sink_events_are_only_logged(caplog):
    log = open_event_log(None)
    with caplog.at_level("INFO", logger="rapp.telemetry_events"):
        log.emit(EVENTS[0])
    assert log.flush()
    assert (log.buffered, log.events_written) == (0, 0)
    assert "kind=trigger" in caplog.text


def test_the_background_writer_writes_by_stop():
    sink = FlakySink(0)
    log = EventLog(sink, interval_s=60)
    log.start()
    log.emit(EVENTS[0])
    log.stop()
    assert len(sink.lines) == 1
