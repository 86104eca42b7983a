"""The writer: full shards per environment, the memory bound, retention by age and by
count, atomic writes, and a store that fails and recovers."""

import fsspec
import numpy as np
import pytest

from datastore import DataReader, DataWriter
from datastore.layout import Layout
from datastore.shard import shard_name, temp_name
from datastore.writer import TEMP_GRACE_S
from tests.datastore.conftest import Clock, samples


def _writer(uri, clock=None, **kw):
    kw = {"shard_samples": 4, "max_buffer_samples": 100, "writer_id": "w", **kw}
    return DataWriter(uri, clock_ns=clock or Clock(), **kw)


def _times(uri, env):
    return DataReader(uri).read(env).t_ns.tolist()


@pytest.mark.parametrize(
    "added,force,shards,left",
    [(3, False, 0, 3), (4, False, 1, 0), (10, False, 2, 2), (10, True, 3, 0), (0, True, 0, 0)],
)
def test_a_flush_writes_full_shards_and_force_the_partial_one(uri, added, force, shards, left):
    w = _writer(uri)
    for t in range(added):  # one sample per report, as labelled rows trickle in
        w.add(samples(n=1, t0=t))
    assert w.flush(force=force) == shards
    c = w.counters()
    assert (c["shards_written"], c["samples_buffered"]) == (shards, left)
    assert c["samples_written"] == added - left
    assert _times(uri, "101") == list(range(added - left))


def test_each_environment_and_projection_gets_its_own_shards(uri):
    w = _writer(uri)
    w.add(samples("101", n=4))
    w.add(samples("cell:cell-9", n=4, t0=10))
    w.add(samples("101", n=4, t0=20, proj="other-projection"))
    assert w.flush() == 3
    r = DataReader(uri)
    assert r.environments() == ["101", "cell:cell-9"]
    assert [r.count(e) for e in r.environments()] == [8, 4]
    assert r.read("cell:cell-9").t_ns.tolist() == [10, 11, 12, 13]


def test_a_memory_only_writer_buffers_and_writes_nothing():
    w = _writer(None, max_buffer_samples=6)
    w.add(samples(n=4))
    w.add(samples(n=4, t0=4))
    assert (w.due(), w.flush(force=True), w.retain()) == (False, 0, 0)
    assert w.buffered("101").t_ns.tolist() == [2, 3, 4, 5, 6, 7]
    assert w.counters()["samples_dropped"] == 2


@pytest.mark.parametrize(
    "adds,bound,kept,dropped",
    [
        ([("a", 4, 0), ("b", 4, 100)], 8, {"a": [0, 1, 2, 3], "b": [100, 101, 102, 103]}, 0),
        (
            [("a", 4, 0), ("b", 4, 100), ("a", 3, 10)],
            8,
            {"a": [3, 10, 11, 12], "b": [100, 101, 102, 103]},
            3,
        ),
        (
            [("a", 4, 0), ("b", 4, 100), ("a", 6, 10)],
            8,
            {"a": [10, 11, 12, 13, 14, 15], "b": [102, 103]},
            6,
        ),
        ([("a", 12, 0)], 5, {"a": [7, 8, 9, 10, 11]}, 7),
    ],
    ids=["within", "oldest-of-one-env", "across-envs", "one-add-over-the-bound"],
)
def test_beyond_the_bound_the_oldest_buffered_samples_are_dropped(adds, bound, kept, dropped):
    w = _writer(None, max_buffer_samples=bound, shard_samples=100)
    for env, n, t0 in adds:
        w.add(samples(env, n=n, t0=t0))
    assert {e: w.buffered(e).t_ns.tolist() for e in kept} == kept
    assert w.counters()["samples_dropped"] == dropped
    assert w.buffered_samples == sum(map(len, kept.values())) <= bound


def test_the_writer_mirrors_its_counters():
    seen = []
    w = _writer(None, max_buffer_samples=2)
    w.on_count = lambda name, n: seen.append((name, n))
    w.add(samples(n=3))
    assert seen == [("samples_dropped", 1)]


def test_retention_deletes_shards_older_than_max_age(uri):
    clock = Clock()
    w = _writer(uri, clock, max_age_s=100.0, max_shards_per_env=None)
    for _ in range(3):  # shards 0, 1, 2, written 60 s apart
        w.add(samples(n=4, t0=0))
        w.flush()
        clock.advance(60)
    r = DataReader(uri)
    assert [s.seq for s in r.shards("101")] == [2, 1]  # shard 2's flush deleted shard 0
    assert w.retain(now_ns=clock.t_ns) == 1  # 180 s: shard 1 (60 s) is 120 s old
    assert [s.seq for s in r.shards("101")] == [2]
    assert w.counters()["shards_deleted"] == 2


@pytest.mark.parametrize("keep", [1, 2, 5])
def test_retention_keeps_the_newest_shards_of_each_environment(uri, keep):
    clock = Clock()
    w = _writer(uri, clock, max_shards_per_env=keep, max_age_s=None)
    for i in range(5):
        for env in ("101", "102"):
            w.add(samples(env, n=4, t0=10 * i))
        clock.advance(1)
        w.flush()
    r = DataReader(uri)
    for env in ("101", "102"):
        assert [s.t_ns for s in r.shards(env)] == [clock.t_ns - int(i * 1e9) for i in range(keep)]
    assert w.counters()["shards_deleted"] == 2 * (5 - keep)


def test_retention_removes_temporary_files_a_dead_writer_left(uri):
    clock = Clock()
    w = _writer(uri, clock)
    lay = Layout(uri)
    old = temp_name(shard_name(clock.t_ns - int((TEMP_GRACE_S + 1) * 1e9), "dead", 0, 4), "x")
    new = temp_name(shard_name(clock.t_ns, "busy", 0, 4), "y")
    lay.fs.makedirs(lay.env_path("101"), exist_ok=True)
    for name in (old, new):
        lay.fs.pipe_file(f"{lay.env_path('101')}/{name}", b"partial")
    w.retain()
    assert lay.temp_files("101") == [new]


def test_a_shard_is_named_by_the_later_of_its_creation_and_its_newest_report(uri):
    clock = Clock(t_ns=1000)
    w = _writer(uri, clock)
    w.add(samples(n=4, t0=5000))  # reports "from the future" of this clock
    w.add(samples("102", n=4, t0=0))
    w.flush()
    r = DataReader(uri)
    assert [r.shards(e)[0].t_ns for e in ("101", "102")] == [5003, 1000]


def test_a_partial_shard_is_written_once_its_oldest_sample_waited_long_enough(uri):
    clock = Clock()
    w = _writer(uri, clock, flush_partial_after_s=30.0)
    w.add(samples(n=2))
    clock.advance(29)
    assert (w.flush(), w.counters()["samples_buffered"]) == (0, 2)
    clock.advance(1)
    assert w.due() is True
    assert (w.flush(), w.counters()["samples_written"]) == (1, 2)


@pytest.mark.parametrize("fail", ["write", "mid-write", "move"])
def test_a_failed_write_leaves_no_shard_and_no_temporary_file(flaky, fail):
    root, fs_cls = flaky
    w = _writer(root)
    w.add(samples(n=4))
    fs_cls.fail = fail
    assert w.flush() == 0
    fs_cls.fail = None
    lay = Layout(root)
    assert (lay.shards("101"), lay.temp_files("101")) == ([], [])
    assert w.counters()["write_failures"] == 1


def test_an_unwritable_store_keeps_the_samples_within_the_bound_and_recovers(flaky):
    root, fs_cls = flaky
    w = _writer(root, max_buffer_samples=10)
    fs_cls.fail = "write"
    for t in (0, 4, 8):
        w.add(samples(n=4, t0=t))
        assert w.flush() == 0  # never raises into the caller
    c = w.counters()
    assert (c["write_failures"], c["samples_buffered"], c["samples_dropped"]) == (3, 10, 2)
    assert w.buffered("101").t_ns.tolist() == list(range(2, 12))
    fs_cls.fail = None
    assert w.flush(force=True) == 3
    assert _times(root, "101") == list(range(2, 12))
    assert w.counters()["samples_written"] == 10


def test_after_a_failed_write_the_automatic_flush_backs_off(flaky):
    root, fs_cls = flaky
    clock = Clock()
    w = _writer(root, clock)
    w.add(samples(n=4))
    assert w.due() is True
    fs_cls.fail = "write"
    waits = []
    for _ in range(8):
        w.flush()
        waits.append(0)
        while not w.due():
            clock.advance(0.5)
            waits[-1] += 0.5
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    fs_cls.fail = None
    assert w.flush() == 1 and w.due() is False


def test_retention_on_an_unreachable_store_is_logged_not_raised(flaky, monkeypatch):
    root, _ = flaky
    w = _writer(root)

    def refuse(*a, **k):
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(w.layout.fs, "ls", refuse)
    assert w.retain() == 0


def test_codewords_can_be_stored_as_float16(uri):
    w = _writer(uri, codeword_dtype="float16")
    s = samples(n=4)
    w.add(s)
    w.flush()
    back = DataReader(uri).read("101")
    np.testing.assert_array_equal(back.codewords, s.codewords.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize(
    "kw", [{"shard_samples": 0}, {"max_buffer_samples": 0}, {"codeword_dtype": "int8"}]
)
def test_invalid_writer_arguments_are_refused(kw):
    with pytest.raises(ValueError):
        _writer(None, **kw)


@pytest.mark.parametrize("env,m", [("", 8), ("101", 0)])
def test_samples_that_could_never_be_a_shard_are_refused_at_once(env, m):
    w = _writer(None)
    with pytest.raises(ValueError, match="cannot be stored"):
        w.add(samples(env, n=2, m=m))
    assert w.buffered_samples == 0


def test_a_plain_folder_and_a_file_url_are_the_same_store(tmp_path):
    w = _writer(f"file://{tmp_path}")
    w.add(samples(n=4))
    w.flush()
    assert DataReader(str(tmp_path)).count("101") == 4
    assert fsspec.filesystem("file").ls(str(tmp_path / "101"), detail=False)
