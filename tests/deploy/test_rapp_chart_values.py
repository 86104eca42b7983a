"""The rApp chart's ``values.schema.json`` (helm/csi-rapp): it refuses bad values (a misspelt
key, a secret where only a Secret's name belongs, a bad enum) naming the key; its copy of
the rApp's settings schema is the rApp's own, and the Jobs' scheduling values are checked as
the rApp checks them; it defines every key a template reads, and each key it defines is
read.
"""

from __future__ import annotations

import json
import re

import helm_python as helm
import pytest
import yaml

from rapp.settings import settings_schema
from tests.deploy.rapp_chart import (
    CHART,
    expected_settings_schema,
    render,
    schema,
    schema_at,
    schema_paths,
)

BAD_VALUES = {
    "misspelt key": ({"adaptationJobs": {"enabeld": True}}, "/adaptationJobs", "enabeld"),
    "misspelt setting": ({"settings": {"loop": {"pol_s": 5}}}, "/settings/loop", "pol_s"),
    "unknown settings group": ({"settings": {"jobz": {}}}, "/settings", "jobz"),
    "token in values": ({"influxdb": {"token": "s3cr3t"}}, "/influxdb", "token"),
    "token as a setting": (
        {"settings": {"telemetry": {"token": "s3cr3t"}}},
        "/settings/telemetry",
        "token",
    ),
    "key where the Secret's name belongs": (
        {"signingKey": {"secret": {"name": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2Vw\n"}}},
        "/signingKey/secret/name",
        "does not match pattern",
    ),
    "token where the Secret's name belongs": (
        {"influxdb": {"tokenSecret": {"name": "my-token:Zm9vYmFy=="}}},
        "/influxdb/tokenSecret/name",
        "does not match pattern",
    ),
    "kube config where the Secret's name belongs": (
        {"adaptationJobs": {"kubeconfig": {"secret": {"name": "apiVersion: v1\nkind: Config"}}}},
        "/adaptationJobs/kubeconfig/secret/name",
        "does not match pattern",
    ),
    "the old name of a Secret's": (
        {"influxdb": {"existingSecret": "influx-auth"}},
        "/influxdb",
        "existingSecret",
    ),
    "bad pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "one of"),
    "bad adaptation method": (
        {"settings": {"adaptation": {"method": "fine-tune"}}},
        "/settings/adaptation/method",
        "one of",
    ),
    "a setting as an environment variable": (
        {"extraEnv": [{"name": "CSI_RAPP_TELEMETRY_TOKEN", "value": "s3cr3t"}]},
        "/extraEnv/0/name",
        "not",
    ),
    "API port 0": ({"service": {"port": 0}}, "/service/port", "minimum"),
    "a trusted key file (not in the pod)": (
        {"settings": {"store": {"trusted_keys": ["/etc/keys/release.pub"]}}},
        "/settings/store/trusted_keys/0",
        "pattern",
    ),
    "a bad quantity": (
        {"adaptationJobs": {"resources": {"requests": {"memory": "4 GB"}}}},
        "/adaptationJobs/resources/requests/memory",
        "pattern",
    ),
    "a bad digest": ({"image": {"digest": "sha256:abc"}}, "/image/digest", "pattern"),
    "a URL as the registry": (
        {"image": {"registry": "https://ghcr.io"}},
        "/image/registry",
        "pattern",
    ),
    "a tag in the repository": (
        {"image": {"repository": "lasco-ric/csi-rapp:0.1.0"}},
        "/image/repository",
        "pattern",
    ),
    "a bad digest of the Jobs' image": (
        {"adaptationJobs": {"image": {"repository": "lasco/cuda", "digest": "sha256:abc"}}},
        "/adaptationJobs/image/digest",
        "pattern",
    ),
    "the Jobs' registry without their repository (it would be ignored)": (
        {"adaptationJobs": {"image": {"registry": "mirror.example"}}},
        "/adaptationJobs/image/registry",
        "must be ''",
    ),
    "bad pull policy of the Jobs' image": (
        {"adaptationJobs": {"image": {"pullPolicy": "Sometimes"}}},
        "/adaptationJobs/image/pullPolicy",
        "one of",
    ),
    "a GPU node selector's key that is no label key": (
        {"adaptationJobs": {"gpu": {"nodeSelector": {"gpu type": "h100"}}}},
        "/adaptationJobs/gpu/nodeSelector",
        "gpu type",
    ),
    "a GPU node selector's value that is no label value": (
        {"adaptationJobs": {"gpu": {"nodeSelector": {"gpu": "h100 80gb"}}}},
        "/adaptationJobs/gpu/nodeSelector/gpu",
        "pattern",
    ),
    "a GPU toleration's bad operator": (
        {"adaptationJobs": {"gpu": {"tolerations": [{"key": "gpu", "operator": "Maybe"}]}}},
        "/adaptationJobs/gpu/tolerations/0/operator",
        "one of",
    ),
    "a GPU toleration's unknown field": (
        {"adaptationJobs": {"gpu": {"tolerations": [{"key": "gpu", "efect": "NoSchedule"}]}}},
        "/adaptationJobs/gpu/tolerations/0",
        "efect",
    ),
    "a GPU selector as null": (
        {"adaptationJobs": {"gpu": {"nodeSelector": None}}},
        "/adaptationJobs/gpu",
        "nodeSelector",
    ),
    "credentials where a Secret's name belongs": (
        {"adaptationJobs": {"envFromSecrets": ["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"]}},
        "/adaptationJobs/envFromSecrets/0",
        "does not match pattern",
    ),
    "a Job label's key that is no label key": (
        {"adaptationJobs": {"labels": {"cost centre": "ric"}}},
        "/adaptationJobs/labels",
        "cost centre",
    ),
    "a Job label's value that is no label value": (
        {"adaptationJobs": {"labels": {"team": "r&d"}}},
        "/adaptationJobs/labels/team",
        "pattern",
    ),
    "a Job environment variable's bad name": (
        {"adaptationJobs": {"env": {"OMP NUM THREADS": "4"}}},
        "/adaptationJobs/env",
        "OMP NUM THREADS",
    ),
    "a Job environment variable that is no string": (
        {"adaptationJobs": {"env": {"OMP_NUM_THREADS": 4}}},
        "/adaptationJobs/env/OMP_NUM_THREADS",
        "string",
    ),
    "Jobs run as root": (
        {"adaptationJobs": {"runAsUser": 0}},
        "/adaptationJobs/runAsUser",
        "minimum",
    ),
    "negative Job retries": (
        {"adaptationJobs": {"backoffLimit": -1}},
        "/adaptationJobs/backoffLimit",
        "minimum",
    ),
    "a bad quantity of the Jobs' /tmp": (
        {"adaptationJobs": {"tmp": {"sizeLimit": "4 GB"}}},
        "/adaptationJobs/tmp/sizeLimit",
        "pattern",
    ),
    "a Secret listed twice": (
        {"adaptationJobs": {"envFromSecrets": ["csi-rapp-s3", "csi-rapp-s3"]}},
        "/adaptationJobs/envFromSecrets",
        "are equal",
    ),
}


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_values_are_refused_naming_the_key(bad: str) -> None:
    values, where, words = BAD_VALUES[bad]
    with pytest.raises(helm.HelmValuesError) as err:
        render(values)
    message = str(err.value)
    assert f"at '{where}'" in message and words in message, message


def test_the_settings_schema_is_the_rapps_own() -> None:
    """The values' ``settings`` is the rApp's settings schema, field for field (less what
    the chart sets): a setting added to, changed in or removed from rapp/settings.py fails
    here until the chart's values.schema.json follows."""
    ours = schema()["properties"]["settings"]
    assert ours["additionalProperties"] is False
    expected = expected_settings_schema()
    assert ours["properties"] == expected, (
        "copy the groups below into values.schema.json's properties.settings.properties:\n"
        + json.dumps(expected, indent=2)
    )


def test_the_jobs_scheduling_values_are_checked_as_the_rapp_checks_them() -> None:
    """The values the chart passes as jobs.gpu_node_selector, jobs.gpu_tolerations,
    jobs.env_from_secrets, jobs.image_pull_policy, jobs.labels, jobs.env, jobs.run_as_user,
    jobs.backoff_limit and jobs.tmp_size_limit are checked by values.schema.json as the
    rApp's settings schema checks them (the same patterns, fields, enums and minimums), and
    their defaults are the rApp's."""
    jobs = settings_schema()["properties"]["jobs"]["properties"]
    selector = schema_at("adaptationJobs.gpu.nodeSelector")
    for key in ("type", "patternProperties", "additionalProperties"):
        assert selector[key] == jobs["gpu_node_selector"][key], key
    assert schema_at("adaptationJobs.gpu.tolerations")["items"] == jobs["gpu_tolerations"]["items"]
    secrets = schema_at("adaptationJobs.envFromSecrets")
    assert secrets["items"] == jobs["env_from_secrets"]["items"]
    assert secrets["uniqueItems"] is jobs["env_from_secrets"]["uniqueItems"] is True
    assert schema_at("adaptationJobs.image.pullPolicy")["enum"] == [
        "",  # empty: image.pullPolicy
        *jobs["image_pull_policy"]["enum"],
    ]
    assert schema_at("image.pullPolicy")["enum"] == jobs["image_pull_policy"]["enum"]
    for key, setting in (("labels", "labels"), ("env", "env")):
        given_schema = schema_at(f"adaptationJobs.{key}")
        for word in ("type", "patternProperties", "additionalProperties"):
            assert given_schema[word] == jobs[setting][word], (key, word)
    for key, setting in (("runAsUser", "run_as_user"), ("backoffLimit", "backoff_limit")):
        assert schema_at(f"adaptationJobs.{key}")["minimum"] == jobs[setting]["minimum"], key
    tmp_schema = schema_at("adaptationJobs.tmp.sizeLimit")
    assert tmp_schema["pattern"] == jobs["tmp_size_limit"]["pattern"]

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    given = values["adaptationJobs"]
    assert given["gpu"]["nodeSelector"] == jobs["gpu_node_selector"]["default"]
    assert given["gpu"]["tolerations"] == jobs["gpu_tolerations"]["default"]
    assert given["envFromSecrets"] == jobs["env_from_secrets"]["default"]
    assert given["labels"] == jobs["labels"]["default"]
    assert given["env"] == jobs["env"]["default"]
    assert given["runAsUser"] == jobs["run_as_user"]["default"]
    assert given["backoffLimit"] == jobs["backoff_limit"]["default"]
    assert given["tmp"]["sizeLimit"] == jobs["tmp_size_limit"]["default"]
    assert given["image"]["pullPolicy"] == ""
    assert values["image"]["pullPolicy"] == jobs["image_pull_policy"]["default"]


def _values_read(text: str) -> set[str]:
    """The values paths templates read: ``.Values.a.b``, and through a variable bound to
    one (``$jobs := .Values.adaptationJobs`` then ``$jobs.gpus`` or ``get $jobs "gpus"``);
    a variable's binding alone reads nothing."""
    aliases: dict[str, str] = {}
    binding = re.compile(r"\$(\w+) := (?:\.Values|\$(\w+))((?:\.\w+)*)")
    for var, base, path in binding.findall(text):
        aliases[var] = (aliases[base] if base else "") + path
    text = binding.sub("", text)
    read = {p.lstrip(".") for p in re.findall(r"\.Values((?:\.\w+)+)", text)}
    for var, path in re.findall(r"\$(\w+)((?:\.\w+)+)", text):
        if var in aliases:
            read.add((aliases[var] + path).lstrip("."))
    for var, key in re.findall(r'(?:get|hasKey) \$(\w+) "(\w+)"', text):
        if var in aliases:
            read.add(f"{aliases[var]}.{key}".lstrip("."))
    return read


def test_every_values_key_is_in_the_schema_and_used() -> None:
    """Each ``.Values.x.y`` a template reads is a key of the schema, each key the schema
    defines (``settings`` as a whole) is read by a template, and every object the schema
    defines refuses unknown keys."""
    text = "\n".join(p.read_text() for p in sorted((CHART / "templates").iterdir()))
    used = _values_read(text)
    missing = sorted(u for u in used if schema_at(u) is None)
    assert missing == [], f"templates read values the schema does not define: {missing}"

    paths = dict(schema_paths(schema()))
    leaves = {p for p, s in paths.items() if "properties" not in s or p == "settings"}
    read = {p for p in leaves if any(u == p or p.startswith(u + ".") for u in used)}
    assert sorted(leaves - read) == [], "schema keys no template reads"
    open_objects = [
        p
        for p, s in paths.items()
        if "properties" in s and s.get("additionalProperties") is not False
    ]
    assert open_objects == [] and schema()["additionalProperties"] is False
