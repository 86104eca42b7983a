"""The adaptation Job's entry point with a fake adaptation, writing its outcome to kmock's
in-memory Kubernetes API with the real ``kubernetes`` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kmock import KubernetesError
from kubernetes import client

from datastore import LabelledSamples
from model_store import generate_keypair, load_private_key
from model_store.signing import key_id, public_hex
from rapp import job_entry
from rapp.adapt_settings import AdaptationSettings, RunningProxy
from rapp.job_manifest import OUTCOME_KEY, build_job
from schemas import Mode
from tests.rapp.jobs_support import (
    ACCEPTED,
    NS,
    TRUSTED,
    Outcome,
    configmap,
    emulator_clients,
    entry_args,
    samples,
    settings,
)


@pytest.fixture
def apis(kmock: Any) -> Iterator[Any]:
    """Batch and core clients on kmock's emulator."""
    yield from emulator_clients(kmock)


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return generate_keypair(tmp_path / "signing")[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("accepted", [True, False])
async def test_entry_writes_the_outcome(
    apis: Any, kmock: Any, key_file: Path, accepted: bool
) -> None:
    running = RunningProxy("proxy-env-a", 3, Mode.E_LASCO, 0.5)
    adaptation = AdaptationSettings(min_samples=300, max_samples=1000)
    job = build_job("env-a", "r1", settings(), running=running, adaptation=adaptation)
    calls: list[dict[str, Any]] = []
    doc = ACCEPTED | {"accepted": accepted}

    def adapt(environment, samples, store, key, *, settings, running):
        calls.append(
            dict(
                environment=environment,
                samples=samples,
                store=store,
                key=key,
                settings=settings,
                running=running,
            )
        )
        return Outcome(doc)

    def read(uri: str, environment: str, max_samples: int | None) -> LabelledSamples:
        calls.append({"read": (uri, environment, max_samples)})
        return samples(environment)

    code = await asyncio.to_thread(
        job_entry.main,
        entry_args(job, key_file),
        adapt=adapt,
        read_samples=read,
        core_v1=apis[1],
    )

    cm = configmap(kmock, f"{job['metadata']['name']}-outcome")
    read_call, adapt_call = calls
    own = key_id(public_hex(load_private_key(key_file)))
    assert code == 0
    assert json.loads(cm["data"][OUTCOME_KEY]) == doc
    assert cm["metadata"]["labels"] == {"app": "csi-rapp", "environment": "env-a", "run-id": "r1"}
    assert read_call == {"read": ("s3://csi/samples", "env-a", 1000)}
    assert adapt_call["environment"] == "env-a"
    assert len(adapt_call["samples"]) == 4
    assert adapt_call["settings"] == adaptation
    assert adapt_call["running"] == running
    assert public_hex(adapt_call["key"]) == public_hex(load_private_key(key_file))
    assert set(adapt_call["store"].trusted.ids()) == {key_id(TRUSTED), own}
    assert repr(adapt_call["store"]) == "ModelStore(HttpBackend('https://models.example/store'))"


@pytest.mark.asyncio
async def test_entry_reports_an_error(apis: Any, kmock: Any, key_file: Path) -> None:
    job = build_job("env-a", "r1", settings())

    def adapt(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("LAM and reference SAM do not go together")

    code = await asyncio.to_thread(
        job_entry.main,
        entry_args(job, key_file),
        adapt=adapt,
        read_samples=lambda *a: samples(),
        core_v1=apis[1],
    )

    outcome = json.loads(configmap(kmock, "adapt-env-a-r1-outcome")["data"][OUTCOME_KEY])
    assert code == job_entry.EXIT_ERROR
    assert outcome == {
        "environment": "env-a",
        "accepted": False,
        "reason": "error",
        "error": "RuntimeError: LAM and reference SAM do not go together",
    }


@pytest.mark.asyncio
async def test_entry_replaces_an_existing_outcome(apis: Any, kmock: Any, key_file: Path) -> None:
    """The runner may have made the ConfigMap first (to own it): its data is replaced and
    its owner reference kept."""
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "adapt-env-a-r1", "uid": "u1"}
    body = {
        "metadata": {"name": "adapt-env-a-r1-outcome", "ownerReferences": [owner]},
        "data": {OUTCOME_KEY: "{}"},
    }
    await asyncio.to_thread(apis[1].create_namespaced_config_map, NS, body)
    job = build_job("env-a", "r1", settings())

    code = await asyncio.to_thread(
        job_entry.main,
        entry_args(job, key_file),
        adapt=lambda *a, **k: ACCEPTED,
        read_samples=lambda *a: samples(),
        core_v1=apis[1],
    )

    cm = configmap(kmock, "adapt-env-a-r1-outcome")
    assert code == 0
    assert json.loads(cm["data"][OUTCOME_KEY]) == ACCEPTED
    assert cm["metadata"]["ownerReferences"] == [owner]


@pytest.mark.asyncio
@pytest.mark.parametrize(("fails", "code"), [(False, 3), (True, 1)])
async def test_entry_without_a_place_for_the_outcome(
    kmock: Any, key_file: Path, fails: bool, code: int
) -> None:
    kmock["post", kmock.resource("v1/configmaps")] << KubernetesError(403, "Forbidden")
    api = client.ApiClient(client.Configuration(host=str(kmock.url).rstrip("/")))
    job = build_job("env-a", "r1", settings())

    def adapt(*args: Any, **kwargs: Any) -> Any:
        if fails:
            raise RuntimeError("boom")
        return ACCEPTED

    status = await asyncio.to_thread(
        job_entry.main,
        entry_args(job, key_file),
        adapt=adapt,
        read_samples=lambda *a: samples(),
        core_v1=client.CoreV1Api(api),
    )
    api.close()

    assert status == code


def test_entry_needs_its_arguments() -> None:
    with pytest.raises(SystemExit) as exc:
        job_entry.main(["--environment", "env-a"])
    assert exc.value.code == 2
