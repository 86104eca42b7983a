"""The rApp's pod and its Secrets (helm/csi-rapp): the pod runs hardened, with the service
account token only where the rApp calls the Kubernetes API; Secrets are only named, never
rendered nor read from values; checkov finds nothing that is not skipped with a reason in
the chart, and every skip in the chart suppresses a check that would fail.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import kube
from tests.deploy.kube import container, one
from tests.deploy.rapp_cases import CASES
from tests.deploy.rapp_chart import (
    CHART,
    KEY_FILE,
    SECRETS,
    namespace_of,
    schema,
    schema_at,
    schema_paths,
)


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
    paths = dict(schema_paths(schema()))
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
