"""Chart and manifest checks without a cluster, shared by the deployment tests.

- ``lint`` and ``render``: Helm's own Go SDK in process (helm-python-sdk), the same code
  as ``helm lint`` and ``helm template``; a values file that breaks ``values.schema.json``
  is refused by ``render`` as ``helm install`` refuses it.
- ``kinds``, ``one`` and ``container``: a render's manifests by ``Kind/name``, the one
  manifest of a kind (and name), and the Deployment's one container.
- ``k8s_errors``: every schema error of a manifest against the Kubernetes API's OpenAPI
  schemas in strict mode (kubernetes-validate's bundled schemas, no network).
- ``checkov``: the checkov command line from its own venv (it pins packages that clash
  with the test environment's), JSON results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import yaml
from kubernetes_validate.utils import all_versions, major_minor, schema_contents
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / "helm"
KUBE_VERSION = "1.30.0"  # the oldest Kubernetes the charts support (Chart.yaml kubeVersion)
# The pod security context both charts give their pods (the images' user, 10001).
HARDENED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))


def lint(chart: Path, values: dict | None = None) -> list[str]:
    """``helm lint --strict``'s errors (empty when the chart is clean)."""
    report = helm.lint(str(chart), values or {}, strict=True, kube_version=f"v{KUBE_VERSION}")
    errors = report.get("errors") or []  # strings in this SDK version, dicts in others
    return [e if isinstance(e, str) else f"{e.get('path')}: {e.get('error')}" for e in errors]


def render(
    chart: Path,
    values: dict | None = None,
    *,
    name: str = "lasco",
    namespace: str = "ricxapp",
    api_versions: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """``helm template`` of ``chart``: every manifest as a dict, NOTES.txt left out.

    ``api_versions`` are the extra APIs the cluster is said to serve (``--api-versions``,
    e.g. ``monitoring.coreos.com/v1/ServiceMonitor``); the SDK's public ``render`` has no
    such option, so this goes through its native call (pinned SDK version)."""
    with helm.Chart.load(str(chart)) as c:
        if api_versions:
            from helm_python import _native

            opts = {
                "name": name,
                "namespace": namespace,
                "kube_version": f"v{KUBE_VERSION}",
                "api_versions": list(api_versions),
            }
            raw = _native.call_string(
                "helm_render", c._raw(), json.dumps(values or {}), json.dumps(opts)
            )
            out = json.loads(raw)
        else:
            out = c.render(values or {}, name=name, namespace=namespace)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith((".yaml", ".yml")):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def kinds(docs: list[dict]) -> dict[str, dict]:
    """``Kind/name`` -> manifest."""
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one manifest of ``kind`` among ``docs`` (named ``name``, when given)."""
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} named {name}: {[d['metadata'] for d in found]}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's one container."""
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def k8s_errors(doc: dict, version: str = KUBE_VERSION) -> list[str] | None:
    """Every strict-schema error of one manifest (empty: valid); None for a kind the
    Kubernetes API itself does not define (a CRD such as ServiceMonitor)."""
    ver = [v for v in all_versions() if major_minor(v) <= major_minor(version)][-1]
    folder = f"kubernetes-json-schema/v{ver}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    try:
        schema = schema_contents(f"{folder}/{doc['kind'].lower()}-{api}.json", version)
    except FileNotFoundError:
        return None
    defs = schema_contents(f"{folder}/_definitions.json", version)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = validator.iter_errors(doc)
    return [f"{'.'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors]


def checkov(target: Path, framework: str) -> dict[str, Any]:
    """checkov's JSON report for a folder (``kubernetes``) or a Dockerfile (``dockerfile``)."""
    if not CHECKOV.exists():
        raise AssertionError(f"checkov not found at {CHECKOV}: `make test` installs it")
    flag = "-f" if target.is_file() else "-d"
    cmd = [str(CHECKOV), flag, str(target), "--framework", framework, "-o", "json"]
    cmd.append("--skip-download")  # no call to the vendor's cloud
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode not in (0, 1):
        raise AssertionError(f"checkov failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)
