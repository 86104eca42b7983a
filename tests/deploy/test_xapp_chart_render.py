"""The xApp's chart (helm/csi-xapp) renders its workload, without a cluster: Helm's own lint
and render (tests/deploy/kube.py), every manifest against the Kubernetes API schemas in
strict mode for the oldest Kubernetes the chart supports, the chart's metadata against the
package and the descriptor, the hardened pod, the image, the GPU, names that follow the
release's namespace, the restart on a configuration change, the install notes, and
checkov.
"""

from __future__ import annotations

import json
import re

import helm_python as helm
import pytest
import yaml

from tests.deploy import kube
from tests.deploy.kube import container, one
from tests.deploy.xapp_chart import (
    ALL_FEATURES,
    CHART,
    DIGEST,
    NAMESPACE,
    ROOT,
    SERVICE_MONITOR_API,
    env_of,
    render,
    rendered_descriptor,
)


@pytest.mark.parametrize("values", [{}, ALL_FEATURES], ids=["defaults", "all-features"])
def test_helm_lint_is_clean(values):
    assert kube.lint(CHART, values) == []


def test_chart_metadata_matches_the_package_and_descriptor(descriptor):
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    project = {"version": re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)}
    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == f">={kube.KUBE_VERSION}-0"
    assert chart["appVersion"] == project["version"] == descriptor["version"]
    assert descriptor["containers"][0]["image"]["tag"] == chart["appVersion"]


@pytest.mark.parametrize("name", ["defaults", "featured"])
def test_every_manifest_is_valid_for_the_oldest_kubernetes(name, request):
    docs = request.getfixturevalue(name)
    kinds = sorted(d["kind"] for d in docs)
    expected = ["ConfigMap", "ConfigMap", "Deployment", "NetworkPolicy", "Service", "Service"]
    if name == "featured":
        expected = sorted([*expected, "ServiceMonitor"])
    assert kinds == expected
    for doc in docs:
        errors = kube.k8s_errors(doc)
        if doc["kind"] == "ServiceMonitor":
            assert errors is None  # a CRD: test_xapp_chart_monitoring.py checks it
        else:
            assert errors == [], f"{doc['kind']}/{doc['metadata']['name']}: {errors}"


def test_pod_runs_hardened(defaults):
    spec = one(defaults, "Deployment")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == kube.HARDENED_POD
    sc = container(defaults)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
    mounts = {m["mountPath"]: m["name"] for m in container(defaults)["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    res = container(defaults)["resources"]
    assert res["requests"] == res["limits"]  # a Guaranteed pod
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container(defaults))
    assert one(defaults, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}


def test_image_by_tag_or_by_digest(defaults, featured):
    assert container(defaults)["image"] == "ghcr.io/lasco-ric/csi-xapp:0.1.0"
    assert container(featured)["image"] == f"ghcr.io/lasco-ric/csi-xapp@{DIGEST}"
    docs = render({"image": {"registry": "registry.example:5000", "tag": "0.1.1"}})
    assert container(docs)["image"] == "registry.example:5000/lasco-ric/csi-xapp:0.1.1"
    image = rendered_descriptor(docs)["containers"][0]["image"]
    assert image == {
        "registry": "registry.example:5000",
        "name": "lasco-ric/csi-xapp",
        "tag": "0.1.1",
    }
    assert container(render({"image": {"pullPolicy": "Always"}}))["imagePullPolicy"] == "Always"
    spec = one(featured, "Deployment")["spec"]["template"]["spec"]
    assert spec["imagePullSecrets"] == [{"name": "ghcr-pull"}]


def test_gpu_is_asked_for_only_when_enabled(defaults, featured):
    assert "nvidia.com/gpu" not in container(defaults)["resources"]["limits"]
    assert "NVIDIA_DRIVER_CAPABILITIES" not in env_of(defaults)
    assert container(featured)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert env_of(featured)["NVIDIA_DRIVER_CAPABILITIES"]["value"] == "compute,utility"
    spec = one(featured, "Deployment")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "amd64", "nvidia.com/gpu.present": "true"}
    assert spec["tolerations"] == ALL_FEATURES["gpu"]["tolerations"]


def test_names_follow_the_release_namespace():
    docs = render({}, namespace="ric-lab")
    names = {f"{d['kind']}/{d['metadata']['name']}" for d in docs}
    assert {
        "Service/service-ric-lab-csi-xapp-rmr",
        "Service/service-ric-lab-csi-xapp-http",
    } <= names
    assert {d["metadata"]["namespace"] for d in docs} == {"ric-lab"}
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env["RMR_SRC_ID"]["value"] == "service-ric-lab-csi-xapp-rmr.ric-lab"
    cm = one(docs, "ConfigMap", "configmap-ric-lab-csi-xapp-appconfig")
    d = json.loads(cm["data"]["config-file.json"])
    assert d["APP_NAMESPACE"] == "ric-lab"  # ricxappframe's registration reads it
    assert d["controls"]["subscription"]["callback_host"] == "service-ric-lab-csi-xapp-http.ric-lab"
    spec = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert spec["hostname"] == "csi-xapp"


def test_restart_on_config_change_rolls_the_pod():
    def checksum(values):
        meta = one(render(values), "Deployment")["spec"]["template"]["metadata"]
        return meta.get("annotations", {}).get("checksum/config")

    assert checksum({}) is None
    a = checksum({"restartOnConfigChange": True})
    b = checksum({"restartOnConfigChange": True, "controls": {"sdl": {"csi_ttl_s": 20}}})
    assert a and b and a != b


def test_notes_warn_of_what_is_missing():
    def notes(values):
        with helm.Chart.load(str(CHART)) as c:
            out = c.render(values, name="lasco", namespace=NAMESPACE)
        return next(v for k, v in out.items() if k.endswith("NOTES.txt"))

    text = notes({})
    assert "service-ricxapp-csi-xapp-rmr.ricxapp" in text
    assert "/A1-P/v2/policytypes/30001" in text
    for warning in ("e2_nodes is empty", "no model store", "no InfluxDB"):
        assert warning in text
    text = notes(ALL_FEATURES)
    for warning in ("e2_nodes is empty", "no model store", "no InfluxDB"):
        assert warning not in text
    assert "does not serve" in text  # a ServiceMonitor asked for, and no Prometheus Operator


# Checks the chart does not satisfy in a configuration, each skipped in the Deployment with
# its reason (checkov.io/skipN annotations).
EXPLAINED = {
    "CKV_K8S_43": "image pinned by tag, not digest (until image.digest is set)",
    "CKV_K8S_15": "IfNotPresent with a tag (until image.digest is set)",
    "CKV_K8S_35": "the InfluxDB token comes from a Secret through the environment",
}


@pytest.mark.parametrize(
    ("values", "skipped"),
    [
        ({}, {"CKV_K8S_43", "CKV_K8S_15"}),
        (ALL_FEATURES, {"CKV_K8S_35"}),
        ({"image": {"pullPolicy": "Always"}}, {"CKV_K8S_43"}),
    ],
    ids=["defaults", "all-features", "always-pull"],
)
def test_checkov_finds_nothing_unexplained(values, skipped, tmp_path):
    docs = render(values, api_versions=SERVICE_MONITOR_API)
    for i, doc in enumerate(docs):
        (tmp_path / f"{i:02d}-{doc['kind'].lower()}.yaml").write_text(yaml.safe_dump(doc))
    report = kube.checkov(tmp_path, "kubernetes")
    results = report["results"]
    failed = [(c["check_id"], c["resource"], c["check_name"]) for c in results["failed_checks"]]
    assert failed == []
    assert results["parsing_errors"] == []
    # every manifest was read, and the Deployment's pod template is checked as a Pod too
    assert report["summary"]["resource_count"] == len(docs) + 1
    assert report["summary"]["passed"] > 50
    reasons = {
        c["check_id"]: c["check_result"].get("suppress_comment") for c in results["skipped_checks"]
    }
    assert set(reasons) == skipped
    assert set(reasons) <= set(EXPLAINED)
    assert all(r and len(r) > 20 for r in reasons.values()), reasons
