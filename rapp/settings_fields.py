"""The rApp's settings environment variables (``CSI_RAPP_<GROUP>_<FIELD>``), how their text
becomes a value (booleans and ``null`` too), and the JSON Schema of one setting; how a setting
is declared is shared with the xApp (``schemas.settings_fields``, re-exported here)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from schemas.settings_fields import (
    FrozenMap,
    SettingsError,
    from_json,
    group_doc,
    parse_text,
    setting,
    to_json,
    type_schema,
    unwrap_optional,
)

__all__ = [
    "ENV_PREFIX",
    "FrozenMap",
    "SettingsError",
    "env_name",
    "env_setting",
    "field_schema",
    "from_json",
    "group_doc",
    "parse_env_text",
    "setting",
    "to_json",
    "unwrap_optional",
]

ENV_PREFIX = "CSI_RAPP_"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_name(group: str, f: dataclasses.Field) -> str:
    """The field's environment variable: ``CSI_RAPP_<GROUP>_<FIELD>``, upper case."""
    return f"{ENV_PREFIX}{group}_{f.name}".upper()


def parse_env_text(tp: Any, raw: str) -> Any:
    """An environment variable's text as a value of type ``tp`` in JSON form (a tuple type:
    a comma-separated list; a bool: true/false, yes/no, on/off, 1/0; ``null`` for a field
    that may be None); ValueError saying what was expected."""
    base, nullable = unwrap_optional(tp)
    text = raw.strip()
    if nullable and text.lower() in ("null", "none"):
        return None
    if base is bool:
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"{raw!r} is not a boolean (true/false, yes/no, on/off, 1/0)")
    return parse_text(base, raw)


def env_setting(
    group: str, f: dataclasses.Field, tp: Any, env: Mapping[str, str]
) -> tuple[str, Any] | None:
    """``(variable, JSON value)`` when the field's variable is set and not empty (``tp``:
    the field's type), else None; SettingsError naming the field and the variable when its
    text does not parse."""
    var = env_name(group, f)
    if not env.get(var, "").strip():
        return None
    try:
        return var, parse_env_text(tp, env[var])
    except ValueError as exc:
        raise SettingsError(f"{group}.{f.name}", str(exc), var) from None


def field_schema(group: str, f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    """The JSON Schema of one setting of type ``tp``: type, constraints, default and a
    description saying what it is, its unit, why the default and its variable."""
    out = type_schema(tp)
    constraints = dict(f.metadata["schema"])
    if "items" in constraints:
        out["items"] = {**out["items"], **constraints.pop("items")}
    out.update(constraints)
    m = f.metadata
    unit = f" Unit: {m['unit']}." if m["unit"] else ""
    default = json.dumps(to_json(f.default))
    out["default"] = to_json(f.default)
    out["description"] = (
        f"{m['doc']}.{unit} Default {default}: {m['why']}. Environment: {env_name(group, f)}."
    )
    return out
