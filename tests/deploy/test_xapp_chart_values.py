"""The xApp chart's values (helm/csi-xapp): ``values.schema.json`` is draft-07, closed at
every level and refuses bad values naming the key; contradicting values stop the render;
the A1 policy type the chart ships is the one the rApp creates, and the chart's copies of
the project's schemas equal their sources.
"""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.deploy.xapp_chart import CHART, CONFIG, ROOT, app_config, load_json, render


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
