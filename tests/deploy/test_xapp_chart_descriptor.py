"""The xApp's O-RAN SC descriptor (helm/csi-xapp/config/config-file.json): it passes the
rules of the O-RAN SC onboarder (and those rules refuse what the onboarder refuses), its
controls are the xApp's defaults, its messages are the ones the xApp's code handles and
sends, RMR's maximum size holds the largest indication, and it runs the xApp with its
configuration as the chart mounts it.
"""

from __future__ import annotations

import ast
import copy

import jsonschema
import pytest

from tests.deploy.kube import container
from tests.deploy.xapp_chart import (
    CONFIG,
    ROOT,
    app_config,
    env_of,
    load_json,
    port_named,
    render,
    rendered_descriptor,
)

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


@pytest.mark.parametrize(
    "breaks",
    [
        lambda d: d.__setitem__("metrics", [{"name": "x"}]),
        lambda d: d.__setitem__("version", "0.1"),
        lambda d: d.pop("name"),
        lambda d: d["containers"][0]["image"].__setitem__("registry", "ghcr"),
        lambda d: d["livenessProbe"].__setitem__("initialDelaySeconds", "5"),
        lambda d: d["readinessProbe"]["httpGet"].__setitem__("port", "8080"),
        lambda d: port_named(d, "rmrdata").pop("policies"),
        lambda d: port_named(d, "http").__setitem__("port", "8080"),
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

    rmrdata = port_named(descriptor, "rmrdata")
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
