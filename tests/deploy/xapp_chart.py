"""Rendering the xApp's chart (helm/csi-xapp) for its tests: the values with every optional
feature on, and the parts of a render the tests read (the descriptor's ConfigMap, the
container's environment, a messaging port of the descriptor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.deploy import kube
from tests.deploy.kube import container, one

CHART = kube.HELM / "csi-xapp"
CONFIG = CHART / "config"
ROOT = kube.ROOT
NAMESPACE = "ricxapp"
SERVICE_MONITOR_API = ("monitoring.coreos.com/v1/ServiceMonitor",)
DIGEST = "sha256:" + "0123456789abcdef" * 4

# Every optional feature on at once.
ALL_FEATURES: dict[str, Any] = {
    "image": {"digest": DIGEST, "pullPolicy": "IfNotPresent"},
    "imagePullSecrets": ["ghcr-pull"],
    "gpu": {
        "enabled": True,
        "count": 1,
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "nodeSelector": {"kubernetes.io/arch": "amd64"},
    "priorityClassName": "ric-xapp",
    "monitoring": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "influxdb": {
        "url": "http://influxdb.ricplt:8086",
        "tokenSecret": {"name": "influxdb-token", "key": "token"},
    },
    "modelStore": {"uri": "s3://lasco/store", "credentialsSecret": "model-store-credentials"},
    "controls": {
        "subscription": {"e2_nodes": ["gnb-001", "gnb-002"]},
        "micro_batch": {"max_batch": 512},
    },
    "restartOnConfigChange": True,
    "podAnnotations": {"example.org/owner": "ran-team"},
    "podLabels": {"example.org/site": "edge-1"},
    "extraEnv": [{"name": "SYSTEM_NAME", "value": "ric-edge-1"}],
    "extraEnvFrom": [{"configMapRef": {"name": "site-env"}}],
    "extraVolumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "csi-data"}}],
    "extraVolumeMounts": [{"name": "data", "mountPath": "/var/lib/lasco/data"}],
    "networkPolicy": {
        "ingress": {
            "rmrFromNamespaces": ["ricplt", "ricxapp"],
            "httpFromNamespaces": ["ricplt", "observability"],
            "extra": [{"from": [{"podSelector": {"matchLabels": {"app": "probe"}}}]}],
        },
        "egress": {
            "influxdb": {"namespaces": ["observability"], "port": 8086},
            "modelStore": {"namespaces": ["minio"], "cidrs": ["10.20.0.0/16"], "ports": [9000]},
            "extra": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}],
        },
    },
    "grafana": {"dashboard": {"namespace": "monitoring", "annotations": {"grafana_folder": "RIC"}}},
}


def render(values: dict | None = None, **kw: Any) -> list[dict]:
    kw.setdefault("namespace", NAMESPACE)
    return kube.render(CHART, values, **kw)


def app_config(docs: list[dict]) -> dict:
    return one(docs, "ConfigMap", f"configmap-{NAMESPACE}-csi-xapp-appconfig")


def rendered_descriptor(docs: list[dict]) -> dict:
    return json.loads(app_config(docs)["data"]["config-file.json"])


def env_of(docs: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in container(docs).get("env", [])}


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def port_named(d: dict, name: str) -> dict:
    return next(p for p in d["messaging"]["ports"] if p["name"] == name)
