"""Labelled samples from the xApp to the data store: shards per environment as labelled
reports are served, written off the hot path, and a store that fails never stops serving."""

import dataclasses
import time

import numpy as np
import pytest

from datastore import DataReader
from tests.xapp.conftest import PROJ, a1_request, policy_for
from xapp import e2ap
from xapp.e2sm_csi import encode_report
from xapp.mtypes import MType


def _serve(core, node, n=4, ues=8):
    """Serve ``n`` reports of each cell, then flush; returns the time span they were
    made in (ns)."""
    before = time.time_ns()
    for _ in range(n):
        for cell in ("cell-101", "cell-102"):
            pdu, _ = node.indication(cell, ues)
            core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    after = time.time_ns()
    core.flush()
    return before, after


@pytest.fixture()
def data_core(make_core, world, tmp_path):
    """A core writing shards of 3 samples to a folder, cell-101 mapped to environment 101."""
    uri = str(tmp_path / "data")
    core = make_core(data={"uri": uri, "shard_samples": 3})
    core.handle(
        MType.A1_POLICY_REQ, a1_request("CREATE", "p", policy_for(world, "101", ["cell-101"]))
    )
    return core, uri


def test_served_labelled_reports_become_shards_per_environment(data_core, node):
    core, uri = data_core
    before, after = _serve(core, node)
    r = DataReader(uri)
    assert r.environments() == ["101", "cell:cell-102"]  # a cell without a policy: cell:<id>
    for env, cell in (("101", "cell-101"), ("cell:cell-102", "cell-102")):
        got = r.read(env)
        assert len(got) == core.dataset.count(env) == 8  # 4 reports x 2 labelled UEs
        assert set(got.cells.tolist()) == {cell} and got.projection_id == PROJ.id
        assert got.labels.shape == (8, 2, 32, 32) and got.codewords.shape == (8, PROJ.m)
        assert np.all(np.diff(got.t_ns) >= 0) and before <= got.t_ns[0] <= got.t_ns[-1] <= after
    assert [s.n for s in r.shards("101")] == [2, 3, 3]  # full shards, then the partial one


def test_the_data_counters_are_in_the_xapps_counters(data_core, node):
    core, _ = data_core
    _serve(core, node)
    c = core.counters.snapshot()
    assert (c["data_samples_written"], c["data_shards_written"]) == (16, 6)
    assert core.dataset.counters()["samples_buffered"] == 0


def test_tick_hands_a_full_shard_to_a_background_write(data_core, node):
    core, uri = data_core
    pdu, _ = node.indication("cell-101", 12)  # 3 labelled UEs: one full shard
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    core.batcher.flush()  # served, but no forced data flush
    core.tick()
    core.dataset.join()
    assert DataReader(uri).count("101") == 3


def test_an_unwritable_store_is_counted_and_serving_goes_on(make_core, node, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    core = make_core(data={"uri": str(tmp_path / "a-file" / "data"), "shard_samples": 3})
    _serve(core, node)
    c = core.counters.snapshot()
    assert c["served"] == 64 and c["data_write_failures"] >= 1
    assert c.get("data_samples_written", 0) == 0
    assert core.dataset.counters()["samples_buffered"] == 16  # kept for a later try


def test_without_a_store_samples_stay_in_memory_within_the_bound(make_core, node):
    core = make_core(data={"max_buffer_samples": 5})
    _serve(core, node)
    assert core.dataset.counters()["samples_buffered"] == 5
    assert core.counters["data_samples_dropped"] == 11


def test_a_report_time_beyond_int64_is_served_and_its_labels_refused(core, node):
    report, _ = node.report("cell-101", 8)
    report = dataclasses.replace(report, timestamp_ns=2**64 - 1)  # e.g. a flipped top bit
    header, message = encode_report(report)
    pdu = e2ap.encode_indication(e2ap.Indication(0, 0, 7, 1, 1, header, message))
    core.handle(MType.RIC_INDICATION, pdu, "gnb-1")
    core.flush()
    c = core.counters.snapshot()
    assert (c["served"], c["data_samples_refused"], c.get("internal_error", 0)) == (8, 2, 0)
