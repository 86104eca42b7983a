"""The xApp's Helm chart (helm/csi-xapp) and its O-RAN SC descriptor, without a cluster.

Helm's own lint and render (tests/deploy/kube.py), every manifest against the Kubernetes
API schemas in strict mode, the descriptor against the rules of the O-RAN SC onboarder,
the rendered configuration through the xApp's own settings loader, and checkov.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.deploy import kube

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


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} named {name}: {[d['metadata'] for d in found]}"
    return found[0]


def app_config(docs: list[dict]) -> dict:
    return one(docs, "ConfigMap", f"configmap-{NAMESPACE}-csi-xapp-appconfig")


def rendered_descriptor(docs: list[dict]) -> dict:
    return json.loads(app_config(docs)["data"]["config-file.json"])


def container(docs: list[dict]) -> dict:
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def env_of(docs: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in container(docs).get("env", [])}


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def descriptor() -> dict:
    return load_json(CONFIG / "config-file.json")


@pytest.fixture(scope="module")
def defaults() -> list[dict]:
    return render()


@pytest.fixture(scope="module")
def featured() -> list[dict]:
    return render(ALL_FEATURES, api_versions=SERVICE_MONITOR_API)


# -- Helm lint and the Kubernetes API schemas ----------------------------------------------
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
            assert errors is None  # a CRD: checked on its own below
        else:
            assert errors == [], f"{doc['kind']}/{doc['metadata']['name']}: {errors}"


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


# -- values.schema.json ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"replicas": 2}, "replicas"),
        ({"image": {"pullpolicy": "Always"}}, "pullpolicy"),
        ({"networkPolicy": {"ingress": {"rmrFromNamespace": ["ricplt"]}}}, "rmrFromNamespace"),
        ({"replicaCount": -1}, "replicaCount"),
        ({"replicaCount": 2}, "replicaCount"),
        ({"image": {"digest": "sha256:1234"}}, "digest"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
        ({"resources": {"limits": {"cpu": "two"}}}, "cpu"),
        ({"controls": {"micro_batch": {"max_batch": 0}}}, "max_batch"),
        ({"controls": {"subscription": {"mode": "direct"}}}, "mode"),
        ({"controls": {"subscription": {"e2_nodes": "gnb-001"}}}, "e2_nodes"),
        ({"controls": {"runtime": {"threads": 4}}}, "threads"),
        ({"monitoring": {"serviceMonitor": {"interval": "half a minute"}}}, "interval"),
    ],
)
def test_bad_values_are_refused_naming_the_key(values, key):
    with pytest.raises(ValueError, match=re.escape(key)) as info:
        render(values)
    assert "values don't meet the specifications of the schema" in str(info.value)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"controls": {"telemetry": {"token": "s3cret"}}}, "influxdb.tokenSecret"),
        (
            {
                "influxdb": {"url": "http://a:8086"},
                "controls": {"telemetry": {"influx_url": "http://b:8086"}},
            },
            "not both",
        ),
        ({"modelStore": {"uri": "s3://a"}, "controls": {"store": {"uri": "s3://b"}}}, "not both"),
        ({"controls": {"subscription": {"callback_port": 8080}}}, "is the http port"),
        ({"controls": {"subscription": {"rmr_port": 4570}}}, "RMR data port, 4560"),
    ],
)
def test_contradicting_values_stop_the_render(values, words):
    with pytest.raises(helm.HelmError, match=re.escape(words)):
        render(values)


def walk_objects(schema: Any, path: str = "$"):
    """Every object schema that defines properties, with its path."""
    if isinstance(schema, dict):
        if "properties" in schema:
            yield path, schema
        for k, v in schema.items():
            yield from walk_objects(v, f"{path}.{k}")
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            yield from walk_objects(v, f"{path}[{i}]")


def test_values_schema_is_draft07_and_closed_at_every_level():
    schema = load_json(CHART / "values.schema.json")
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    objects = list(walk_objects(schema))
    assert len(objects) > 20
    open_ = [p for p, o in objects if o.get("additionalProperties") is not False]
    assert open_ == [], f"objects that take any key: {open_}"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)


# -- the descriptor, as the O-RAN SC onboarder checks it ---------------------------------------
# The rules `dms_cli onboard` applies (its draft-07 root schema, with the file given as
# --shcema_file_path as the schema of `controls`, and the builder's own checks of name and
# version), written out here.
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
REGISTRY = r"^([A-Za-z0-9.-]+\.[A-Za-z]+|\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::\d+)?$"
STRINGS = {"type": "array", "items": {"type": "string"}}
PROBE = {
    "type": "object",
    "properties": {
        "httpGet": {
            "type": "object",
            "required": ["path", "port"],
            "properties": {"path": {"type": "string"}, "port": {"type": "integer"}},
        },
        "exec": {"type": "object", "required": ["command"], "properties": {"command": STRINGS}},
        "initialDelaySeconds": {"type": "integer"},
        "periodSeconds": {"type": "integer"},
    },
    "oneOf": [
        {"required": ["httpGet", "initialDelaySeconds", "periodSeconds"]},
        {"required": ["exec", "initialDelaySeconds", "periodSeconds"]},
    ],
}


def onboarder_schema(controls_schema: dict) -> dict:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "anyOf": [{"required": ["name"]}, {"required": ["xapp_name"]}],
        "required": ["version"],
        "properties": {
            "name": {"type": "string"},
            "xapp_name": {"type": "string"},
            "version": {"type": "string", "pattern": SEMVER},
            "containers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "image"],
                    "properties": {
                        "name": {"type": "string"},
                        "image": {
                            "type": "object",
                            "required": ["registry", "name", "tag"],
                            "properties": {
                                "registry": {"type": "string", "pattern": REGISTRY},
                                "name": {"type": "string"},
                                "tag": {"type": "string"},
                            },
                        },
                        "command": STRINGS,
                        "args": {"type": "array"},
                    },
                },
            },
            "livenessProbe": PROBE,
            "readinessProbe": PROBE,
            "messaging": {
                "type": "object",
                "required": ["ports"],
                "properties": {
                    "ports": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "container", "port"],
                            "properties": {
                                "name": {"type": "string"},
                                "container": {"type": "string"},
                                "port": {"type": "integer"},
                                "description": {"type": "string"},
                                "txMessages": STRINGS,
                                "rxMessages": STRINGS,
                                "policies": {"type": "array", "items": {"type": "integer"}},
                            },
                            # one of the three on a port asks for all three
                            "dependencies": {
                                "txMessages": ["rxMessages", "policies"],
                                "rxMessages": ["txMessages", "policies"],
                                "policies": ["rxMessages", "txMessages"],
                            },
                        },
                    }
                },
            },
            # the onboarder types it as an object: the documented array is refused
            "metrics": {"type": "object"},
            "controls": controls_schema,
        },
    }


def onboard_errors(descriptor: dict) -> list[str]:
    schema = onboarder_schema(load_json(CONFIG / "schema.json"))
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(descriptor)]


def test_descriptor_passes_the_onboarder(descriptor, featured):
    assert onboard_errors(descriptor) == []
    assert onboard_errors(rendered_descriptor(featured)) == []
    assert descriptor["name"] == "csi-xapp"
    assert "metrics" not in descriptor  # see docs/deploy.md: the onboarder refuses the array


def _port(d: dict, name: str) -> dict:
    return next(p for p in d["messaging"]["ports"] if p["name"] == name)


@pytest.mark.parametrize(
    "breaks",
    [
        lambda d: d.__setitem__("metrics", [{"name": "x"}]),
        lambda d: d.__setitem__("version", "0.1"),
        lambda d: d.pop("name"),
        lambda d: d["containers"][0]["image"].__setitem__("registry", "ghcr"),
        lambda d: d["livenessProbe"].__setitem__("initialDelaySeconds", "5"),
        lambda d: d["readinessProbe"]["httpGet"].__setitem__("port", "8080"),
        lambda d: _port(d, "rmrdata").pop("policies"),
        lambda d: _port(d, "http").__setitem__("port", "8080"),
        lambda d: d["controls"]["micro_batch"].__setitem__("max_batch", -1),
    ],
    ids=[
        "metrics-array",
        "version",
        "name",
        "registry",
        "probe-delay",
        "probe-port",
        "port-dependency",
        "port-type",
        "controls",
    ],
)
def test_the_onboarder_rules_have_teeth(descriptor, breaks):
    broken = copy.deepcopy(descriptor)
    breaks(broken)
    assert onboard_errors(broken)


def test_descriptor_controls_are_the_xapps_defaults(descriptor):
    from xapp.settings import Settings

    assert descriptor["controls"] == Settings().to_controls(), (
        "the descriptor's controls differ from xapp/settings.py's defaults: replace the "
        "controls of helm/csi-xapp/config/config-file.json with Settings().to_controls()"
    )


# -- messages ------------------------------------------------------------------------------
def handled_mtypes() -> set[str]:
    """The message types the xApp's own handlers register for (not test doubles: other tests
    subclass Handler too)."""
    import xapp.handlers  # noqa: F401  (imports every handler)
    from xapp.handlers.base import Handler
    from xapp.mtypes import MType

    found, todo = set(), list(Handler.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("xapp."):
            found |= {MType(m).name for m in cls.mtypes}
    return found


def referenced_mtypes() -> set[str]:
    """Every ``MType.<NAME>`` the xApp's code uses."""
    names = set()
    for path in (ROOT / "xapp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "MType"
            ):
                names.add(node.attr)
    return names


def test_descriptor_messages_are_the_ones_the_xapp_uses(descriptor):
    from schemas import A1_POLICY_TYPE_ID
    from xapp.mtypes import MType

    rmrdata = _port(descriptor, "rmrdata")
    rx, tx = rmrdata["rxMessages"], rmrdata["txMessages"]
    assert set(rx) | set(tx) <= set(MType.__members__)
    assert len(set(rx)) == len(rx) and len(set(tx)) == len(tx)
    handled = handled_mtypes()
    assert {"RIC_INDICATION", "A1_POLICY_REQ"} <= handled
    # ricxappframe answers RMR health checks itself
    assert set(rx) == handled | {"RIC_HEALTH_CHECK_REQ"}
    sent = referenced_mtypes() - handled
    assert {"A1_POLICY_RESP", "A1_POLICY_QUERY", "RIC_SUB_REQ"} <= sent
    assert set(tx) == sent | {"RIC_HEALTH_CHECK_RESP"}
    assert rmrdata["policies"] == [A1_POLICY_TYPE_ID]
    for port in descriptor["messaging"]["ports"]:
        if port["name"] != "rmrdata":
            assert not {"rxMessages", "txMessages", "policies"} & set(port)
    rmr = descriptor["rmr"]
    assert (rmr["rxMessages"], rmr["txMessages"], rmr["policies"]) == (
        rx,
        tx,
        rmrdata["policies"],
    )
    assert rmr["protPort"] == f"tcp:{rmrdata['port']}"


def test_rmr_max_size_holds_the_largest_indication(descriptor):
    limit = descriptor["controls"]["limits"]["max_payload_bytes"]
    assert descriptor["rmr"]["maxSize"] >= limit
    raised = render({"controls": {"limits": {"max_payload_bytes": 4 * limit}}})
    assert rendered_descriptor(raised)["rmr"]["maxSize"] == 4 * limit


def test_descriptor_runs_the_xapp_with_its_config(descriptor, defaults):
    env = env_of(defaults)
    assert descriptor["appenv"] == {"CONFIG_FILE": "/opt/ric/config/config-file.json"}
    assert env["CONFIG_FILE"]["value"] == descriptor["appenv"]["CONFIG_FILE"]
    (mount,) = [m for m in container(defaults)["volumeMounts"] if m["name"] == "config-volume"]
    assert mount["mountPath"] == "/opt/ric/config" == env["XAPP_DESCRIPTOR_PATH"]["value"]
    assert "config-file.json" in app_config(defaults)["data"]
    assert container(defaults)["command"] == descriptor["containers"][0]["command"]
    assert container(defaults)["name"] == descriptor["containers"][0]["name"]


# -- ports and Services ----------------------------------------------------------------------
def test_ports_match_the_services_and_the_container(descriptor, defaults):
    rmr = one(defaults, "Service", f"service-{NAMESPACE}-csi-xapp-rmr")
    http = one(defaults, "Service", f"service-{NAMESPACE}-csi-xapp-http")
    c = container(defaults)
    cports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for port in descriptor["messaging"]["ports"]:
        assert cports[port["name"]] == port["port"]
        service = rmr if "rmr" in port["name"] else http
        (sp,) = [p for p in service["spec"]["ports"] if p["name"] == port["name"]]
        assert (sp["port"], sp["targetPort"]) == (port["port"], port["name"])
    assert [p["name"] for p in rmr["spec"]["ports"]] == ["rmrdata", "rmrroute"]
    # ricxappframe registers the first port of the HTTP Service with appmgr
    assert http["spec"]["ports"][0]["name"] == "http"
    controls = descriptor["controls"]["subscription"]
    (notify,) = [p for p in http["spec"]["ports"] if p["name"] == "submgr-notify"]
    assert notify["port"] == cports["submgr-notify"] == controls["callback_port"]
    assert controls["rmr_port"] == _port(descriptor, "rmrdata")["port"]
    env = env_of(defaults)
    assert env["RMR_RTG_SVC"]["value"] == str(_port(descriptor, "rmrroute")["port"])
    assert env["RMR_SRC_ID"]["value"] == f"service-{NAMESPACE}-csi-xapp-rmr.{NAMESPACE}"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == descriptor[probe]["httpGet"]
        assert c[probe]["periodSeconds"] == descriptor[probe]["periodSeconds"]
    for service in (rmr, http):
        assert (
            service["spec"]["selector"].items()
            <= one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
        )


def test_submgr_callback_port_is_only_open_in_submgr_mode():
    docs = render({"controls": {"subscription": {"mode": "rmr"}}})
    http = one(docs, "Service", f"service-{NAMESPACE}-csi-xapp-http")
    assert [p["name"] for p in http["spec"]["ports"]] == ["http"]
    assert "submgr-notify" not in {p["name"] for p in container(docs)["ports"]}
    rules = one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert "submgr-notify" not in {p["port"] for r in rules for p in r["ports"]}
    moved = render({"controls": {"subscription": {"callback_port": 9090}}})
    assert {p["containerPort"] for p in container(moved)["ports"]} >= {9090}


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


# -- the rendered configuration through the xApp's own loader ----------------------------------
def cpu_cores(quantity: str | int | float) -> float:
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def pod_env(docs: list[dict]) -> dict[str, str]:
    """The container's environment as the kubelet would set it (secrets as placeholders)."""
    c = container(docs)
    out = {}
    for e in c.get("env", []):
        if "value" in e:
            out[e["name"]] = e["value"]
            continue
        ref = e["valueFrom"]
        if "resourceFieldRef" in ref:
            f = ref["resourceFieldRef"]
            assert f["containerName"] == c["name"]
            resource, which = f["resource"].split(".")[1], f["resource"].split(".")[0]
            value = cpu_cores(c["resources"][which][resource])
            out[e["name"]] = str(math.ceil(value / cpu_cores(f.get("divisor", "1"))))
        elif "secretKeyRef" in ref:
            out[e["name"]] = f"<{ref['secretKeyRef']['name']}/{ref['secretKeyRef']['key']}>"
        else:
            raise AssertionError(f"unexpected env source {ref}")
    return out


def load_rendered(docs: list[dict], tmp_path: Path):
    """Settings as ``csi-xapp run`` builds them from the mounted file and the pod's env."""
    from xapp.app import load_controls
    from xapp.settings import Settings

    path = tmp_path / "config-file.json"
    path.write_text(app_config(docs)["data"]["config-file.json"])
    return Settings.from_controls(load_controls(path), env=pod_env(docs))


def test_rendered_config_loads_through_the_xapp_settings(defaults, descriptor, tmp_path):
    settings = load_rendered(defaults, tmp_path)
    want = copy.deepcopy(descriptor["controls"])
    want["runtime"]["workers"] = 2  # the CPU limit, through the environment
    assert settings.to_controls() == want


def test_values_controls_reach_the_xapp(tmp_path):
    controls = {
        "subscription": {"e2_nodes": ["gnb-001", "gnb-002"], "report_period_ms": 20},
        "micro_batch": {"max_wait_ms": 0},  # a falsy value still overrides
        "store": {"allowed_uris": ["s3://lasco/proxies"], "trusted_keys": ["ab" * 32]},
        "data": {"uri": "/var/lib/lasco/data"},
        "limits": {"log_every_s": 0},
        "runtime": {"workers": 3},
    }
    docs = render({"controls": controls})
    settings = load_rendered(docs, tmp_path)
    got = settings.to_controls()
    for group, fields in controls.items():
        for name, value in fields.items():
            assert got[group][name] == value, f"{group}.{name}"
    assert got["micro_batch"]["max_batch"] == 256  # untouched keys keep their defaults
    assert "CSI_XAPP_RUNTIME_WORKERS" not in env_of(docs)  # the controls' value is used


def test_workers_follow_the_cpu_limit(tmp_path):
    from xapp.settings import RuntimeSettings, fields_of
    from xapp.settings_fields import env_names

    (workers,) = [f for f in fields_of(RuntimeSettings) if f.name == "workers"]
    var = env_names("runtime", workers)[0]
    docs = render({"resources": {"limits": {"cpu": "3500m", "memory": "2Gi"}}})
    ref = env_of(docs)[var]["valueFrom"]["resourceFieldRef"]
    assert ref == {"containerName": "csi-xapp", "resource": "limits.cpu", "divisor": "1"}
    assert load_rendered(docs, tmp_path).runtime.workers == 4


def test_platform_influxdb_and_store_settings_use_the_xapps_names(featured, tmp_path):
    from xapp.settings import StoreSettings, TelemetrySettings, fields_of
    from xapp.settings_fields import env_names

    def names(group, cls, field):
        (f,) = [f for f in fields_of(cls) if f.name == field]
        return env_names(group, f)

    env = env_of(featured)
    assert "INFLUX_URL" in names("telemetry", TelemetrySettings, "influx_url")
    assert "INFLUX_TOKEN" in names("telemetry", TelemetrySettings, "token")
    assert env["INFLUX_URL"]["value"] == "http://influxdb.ricplt:8086"
    assert env["INFLUX_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "influxdb-token",
        "key": "token",
    }
    store_var = names("store", StoreSettings, "uri")[0]
    assert env[store_var]["value"] == "s3://lasco/store"
    assert {"secretRef": {"name": "model-store-credentials"}} in container(featured)["envFrom"]
    settings = load_rendered(featured, tmp_path)
    assert settings.telemetry.influx_url == "http://influxdb.ricplt:8086"
    assert settings.telemetry.token == "<influxdb-token/token>"
    assert settings.store.uri == "s3://lasco/store"
    # the token never lands in the ConfigMap
    assert "influxdb-token" not in app_config(featured)["data"]["config-file.json"]


def test_platform_services_follow_its_namespace(defaults, tmp_path):
    env = env_of(defaults)
    assert env["DBAAS_SERVICE_HOST"]["value"] == "service-ricplt-dbaas-tcp.ricplt"
    assert env["DBAAS_SERVICE_PORT"]["value"] == "6379"
    assert env["PLT_NAMESPACE"]["value"] == "ricplt"
    docs = render({"ric": {"platformNamespace": "ric-platform"}})
    env = env_of(docs)
    assert env["DBAAS_SERVICE_HOST"]["value"] == "service-ric-platform-dbaas-tcp.ric-platform"
    assert env["PLT_NAMESPACE"]["value"] == "ric-platform"
    settings = load_rendered(docs, tmp_path)
    assert settings.subscription.submgr_url == (
        "http://service-ric-platform-submgr-http.ric-platform:8088/ric/v1"
    )


# -- pod security, image, GPU ----------------------------------------------------------------
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


# -- NetworkPolicy -----------------------------------------------------------------------------
def namespaces_of(rule: dict, key: str) -> set[str]:
    out = set()
    for peer in rule[key]:
        sel = peer.get("namespaceSelector", {})
        out |= set(sel.get("matchLabels", {}).values())
        for e in sel.get("matchExpressions", []):
            assert (e["key"], e["operator"]) == ("kubernetes.io/metadata.name", "In")
            out |= set(e["values"])
    return out


def test_network_policy_admits_only_what_the_xapp_serves(defaults, descriptor):
    np = one(defaults, "NetworkPolicy")
    assert np["spec"]["podSelector"]["matchLabels"].items() <= (
        one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    by_port = {}
    for rule in np["spec"]["ingress"]:
        for p in rule["ports"]:
            by_port[p["port"]] = namespaces_of(rule, "from")
    served = {p["name"] for p in container(defaults)["ports"]}
    assert set(by_port) == served
    assert by_port["rmrdata"] == by_port["rmrroute"] == {"ricplt"}
    assert by_port["http"] == {"ricplt", "monitoring"}
    assert by_port["submgr-notify"] == {"ricplt"}
    egress = {
        (p["port"], p.get("protocol", "TCP")): namespaces_of(r, "to")
        for r in np["spec"]["egress"]
        for p in r["ports"]
    }
    assert egress[(53, "UDP")] == egress[(53, "TCP")] == {"kube-system"}
    assert egress[(6379, "TCP")] == {"ricplt"}  # DBAAS
    assert egress[(4562, "TCP")] == {"ricplt"}  # the A1 mediator's RMR port
    assert egress[(8086, "TCP")] == {"ricplt"}  # InfluxDB


def test_network_policy_options(featured):
    np = one(featured, "NetworkPolicy")
    ingress = np["spec"]["ingress"]
    rmr = next(r for r in ingress if {"port": "rmrdata", "protocol": "TCP"} in r.get("ports", []))
    assert namespaces_of(rmr, "from") == {"ricplt", "ricxapp"}
    http = next(r for r in ingress if {"port": "http", "protocol": "TCP"} in r.get("ports", []))
    assert namespaces_of(http, "from") == {"ricplt", "observability"}
    assert ALL_FEATURES["networkPolicy"]["ingress"]["extra"][0] in ingress
    egress = np["spec"]["egress"]
    store = next(r for r in egress if {"port": 9000, "protocol": "TCP"} in r["ports"])
    assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in store["to"]
    assert namespaces_of(store, "to") == {"minio"}
    influx = next(r for r in egress if {"port": 8086, "protocol": "TCP"} in r["ports"])
    assert namespaces_of(influx, "to") == {"observability"}
    assert ALL_FEATURES["networkPolicy"]["egress"]["extra"][0] in egress
    off = render({"networkPolicy": {"enabled": False}})
    assert "NetworkPolicy" not in {d["kind"] for d in off}


# -- monitoring ------------------------------------------------------------------------------
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


# -- the A1 policy type and the copies ----------------------------------------------------------
# The body of PUT /A1-P/v2/policytypes/{policy_type_id}, as the A1 mediator's API defines it.
A1_POLICY_TYPE = {
    "type": "object",
    "required": ["name", "description", "policy_type_id", "create_schema"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "description": {"type": "string"},
        "policy_type_id": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        "create_schema": {"type": "object"},
    },
}


def test_policy_type_body_is_what_the_a1_mediator_takes(defaults):
    from rapp.a1_base import policy_type_body
    from schemas import A1_POLICY_TYPE_ID

    body = load_json(CONFIG / "policy-type-30001.json")
    jsonschema.validate(body, A1_POLICY_TYPE)
    assert body["policy_type_id"] == A1_POLICY_TYPE_ID == 30001
    schema = load_json(ROOT / "schemas" / "a1-csi-sam-policy.json")
    schema.pop("examples", None)  # documentation, left out as the rApp leaves it out
    assert body["create_schema"] == schema, (
        "refresh helm/csi-xapp/config/policy-type-30001.json from "
        "schemas/a1-csi-sam-policy.json (rapp.a1_base.policy_type_body())"
    )
    jsonschema.Draft7Validator.check_schema(body["create_schema"])
    assert body == policy_type_body()  # the same type the rApp creates
    assert json.loads(app_config(defaults)["data"]["policy-type-30001.json"]) == body


def test_copies_equal_their_sources(defaults):
    source = ROOT / "schemas" / "xapp-controls.json"
    copy_ = CONFIG / "schema.json"
    assert copy_.read_bytes() == source.read_bytes(), (
        f"refresh the onboarder's controls schema: cp {source.relative_to(ROOT)} "
        f"{copy_.relative_to(ROOT)}"
    )
    values_schema = load_json(CHART / "values.schema.json")
    assert values_schema["properties"]["controls"] == load_json(source), (
        "refresh values.schema.json's controls: jq --slurpfile c schemas/xapp-controls.json "
        "'.properties.controls = $c[0]' helm/csi-xapp/values.schema.json > values.schema.json.new"
        " && mv values.schema.json.new helm/csi-xapp/values.schema.json"
    )
    assert json.loads(app_config(defaults)["data"]["schema.json"]) == load_json(source)


# -- checkov ---------------------------------------------------------------------------------
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
