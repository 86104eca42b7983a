"""The reader: round trip, newest first with ``max_samples`` and ``since_ns``, one
projection at a time, and corrupt, unsupported or temporary files skipped."""

import io
import json

import numpy as np
import pytest

from datastore import FORMAT_VERSION, DataReader, DataWriter
from datastore.layout import Layout
from datastore.shard import shard_name, temp_name
from tests.datastore.conftest import Clock, samples


def _store(uri, batches, *, writer_id="w", shard_samples=4):
    """Write each ``(env, n, t0)`` of ``batches`` as its own shard(s), one second apart."""
    clock = Clock()
    w = DataWriter(uri, shard_samples=shard_samples, writer_id=writer_id, clock_ns=clock)
    for env, n, t0 in batches:
        w.add(samples(env, n=n, t0=t0))
        w.flush(force=True)
        clock.advance(1)
    return w


def test_samples_round_trip_through_the_store(uri):
    sent = samples("cell:cell-3", n=6, t0=50, cell="cell-3")
    w = DataWriter(uri, shard_samples=4, writer_id="w")
    w.add(sent)
    w.flush(force=True)
    got = DataReader(uri).read("cell:cell-3")
    np.testing.assert_array_equal(got.labels, sent.labels)
    np.testing.assert_array_equal(got.codewords, sent.codewords)
    assert got.cells.tolist() == sent.cells.tolist() and got.t_ns.tolist() == sent.t_ns.tolist()
    assert (got.environment, got.projection_id) == (sent.environment, sent.projection_id)


def test_listing_tells_environments_shards_and_counts_without_reading(uri):
    _store(uri, [("101", 4, 0), ("102", 2, 10), ("101", 3, 20)])
    r = DataReader(uri)
    assert r.environments() == ["101", "102"]
    assert [s.n for s in r.shards("101")] == [3, 4]  # newest first
    assert (r.count("101"), r.count("102"), r.count("nowhere")) == (7, 2, 0)
    assert r.counters()["shards_read"] == 0


@pytest.mark.parametrize(
    "max_samples,since_ns,expected",
    [
        (None, None, list(range(12))),
        (5, None, [7, 8, 9, 10, 11]),
        (4, None, [8, 9, 10, 11]),
        (0, None, []),
        (100, None, list(range(12))),
        (None, 6, [6, 7, 8, 9, 10, 11]),
        (2, 6, [10, 11]),
        (None, 12, []),
    ],
)
def test_read_returns_the_newest_samples_oldest_first(uri, max_samples, since_ns, expected):
    _store(uri, [("101", 4, 0), ("101", 4, 4), ("101", 4, 8)])
    got = DataReader(uri).read("101", max_samples=max_samples, since_ns=since_ns)
    assert got.t_ns.tolist() == expected
    assert got.labels[:, 0, 0, 0].tolist() == expected  # labels travel with their times


def test_max_samples_reads_only_the_shards_it_needs(uri):
    clock = Clock()
    w = DataWriter(uri, shard_samples=4, writer_id="w", clock_ns=clock)
    for _ in range(3):  # each shard's reports come just before it is written
        w.add(samples(n=4, t0=clock.t_ns - 10))
        w.flush()
        clock.advance(1)
    r = DataReader(uri)
    got = r.read("101", max_samples=4)
    assert got.t_ns.tolist() == [clock.t_ns - int(1e9) - 10 + i for i in range(4)]
    assert r.counters()["shards_read"] == 1


def test_interleaved_writers_still_give_the_exact_newest(uri):
    # writer a's older shard holds newer reports than part of writer b's newer shard
    _store(uri, [("101", 4, 100)], writer_id="a")
    clock = Clock(t_ns=Clock().t_ns + int(5e9))
    b = DataWriter(uri, shard_samples=8, writer_id="b", clock_ns=clock)
    b.add(samples(n=4, t0=0))
    b.add(samples(n=4, t0=200, seed=1))
    b.flush(force=True)
    got = DataReader(uri).read("101", max_samples=6)
    assert got.t_ns.tolist() == [102, 103, 200, 201, 202, 203]


def test_one_projection_is_read_at_a_time(uri):
    w = DataWriter(uri, shard_samples=4, writer_id="w", clock_ns=Clock())
    w.add(samples(n=4, t0=0, proj="old"))
    w.flush()
    w.clock_ns = Clock(t_ns=Clock().t_ns + 1)
    w.add(samples(n=4, t0=10, proj="new"))
    w.flush()
    r = DataReader(uri)
    assert r.read("101").projection_id == "new" and r.read("101").t_ns.tolist() == [10, 11, 12, 13]
    assert r.read("101", projection_id="old").t_ns.tolist() == [0, 1, 2, 3]


def test_an_environment_without_shards_reads_empty(uri):
    got = DataReader(uri).read("nowhere")
    assert (len(got), got.labels.shape, got.codewords.shape) == (0, (0, 2, 32, 32), (0, 0))


def _corrupt(lay, path, how):
    data = lay.cat(path)
    if how == "truncated":
        lay.fs.pipe_file(path, data[: len(data) // 3])
    elif how == "garbage":
        lay.fs.pipe_file(path, b"\x00" * 100)
    else:  # a whole archive whose metadata names another environment
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = {**json.loads(str(arrays["meta"])), "environment": "elsewhere"}
        arrays["meta"] = np.array(json.dumps(meta))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        lay.fs.pipe_file(path, buf.getvalue())


@pytest.mark.parametrize("how", ["truncated", "garbage", "other-environment"])
def test_a_corrupt_shard_is_skipped_counted_and_kept(uri, how, caplog):
    _store(uri, [("101", 4, 0), ("101", 4, 4), ("101", 4, 8)])
    lay = Layout(uri)
    middle = lay.shards("101")[1].path
    _corrupt(lay, middle, how)
    r = DataReader(uri)
    assert r.read("101").t_ns.tolist() == [0, 1, 2, 3, 8, 9, 10, 11]
    assert r.counters()["shards_corrupt"] == 1 and list(r.corrupt) == [middle]
    assert middle in caplog.text
    assert len(lay.shards("101")) == 3  # nothing deleted
    assert r.count("101") == 8
    r.read("101")
    assert r.counters()["shards_corrupt"] == 1  # distinct shards, not reads


def test_a_shard_of_a_newer_format_is_skipped_and_counted(uri):
    _store(uri, [("101", 4, 0), ("101", 4, 4)])
    lay = Layout(uri)
    newest = lay.shards("101")[0].path
    with np.load(io.BytesIO(lay.cat(newest)), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = {**json.loads(str(arrays["meta"])), "format_version": FORMAT_VERSION + 1}
    arrays["meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    lay.fs.pipe_file(newest, buf.getvalue())
    r = DataReader(uri)
    assert r.read("101").t_ns.tolist() == [0, 1, 2, 3]
    assert (r.counters()["shards_unsupported"], r.counters()["shards_corrupt"]) == (1, 0)


def test_temporary_and_foreign_files_are_ignored(uri):
    _store(uri, [("101", 4, 0)])
    lay = Layout(uri)
    base = lay.env_path("101")
    lay.fs.pipe_file(f"{base}/{temp_name(shard_name(Clock().t_ns + 10, 'w', 9, 4), 'x')}", b"torn")
    lay.fs.pipe_file(f"{base}/README", b"not a shard")
    r = DataReader(uri)
    assert [s.seq for s in r.shards("101")] == [0]
    assert r.read("101").t_ns.tolist() == [0, 1, 2, 3]
    assert r.counters()["shards_corrupt"] == 0


def test_a_shard_deleted_between_listing_and_reading_is_skipped(uri, monkeypatch):
    _store(uri, [("101", 4, 0), ("101", 4, 4)])
    r = DataReader(uri)
    listed = r.shards("101")
    Layout(uri).fs.rm_file(listed[0].path)
    monkeypatch.setattr(r, "shards", lambda env: listed)
    assert r.read("101").t_ns.tolist() == [0, 1, 2, 3]
    assert r.counters()["shards_corrupt"] == 0


def test_an_empty_store_has_no_environments(uri):
    assert DataReader(uri).environments() == []
