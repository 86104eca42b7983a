"""Counters: a mapping where a missing key counts 0; drops by reason reach telemetry;
log lines are limited per key."""

import logging

from xapp.counters import Counters


class Drops:
    def __init__(self):
        self.seen = []

    def dropped(self, cell, reason, n=1):
        self.seen.append((cell, reason, n))


def test_counts_read_like_a_mapping():
    c = Counters()
    c.count("served", 3)
    c.count("served")
    assert c["served"] == 4 and c["never"] == 0
    assert "served" in c and "never" not in c
    assert dict(c) == {"served": 4} == c.snapshot()
    assert c.get("never") is None and c.get("never", 0) == 0


def test_a_drop_is_counted_by_reason_and_told_per_cell():
    drops = Drops()
    c = Counters(drops)
    c.drop("non-finite", 2, cell="cell-1")
    c.drop("oversize")
    assert (c["dropped"], c["dropped_non-finite"], c["dropped_oversize"]) == (3, 2, 1)
    assert drops.seen == [("cell-1", "non-finite", 2), ("?", "oversize", 1)]


def test_log_lines_are_limited_per_key(caplog):
    c = Counters(log_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="xapp.counters"):
        assert c.log_limited("a", "first %s", 1) is True
        assert c.log_limited("a", "second") is False
        assert c.log_limited("b", "other key") is True
    assert [r.getMessage() for r in caplog.records] == ["first 1", "other key"]


def test_a_drop_with_detail_is_logged_once_per_interval(caplog):
    c = Counters(log_every_s=3600)
    with caplog.at_level(logging.WARNING, logger="xapp.counters"):
        for _ in range(5):
            c.drop("e2ap-decode", detail="bad PDU")
    assert c["dropped_e2ap-decode"] == 5 and len(caplog.records) == 1


def test_log_every_zero_logs_every_time(caplog):
    c = Counters(log_every_s=0)
    with caplog.at_level(logging.WARNING, logger="xapp.counters"):
        for _ in range(3):
            c.log_limited("k", "again")
    assert len(caplog.records) == 3
