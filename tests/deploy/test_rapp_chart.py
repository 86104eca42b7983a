"""The rApp's Helm chart (helm/csi-rapp), without a cluster.

- ``helm lint`` is clean, and every rendered manifest is valid against the Kubernetes API's
  strict schemas, with the defaults and with every optional feature on;
- ``values.schema.json`` refuses bad values (a misspelt key, a secret where only a Secret's
  name belongs, a bad enum) naming the key; it checks every key a template uses, and its
  copy of the rApp's settings schema is the rApp's own;
- the rendered settings file loads through the rApp's own loader (with the container's
  environment) and holds what the values asked for; every setting is reachable from values;
- the Roles grant exactly what the code calls: the rApp's Job runner and the Job's entry point
  run against kmock's in-memory Kubernetes API and the (group, resource, verb) triples they
  request are compared with the rendered Roles' rules, and with the client calls their
  source holds (so no call of theirs goes unexercised);
- Secrets are only named; checkov finds nothing that is not skipped with a reason in the
  chart, and every skip in the chart suppresses a check that would fail.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import inspect
import json
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from model_store import generate_keypair
from rapp import job_entry
from rapp.adapters import JobLauncher
from rapp.cli import build_parser, cmd_run
from rapp.job_manifest import OUTCOME_KEY, build_job, job_name, outcome_configmap_name
from rapp.jobs import JobRunner, JobState
from rapp.settings import Settings, fields_of, groups, load_settings, settings_schema
from rapp.settings_parts import check, job_settings
from tests.deploy import kube
from tests.rapp.jobs_support import ACCEPTED, Outcome, entry_args, samples

CHART = kube.HELM / "csi-rapp"
RELEASE, NS = "csi-rapp", "nonrtric"
KEY_FILE = "/var/run/secrets/lasco/signing.key"
KUBECONFIG_FILE = "/var/run/secrets/csi-rapp-kubeconfig/config"
DIGEST = "sha256:" + "5d" * 32
TRUSTED = "ab" * 32
SECRETS = {("influx-auth", "admin-token"): "influx-t0ken", ("csi-rapp-s3", "key-id"): "AKIA0"}
"""What the Secrets the values name hold, for the container's environment in the tests."""
GPU_NODES = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb", "pool": "training"}
GPU_TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {
        "key": "dedicated",
        "operator": "Equal",
        "value": "training",
        "effect": "NoExecute",
        "tolerationSeconds": 600,
    },
]

IN_PROCESS = {"adaptationJobs": {"enabled": False}}
REMOTE_JOBS = {
    "adaptationJobs": {
        "namespace": "gpu-training",
        "kubeconfig": {"secret": {"name": "gpu-cluster", "key": "kubeconfig.yaml"}},
        "resources": {"limits": {"cpu": None}},  # null: no CPU limit
        # no registry of its own: the rApp's (image.registry)
        "image": {"repository": "lasco-ric/csi-rapp-cuda", "digest": DIGEST},
    }
}
NO_NETWORK_POLICY = {"networkPolicy": {"enabled": False}}
ALL = {
    "image": {"digest": DIGEST, "pullPolicy": "IfNotPresent"},
    "imagePullSecrets": ["ghcr-pull"],
    "fullnameOverride": "lasco-rapp",
    "serviceAccount": {"name": "lasco-rapp-loop", "annotations": {"example.com/role": "rapp"}},
    "podAnnotations": {"prometheus.io/scrape": "true", "prometheus.io/path": "/rapp/v1/metrics"},
    "podLabels": {"team": "ran-ai"},
    "resources": {
        "requests": {"cpu": "500m", "memory": "1536Mi"},
        "limits": {"cpu": 2, "memory": "3Gi"},
    },
    "tmp": {"sizeLimit": "2Gi"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "ric", "operator": "Equal", "value": "nonrt", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "preference": {
                        "matchExpressions": [
                            {"key": "node-role/ric", "operator": "In", "values": ["true"]}
                        ]
                    },
                }
            ]
        }
    },
    "priorityClassName": "ric-nonrt",
    "terminationGracePeriodSeconds": 900,
    "extraEnv": [
        {"name": "AWS_REGION", "value": "eu-west-1"},
        {
            "name": "AWS_ACCESS_KEY_ID",
            "valueFrom": {"secretKeyRef": {"name": "csi-rapp-s3", "key": "key-id"}},
        },
    ],
    "probes": {"startup": {"failureThreshold": 120, "initialDelaySeconds": 2}},
    "service": {"port": 8190, "annotations": {"example.com/owner": "ran-ai"}},
    "networkPolicy": {"namespaces": ["nonrtric", "ricplt", "monitoring"]},
    "signingKey": {"secret": {"name": "lasco-signing", "key": "ed25519.pem"}},
    "influxdb": {"tokenSecret": {"name": "influx-auth", "key": "admin-token"}},
    "adaptationJobs": {
        "namespace": "rapp-jobs",
        "image": {
            "registry": "registry.example:5000",
            "repository": "lasco/csi-rapp-cuda",
            "tag": "0.1.0-cu12",
            "pullPolicy": "Always",
        },
        "resources": {
            "requests": {"cpu": "1", "memory": "6Gi"},
            "limits": {"cpu": "8", "memory": "16Gi"},
        },
        "gpus": 1,
        "gpu": {"nodeSelector": GPU_NODES, "tolerations": GPU_TOLERATIONS},
        "ttlSecondsAfterFinished": 600,
        "activeDeadlineSeconds": 3600,
        "pollSeconds": 2.5,
        "dataUri": "s3://csi-jobs/data",
        "storeUri": "s3://csi-jobs/models",
        "envFromSecrets": ["csi-rapp-s3", "csi-jobs-extra"],
        "serviceAccount": {"name": "csi-trainer", "annotations": {"example.com/role": "trainer"}},
    },
    # Every setting the values pass through, each away from the rApp's default.
    "settings": {
        "loop": {
            "poll_s": 15,
            "min_fresh_samples": 512,
            "max_samples": 40000,
            "new_environment_samples": 2048,
            "pending_timeout_s": 900,
        },
        "telemetry": {
            "url": "http://influxdb.ricplt:8086",
            "events_url": "http://influxdb-events.ricplt:8086",
            "bucket": "csi/autogen",
            "timeout_s": 3.5,
            "events_interval_s": 10,
            "events_buffer": 5000,
        },
        "drift": {
            "series": ["nmse_db", "beam_db", "throughput"],
            "lower_is_worse": ["throughput"],
            "min_points": 60,
            "history_points": 7200,
            "delta": 0.25,
            "threshold": 40,
            "alpha": 0.99,
        },
        "adaptation": {
            "method": "lasco",
            "min_samples": 384,
            "max_samples": 30000,
            "val_fraction": 0.15,
            "held_out_fraction": 0.25,
            "gate_margin_db": 0.2,
            "lr": 0.0005,
            "max_epochs": 50,
            "patience": 10,
            "batch_size": 128,
            "seed": 7,
            "ort_threads": 2,
        },
        "store": {
            "uri": "s3://csi/models",
            "trusted_keys": [TRUSTED],
            "policy_uri": "s3://csi/models-xapp",
        },
        "data": {"uri": "s3://csi/data"},
        "a1": {
            "url": "pms+http://policymanagementservice.nonrtric:8081",
            "ric_id": "ric-1",
            "service_id": "csi-rapp-1",
            "attempts": 6,
            "enforce_timeout_s": 45,
        },
    },
}
CASES = {
    "defaults": {},
    "all": ALL,
    "in-process": IN_PROCESS,
    "remote-jobs": REMOTE_JOBS,
    "no-network-policy": NO_NETWORK_POLICY,
}

CHART_OWNED = {
    "api.host": None,  # always 0.0.0.0: the Service and the probes reach the API
    "api.port": "service.port",
    "telemetry.token": "influxdb.tokenSecret.name",
    "store.signing_key_file": "signingKey.secret.name",
    "jobs.enabled": "adaptationJobs.enabled",
    "jobs.image": "adaptationJobs.image.repository",
    "jobs.image_pull_policy": "adaptationJobs.image.pullPolicy",
    "jobs.namespace": "adaptationJobs.namespace",
    "jobs.service_account": "adaptationJobs.serviceAccount.name",
    "jobs.cpu_request": "adaptationJobs.resources.requests.cpu",
    "jobs.cpu_limit": "adaptationJobs.resources.limits.cpu",
    "jobs.memory_request": "adaptationJobs.resources.requests.memory",
    "jobs.memory_limit": "adaptationJobs.resources.limits.memory",
    "jobs.gpus": "adaptationJobs.gpus",
    "jobs.gpu_node_selector": "adaptationJobs.gpu.nodeSelector",
    "jobs.gpu_tolerations": "adaptationJobs.gpu.tolerations",
    "jobs.key_secret": "signingKey.secret.name",
    "jobs.key_secret_key": "signingKey.secret.key",
    "jobs.ttl_s": "adaptationJobs.ttlSecondsAfterFinished",
    "jobs.deadline_s": "adaptationJobs.activeDeadlineSeconds",
    "jobs.data_uri": "adaptationJobs.dataUri",
    "jobs.store_uri": "adaptationJobs.storeUri",
    "jobs.env_from_secrets": "adaptationJobs.envFromSecrets",
    "jobs.poll_s": "adaptationJobs.pollSeconds",
    "jobs.kubeconfig": "adaptationJobs.kubeconfig.secret.name",
}
"""Settings the chart sets from values outside ``settings`` (None: fixed by the chart), and
the values key each comes from. Every other setting is ``settings.<group>.<field>``."""


# -- helpers -------------------------------------------------------------------------------
def namespace_of(case: str) -> str:
    """Each case renders into a namespace of its own (checkov scans them together)."""
    return NS if case == "defaults" else f"{NS}-{case}"


def render(values: dict[str, Any], namespace: str = NS) -> list[dict[str, Any]]:
    return kube.render(CHART, values, name=RELEASE, namespace=namespace)


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every case, rendered once."""
    return {case: render(values, namespace_of(case)) for case, values in CASES.items()}


def coalesce(base: Any, override: Any) -> Any:
    """Helm's merge of user values over the chart's: maps merge, a null deletes a default."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None and key in out:
            del out[key]
        elif key in out:
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merged_values(values: dict[str, Any]) -> dict[str, Any]:
    return coalesce(yaml.safe_load((CHART / "values.yaml").read_text()), values)


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''} rendered"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def resolved_env(c: dict[str, Any]) -> dict[str, str]:
    """The container's environment, with what the named Secrets hold."""
    env = {}
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = SECRETS[ref["name"], ref["key"]]
    return env


def settings_file(docs: list[dict[str, Any]], tmp: Path) -> tuple[Path, dict[str, str]]:
    """The settings file the container is started with, as this test has it (under
    ``tmp``), and the container's environment pointing at it: the file is the key of the
    ConfigMap the volume mounted at the ``--config`` path's folder holds."""
    c = container(docs)
    args = build_parser().parse_args(c["args"])
    assert c["command"] == ["csi-rapp"] and args.func is cmd_run
    env = resolved_env(c)
    assert env["CSI_RAPP_CONFIG_FILE"] == args.config  # `kubectl exec ... csi-rapp` reads it too
    folder, name = args.config.rsplit("/", 1)
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == folder]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    text = one(docs, "ConfigMap", volume["configMap"]["name"])["data"][name]
    path = tmp / name
    path.write_text(text)
    return path, env | {"CSI_RAPP_CONFIG_FILE": str(path)}


def loaded(docs: list[dict[str, Any]], tmp: Path) -> Settings:
    _, env = settings_file(docs, tmp)
    return load_settings(None, env)


def image_ref(image: dict[str, str], registry: str = "") -> str:
    """``registry/repository``, then ``@digest`` or ``:tag`` (empty: the appVersion), as
    csi-xapp composes its image; ``registry`` stands in for an empty one."""
    ref = f"{image['registry'] or registry}/{image['repository']}"
    return f"{ref}@{image['digest']}" if image["digest"] else f"{ref}:{image['tag'] or '0.1.0'}"


def expected_settings(values: dict[str, Any], namespace: str) -> dict[str, Any]:
    """What the values ask the settings to be, worked out here from the values (not from
    the templates): the rApp's defaults, ``settings`` over them, then the chart's own."""
    v = merged_values(values)
    out = Settings().to_mapping()
    for group, given in v["settings"].items():
        out[group].update(given)
    fullname = v.get("fullnameOverride") or RELEASE
    out["api"] = {"host": "0.0.0.0", "port": v["service"]["port"]}
    token = v["influxdb"]["tokenSecret"]
    if token["name"]:
        out["telemetry"]["token"] = SECRETS[token["name"], token["key"]]
    jobs = v["adaptationJobs"]
    if not jobs["enabled"]:
        out["store"]["signing_key_file"] = KEY_FILE
        return out
    ref = image_ref(v["image"])
    if jobs["image"]["repository"]:
        ref = image_ref(jobs["image"], registry=v["image"]["registry"])
    res = jobs["resources"]
    out["jobs"] = {
        "enabled": True,
        "image": ref,
        "image_pull_policy": jobs["image"]["pullPolicy"] or v["image"]["pullPolicy"],
        "namespace": jobs["namespace"] or namespace,
        "service_account": jobs["serviceAccount"]["name"] or f"{fullname}-adaptation",
        "cpu_request": str(res["requests"]["cpu"]),
        "cpu_limit": str(res["limits"]["cpu"]) if "cpu" in res["limits"] else None,
        "memory_request": res["requests"]["memory"],
        "memory_limit": res["limits"]["memory"],
        "gpus": jobs["gpus"],
        "gpu_node_selector": jobs["gpu"]["nodeSelector"],
        "gpu_tolerations": jobs["gpu"]["tolerations"],
        "key_secret": v["signingKey"]["secret"]["name"],
        "key_secret_key": v["signingKey"]["secret"]["key"],
        "env_from_secrets": jobs["envFromSecrets"],
        "ttl_s": jobs["ttlSecondsAfterFinished"],
        "deadline_s": jobs["activeDeadlineSeconds"],
        "data_uri": jobs["dataUri"] or None,
        "store_uri": jobs["storeUri"] or None,
        "poll_s": jobs["pollSeconds"],
        "kubeconfig": KUBECONFIG_FILE if jobs["kubeconfig"]["secret"]["name"] else None,
    }
    return out


def schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def schema_at(path: str) -> dict[str, Any] | None:
    """The values schema of the dotted ``path``, None when the schema has no such key."""
    node: dict[str, Any] | None = schema()
    for part in path.split("."):
        node = (node or {}).get("properties", {}).get(part)
    return node


def expected_settings_schema() -> dict[str, Any]:
    """The chart's copy of the rApp's settings schema: the rApp's groups and fields, less
    what the chart sets (CHART_OWNED), with trusted keys as hex only (a key file would
    have to be mounted)."""
    out = {}
    for group, gs in settings_schema()["properties"].items():
        props = {
            f: copy.deepcopy(fs)
            for f, fs in gs["properties"].items()
            if f"{group}.{f}" not in CHART_OWNED
        }
        if props:
            out[group] = {**copy.deepcopy(gs), "properties": props}
    out["store"]["properties"]["trusted_keys"]["items"]["pattern"] = "^[0-9a-fA-F]{64}$"
    return out


# -- lint and Kubernetes schemas -------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_helm_lint_is_clean(case: str) -> None:
    assert kube.lint(CHART, CASES[case]) == []


@pytest.mark.parametrize("case", CASES)
def test_every_manifest_is_valid_kubernetes(
    rendered: dict[str, list[dict[str, Any]]], case: str
) -> None:
    docs = rendered[case]
    errors = {f"{d['kind']}/{d['metadata']['name']}": kube.k8s_errors(d) for d in docs}
    assert {k: e for k, e in errors.items() if e != []} == {}
    assert all(d["metadata"].get("namespace") for d in docs), "every object names its namespace"


def test_what_each_case_renders(rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = {case: sorted(kube.kinds(docs)) for case, docs in rendered.items()}
    assert names["defaults"] == [
        "ConfigMap/csi-rapp",
        "Deployment/csi-rapp",
        "NetworkPolicy/csi-rapp",
        "Role/csi-rapp-adaptation",
        "Role/csi-rapp-jobs",
        "RoleBinding/csi-rapp-adaptation",
        "RoleBinding/csi-rapp-jobs",
        "Service/csi-rapp",
        "ServiceAccount/csi-rapp",
        "ServiceAccount/csi-rapp-adaptation",
    ]
    in_process = ["ConfigMap", "Deployment", "NetworkPolicy", "Service", "ServiceAccount"]
    assert names["in-process"] == [f"{k}/csi-rapp" for k in in_process]
    assert names["remote-jobs"] == names["in-process"]  # that cluster holds the Roles
    assert "NetworkPolicy/csi-rapp" not in names["no-network-policy"]
    jobs_namespace = {d["metadata"]["namespace"] for d in rendered["all"] if "Role" in d["kind"]}
    assert jobs_namespace == {"rapp-jobs"}


def test_pod_hardening(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for case, docs in rendered.items():
        pod = one(docs, "Deployment")["spec"]["template"]["spec"]
        c = container(docs)
        assert pod["securityContext"] == kube.HARDENED_POD, case
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and not sc["allowPrivilegeEscalation"], case
        assert sc["capabilities"] == {"drop": ["ALL"]} and sc["runAsNonRoot"], case
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, case
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        writable = [p for p, m in mounts.items() if not m.get("readOnly")]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert all("emptyDir" in volumes[mounts[p]["name"]] for p in writable), case
        assert "/tmp" in writable, case
        assert set(c["resources"]) == {"requests", "limits"}, case
        # the token only where the rApp calls the API (its Jobs in this cluster)
        calls_api = case in ("defaults", "all", "no-network-policy")
        assert pod["automountServiceAccountToken"] is calls_api, case
        assert (KEY_FILE.rsplit("/", 1)[0] in mounts) is (case == "in-process"), case


def test_images_by_registry_and_tag_or_digest(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The images are composed as csi-xapp's: ``registry/repository``, then ``@digest`` or
    ``:tag`` (empty: the appVersion). The Jobs run the rApp's image unless
    ``adaptationJobs.image.repository`` is given; one without a registry of its own is
    pulled from ``image.registry``."""

    def job_image(docs: list[dict[str, Any]]) -> str:
        return loaded(docs, tmp_path).to_mapping()["jobs"]["image"]

    assert container(rendered["defaults"])["image"] == "ghcr.io/lasco-ric/csi-rapp:0.1.0"
    assert job_image(rendered["defaults"]) == "ghcr.io/lasco-ric/csi-rapp:0.1.0"
    assert container(rendered["all"])["image"] == f"ghcr.io/lasco-ric/csi-rapp@{DIGEST}"
    assert job_image(rendered["all"]) == "registry.example:5000/lasco/csi-rapp-cuda:0.1.0-cu12"
    assert job_image(rendered["remote-jobs"]) == f"ghcr.io/lasco-ric/csi-rapp-cuda@{DIGEST}"

    mirror = {"image": {"registry": "registry.example:5000", "tag": "0.1.1"}}
    docs = render(mirror)
    assert container(docs)["image"] == "registry.example:5000/lasco-ric/csi-rapp:0.1.1"
    assert job_image(docs) == "registry.example:5000/lasco-ric/csi-rapp:0.1.1"
    docs = render(coalesce(mirror, {"adaptationJobs": {"image": {"repository": "lasco/cuda"}}}))
    assert job_image(docs) == "registry.example:5000/lasco/cuda:0.1.0"


def test_probes_service_and_network_policy_reach_the_api(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The probes hit the API's real routes on the port the rApp listens on (its settings),
    and the routes answer as the probes expect: the API answers at once, ready after a tick."""
    from fastapi.testclient import TestClient

    from rapp.api import LoopState, create_app

    docs = rendered["all"]
    s = loaded(docs, tmp_path)
    c = container(docs)
    (port,) = c["ports"]
    assert (port["name"], port["containerPort"], s.api.port, s.api.host) == (
        "http",
        8190,
        8190,
        "0.0.0.0",
    )
    (svc_port,) = one(docs, "Service")["spec"]["ports"]
    assert (svc_port["port"], svc_port["targetPort"]) == (8190, "http")
    policy = one(docs, "NetworkPolicy")["spec"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8190, "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert (
        peer["namespaceSelector"]["matchExpressions"][0]["values"]
        == ALL["networkPolicy"]["namespaces"]
    )
    assert (
        policy["podSelector"]["matchLabels"]
        == one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    )
    default_policy = one(rendered["defaults"], "NetworkPolicy")["spec"]["ingress"][0]
    assert default_policy["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == [NS]

    class Table:
        def all(self) -> list[Any]:
            return []

    class Loop:
        table, pending, history, counters = Table(), {}, [], {}

    state = LoopState()
    api = TestClient(create_app(Loop(), state))  # type: ignore[arg-type]
    probes = {k: c[k]["httpGet"] for k in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {p["port"] for p in probes.values()} == {"http"}
    before = {k: api.get(p["path"]).status_code for k, p in probes.items()}
    state.tick_done()
    after = {k: api.get(p["path"]).status_code for k, p in probes.items()}
    assert before == {"startupProbe": 200, "livenessProbe": 200, "readinessProbe": 503}
    assert after == dict.fromkeys(probes, 200)


# -- values.schema.json ----------------------------------------------------------------------
BAD_VALUES = {
    "misspelt key": ({"adaptationJobs": {"enabeld": True}}, "/adaptationJobs", "enabeld"),
    "misspelt setting": ({"settings": {"loop": {"pol_s": 5}}}, "/settings/loop", "pol_s"),
    "unknown settings group": ({"settings": {"jobz": {}}}, "/settings", "jobz"),
    "token in values": ({"influxdb": {"token": "s3cr3t"}}, "/influxdb", "token"),
    "token as a setting": (
        {"settings": {"telemetry": {"token": "s3cr3t"}}},
        "/settings/telemetry",
        "token",
    ),
    "key where the Secret's name belongs": (
        {"signingKey": {"secret": {"name": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n"}}},
        "/signingKey/secret/name",
        "does not match pattern",
    ),
    "token where the Secret's name belongs": (
        {"influxdb": {"tokenSecret": {"name": "my-token:Zm9vYmFy=="}}},
        "/influxdb/tokenSecret/name",
        "does not match pattern",
    ),
    "kube config where the Secret's name belongs": (
        {"adaptationJobs": {"kubeconfig": {"secret": {"name": "apiVersion: v1\nkind: Config"}}}},
        "/adaptationJobs/kubeconfig/secret/name",
        "does not match pattern",
    ),
    "the old name of a Secret's": (
        {"influxdb": {"existingSecret": "influx-auth"}},
        "/influxdb",
        "existingSecret",
    ),
    "bad pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "one of"),
    "bad adaptation method": (
        {"settings": {"adaptation": {"method": "fine-tune"}}},
        "/settings/adaptation/method",
        "one of",
    ),
    "a setting as an environment variable": (
        {"extraEnv": [{"name": "CSI_RAPP_TELEMETRY_TOKEN", "value": "s3cr3t"}]},
        "/extraEnv/0/name",
        "not",
    ),
    "API port 0": ({"service": {"port": 0}}, "/service/port", "minimum"),
    "a trusted key file (not in the pod)": (
        {"settings": {"store": {"trusted_keys": ["/etc/keys/release.pub"]}}},
        "/settings/store/trusted_keys/0",
        "pattern",
    ),
    "a bad quantity": (
        {"adaptationJobs": {"resources": {"requests": {"memory": "4 GB"}}}},
        "/adaptationJobs/resources/requests/memory",
        "pattern",
    ),
    "a bad digest": ({"image": {"digest": "sha256:abc"}}, "/image/digest", "pattern"),
    "a URL as the registry": (
        {"image": {"registry": "https://ghcr.io"}},
        "/image/registry",
        "pattern",
    ),
    "a tag in the repository": (
        {"image": {"repository": "lasco-ric/csi-rapp:0.1.0"}},
        "/image/repository",
        "pattern",
    ),
    "a bad digest of the Jobs' image": (
        {"adaptationJobs": {"image": {"repository": "lasco/cuda", "digest": "sha256:abc"}}},
        "/adaptationJobs/image/digest",
        "pattern",
    ),
    "the Jobs' registry without their repository (it would be ignored)": (
        {"adaptationJobs": {"image": {"registry": "mirror.example"}}},
        "/adaptationJobs/image/registry",
        "must be ''",
    ),
    "bad pull policy of the Jobs' image": (
        {"adaptationJobs": {"image": {"pullPolicy": "Sometimes"}}},
        "/adaptationJobs/image/pullPolicy",
        "one of",
    ),
    "a GPU node selector's key that is no label key": (
        {"adaptationJobs": {"gpu": {"nodeSelector": {"gpu type": "h100"}}}},
        "/adaptationJobs/gpu/nodeSelector",
        "gpu type",
    ),
    "a GPU node selector's value that is no label value": (
        {"adaptationJobs": {"gpu": {"nodeSelector": {"gpu": "h100 80gb"}}}},
        "/adaptationJobs/gpu/nodeSelector/gpu",
        "pattern",
    ),
    "a GPU toleration's bad operator": (
        {"adaptationJobs": {"gpu": {"tolerations": [{"key": "gpu", "operator": "Maybe"}]}}},
        "/adaptationJobs/gpu/tolerations/0/operator",
        "one of",
    ),
    "a GPU toleration's unknown field": (
        {"adaptationJobs": {"gpu": {"tolerations": [{"key": "gpu", "efect": "NoSchedule"}]}}},
        "/adaptationJobs/gpu/tolerations/0",
        "efect",
    ),
    "a GPU selector as null": (
        {"adaptationJobs": {"gpu": {"nodeSelector": None}}},
        "/adaptationJobs/gpu",
        "nodeSelector",
    ),
    "credentials where a Secret's name belongs": (
        {"adaptationJobs": {"envFromSecrets": ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"]}},
        "/adaptationJobs/envFromSecrets/0",
        "does not match pattern",
    ),
    "a Secret listed twice": (
        {"adaptationJobs": {"envFromSecrets": ["csi-rapp-s3", "csi-rapp-s3"]}},
        "/adaptationJobs/envFromSecrets",
        "are equal",
    ),
}


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_values_are_refused_naming_the_key(bad: str) -> None:
    values, where, words = BAD_VALUES[bad]
    with pytest.raises(helm.HelmValuesError) as err:
        render(values)
    message = str(err.value)
    assert f"at '{where}'" in message and words in message, message


def test_the_settings_schema_is_the_rapps_own() -> None:
    """The values' ``settings`` is the rApp's settings schema, field for field (less what
    the chart sets): a setting added to, changed in or removed from rapp/settings.py fails
    here until the chart's values.schema.json follows."""
    ours = schema()["properties"]["settings"]
    assert ours["additionalProperties"] is False
    expected = expected_settings_schema()
    assert ours["properties"] == expected, (
        "copy the groups below into values.schema.json's properties.settings.properties:\n"
        + json.dumps(expected, indent=2)
    )


def test_the_jobs_scheduling_values_are_checked_as_the_rapp_checks_them() -> None:
    """The values the chart passes as jobs.gpu_node_selector, jobs.gpu_tolerations,
    jobs.env_from_secrets and jobs.image_pull_policy are checked by values.schema.json as
    the rApp's settings schema checks them (the same patterns, fields and enums), and
    their defaults are the rApp's."""
    jobs = settings_schema()["properties"]["jobs"]["properties"]
    selector = schema_at("adaptationJobs.gpu.nodeSelector")
    for key in ("type", "patternProperties", "additionalProperties"):
        assert selector[key] == jobs["gpu_node_selector"][key], key
    assert schema_at("adaptationJobs.gpu.tolerations")["items"] == jobs["gpu_tolerations"]["items"]
    secrets = schema_at("adaptationJobs.envFromSecrets")
    assert secrets["items"] == jobs["env_from_secrets"]["items"]
    assert secrets["uniqueItems"] is jobs["env_from_secrets"]["uniqueItems"] is True
    assert schema_at("adaptationJobs.image.pullPolicy")["enum"] == [
        "",  # empty: image.pullPolicy
        *jobs["image_pull_policy"]["enum"],
    ]
    assert schema_at("image.pullPolicy")["enum"] == jobs["image_pull_policy"]["enum"]

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    given = values["adaptationJobs"]
    assert given["gpu"]["nodeSelector"] == jobs["gpu_node_selector"]["default"]
    assert given["gpu"]["tolerations"] == jobs["gpu_tolerations"]["default"]
    assert given["envFromSecrets"] == jobs["env_from_secrets"]["default"]
    assert given["image"]["pullPolicy"] == ""
    assert values["image"]["pullPolicy"] == jobs["image_pull_policy"]["default"]


JOB_CASES = {
    "defaults": ({}, "IfNotPresent", None, None, None),
    "gpu, default scheduling": (
        {"adaptationJobs": {"gpus": 2}},
        "IfNotPresent",
        None,
        [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        None,
    ),
    "gpu, no toleration, the rApp's pull policy": (
        {
            "image": {"pullPolicy": "Always"},
            "adaptationJobs": {
                "gpus": 1,
                "gpu": {"nodeSelector": {"pool": "gpu"}, "tolerations": []},
                "envFromSecrets": ["s3"],
            },
        },
        "Always",
        {"pool": "gpu"},
        None,
        [{"secretRef": {"name": "s3"}}],
    ),
    "no gpu: the GPU scheduling is left out": (
        {"adaptationJobs": {"gpu": {"nodeSelector": GPU_NODES, "tolerations": GPU_TOLERATIONS}}},
        "IfNotPresent",
        None,
        None,
        None,
    ),
    "all": (
        ALL,
        "Always",
        GPU_NODES,
        GPU_TOLERATIONS,
        [
            {"secretRef": {"name": "csi-rapp-s3"}},
            {"secretRef": {"name": "csi-jobs-extra"}},
        ],
    ),
}


@pytest.mark.parametrize("case", JOB_CASES)
def test_the_job_manifest_takes_its_scheduling_and_secrets_from_values(
    case: str, tmp_path: Path
) -> None:
    """The Job the rApp builds from the rendered settings (as it does at start) has the
    pull policy, nodeSelector, tolerations and envFrom the values asked for, and is valid
    Kubernetes."""
    values, policy, selector, tolerations, env_from = JOB_CASES[case]
    job = build_job("env-a", "r1", job_settings(loaded(render(values), tmp_path)))
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["imagePullPolicy"] == policy
    assert pod.get("nodeSelector") == selector
    assert pod.get("tolerations") == tolerations
    assert c.get("envFrom") == env_from
    assert kube.k8s_errors(json.loads(json.dumps(job))) == []


def _schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict]]:
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, sub
        if path != "settings":
            yield from _schema_paths(sub, path + ".")


def _values_read(text: str) -> set[str]:
    """The values paths templates read: ``.Values.a.b``, and through a variable bound to
    one (``$jobs := .Values.adaptationJobs`` then ``$jobs.gpus`` or ``get $jobs "gpus"``);
    a variable's binding alone reads nothing."""
    aliases: dict[str, str] = {}
    binding = re.compile(r"\$(\w+) := (?:\.Values|\$(\w+))((?:\.\w+)*)")
    for var, base, path in binding.findall(text):
        aliases[var] = (aliases[base] if base else "") + path
    text = binding.sub("", text)
    read = {p.lstrip(".") for p in re.findall(r"\.Values((?:\.\w+)+)", text)}
    for var, path in re.findall(r"\$(\w+)((?:\.\w+)+)", text):
        if var in aliases:
            read.add((aliases[var] + path).lstrip("."))
    for var, key in re.findall(r'(?:get|hasKey) \$(\w+) "(\w+)"', text):
        if var in aliases:
            read.add(f"{aliases[var]}.{key}".lstrip("."))
    return read


def test_every_values_key_is_in_the_schema_and_used() -> None:
    """Each ``.Values.x.y`` a template reads is a key of the schema, each key the schema
    defines (``settings`` as a whole) is read by a template, and every object the schema
    defines refuses unknown keys."""
    text = "\n".join(p.read_text() for p in sorted((CHART / "templates").iterdir()))
    used = _values_read(text)
    missing = sorted(u for u in used if schema_at(u) is None)
    assert missing == [], f"templates read values the schema does not define: {missing}"

    paths = dict(_schema_paths(schema()))
    leaves = {p for p, s in paths.items() if "properties" not in s or p == "settings"}
    read = {p for p in leaves if any(u == p or p.startswith(u + ".") for u in used)}
    assert sorted(leaves - read) == [], "schema keys no template reads"
    open_objects = [
        p
        for p, s in paths.items()
        if "properties" in s and s.get("additionalProperties") is not False
    ]
    assert open_objects == [] and schema()["additionalProperties"] is False


# -- the settings file ------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["defaults", "all", "in-process", "remote-jobs"])
def test_settings_file_loads_and_holds_what_values_asked(
    rendered: dict[str, list[dict[str, Any]]], case: str, tmp_path: Path
) -> None:
    path, env = settings_file(rendered[case], tmp_path)
    s = load_settings(None, env)
    assert s.to_mapping() == expected_settings(CASES[case], namespace_of(case))
    assert "token" not in json.loads(path.read_text()).get("telemetry", {})  # never in a ConfigMap


def test_settings_pass_the_rapps_start_checks(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The parts the rApp builds at start accept the settings (``csi-rapp settings
    --check``), with every feature on."""
    check(loaded(rendered["all"], tmp_path))


def test_every_setting_is_reachable_from_values(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """Each rApp setting either passes through ``settings`` or is one the chart sets from
    another values key (CHART_OWNED); and across the cases each one is set away from its
    default, so the path from values to the rApp works for every field."""
    passthrough = schema()["properties"]["settings"]["properties"]
    defaults = Settings().to_mapping()
    moved: set[str] = set()
    for case in ("all", "in-process", "remote-jobs"):
        (tmp_path / case).mkdir()
        got = loaded(rendered[case], tmp_path / case).to_mapping()
        moved |= {f"{g}.{f}" for g in got for f in got[g] if got[g][f] != defaults[g][f]}
    fields = {f"{g}.{f.name}" for g, cls in groups().items() for f in fields_of(cls)}
    for name in sorted(fields):
        group, field = name.split(".")
        via_settings = field in passthrough.get(group, {}).get("properties", {})
        assert via_settings != (name in CHART_OWNED), f"{name}: in settings and chart-owned"
        if name in CHART_OWNED and CHART_OWNED[name] is not None:
            assert schema_at(CHART_OWNED[name]) is not None, CHART_OWNED[name]
    assert sorted(fields - moved) == []
    assert set(CHART_OWNED) <= fields


# -- the Roles against the calls of the code -------------------------------------------------
def _triples(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/[^/]+)"
    r"/namespaces/(?P<ns>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


def _request_triple(method: str, path: str, params: dict[str, str]) -> tuple[str, str, str, str]:
    """``(namespace, apiGroup, resource, verb)`` as Kubernetes' authorizer sees a request
    (RequestInfo: GET on a name is get, without one list or watch, POST create, PUT update,
    PATCH patch, DELETE on a name delete, without one deletecollection)."""
    m = _PATH.match(path)
    assert m, f"a request outside a namespace: {method} {path}"
    named = m["name"] is not None
    verb = {
        "GET": "get" if named else ("watch" if params.get("watch") else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    resource = m["resource"] + (f"/{m['sub']}" if m["sub"] else "")
    return m["ns"], m["group"] or "", resource, verb


_CLIENT_RESOURCES = {
    "job": ("batch", "jobs"),
    "job_status": ("batch", "jobs/status"),
    "config_map": ("", "configmaps"),
}
_CLIENT_VERBS = {
    "create": "create",
    "read": "get",
    "list": "list",
    "patch": "patch",
    "replace": "update",
    "delete": "delete",
}


def _calls_in_source(*entry_points: Any) -> set[tuple[str, str, str]]:
    """The (apiGroup, resource, verb) triples of the ``kubernetes`` client calls
    (``<verb>_namespaced_<kind>``) in the entry points' source and, transitively, in the
    JobRunner methods (``self.x(...)``) and the functions of rapp.jobs and rapp.job_entry
    they call."""
    seen: set[Any] = set()
    todo, found = list(entry_points), set()
    while todo:
        fn = todo.pop()
        if fn in seen:
            continue
        seen.add(fn)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and "_namespaced_" in f.attr:
                verb, kind = f.attr.split("_namespaced_")
                found.add((*_CLIENT_RESOURCES[kind], _CLIENT_VERBS[verb]))
            elif isinstance(f, ast.Attribute) and getattr(f.value, "id", None) == "self":
                if callable(getattr(JobRunner, f.attr, None)):
                    todo.append(getattr(JobRunner, f.attr))
            elif isinstance(f, ast.Name):
                target = getattr(inspect.getmodule(fn), f.id, None)
                module = getattr(target, "__module__", None)
                if inspect.isfunction(target) and module in ("rapp.jobs", "rapp.job_entry"):
                    todo.append(target)
    return found


def _launcher_methods() -> list[str]:
    return [n for n, v in vars(JobLauncher).items() if callable(v) and not n.startswith("_")]


def test_the_rapp_uses_the_runner_only_through_its_launcher() -> None:
    """The rApp reaches the Job runner only through ``JobLauncher`` (the adapter's view of
    it), whose methods are the entry points the Role test reads the calls from: a runner
    method the rApp starts calling (``list_jobs``, list on Jobs) fails here."""
    assert _launcher_methods() == ["run"]
    others = {n for n, v in vars(JobRunner).items() if callable(v) and not n.startswith("_")}
    others -= set(_launcher_methods()) | {"delete"}  # `.delete(` is also a store's
    for path in sorted(Path(job_entry.__file__).parent.glob("*.py")):
        if path.name == "jobs.py":
            continue
        text = path.read_text()
        assert {m for m in others if f".{m}(" in text} == set(), path.name
        assert re.findall(r"runner\.(?!run\()\w+\(", text) == [], path.name


def _clients(kmock: Any, token: str) -> tuple[client.BatchV1Api, client.CoreV1Api]:
    config = client.Configuration(host=str(kmock.url).rstrip("/"))
    config.api_key = {"authorization": token}
    config.api_key_prefix = {"authorization": "Bearer"}
    api = client.ApiClient(config)
    return client.BatchV1Api(api), client.CoreV1Api(api)


def _wait(what: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return what()
        except ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.002)
    raise TimeoutError(what)


@pytest.mark.asyncio
async def test_roles_grant_exactly_what_the_code_calls(
    kmock: Any, rendered: dict[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """The rApp's Job runner (built from the rendered settings, as the rApp builds it) and
    the Job's own entry point run against kmock's Kubernetes API, each with a token of its
    own; the test plays the Job controller with a third. Every way a Job goes is taken:
    created, followed and succeeded with the outcome ConfigMap made first by the rApp (the
    Job patches it) or by the Job (the rApp patches in its owner), a Job that exists
    already, one deleted while followed, and one that outlives its timeout (deleted). The
    (apiGroup, resource, verb) triples each side asked for must be the rules of its Role,
    exactly, in the namespace its RoleBinding is in, for the accounts the pods run as."""
    docs = rendered["all"]
    s = loaded(docs, tmp_path)
    settings = job_settings(s)
    ns = settings.namespace
    kmock.resources["batch/v1/jobs"] = {}
    kmock.resources["v1/configmaps"] = {}
    rapp_batch, rapp_core = _clients(kmock, "rapp")
    ctl_batch, ctl_core = _clients(kmock, "cluster")
    _, job_core = _clients(kmock, "job")
    runner = JobRunner(rapp_batch, rapp_core, settings, poll_s=0.01)
    key_file = generate_keypair(tmp_path / "signing")[0]
    codes: list[int] = []

    def pod(name: str) -> None:
        """The Job's pod: the entry point with the Job's own arguments."""
        job = client.ApiClient().sanitize_for_serialization(ctl_batch.read_namespaced_job(name, ns))
        codes.append(
            job_entry.main(
                entry_args(job, key_file),
                adapt=lambda *a, **k: Outcome(ACCEPTED),
                read_samples=lambda *a: samples(),
                core_v1=job_core,
            )
        )

    def give_uid(name: str) -> None:
        ctl_batch.patch_namespaced_job(name, ns, {"metadata": {"uid": f"uid-{name}"}})

    def succeed(name: str) -> None:
        ctl_batch.patch_namespaced_job_status(name, ns, {"status": {"succeeded": 1}})

    def rapp_owns_first(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        give_uid(name)
        _wait(lambda: ctl_core.read_namespaced_config_map(outcome_configmap_name(name), ns))
        pod(name)  # the ConfigMap exists: the Job patches it
        succeed(name)

    def job_writes_first(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        pod(name)  # no uid yet, so the rApp has not made the ConfigMap
        give_uid(name)
        succeed(name)

    def deleted(name: str) -> None:
        _wait(lambda: ctl_batch.read_namespaced_job(name, ns))
        ctl_batch.delete_namespaced_job(name, ns)

    async def follow(run_id: str, player: Any, timeout_s: float = 30) -> Any:
        name = job_name("env-a", run_id)
        result, _ = await asyncio.gather(
            asyncio.to_thread(runner.run, "env-a", run_id, timeout_s),
            asyncio.to_thread(player, name),
        )
        return result

    first = await follow("r1", rapp_owns_first)
    second = await follow("r2", job_writes_first)
    again = await asyncio.to_thread(runner.run, "env-a", "r2", 30)  # it exists (409)
    gone = await follow("r3", deleted)
    late = await asyncio.to_thread(runner.run, "env-a", "r4", 0.05)

    assert [r.state for r in (first, second, again, gone, late)] == [
        JobState.SUCCEEDED,
        JobState.SUCCEEDED,
        JobState.SUCCEEDED,
        JobState.DELETED,
        JobState.TIMED_OUT,
    ]
    assert all(r.outcome is not None for r in (first, second, again)), [first, second, again]
    assert job_entry.EXIT_NO_OUTCOME not in codes and len(codes) == 2

    calls: dict[str, set[tuple[str, str, str]]] = {"rapp": set(), "job": set(), "cluster": set()}
    namespaces = set()
    for request in kmock:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        namespace, *triple = _request_triple(request.method, request.url.path, request.params)
        calls[token].add(tuple(triple))
        namespaces.add(namespace)
    assert namespaces == {ns}

    rapp_role = one(docs, "Role", "lasco-rapp-jobs")
    job_role = one(docs, "Role", "csi-trainer")
    assert calls["rapp"] == _triples(rapp_role["rules"])
    assert calls["job"] == _triples(job_role["rules"])
    # the ways taken above reach every call in the code the rApp and the Job run
    launcher = [getattr(JobRunner, n) for n in _launcher_methods()]
    assert _calls_in_source(*launcher) == calls["rapp"]
    assert _calls_in_source(job_entry.main) == calls["job"]
    assert rapp_role["metadata"]["namespace"] == job_role["metadata"]["namespace"] == ns

    # the Roles are bound to the accounts the pods run as, where the Jobs run
    pod_spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    binding = one(docs, "RoleBinding", "lasco-rapp-jobs")
    assert binding["metadata"]["namespace"] == ns
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "lasco-rapp-jobs",
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": pod_spec["serviceAccountName"],
            "namespace": one(docs, "Deployment")["metadata"]["namespace"],
        }
    ]
    job_binding = one(docs, "RoleBinding", "csi-trainer")
    created = next(r for r in kmock if r.method == "POST" and "jobs" in r.url.path).data
    job_pod = created["spec"]["template"]["spec"]
    assert job_binding["metadata"]["namespace"] == ns
    assert job_binding["roleRef"]["name"] == "csi-trainer"
    assert job_binding["subjects"] == [
        {"kind": "ServiceAccount", "name": job_pod["serviceAccountName"], "namespace": ns}
    ]
    assert one(docs, "ServiceAccount", job_pod["serviceAccountName"])["metadata"]["namespace"] == ns
    assert job_pod["automountServiceAccountToken"] is True
    job_account = one(docs, "ServiceAccount", job_pod["serviceAccountName"])
    pulls = [{"name": n} for n in ALL["imagePullSecrets"]]
    assert job_account["imagePullSecrets"] == pulls  # the Jobs' pods pull
    # the Job's own settings, as the values gave them
    (job_container,) = job_pod["containers"]
    assert job_container["image"] == "registry.example:5000/lasco/csi-rapp-cuda:0.1.0-cu12"
    assert job_container["resources"] == {
        "requests": {"cpu": "1", "memory": "6Gi"},
        "limits": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "1"},
    }
    assert job_container["imagePullPolicy"] == "Always"
    assert job_pod["nodeSelector"] == GPU_NODES
    assert job_pod["tolerations"] == GPU_TOLERATIONS
    assert job_container["envFrom"] == [
        {"secretRef": {"name": "csi-rapp-s3"}},
        {"secretRef": {"name": "csi-jobs-extra"}},
    ]
    assert kube.k8s_errors(created) == []
    (key_volume,) = [v for v in job_pod["volumes"] if "secret" in v]
    assert key_volume["secret"]["secretName"] == "lasco-signing"
    assert key_volume["secret"]["items"][0]["key"] == "ed25519.pem"
    assert created["spec"]["ttlSecondsAfterFinished"] == 600
    assert created["spec"]["activeDeadlineSeconds"] == 3600
    outcome = kmock.objects["v1/configmaps", ns, outcome_configmap_name(job_name("env-a", "r1"))]
    assert json.loads(outcome["data"][OUTCOME_KEY]) == first.outcome


# -- Secrets --------------------------------------------------------------------------------
def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_secrets_are_only_named(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """No Secret is rendered and none is read from values: each Secret a pod uses is one
    the values name (signing key as a read-only file, the token as the rApp's variable),
    no values key is one for secret material, and no secret material is in the defaults."""
    for case, docs in rendered.items():
        assert "Secret" not in {d["kind"] for d in docs}, case
    docs = rendered["all"]
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (token,) = [e for e in container(docs)["env"] if e["name"] == "CSI_RAPP_TELEMETRY_TOKEN"]
    assert token["valueFrom"] == {"secretKeyRef": {"name": "influx-auth", "key": "admin-token"}}
    assert not any("secret" in v for v in pod["volumes"])  # the key is the Jobs' only

    key_pod = one(rendered["in-process"], "Deployment")["spec"]["template"]["spec"]
    (key,) = [v for v in key_pod["volumes"] if "secret" in v]
    assert key["secret"] == {
        "secretName": "csi-rapp-signing-key",
        "items": [{"key": "signing.key", "path": "signing.key"}],
        "defaultMode": 0o440,
    }
    (mount,) = [
        m for m in container(rendered["in-process"])["volumeMounts"] if m["name"] == key["name"]
    ]
    assert mount["readOnly"] and f"{mount['mountPath']}/signing.key" == KEY_FILE

    remote_pod = one(rendered["remote-jobs"], "Deployment")["spec"]["template"]["spec"]
    (kubeconfig,) = [v for v in remote_pod["volumes"] if "secret" in v]
    assert kubeconfig["secret"]["secretName"] == "gpu-cluster"
    assert kubeconfig["secret"]["items"] == [{"key": "kubeconfig.yaml", "path": "config"}]

    # A Secret is named by {name, key}, as csi-xapp's influxdb.tokenSecret: only such an
    # object may have a secret-sounding key (tokenSecret), and its name is a DNS name.
    paths = dict(_schema_paths(schema()))
    refs = {p for p, s in paths.items() if set(s.get("properties", {})) == {"name", "key"}}
    assert refs == {
        "signingKey.secret",
        "influxdb.tokenSecret",
        "adaptationJobs.kubeconfig.secret",
    }
    for ref in refs:
        assert schema_at(f"{ref}.name")["pattern"].endswith("[a-z0-9])?$")  # nothing else
    secretish = re.compile(r"token|password|passwd|credential|private|apikey|api_key", re.I)
    keys = [p for p in paths if p not in refs]
    assert [p for p in keys if secretish.search(p.rsplit(".", 1)[-1])] == []
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    pem = re.compile(r"-----BEGIN|PRIVATE KEY|^[A-Za-z0-9+/]{40,}={0,2}$")
    assert [s for s in _strings(defaults) if pem.search(s)] == []
    for case, docs in rendered.items():
        text = yaml.safe_dump_all(docs)
        assert not any(secret in text for secret in SECRETS.values()), case


# -- checkov ----------------------------------------------------------------------------------
def _skips_in_chart() -> set[str]:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    return set(re.findall(r'"(CKV2?_K8S_\d+)=', text))


def _write(folder: Path, strip: bool) -> None:
    """Every case's manifests under ``folder/<case>``, each case a release of its own (checkov
    matches NetworkPolicies to pods by their labels, across the files it scans)."""
    for case, values in CASES.items():
        docs = kube.render(CHART, values, name=f"rapp-{case}", namespace=namespace_of(case))
        (folder / case).mkdir(parents=True)
        for n, doc in enumerate(docs):
            doc = copy.deepcopy(doc)
            notes = doc["metadata"].get("annotations", {})
            if strip:
                for key in [k for k in notes if k.startswith("checkov.io/skip")]:
                    del notes[key]
            path = folder / case / f"{n:02d}-{doc['kind'].lower()}.yaml"
            path.write_text(yaml.safe_dump(doc))


def _checks(report: Any, kind: str) -> set[tuple[str, str, str]]:
    reports = report if isinstance(report, list) else [report]
    return {
        (c["check_id"], c["resource"], c["file_path"])
        for r in reports
        for c in r.get("results", {}).get(kind, [])
    }


def test_checkov_finds_nothing_unexplained(tmp_path: Path) -> None:
    """checkov on every case's manifests fails nothing; each check skipped is skipped by an
    annotation of the chart with a reason; and each skip is needed: without the chart's
    annotations exactly the skipped checks fail."""
    _write(tmp_path / "as-rendered", strip=False)
    _write(tmp_path / "stripped", strip=True)
    report = kube.checkov(tmp_path / "as-rendered", "kubernetes")
    failed = _checks(report, "failed_checks")
    assert failed == set(), sorted(failed)
    reports = report if isinstance(report, list) else [report]
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    assert skipped, "the default image is pinned by tag: CKV_K8S_43 is skipped"
    for c in skipped:
        reason = c["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20 and c["check_id"] in _skips_in_chart(), c
    passed = _checks(report, "passed_checks")
    assert len(passed) > 100

    bare = kube.checkov(tmp_path / "stripped", "kubernetes")
    strip = lambda checks: {(i, r, p.replace("/stripped/", "/")) for i, r, p in checks}  # noqa: E731
    keep = lambda checks: {(i, r, p.replace("/as-rendered/", "/")) for i, r, p in checks}  # noqa: E731
    assert strip(_checks(bare, "failed_checks")) == keep(_checks(report, "skipped_checks"))
