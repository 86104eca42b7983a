"""The adaptation Job's runner against kmock's in-memory Kubernetes API with the real
``kubernetes`` client: a Job that succeeds, declines, fails, is deleted, exists already,
outlives its timeout or is refused; listing and deleting; the clients' factory; and the
runner with the entry point as the Job's pod. See ``jobs_support`` for what the emulator
does not do and how the tests stand in for it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kmock import KubernetesError
from kubernetes import client

from model_store import generate_keypair
from rapp import job_entry
from rapp.adapt_settings import AdaptationSettings
from rapp.job_manifest import build_job, job_name
from rapp.jobs import JobRunner, JobState, kube_clients, write_outcome
from tests.rapp.jobs_support import (
    ACCEPTED,
    NS,
    Outcome,
    configmap,
    emulator_clients,
    entry_args,
    play_controller,
    samples,
    settings,
)


@pytest.fixture
def apis(kmock: Any) -> Iterator[Any]:
    """Batch and core clients on kmock's emulator."""
    yield from emulator_clients(kmock)


@pytest.fixture
def runner(apis: Any) -> JobRunner:
    return JobRunner(*apis, settings(), poll_s=0.01)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return generate_keypair(tmp_path / "signing")[0]


@pytest.mark.asyncio
async def test_run_succeeded(apis: Any, runner: JobRunner, kmock: Any) -> None:
    name = job_name("env-a", "r1")
    result, _ = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r1", 30),
        asyncio.to_thread(play_controller, apis, name, status={"succeeded": 1}, outcome=ACCEPTED),
    )

    assert (result.state, result.job_name, result.environment) == ("succeeded", name, "env-a")
    assert result.outcome == ACCEPTED
    assert result.reason == "accepted"
    assert result.accepted
    assert result.to_dict()["state"] == "succeeded"
    assert kmock.objects["batch/v1/jobs", NS, name]["metadata"]["labels"]["run-id"] == "r1"


@pytest.mark.asyncio
async def test_run_declined_is_not_accepted(apis: Any, runner: JobRunner) -> None:
    declined = ACCEPTED | {"accepted": False, "reason": "not-better-than-lam"}
    status = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    result, _ = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r1", 30),
        asyncio.to_thread(
            play_controller, apis, job_name("env-a", "r1"), status=status, outcome=declined
        ),
    )

    assert result.state is JobState.SUCCEEDED
    assert result.reason == "not-better-than-lam"
    assert not result.accepted


@pytest.mark.asyncio
@pytest.mark.parametrize("wrote_outcome", [True, False])
async def test_run_failed(apis: Any, runner: JobRunner, wrote_outcome: bool) -> None:
    failed = {"environment": "env-a", "accepted": False, "reason": "error", "error": "OSError: x"}
    condition = {
        "type": "Failed",
        "status": "True",
        "reason": "BackoffLimitExceeded",
        "message": "Job has reached the specified backoff limit",
    }
    result, _ = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r1", 30),
        asyncio.to_thread(
            play_controller,
            apis,
            job_name("env-a", "r1"),
            status={"failed": 1, "conditions": [condition]},
            outcome=failed if wrote_outcome else None,
        ),
    )

    assert result.state is JobState.FAILED
    assert not result.accepted
    assert result.outcome == (failed if wrote_outcome else None)
    expected = "OSError: x" if wrote_outcome else "BackoffLimitExceeded: Job has reached"
    assert result.reason.startswith(expected)


@pytest.mark.asyncio
async def test_run_failed_pod_count_without_condition(apis: Any, runner: JobRunner) -> None:
    result, _ = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r1", 30),
        asyncio.to_thread(play_controller, apis, job_name("env-a", "r1"), status={"failed": 1}),
    )

    assert result.state is JobState.FAILED
    assert "1 pod(s) failed" in result.reason
    assert "no outcome" in result.reason


@pytest.mark.asyncio
async def test_run_deleted_while_followed(apis: Any, runner: JobRunner) -> None:
    result, _ = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r1", 30),
        asyncio.to_thread(play_controller, apis, job_name("env-a", "r1"), delete=True),
    )

    assert result.state is JobState.DELETED
    assert result.outcome is None


@pytest.mark.asyncio
async def test_run_follows_an_existing_job(apis: Any, runner: JobRunner, kmock: Any) -> None:
    """Creating a Job that exists (409) follows it; the outcome ConfigMap the pod wrote
    gets the Job as its owner (so it is deleted with the Job)."""
    name = job_name("env-a", "r1")
    existing = build_job("env-a", "r1", settings())
    existing["metadata"]["uid"] = "0f6c0a52-uid"
    existing["status"] = {"succeeded": 1}
    kmock.objects["batch/v1/jobs", NS, name] = existing
    await asyncio.to_thread(write_outcome, apis[1], NS, f"{name}-outcome", ACCEPTED)

    result = await asyncio.to_thread(runner.run, "env-a", "r1", 30)

    assert result.state is JobState.SUCCEEDED
    assert result.outcome == ACCEPTED
    assert len(kmock["post", kmock.resource("batch/v1/jobs")]) == 1  # refused: it exists
    assert kmock.objects["batch/v1/jobs", NS, name]["metadata"]["uid"] == "0f6c0a52-uid"
    owners = configmap(kmock, f"{name}-outcome")["metadata"]["ownerReferences"]
    assert owners == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": "0f6c0a52-uid"}
    ]


@pytest.mark.asyncio
async def test_run_times_out_and_deletes_the_job(runner: JobRunner, kmock: Any) -> None:
    name = job_name("env-a", "r1")

    result = await asyncio.to_thread(runner.run, "env-a", "r1", 0.05)

    assert result.state is JobState.TIMED_OUT
    assert result.outcome is None
    assert "Job deleted" in result.reason
    assert kmock.objects["batch/v1/jobs", NS, name].deleted
    (request,) = kmock["delete", kmock.resource("batch/v1/jobs")]
    assert request.data["propagationPolicy"] == "Background"


@pytest.mark.asyncio
async def test_run_refused_is_a_failed_result(runner: JobRunner, kmock: Any) -> None:
    kmock["post", kmock.resource("batch/v1/jobs")] << KubernetesError(403, "Forbidden")

    result = await asyncio.to_thread(runner.run, "env-a", "r1", 30)

    assert result.state is JobState.FAILED
    assert result.reason == "creating the Job: 403 Forbidden"


@pytest.mark.asyncio
async def test_run_against_no_api_server_is_a_failed_result() -> None:
    api = client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))
    api.configuration.retries = 0
    runner = JobRunner(client.BatchV1Api(api), client.CoreV1Api(api), settings(), poll_s=0.01)

    result = await asyncio.to_thread(runner.run, "env-a", "r1", 30)

    assert result.state is JobState.FAILED
    assert result.reason.startswith("creating the Job:")


@pytest.mark.asyncio
async def test_list_and_delete(apis: Any, runner: JobRunner, kmock: Any) -> None:
    batch, core = apis
    for env, run in (("env-a", "r1"), ("env-b", "r1"), ("env-a", "r2")):
        await asyncio.to_thread(batch.create_namespaced_job, NS, build_job(env, run, settings()))
    foreign = build_job("env-a", "r3", settings())
    foreign["metadata"]["labels"]["app"] = "someone-else"
    await asyncio.to_thread(batch.create_namespaced_job, NS, foreign)
    done = job_name("env-a", "r2")
    await asyncio.to_thread(
        batch.patch_namespaced_job_status, done, NS, {"status": {"succeeded": 1}}
    )
    await asyncio.to_thread(write_outcome, core, NS, f"{done}-outcome", ACCEPTED)

    everything = await asyncio.to_thread(runner.list_jobs)
    env_a = await asyncio.to_thread(runner.list_jobs, "env-a")
    deleted = await asyncio.to_thread(runner.delete, done)
    again = await asyncio.to_thread(runner.delete, done)
    after = await asyncio.to_thread(runner.list_jobs, "env-a")

    assert {(j.environment, j.run_id) for j in everything} == {
        ("env-a", "r1"),
        ("env-b", "r1"),
        ("env-a", "r2"),
    }
    assert {(j.run_id, j.state) for j in env_a} == {("r1", "running"), ("r2", "succeeded")}
    assert (deleted, again) == (True, False)
    assert [j.run_id for j in after] == ["r1"]
    assert configmap(kmock, f"{done}-outcome").deleted
    selectors = [r.params["labelSelector"] for r in kmock["get", kmock.resource("batch/v1/jobs")]]
    assert selectors == ["app=csi-rapp"] + ["app=csi-rapp,environment=env-a"] * 2


@pytest.mark.asyncio
async def test_kube_clients_from_a_kube_config(
    kmock: Any, apis: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emu", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "users": [{"name": "rapp", "user": {"token": "t0k3n"}}],
        "contexts": [{"name": "emu", "context": {"cluster": "emu", "user": "rapp"}}],
        "current-context": "emu",
    }
    (tmp_path / "config").write_text(json.dumps(kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "config"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    batch, core = kube_clients()
    jobs = await asyncio.to_thread(JobRunner(batch, core, settings()).list_jobs)

    assert jobs == []
    assert batch.api_client is core.api_client
    assert kmock["get"][-1].headers["Authorization"] == "Bearer t0k3n"


def test_kube_clients_in_a_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import incluster_config

    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_text("not used before a request")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")

    batch, _ = kube_clients()

    assert batch.api_client.configuration.host == "https://10.0.0.1:443"
    assert batch.api_client.configuration.api_key["BearerToken"].lower() == "bearer pod-token"


@pytest.mark.asyncio
async def test_runner_and_entry_point(apis: Any, runner: JobRunner, key_file: Path) -> None:
    """The test plays the pod with the Job's own arguments (read back from the API) and the
    Job controller; the runner reads the entry point's outcome."""
    batch, core = apis
    name = job_name("env-a", "r7")

    def pod() -> int:
        play_controller(apis, name)
        job = batch.read_namespaced_job(name, NS)
        args = entry_args(client.ApiClient().sanitize_for_serialization(job), key_file)
        code = job_entry.main(
            args,
            adapt=lambda *a, **k: Outcome(ACCEPTED),
            read_samples=lambda *a: samples(),
            core_v1=core,
        )
        batch.patch_namespaced_job_status(name, NS, {"status": {"succeeded": 1}})
        return code

    result, code = await asyncio.gather(
        asyncio.to_thread(runner.run, "env-a", "r7", 30, adaptation=AdaptationSettings()),
        asyncio.to_thread(pod),
    )

    assert code == 0
    assert result.state is JobState.SUCCEEDED
    assert result.outcome == ACCEPTED
    assert result.accepted
