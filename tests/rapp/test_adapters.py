"""The two adapters: in-process (``adapt_environment``'s outcome as a dict) and as a Job (the
samples written to the data store under the environment first, the Job's outcome back, a Job
that did not succeed as a decline)."""

import asyncio
import dataclasses
import json

import numpy as np
import pytest

from datastore import DataReader, DataWriter, LabelledSamples
from rapp.adapt_settings import AdaptationSettings, RunningProxy
from rapp.adapters import InProcessAdapter, JobAdapter
from rapp.job_manifest import job_name
from rapp.jobs import JobResult, JobRunner, JobState
from tests.rapp.jobs_support import (
    ACCEPTED,
    NS,
    Outcome,
    emulator_clients,
    play_controller,
    samples,
    settings,
)

RUNNING = RunningProxy("proxy-env-a", 2)


def _cell_samples(environment, cells, t0=0):
    s = samples(environment, len(cells))
    return LabelledSamples(
        environment,
        s.projection_id,
        s.labels,
        s.codewords,
        np.array(cells, dtype=object),
        np.arange(t0, t0 + len(cells), dtype=np.int64),
    )


class Writer:
    """A DataWriter that keeps what it was given (``fail``: nothing gets written)."""

    def __init__(self, fail=False):
        self.added, self.flushes, self.fail = [], [], fail

    def add(self, s):
        self.added.append(s)

    def flush(self, force=False):
        self.flushes.append(force)
        return 0 if self.fail else 1

    @property
    def buffered_samples(self):
        return sum(len(s) for s in self.added) if self.fail else 0


class Runner:
    def __init__(self, state=JobState.SUCCEEDED, outcome=ACCEPTED, reason="done"):
        self.state, self.outcome, self.reason, self.calls = state, outcome, reason, []

    def run(self, environment, run_id=None, timeout_s=None, *, running=None, adaptation=None):
        self.calls.append((environment, running, adaptation))
        return JobResult(environment, "adapt-env-a-1", self.state, self.outcome, self.reason, 1.0)


class Reader:
    def __init__(self, stored=None, fail=False):
        self.stored, self.fail, self.calls = stored, fail, []

    def read(self, environment, max_samples=None, since_ns=None):
        self.calls.append((environment, since_ns))
        if self.fail:
            raise OSError("data store unreachable")
        return self.stored


def test_in_process_returns_the_outcome_as_a_dict():
    calls = []

    def adapt(environment, s, store, key, *, settings, running):
        calls.append((environment, len(s), store, key, settings, running))
        return Outcome({"accepted": True, "reason": "accepted"})

    settings = AdaptationSettings(min_samples=10)
    adapter = InProcessAdapter("store", "key", settings, adapt=adapt)
    assert adapter("env-a", samples("env-a", 4), RUNNING) == {
        "accepted": True,
        "reason": "accepted",
    }
    assert calls == [("env-a", 4, "store", "key", settings, RUNNING)]


def test_in_process_calls_adapt_environment_by_default(monkeypatch):
    got = []

    def fake(environment, s, store, key, *, settings, running):
        got.append((environment, running))
        return Outcome({"accepted": False, "reason": "too-few-samples"})

    monkeypatch.setattr("rapp.adaptation.adapt_environment", fake)
    out = InProcessAdapter("store", "key")("env-a", samples("env-a"), None)
    assert out["reason"] == "too-few-samples" and got == [("env-a", None)]


def test_a_job_gets_the_samples_under_the_environment_and_its_outcome_comes_back():
    writer, runner = Writer(), Runner()
    settings = AdaptationSettings(min_samples=10)
    adapter = JobAdapter(runner, lambda: writer, settings)
    given = _cell_samples("cell:c1", ["c1"] * 5)
    assert adapter("env-a", given, RUNNING) == ACCEPTED
    (written,) = writer.added
    assert written.environment == "env-a" and len(written) == 5
    assert writer.flushes == [True]
    assert runner.calls == [("env-a", RUNNING, settings)]


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        (JobState.FAILED, "job-failed"),
        (JobState.TIMED_OUT, "job-timed-out"),
        (JobState.DELETED, "job-deleted"),
    ],
)
def test_a_job_that_did_not_succeed_is_a_decline(state, reason):
    error = {"accepted": False, "reason": "error", "error": "RuntimeError: boom"}
    runner = Runner(state, error if state is JobState.FAILED else None, "BackoffLimitExceeded")
    out = JobAdapter(runner, Writer)("env-a", samples("env-a"), None)
    assert (out["accepted"], out["reason"], out["detail"]) == (
        False,
        reason,
        "BackoffLimitExceeded",
    )
    assert out["job"] == "adapt-env-a-1" and out["outcome"] == runner.outcome


def test_a_job_that_succeeded_without_an_outcome_is_a_decline():
    out = JobAdapter(Runner(outcome=None, reason="no ConfigMap"), Writer)("env-a", samples(), None)
    assert (out["accepted"], out["reason"], out["detail"]) == (
        False,
        "job-no-outcome",
        "no ConfigMap",
    )


def test_samples_the_store_cannot_take_start_no_job():
    runner = Runner()
    out = JobAdapter(runner, lambda: Writer(fail=True))("env-a", samples("env-a", 4), None)
    assert (out["accepted"], out["reason"]) == (False, "data-store-unavailable")
    assert "4 of 4 samples" in out["detail"] and runner.calls == []


@pytest.mark.parametrize(
    ("stored", "written"),
    [
        (["c1", "c1"], [2, 3]),  # the first two are there already
        ([], [0, 1, 2, 3]),
    ],
    ids=["some-stored", "none-stored"],
)
def test_samples_already_stored_are_not_written_again(stored, written):
    given = _cell_samples("env-a", ["c1", "c1", "c1", "c2"])
    reader = Reader(_cell_samples("env-a", stored))
    writers = []

    def factory():
        writers.append(Writer())
        return writers[-1]

    JobAdapter(Runner(), factory, reader=reader)("env-a", given, None)
    assert reader.calls == [("env-a", 0)]
    assert writers[0].added[0].t_ns.tolist() == written


def test_nothing_new_means_no_write_and_a_failing_reader_means_all_are_written():
    given = _cell_samples("env-a", ["c1", "c2"])
    writers = []

    def factory():
        writers.append(Writer())
        return writers[-1]

    adapter = JobAdapter(Runner(), factory)
    adapter.reader = Reader(given)
    adapter("env-a", given, None)
    assert writers == []
    adapter.reader = Reader(fail=True)
    adapter("env-a", given, None)
    assert len(writers[0].added[0]) == 2


def test_what_the_job_reads_is_what_was_written(tmp_path):
    """With the data store's own writer and reader: the Job's read (the environment's
    samples) finds the loop's samples, once, even when handed over twice."""
    uri = str(tmp_path / "data")

    def writer():
        return DataWriter(uri, max_age_s=None, max_shards_per_env=None)

    reader = DataReader(uri)
    adapter = JobAdapter(Runner(), writer, reader=reader)
    given = _cell_samples("cell:c1", ["c1"] * 6, t0=1_000)
    adapter("env-a", given, None)
    adapter("env-a", dataclasses.replace(given), None)
    back = reader.read("env-a")
    assert back.environment == "env-a" and back.t_ns.tolist() == given.t_ns.tolist()
    np.testing.assert_array_equal(back.codewords, given.codewords)


# -- with the real runner on kmock's in-memory Kubernetes API --------------------------------
class OneRun(JobRunner):
    """A runner whose run id is known (``r1``), so the test can play the Job's pod."""

    def run(self, environment, run_id=None, timeout_s=None, **kw):
        return super().run(environment, "r1", 30, **kw)


@pytest.fixture
def apis(kmock):
    yield from emulator_clients(kmock)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "outcome", "expected"),
    [
        ({"succeeded": 1}, ACCEPTED, ACCEPTED),
        (
            {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]},
            None,
            {"accepted": False, "reason": "job-failed"},
        ),
    ],
    ids=["succeeded", "failed"],
)
async def test_a_job_on_the_emulator(apis, kmock, tmp_path, status, outcome, expected):
    uri = str(tmp_path / "data")
    adaptation = AdaptationSettings(min_samples=10, gate_margin_db=0.2)
    adapter = JobAdapter(
        OneRun(*apis, settings(), poll_s=0.01),
        lambda: DataWriter(uri, max_age_s=None, max_shards_per_env=None),
        adaptation,
    )
    name = job_name("env-a", "r1")
    got, _ = await asyncio.gather(
        asyncio.to_thread(adapter, "env-a", _cell_samples("cell:c1", ["c1"] * 3), RUNNING),
        asyncio.to_thread(play_controller, apis, name, status=status, outcome=outcome),
    )
    assert {k: got[k] for k in expected} == expected
    pod = kmock.objects["batch/v1/jobs", NS, name]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    sent = json.loads(args[args.index("--settings") + 1])
    assert (sent["min_samples"], sent["gate_margin_db"]) == (10, 0.2)
    assert json.loads(args[args.index("--running-proxy") + 1])["version"] == 2
    assert len(DataReader(uri).read("env-a")) == 3
