"""The adaptation Job's manifest: its fields, its names and labels, its settings, and that
the Kubernetes API takes it as it is (kmock's emulator, the real client)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from lasco.errors import ConfigError
from rapp.adapt_settings import RunningProxy
from rapp.job_manifest import KEY_FILE, build_job, job_name, label_value
from schemas import Mode
from tests.rapp.jobs_support import NS, TRUSTED, emulator_clients, settings

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


@pytest.fixture
def apis(kmock: Any) -> Iterator[Any]:
    """Batch and core clients on kmock's emulator."""
    yield from emulator_clients(kmock)


@pytest.mark.parametrize("gpus", [0, 1])
def test_manifest_fields(gpus: int) -> None:
    s = settings(gpus=gpus, gpu_node_selector={"accelerator": "h200"}, labels={"team": "ric"})
    job = build_job("env-a", "r1", s)
    name = job["metadata"]["name"]
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    labels = {"team": "ric", "app": "csi-rapp", "environment": "env-a", "run-id": "r1"}

    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert name == "adapt-env-a-r1"
    assert job["metadata"]["labels"] == labels
    assert job["spec"]["template"]["metadata"]["labels"] == labels
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "csi-rapp-adaptation"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}} in pod["volumes"]
    assert container["command"] == ["python", "-m", "rapp.job_entry"]
    assert container["args"] == [
        "--environment", "env-a",
        "--run-id", "r1",
        "--data-uri", "s3://csi/samples",
        "--store-uri", "https://models.example/store",
        "--key-file", "/var/run/secrets/lasco/signing.key",
        "--outcome-configmap", f"{name}-outcome",
        "--namespace", NS,
        "--trusted-key", TRUSTED,
    ]  # fmt: skip
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4Gi"}
    expected_limits = {"cpu": "4", "memory": "8Gi"} | ({"nvidia.com/gpu": "1"} if gpus else {})
    assert container["resources"]["limits"] == expected_limits
    assert pod.get("nodeSelector") == ({"accelerator": "h200"} if gpus else None)
    assert len(pod.get("tolerations", [])) == gpus


def test_manifest_mounts_the_signing_key_as_a_read_only_file_only() -> None:
    job = build_job("env-a", "r1", settings(signing_key_secret="k", signing_key_secret_key="pem"))
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    secret = {
        "secretName": "k",
        "items": [{"key": "pem", "path": "signing.key"}],
        "defaultMode": 0o440,
    }

    assert {"name": "signing-key", "secret": secret} in pod["volumes"]
    mount = {"name": "signing-key", "mountPath": "/var/run/secrets/lasco", "readOnly": True}
    assert mount in container["volumeMounts"]
    assert KEY_FILE == "/var/run/secrets/lasco/signing.key"
    assert pod["securityContext"]["fsGroup"] == 10001  # the non-root user reads it (0440)
    assert all("valueFrom" not in e and "secretKeyRef" not in str(e) for e in container["env"])
    assert "envFrom" not in container


def test_manifest_passes_the_running_proxy_and_settings_as_json() -> None:
    running = RunningProxy("proxy-env-a", 3, Mode.LASCO)
    job = build_job("env-a", "r1", settings(), running=running, adaptation={"min_samples": 300})
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    proxy = json.loads(args[args.index("--running-proxy") + 1])
    adaptation = json.loads(args[args.index("--settings") + 1])

    assert proxy == {"name": "proxy-env-a", "version": 3, "mode": "lasco", "alpha": None}
    assert adaptation == {"min_samples": 300}


@pytest.mark.parametrize(
    ("environment", "run_id"),
    [("Env_A", "r1"), ("cell/7 east", "2025-01-01T00:00"), ("x" * 100, "y" * 80), ("-", "-")],
)
def test_names_and_labels_are_sanitised(environment: str, run_id: str) -> None:
    job = build_job(environment, run_id, settings())
    name = job["metadata"]["name"]

    assert DNS_LABEL.match(name)
    assert name == job_name(environment, run_id)
    assert job_name(environment, run_id + "x") != name
    assert all(LABEL_VALUE.match(v) for v in job["metadata"]["labels"].values())
    assert job["metadata"]["annotations"]["csi-rapp/environment"] == environment
    assert label_value(environment) != label_value(environment + "!")


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TAINT = {"key": "pool", "operator": "Equal", "value": "train", "effect": "NoExecute"}


@pytest.mark.parametrize("gpus", [0, 1])
def test_manifest_schedules_a_gpu_job_and_takes_secrets_as_env_from(gpus: int) -> None:
    """A GPU Job gets the node selector and the tolerations (a Job without GPUs neither);
    the pull policy and the Secrets' envFrom are every Job's, after the Job's own env."""
    s = settings(
        gpus=gpus,
        image_pull_policy="Always",
        gpu_node_selector={"nvidia.com/gpu.product": "NVIDIA-H200", "pool": "train"},
        gpu_tolerations=(GPU_TOLERATION, {**TAINT, "tolerationSeconds": 600}),
        env_from_secrets=("csi-rapp-s3", "proxy-env"),
    )
    pod = build_job("env-a", "r1", s)["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["imagePullPolicy"] == "Always"
    assert container["envFrom"] == [
        {"secretRef": {"name": "csi-rapp-s3"}},
        {"secretRef": {"name": "proxy-env"}},
    ]
    assert list(container).index("env") < list(container).index("envFrom")
    assert {e["name"] for e in container["env"]} >= {"HOME", "TMPDIR", "PYTHONUNBUFFERED"}
    if gpus:
        assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H200", "pool": "train"}
        assert pod["tolerations"] == [GPU_TOLERATION, {**TAINT, "tolerationSeconds": 600}]
    else:
        assert "nodeSelector" not in pod and "tolerations" not in pod


def test_manifest_defaults_pull_if_not_present_and_tolerate_the_gpu_taint() -> None:
    pod = build_job("env-a", "r1", settings(gpus=1))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["tolerations"] == [GPU_TOLERATION] and "nodeSelector" not in pod
    assert "envFrom" not in container
    no_toleration = build_job("env-a", "r1", settings(gpus=1, gpu_tolerations=()))
    assert "tolerations" not in no_toleration["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"image_pull_policy": "Sometimes"}, "image_pull_policy 'Sometimes' is not one of"),
        ({"gpu_node_selector": {"gpu type": "h100"}}, "gpu_node_selector gpu type="),
        ({"gpu_node_selector": {"gpu": "h100 80gb"}}, "gpu_node_selector gpu="),
        ({"gpu_node_selector": {"gpu": 1}}, "gpu_node_selector gpu=1"),
        ({"gpu_tolerations": ("nvidia.com/gpu",)}, r"gpu_tolerations\[0\].*not an object"),
        ({"gpu_tolerations": ({"key": "gpu", "efect": "NoSchedule"},)}, "unknown field"),
        ({"gpu_tolerations": ({"key": "gpu", "operator": "In"},)}, "operator 'In'"),
        ({"gpu_tolerations": ({"key": "a b", "operator": "Exists"},)}, "not a label key"),
        ({"gpu_tolerations": ({"operator": "Equal", "value": "x"},)}, "empty key needs"),
        ({"gpu_tolerations": ({"key": "k", "operator": "Exists", "value": "x"},)}, "no value"),
        ({"gpu_tolerations": ({"key": "k", "value": "a b"},)}, "not a label value"),
        ({"gpu_tolerations": ({"key": "k", "effect": "Never"},)}, "effect 'Never'"),
        ({"gpu_tolerations": ({"key": "k", "tolerationSeconds": 5},)}, "needs effect NoExecute"),
        (
            {"gpu_tolerations": ({"key": "k", "effect": "NoExecute", "tolerationSeconds": "5"},)},
            "not an integer",
        ),
        ({"gpu_tolerations": (GPU_TOLERATION, {"key": 1})}, r"gpu_tolerations\[1\].*strings"),
        ({"env_from_secrets": ("AWS_ACCESS_KEY_ID",)}, "env_from_secrets: 'AWS_ACCESS_KEY_ID'"),
        ({"env_from_secrets": ("s3", "s3")}, "env_from_secrets names a Secret twice"),
        ({"labels": {"cost centre": "ric"}}, "labels cost centre='ric' is not a label"),
        ({"labels": {"app": "other"}}, "labels app: the rApp sets this label itself"),
        ({"labels": {"environment": "env-b"}}, "labels environment: the rApp sets"),
        ({"env": {"OMP NUM THREADS": "4"}}, "env: 'OMP NUM THREADS' is not an environment"),
        ({"env": {"OMP_NUM_THREADS": 4}}, "env OMP_NUM_THREADS=4 is not a string"),
    ],
)
def test_scheduling_and_secret_settings_are_checked_naming_the_field(
    bad: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        settings(**bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"cpu_request": "two"},
        {"memory_limit": "8 GB"},
        {"run_as_user": 0},
        {"backoff_limit": -1},
        {"active_deadline_seconds": 0},
        {"trusted_keys": ("abc",)},
        {"namespace": "Lasco"},
        {"image": ""},
        {"labels": {"team": "r&d"}},
    ],
)
def test_settings_are_checked(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        settings(**bad)


@pytest.mark.asyncio
@pytest.mark.parametrize("gpus", [0, 1])
async def test_manifest_round_trips_through_the_api(apis: Any, gpus: int) -> None:
    """The client's models know every field (none dropped, every type right) and the API
    stores the Job as sent."""
    batch, _ = apis
    job = build_job(
        "env-a",
        "r1",
        settings(
            gpus=gpus,
            image_pull_policy="Always",
            gpu_node_selector={"pool": "train"},
            gpu_tolerations=(GPU_TOLERATION, {**TAINT, "tolerationSeconds": 600}),
            env_from_secrets=("csi-rapp-s3",),
        ),
    )
    sanitize = client.ApiClient().sanitize_for_serialization

    created = await asyncio.to_thread(batch.create_namespaced_job, NS, job)
    read = await asyncio.to_thread(batch.read_namespaced_job, job["metadata"]["name"], NS)

    assert sanitize(client.V1Job.from_dict(job)) == job
    assert sanitize(created) == job
    assert sanitize(read) == job
