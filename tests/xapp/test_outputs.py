"""SDL entries, and the sink that hands labelled samples to the data store."""

import uuid

import numpy as np
import pytest

from datastore import DataReader
from xapp.counters import Counters
from xapp.outputs import DatasetSink, InMemorySdl, decode_csi_entry, encode_csi_entry
from xapp.settings_stores import DataSettings


def test_a_csi_entry_round_trips_as_float16():
    h = np.random.default_rng(0).standard_normal((2, 32, 32)).astype(np.float32)
    entry = decode_csi_entry(encode_csi_entry(h, 123, "101", 2))
    assert (entry["ts"], entry["env"], entry["sam_version"]) == (123, "101", 2)
    np.testing.assert_array_equal(entry["h_hat"], h.astype(np.float16).astype(np.float32))


def test_in_memory_sdl_has_the_four_calls():
    sdl = InMemorySdl()
    sdl.set("ns", {"a/1": b"x", "a/2": b"y", "b/1": b"z"})
    assert sdl.get("ns", ["a/1", "nope"]) == {"a/1": b"x"}
    assert sdl.find_and_get("ns", "a/") == {"a/1": b"x", "a/2": b"y"}
    sdl.remove("ns", ["a/1"])
    assert sdl.find_and_get("other", "") == {} and sdl.get("ns", ["a/1"]) == {}


def _rows(k, t_ns):
    labels = np.full((k, 2, 32, 32), t_ns, np.float32)
    return labels, np.full((k, 8), t_ns, np.float16)  # codewords as a report may carry them


def test_the_sink_keeps_environment_cell_time_and_projection():
    sink = DatasetSink()
    sink.add("cell:cell-7", "gauss-0-512", "cell-7", 123, *_rows(2, 1))
    got = sink.buffered("cell:cell-7")
    assert (got.environment, got.projection_id) == ("cell:cell-7", "gauss-0-512")
    assert got.cells.tolist() == ["cell-7", "cell-7"] and got.t_ns.tolist() == [123, 123]
    assert got.codewords.dtype == np.float32 and got.labels.shape == (2, 2, 32, 32)
    assert sink.count("cell:cell-7") == 2 and sink.count("other") == 0


def test_without_a_store_the_sink_is_bounded_and_writes_nothing():
    sink = DatasetSink.from_settings(DataSettings(max_buffer_samples=3))
    for t in range(5):
        sink.add("101", "p", "c", t, *_rows(1, t))
    assert sink.buffered("101").t_ns.tolist() == [2, 3, 4]
    assert (sink.count("101"), sink.tick(), sink.flush(force=True)) == (5, False, 0)
    assert sink.counters()["samples_dropped"] == 2


def test_the_sink_writes_shards_in_the_background_and_mirrors_its_counters():
    uri = f"memory://{uuid.uuid4().hex}"
    sink = DatasetSink.from_settings(DataSettings(uri=uri, shard_samples=2))
    counters = Counters()
    sink.report_to(counters.count)
    sink.add("101", "p", "c", 1, *_rows(3, 1))
    assert sink.tick() is True  # a full shard is due: a background flush starts
    sink.join()
    assert DataReader(uri).count("101") == 2
    assert sink.flush(force=True) == 1 and DataReader(uri).count("101") == 3
    assert (counters["data_shards_written"], counters["data_samples_written"]) == (2, 3)


@pytest.mark.parametrize(
    "t_ns,labels_shape",
    [(2**63, (2, 2, 32, 32)), (-(2**63) - 1, (2, 2, 32, 32)), (5, (2, 2, 32, 16))],
    ids=["time-beyond-int64", "time-below-int64", "labels-shape"],
)
def test_rows_that_cannot_be_samples_are_refused_and_counted(t_ns, labels_shape):
    sink, counters = DatasetSink(), Counters()
    sink.report_to(counters.count)
    ok = sink.add("101", "p", "c", t_ns, np.zeros(labels_shape, np.float32), np.zeros((2, 8)))
    assert ok is False and sink.buffered("101") is None and sink.count("101") == 0
    assert counters["data_samples_refused"] == 2
