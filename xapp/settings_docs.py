"""The controls schema (``schemas/xapp-controls.json``) and the settings reference
(``docs/xapp-settings.md``), both generated from :mod:`xapp.settings`, so each default,
unit and constraint is written once. A test checks that the committed files are current.

    python -m xapp.settings_docs            # rewrite both files
    python -m xapp.settings_docs --check    # exit 1 when either is out of date
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing
from pathlib import Path
from typing import Any

import schemas
from schemas.settings_fields import JSON_TYPES, group_doc, type_schema
from xapp.settings import field_type, fields_of, groups
from xapp.settings_fields import env_names, to_json, unwrap_optional

__all__ = [
    "DOC_PATH",
    "SCHEMA_PATH",
    "controls_schema",
    "field_schema",
    "main",
    "rendered",
    "settings_markdown",
]

SCHEMA_PATH = Path(schemas.__file__).parent / "xapp-controls.json"
DOC_PATH = Path(__file__).parents[1] / "docs" / "xapp-settings.md"
GENERATED = "Generated from xapp/settings.py by `python -m xapp.settings_docs`; do not edit."

EXAMPLES: list[dict[str, Any]] = [
    {
        "subscription": {"e2_nodes": ["gnb-001", "gnb-002"]},
        "store": {"uri": "/var/lib/lasco/store", "trusted_keys": ["/etc/lasco/keys/release.pub"]},
        "telemetry": {"influx_url": "http://influxdb:8086"},
        "data": {"uri": "s3://lasco/data"},
        "runtime": {"workers": 4},
    },
    {},
]


def _description(group: str, f: dataclasses.Field) -> str:
    m = f.metadata
    unit = f" Unit: {m['unit']}." if m["unit"] else ""
    default = json.dumps(to_json(f.default))
    env = " or ".join(env_names(group, f))
    return f"{m['doc']}.{unit} Default {default}: {m['why']}. Environment: {env}."


def field_schema(group: str, f: dataclasses.Field) -> dict[str, Any]:
    """The JSON Schema of one setting: its type, constraints, default and description."""
    out = type_schema(field_type(groups()[group], f.name))
    constraints = dict(f.metadata["schema"])
    if "items" in constraints:
        out["items"] = {**out["items"], **constraints.pop("items")}
    out.update(constraints)
    out["default"] = to_json(f.default)
    out["description"] = _description(group, f)
    return out


def controls_schema() -> dict[str, Any]:
    """``schemas/xapp-controls.json`` as a dict."""
    props = {
        group: {
            "type": "object",
            "additionalProperties": False,
            "description": group_doc(cls) + ".",
            "properties": {f.name: field_schema(group, f) for f in fields_of(cls)},
        }
        for group, cls in groups().items()
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://lasco-ric.example/schemas/xapp-controls.json",
        "title": "csi-xapp controls",
        "description": "The xApp's settings: the 'controls' section of its descriptor "
        "(config-file.json), which the onboarder checks against this schema; each may also "
        "be set by the environment variable CSI_XAPP_<GROUP>_<FIELD>. " + GENERATED,
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "examples": EXAMPLES,
    }


def _allowed(f: dataclasses.Field) -> str:
    c = f.metadata["schema"]
    items = c.get("items", {})
    words = {
        "minimum": ">= {}",
        "maximum": "<= {}",
        "exclusiveMinimum": "> {}",
        "minLength": "non-empty",
        "minItems": "at least {} item(s)",
        "uniqueItems": "no repeats",
    }
    out = [words[k].format(v) for k, v in c.items() if k in words]
    out += ["each " + words[k].format(v) for k, v in items.items() if k in words]
    return ", ".join(out)


def _type_name(tp: Any) -> str:
    base, nullable = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        name = f"list of {JSON_TYPES[typing.get_args(base)[0]]}"
    else:
        name = JSON_TYPES[base]
    return f"{name} or null" if nullable else name


def settings_markdown() -> str:
    """``docs/xapp-settings.md``."""
    lines = [
        "# xApp settings",
        "",
        f"<!-- {GENERATED} -->",
        "",
        "Every setting of the CSI xApp can be given in two places:",
        "",
        "- the descriptor's `controls` (`config-file.json`), grouped as",
        '  `{"<group>": {"<field>": value}}` and checked against',
        "  [`schemas/xapp-controls.json`](../schemas/xapp-controls.json);",
        "- an environment variable `CSI_XAPP_<GROUP>_<FIELD>` (upper case, e.g.",
        "  `CSI_XAPP_MICRO_BATCH_MAX_BATCH`); three fields also keep the O-RAN SC",
        "  conventional names `XAPP_NAME`, `INFLUX_URL` and `INFLUX_TOKEN`.",
        "",
        "Precedence, highest first: the `CSI_XAPP_...` variable, the conventional name,",
        "the controls, the default. An empty variable counts as unset; a list is",
        "comma-separated (`CSI_XAPP_SUBSCRIPTION_E2_NODES=gnb-001,gnb-002`). Settings are",
        "validated at start: an invalid one stops the xApp with an error naming the field",
        "(and the variable, when it came from one).",
        "",
        "```json",
        json.dumps({"controls": EXAMPLES[0]}, indent=2),
        "```",
    ]
    for group, cls in groups().items():
        lines += [
            "",
            f"## `{group}`: {group_doc(cls)}",
            "",
            "| control | environment | type | default | unit | allowed | what; why the default |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for f in fields_of(cls):
            m = f.metadata
            env = ", ".join(f"`{v}`" for v in env_names(group, f))
            lines.append(
                f"| `{group}.{f.name}` | {env} | {_type_name(field_type(cls, f.name))} | "
                f"`{json.dumps(to_json(f.default))}` | {m['unit']} | {_allowed(f)} | "
                f"{m['doc']}; {m['why']} |"
            )
    return "\n".join(lines) + "\n"


def rendered() -> dict[Path, str]:
    """What each generated file must hold."""
    return {
        SCHEMA_PATH: json.dumps(controls_schema(), indent=2) + "\n",
        DOC_PATH: settings_markdown(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xapp.settings_docs", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 when a file is out of date")
    args = p.parse_args(argv)
    stale = [
        path for path, text in rendered().items() if not path.exists() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
