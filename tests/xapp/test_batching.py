"""Micro-batching: flush on size and on wait, and what a flush writes (SDL, telemetry,
data sets, drops by reason)."""

import numpy as np
import pytest

from serving import LascoRuntime
from xapp.batching import MicroBatcher, Outputs
from xapp.counters import Counters
from xapp.outputs import DatasetSink, InMemorySdl, decode_csi_entry
from xapp.settings import MicroBatchSettings
from xapp.telemetry import Telemetry


@pytest.fixture()
def runtime(world):
    rt = LascoRuntime.from_store(world.store, threads=1)
    yield rt
    rt.close()


@pytest.fixture()
def make_batcher(runtime):
    def make(max_batch=1000, max_wait_ms=2.0, envs=None):
        telemetry = Telemetry(None)
        outputs = Outputs(InMemorySdl(), "ns", telemetry, DatasetSink())
        counters = Counters(telemetry)
        return MicroBatcher(
            MicroBatchSettings(max_batch=max_batch, max_wait_ms=max_wait_ms),
            runtime,
            outputs,
            counters,
            lambda cell: ((envs or {}).get(cell, ""),) * 2,  # the slot named as its env
        )

    return make


def test_rows_wait_until_max_batch_then_flush_together(make_batcher, node):
    b = make_batcher(max_batch=12)
    reports = [node.report(cell, 4)[0] for cell in ("cell-101", "cell-102", "cell-101")]
    assert b.add(reports[0], 0.0) == 0 and b.add(reports[1], 0.0) == 0
    assert b.queued_rows == 8
    assert b.add(reports[2], 0.0) == 12
    assert b.queued_rows == 0 and b.counters["flushes"] == 1


@pytest.mark.parametrize("waited_ms,due", [(0.5, False), (1.5, False), (2.5, True), (50.0, True)])
def test_a_batch_is_due_when_its_oldest_row_waited_max_wait(make_batcher, node, waited_ms, due):
    b = make_batcher(max_wait_ms=2.0)
    b.add(node.report("cell-101", 2)[0], 100.0)
    b.add(node.report("cell-101", 2)[0], 100.0 + waited_ms / 1e3)
    assert b.due(now=100.0 + waited_ms / 1e3) is due


def test_an_empty_queue_is_never_due(make_batcher):
    b = make_batcher(max_wait_ms=0)
    assert b.due(now=1e9) is False and b.flush() == 0


def test_a_flush_writes_sdl_telemetry_and_datasets(make_batcher, node):
    b = make_batcher()
    report, _ = node.report("cell-101", 8)
    b.add(report, 0.0)
    assert b.flush() == 8
    entries = b.outputs.sdl.find_and_get("ns", "csi/cell-101/")
    assert set(entries) == {f"csi/cell-101/{int(u)}" for u in report.ue_ids}
    entry = decode_csi_entry(entries[f"csi/cell-101/{int(report.ue_ids[0])}"])
    assert entry["ts"] == report.timestamp_ns and entry["env"] == ""
    points = b.outputs.telemetry.close_interval()
    assert [(p.cell, p.env, p.fields["served"]) for p in points] == [("cell-101", "lam-only", 8)]
    labelled = 0 if report.labels is None else len(report.labels)
    assert b.outputs.dataset.count("cell:cell-101") == labelled


def test_cells_mapped_to_an_environment_use_its_name(make_batcher, node):
    b = make_batcher(envs={"cell-101": "101"})
    report, _ = node.report("cell-101", 2)
    b.add(report, 0.0)
    b.flush()
    entry = decode_csi_entry(next(iter(b.outputs.sdl.find_and_get("ns", "csi/").values())))
    assert entry["env"] == "101"


def test_non_finite_rows_are_dropped_and_the_others_served(make_batcher, node):
    b = make_batcher()
    report, _ = node.report("cell-102", 4)
    codewords = report.codewords.copy()
    codewords[1, 3] = np.nan
    b.add(report.__class__(**{**report.__dict__, "codewords": codewords}), 0.0)
    assert b.flush() == 3
    assert b.counters["dropped_non-finite"] == 1 and b.counters["served"] == 3
