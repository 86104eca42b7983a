"""The settings the rApp's chart (helm/csi-rapp) gives the rApp: the rendered settings file
loads through the rApp's own loader (with the container's environment) and holds what the
values asked for, passes the rApp's start checks, and reaches every setting from values;
the Job the rApp builds from it takes its scheduling, Secrets, user, retries, /tmp, labels
and environment from values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rapp.job_manifest import build_job
from rapp.settings import Settings, fields_of, groups, load_settings
from rapp.settings_parts import check, job_settings
from tests.deploy import kube
from tests.deploy.rapp_cases import ALL, CASES, GPU_NODES, GPU_TOLERATIONS, JOB_ENV, JOB_LABELS
from tests.deploy.rapp_chart import (
    CHART_OWNED,
    expected_settings,
    loaded,
    namespace_of,
    render,
    schema,
    schema_at,
    settings_file,
)


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


@pytest.mark.parametrize(
    ("values", "user", "retries", "tmp", "labels", "env"),
    [({}, 10001, 0, "4Gi", {}, {}), (ALL, 20001, 1, "8Gi", JOB_LABELS, JOB_ENV)],
    ids=["defaults", "all"],
)
def test_the_job_manifest_takes_its_pod_labels_and_environment_from_values(
    values: dict[str, Any],
    user: int,
    retries: int,
    tmp: str,
    labels: dict[str, str],
    env: dict[str, str],
    tmp_path: Path,
) -> None:
    """adaptationJobs.runAsUser, .backoffLimit, .tmp.sizeLimit, .labels and .env reach the
    Job the rApp builds: its pod's user, its retries, its /tmp, its and its pod's labels (the
    rApp's own kept) and its container's environment (after the Job's own)."""
    job = build_job("env-a", "r1", job_settings(loaded(render(values), tmp_path)))
    pod = job["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsUser"] == user
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert job["spec"]["backoffLimit"] == retries
    (scratch,) = [v for v in pod["volumes"] if v["name"] == "tmp"]
    assert scratch["emptyDir"] == {"sizeLimit": tmp}
    own = {"app": "csi-rapp", "environment": "env-a", "run-id": "r1"}
    assert job["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"]
    assert job["metadata"]["labels"] == labels | own
    assert {e["name"]: e["value"] for e in c["env"]} == {
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    assert kube.k8s_errors(json.loads(json.dumps(job))) == []
