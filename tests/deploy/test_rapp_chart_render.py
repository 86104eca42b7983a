"""The rApp's chart (helm/csi-rapp) renders, without a cluster: ``helm lint`` is clean and
every manifest is valid against the Kubernetes API's strict schemas, with the defaults and
with every optional feature on; each case renders the objects it should; the images are
composed from registry, repository and tag or digest; and the probes, the Service and the
NetworkPolicy reach the API on the port the rApp listens on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy import kube
from tests.deploy.kube import container, one
from tests.deploy.rapp_cases import ALL, CASES, DIGEST
from tests.deploy.rapp_chart import CHART, NS, coalesce, loaded, render


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
