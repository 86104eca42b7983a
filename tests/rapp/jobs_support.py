"""What the Job tests share: settings, clients on kmock's emulator, a stand-in for the Job
controller and for the pod's inputs.

kmock's server runs in the test's event loop, so every call of the (blocking) ``kubernetes``
client runs in a thread (``asyncio.to_thread``). The tests play the Job controller and the
pod: they patch the Job's status and write the outcome ConfigMap, or run the entry point.

What the emulator does not do, and how the tests stand in for it: it runs no controller
(no pods, no status: the tests patch ``status``), ignores label selectors on lists (the
runner filters the items itself as well), ignores delete options (the tests check the
request's body), has no PUT (the entry point patches an existing ConfigMap) and assigns no
``uid`` (the test of an existing Job gives it one).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from kubernetes import client
from kubernetes.client.rest import ApiException

from datastore import LabelledSamples
from rapp.job_manifest import JobSettings, outcome_configmap_name
from rapp.jobs import write_outcome

__all__ = [
    "ACCEPTED",
    "NS",
    "TRUSTED",
    "Outcome",
    "configmap",
    "emulator_clients",
    "entry_args",
    "play_controller",
    "samples",
    "settings",
]

NS = "lasco"
TRUSTED = "ab" * 32
ACCEPTED = {"environment": "env-a", "accepted": True, "reason": "accepted", "published": None}


def settings(**kw: Any) -> JobSettings:
    """Job settings for the tests' namespace, with ``kw`` replacing fields."""
    base: dict[str, Any] = {
        "image": "registry.example/lasco-ric:0.1.0",
        "data_store_uri": "s3://csi/samples",
        "model_store_uri": "https://models.example/store",
        "namespace": NS,
        "trusted_keys": (TRUSTED,),
    }
    return JobSettings(**(base | kw))


def emulator_clients(kmock: Any) -> Iterator[tuple[client.BatchV1Api, client.CoreV1Api]]:
    """Batch and core clients on the emulator, which is told of Jobs and ConfigMaps (so
    that listing them works before any exists); for a fixture to ``yield from``."""
    kmock.resources["batch/v1/jobs"] = {}
    kmock.resources["v1/configmaps"] = {}
    api = client.ApiClient(client.Configuration(host=str(kmock.url).rstrip("/")))
    yield client.BatchV1Api(api), client.CoreV1Api(api)
    api.close()


def play_controller(
    apis: Any,
    name: str,
    *,
    status: dict[str, Any] | None = None,
    outcome: dict[str, Any] | None = None,
    delete: bool = False,
) -> None:
    """Wait for the Job ``name``, then act as its pod (write ``outcome``) and as the Job
    controller (patch ``status``) or as an operator (``delete`` it)."""
    batch, core = apis
    for _ in range(5000):
        try:
            batch.read_namespaced_job(name, NS)
            break
        except ApiException as exc:
            if exc.status != 404:
                raise
            time.sleep(0.002)
    else:
        raise RuntimeError(f"Job {name} was never created")
    if outcome is not None:
        write_outcome(core, NS, outcome_configmap_name(name), outcome)
    if status is not None:
        batch.patch_namespaced_job_status(name, NS, {"status": status})
    if delete:
        batch.delete_namespaced_job(name, NS)


def configmap(kmock: Any, name: str) -> dict[str, Any]:
    """The ConfigMap ``name`` as the emulator holds it."""
    return kmock.objects["v1/configmaps", NS, name]


class Outcome:
    """What an adaptation returns: something with ``to_dict()``."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def to_dict(self) -> dict[str, Any]:
        return self.doc


def samples(environment: str = "env-a", n: int = 4) -> LabelledSamples:
    """``n`` zero samples of ``environment``."""
    return LabelledSamples(
        environment,
        "proj-1",
        np.zeros((n, 2, 32, 32), np.float32),
        np.zeros((n, 8), np.float32),
        np.array(["c1"] * n, dtype=object),
        np.arange(n, dtype=np.int64),
    )


def entry_args(job: dict[str, Any], key_file: Path) -> list[str]:
    """The Job's own arguments, with the key file where this test has it."""
    args = list(job["spec"]["template"]["spec"]["containers"][0]["args"])
    args[args.index("--key-file") + 1] = str(key_file)
    return args
