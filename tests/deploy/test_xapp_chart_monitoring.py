"""How the xApp's chart (helm/csi-xapp) is monitored: the ServiceMonitor (typed as the
Prometheus Operator's CRD types it) scrapes the metrics port, and only where its API is
served; the Prometheus scrape annotations; the Grafana dashboard's ConfigMap.
"""

from __future__ import annotations

import json
import re

import jsonschema

from tests.deploy.kube import container, one
from tests.deploy.xapp_chart import CHART, NAMESPACE, SERVICE_MONITOR_API, load_json, render

# The ServiceMonitor fields the chart sets, typed as the Prometheus Operator's CRD
# (monitoring.coreos.com/v1) types them; stricter than the CRD: no other field, and at least
# one endpoint.
DURATION = (
    "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                        },
                    },
                },
            },
        },
    },
}


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|[smhdwy])", duration))


def test_service_monitor_scrapes_the_metrics_port(featured):
    sm = one(featured, "ServiceMonitor")
    jsonschema.validate(sm, SERVICE_MONITOR)
    assert sm["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["path"] == "/ric/v1/metrics"
    assert seconds(endpoint["scrapeTimeout"]) <= seconds(endpoint["interval"])
    http = one(featured, "Service", f"service-{NAMESPACE}-csi-xapp-http")
    selected = sm["spec"]["selector"]["matchLabels"]
    assert selected.items() <= http["metadata"]["labels"].items()
    assert endpoint["port"] in {p["name"] for p in http["spec"]["ports"]}
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]


def test_service_monitor_only_where_its_api_is_served():
    on = {"monitoring": {"serviceMonitor": {"enabled": True}}}
    assert "ServiceMonitor" not in {d["kind"] for d in render(on)}
    assert "ServiceMonitor" not in {d["kind"] for d in render({}, api_versions=SERVICE_MONITOR_API)}
    assert "ServiceMonitor" in {d["kind"] for d in render(on, api_versions=SERVICE_MONITOR_API)}


def test_prometheus_scrape_annotations(defaults):
    ann = one(defaults, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true"
    assert ann["prometheus.io/path"] == "/ric/v1/metrics"
    http = {p["name"]: p["containerPort"] for p in container(defaults)["ports"]}["http"]
    assert ann["prometheus.io/port"] == str(http)
    off = render({"monitoring": {"scrapeAnnotations": False}})
    meta = one(off, "Deployment")["spec"]["template"]["metadata"]
    assert not any(k.startswith("prometheus.io/") for k in meta.get("annotations", {}))


def test_grafana_dashboard_configmap(defaults, featured):
    name = f"{NAMESPACE}-csi-xapp-grafana-dashboard"
    dashboard = load_json(CHART / "dashboards" / "lasco-ric.json")
    cm = one(defaults, "ConfigMap", name)
    assert cm["metadata"]["namespace"] == NAMESPACE
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["lasco-ric.json"]) == dashboard
    cm = one(featured, "ConfigMap", name)
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "RIC"}
    custom = render({"grafana": {"dashboard": {"labels": {"dashboards": "ric"}}}})
    assert one(custom, "ConfigMap", name)["metadata"]["labels"]["dashboards"] == "ric"
    off = render({"grafana": {"dashboard": {"enabled": False}}})
    assert name not in {d["metadata"]["name"] for d in off}
