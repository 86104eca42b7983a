"""The rendered configuration of the xApp's chart (helm/csi-xapp) through the xApp's own
settings loader: the mounted file and the pod's environment (as the kubelet sets it) load
to the descriptor's controls, the values' controls reach the xApp, the workers follow the
CPU limit, and the platform's services, InfluxDB and model store use the xApp's names.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

from tests.deploy.kube import container
from tests.deploy.xapp_chart import app_config, env_of, render


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
    from xapp.settings import fields_of
    from xapp.settings_fields import env_names
    from xapp.settings_stores import StoreSettings, TelemetrySettings

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
