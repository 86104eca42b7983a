"""RIC_INDICATION: good reports are queued; every kind of bad input is dropped, counted
by reason, and never raises."""

import pytest

from xapp import e2ap
from xapp.e2sm_csi import encode_report
from xapp.mtypes import MType

LIMIT = 4 * 1024 * 1024


def _pdu(header, message):
    return e2ap.encode_indication(e2ap.Indication(1, 1, 7, 1, 1, header, message))


def _good(node):
    rep, _ = node.report("cell-101", 4)
    return rep, _pdu(*encode_report(rep))


BAD = {
    "random-bytes": (lambda node: b"\x00\x01garbage", "e2ap-decode"),
    "truncated-pdu": (lambda node: (p := _good(node)[1])[: len(p) // 2], "e2ap-decode"),
    "header-not-msgpack": (
        lambda node: _pdu(b"\xc1", encode_report(_good(node)[0])[1]),
        "e2sm-msgpack",
    ),
    "message-wrong-shape": (
        lambda node: _pdu(encode_report(_good(node)[0])[0], b"\x80"),
        "e2sm-schema",
    ),
    "other-projection": (
        lambda node: _pdu(
            *encode_report(
                (r := _good(node)[0]).__class__(**{**r.__dict__, "projection_id": "gauss-9-512"})
            )
        ),
        "unknown-projection",
    ),
    "oversize": (lambda node: b"\x00" * (LIMIT + 1), "oversize"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_dropped_by_reason(core, node, case):
    make, reason = BAD[case]
    assert core.handle(MType.RIC_INDICATION, make(node), "gnb-1") == []
    assert core.counters[f"dropped_{reason}"] == 1 and core.counters["dropped"] == 1
    assert core.batcher.queued_rows == 0 and core.counters["internal_error"] == 0


def test_a_good_report_is_queued(core, node):
    rep, pdu = _good(node)
    assert core.handle(MType.RIC_INDICATION, pdu, "gnb-1") == []
    assert core.batcher.queued_rows == len(rep) and core.counters["dropped"] == 0


def test_a_report_for_another_projection_is_charged_to_its_cell(core, node):
    make, _ = BAD["other-projection"]
    core.handle(MType.RIC_INDICATION, make(node), "gnb-1")
    points = core.telemetry.close_interval()
    assert [(p.cell, p.fields["dropped_unknown_projection"]) for p in points] == [("cell-101", 1)]
