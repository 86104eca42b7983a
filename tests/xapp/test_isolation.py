"""No report costs another and no failure stops a loop: hostile reports in the same
micro-batch as good ones, a runtime that fails on one report, a timer step that raises,
an SDL that fails while the other outputs go on, a reconstruction that is not finite."""

from dataclasses import replace

import numpy as np
import pytest

from xapp import e2ap
from xapp.e2sm_csi import encode_report
from xapp.mtypes import MType


def _pdu(report):
    header, message = encode_report(report, "float32")
    return e2ap.encode_indication(e2ap.Indication(0, 0, 7, 1, 1, header, message))


def _good(node, ues=8):
    return [pdu for _, pdu, _ in node.indications(3, ues)]


def _hostile(node):
    """Reports that pass the schema but would break a batch, each with a reason."""
    rep, _ = node.report("cell-101", 8)
    narrow = replace(rep, codewords=rep.codewords[:, :256].copy())  # byte length consistent
    huge = replace(rep, codewords=rep.codewords * 1e6)
    dup = replace(rep, ue_ids=np.full(8, 5, dtype=np.uint32))
    return {"e2sm-width": narrow, "e2sm-range": huge, "e2sm-duplicate-ue": dup}


@pytest.fixture()
def batch_core(make_core):
    return make_core(micro_batch={"max_batch": 1000, "max_wait_ms": 1000})


def test_hostile_reports_in_a_batch_of_good_ones_are_dropped_alone(batch_core, node):
    good, hostile = _good(node), _hostile(node)
    pdus = [good[0], _pdu(hostile["e2sm-width"]), good[1], _pdu(hostile["e2sm-range"])]
    pdus += [_pdu(hostile["e2sm-duplicate-ue"]), good[2]]
    for pdu in pdus:
        assert batch_core.handle(MType.RIC_INDICATION, pdu, "gnb-1") == []
    assert batch_core.batcher.queued_rows == 24  # only the good reports joined the batch
    assert batch_core.flush() == 24
    c = batch_core.counters
    assert c["served"] == 24 and c["dropped"] == 3
    assert all(c[f"dropped_{reason}"] == 1 for reason in hostile)


def test_a_batch_the_runtime_refuses_is_served_report_by_report(batch_core, node):
    runtime, real = batch_core.runtime, batch_core.runtime.reconstruct
    marker = 7.0

    def fails_on_the_marked_report(codewords, envs):
        if (codewords[:, 0] == marker).any():
            raise RuntimeError("the runtime cannot take this report")
        return real(codewords, envs)

    runtime.reconstruct = fails_on_the_marked_report
    rep, _ = node.report("cell-102", 8)
    marked = rep.codewords.copy()
    marked[0, 0] = marker
    for pdu in [*_good(node)[:2], _pdu(replace(rep, codewords=marked)), *_good(node)[:1]]:
        batch_core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert batch_core.flush() == 24
    c = batch_core.counters
    assert c["batch_failed"] == 1 and c["dropped_batch-error"] == 8 and c["served"] == 24
    assert len(batch_core.sdl.find_and_get("lasco-csi", "csi/")) > 0


def test_a_reconstruction_that_is_not_finite_is_dropped_not_served(batch_core, node):
    runtime, real = batch_core.runtime, batch_core.runtime.reconstruct

    def one_bad_row(codewords, envs):
        res = real(codewords, envs)
        res.h_hat[0] = np.nan
        return res

    runtime.reconstruct = one_bad_row
    for pdu in _good(node)[:1]:
        batch_core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert batch_core.flush() == 7
    assert batch_core.counters["dropped_non-finite-output"] == 1
    entries = batch_core.sdl.find_and_get("lasco-csi", "csi/")
    assert len(entries) == 7


def test_an_exception_in_the_timer_is_counted_and_the_next_tick_works(make_core, node):
    core = make_core(micro_batch={"max_batch": 1000, "max_wait_ms": 0})
    for pdu in _good(node)[:1]:
        core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    real_flush = core.batcher.flush
    core.batcher.flush = lambda: (_ for _ in ()).throw(OSError("disk on fire"))
    core.tick()  # does not raise
    assert core.counters["tick_failed_flush"] == 1 and core.counters["internal_error"] == 1
    core.batcher.flush = real_flush
    core.handle(MType.RIC_INDICATION, _good(node)[0], "gnb-1")
    core.tick()
    assert core.counters["served"] == 16  # the report queued before the failure is served too


def test_sdl_failing_in_a_flush_loses_only_sdl_and_is_counted(batch_core, node):
    def down(namespace, entries, ttl_ms):
        raise ConnectionError("redis is down")

    batch_core.sdl.set_latest = down
    for pdu in _good(node):
        batch_core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    assert batch_core.flush() == 24  # reconstructed and counted as served
    c = batch_core.counters
    # one entry per (cell, UE): a UE reported twice in the batch is one entry lost
    assert c["sdl_write_failed"] == 1 and 20 <= c["sdl_rows_lost"] <= 24
    assert batch_core.dataset.count("cell:cell-101") > 0  # labelled samples still kept
