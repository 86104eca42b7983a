"""Rendering the rApp's chart (helm/csi-rapp) and what its tests work out from values: the
settings file the container starts with, loaded through the rApp's own loader; the settings
the values ask for; the values schema and the chart's copy of the rApp's settings schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from rapp.cli import build_parser, cmd_run
from rapp.settings import Settings, load_settings, settings_schema
from tests.deploy import kube
from tests.deploy.kube import container, one

CHART = kube.HELM / "csi-rapp"
RELEASE, NS = "csi-rapp", "nonrtric"
KEY_FILE = "/var/run/secrets/lasco/signing.key"
KUBECONFIG_FILE = "/var/run/secrets/csi-rapp-kubeconfig/config"
SECRETS = {("influx-auth", "admin-token"): "influx-t0ken", ("csi-rapp-s3", "key-id"): "AKIA0"}
"""What the Secrets the values name hold, for the container's environment in the tests."""


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
    "jobs.run_as_user": "adaptationJobs.runAsUser",
    "jobs.cpu_request": "adaptationJobs.resources.requests.cpu",
    "jobs.cpu_limit": "adaptationJobs.resources.limits.cpu",
    "jobs.memory_request": "adaptationJobs.resources.requests.memory",
    "jobs.memory_limit": "adaptationJobs.resources.limits.memory",
    "jobs.tmp_size_limit": "adaptationJobs.tmp.sizeLimit",
    "jobs.gpus": "adaptationJobs.gpus",
    "jobs.gpu_node_selector": "adaptationJobs.gpu.nodeSelector",
    "jobs.gpu_tolerations": "adaptationJobs.gpu.tolerations",
    "jobs.labels": "adaptationJobs.labels",
    "jobs.key_secret": "signingKey.secret.name",
    "jobs.key_secret_key": "signingKey.secret.key",
    "jobs.ttl_s": "adaptationJobs.ttlSecondsAfterFinished",
    "jobs.backoff_limit": "adaptationJobs.backoffLimit",
    "jobs.deadline_s": "adaptationJobs.activeDeadlineSeconds",
    "jobs.data_uri": "adaptationJobs.dataUri",
    "jobs.store_uri": "adaptationJobs.storeUri",
    "jobs.env": "adaptationJobs.env",
    "jobs.env_from_secrets": "adaptationJobs.envFromSecrets",
    "jobs.poll_s": "adaptationJobs.pollSeconds",
    "jobs.kubeconfig": "adaptationJobs.kubeconfig.secret.name",
}
"""Settings the chart sets from values outside ``settings`` (None: fixed by the chart), and
the values key each comes from. Every other setting is ``settings.<group>.<field>``."""


def namespace_of(case: str) -> str:
    """Each case renders into a namespace of its own (checkov scans them together)."""
    return NS if case == "defaults" else f"{NS}-{case}"


def render(values: dict[str, Any], namespace: str = NS) -> list[dict[str, Any]]:
    return kube.render(CHART, values, name=RELEASE, namespace=namespace)


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
        "run_as_user": jobs["runAsUser"],
        "cpu_request": str(res["requests"]["cpu"]),
        "cpu_limit": str(res["limits"]["cpu"]) if "cpu" in res["limits"] else None,
        "memory_request": res["requests"]["memory"],
        "memory_limit": res["limits"]["memory"],
        "tmp_size_limit": str(jobs["tmp"]["sizeLimit"]),
        "gpus": jobs["gpus"],
        "gpu_node_selector": jobs["gpu"]["nodeSelector"],
        "gpu_tolerations": jobs["gpu"]["tolerations"],
        "labels": jobs["labels"],
        "key_secret": v["signingKey"]["secret"]["name"],
        "key_secret_key": v["signingKey"]["secret"]["key"],
        "env": jobs["env"],
        "env_from_secrets": jobs["envFromSecrets"],
        "ttl_s": jobs["ttlSecondsAfterFinished"],
        "backoff_limit": jobs["backoffLimit"],
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


def schema_paths(node: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict]]:
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, sub
        if path != "settings":
            yield from schema_paths(sub, path + ".")
