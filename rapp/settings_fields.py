"""How an rApp setting is declared (:func:`setting`: default, documentation, unit, why the
default, JSON Schema constraints), its environment variable (``CSI_RAPP_<GROUP>_<FIELD>``),
how a variable's text becomes a value, and the JSON Schema of a group's fields."""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any

__all__ = [
    "ENV_PREFIX",
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
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_KINDS = {int: ("an integer", "integers"), float: ("a number", "numbers")}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is invalid; ``field`` is its dotted name (``loop.poll_s``), ``env`` the
    environment variable it came from (None: the settings file or code)."""

    def __init__(self, field_name: str, message: str, env: str | None = None) -> None:
        self.field, self.env, self.message = field_name, env, message
        where = f"{field_name} (from ${env})" if env else field_name
        super().__init__(f"setting {where}: {message}")


def setting(
    default: Any, doc: str, *, why: str, unit: str = "", secret: bool = False, **schema: Any
) -> Any:
    """A settings field: its default, what it is, its unit, why the default, and JSON Schema
    keywords constraining it (``items`` constrains each element of a list). A ``secret`` is
    left out of repr and shown as ``***`` wherever settings are printed."""
    meta = {"doc": doc, "why": why, "unit": unit, "secret": secret, "schema": schema}
    return field(default=default, metadata=meta, repr=not secret)


def env_name(group: str, f: dataclasses.Field) -> str:
    """The field's environment variable: ``CSI_RAPP_<GROUP>_<FIELD>``, upper case."""
    return f"{ENV_PREFIX}{group}_{f.name}".upper()


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(the type without None, whether None is allowed)``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


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
    is_list = typing.get_origin(base) is tuple
    item = typing.get_args(base)[0] if is_list else base
    parts = [p.strip() for p in text.split(",") if p.strip()] if is_list else [text]
    if item not in _KINDS:
        return parts if is_list else parts[0]
    try:
        values = [item(p) for p in parts]
    except ValueError:
        one, many = _KINDS[item]
        raise ValueError(
            f"{raw!r} is not {f'a comma-separated list of {many}' if is_list else one}"
        ) from None
    return values if is_list else values[0]


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


def to_json(value: Any) -> Any:
    """A setting's value as JSON (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def from_json(value: Any) -> Any:
    """A JSON value as a setting's value (lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value


def group_doc(cls: type) -> str:
    """The first line of a group's docstring, without its full stop."""
    return (inspect.getdoc(cls) or "").splitlines()[0].rstrip(".")


def _type_schema(tp: Any) -> dict[str, Any]:
    base, nullable = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        out: dict[str, Any] = {"type": "array", "items": _type_schema(typing.get_args(base)[0])}
    else:
        out = {"type": _JSON_TYPES[base]}
    if nullable:
        out["type"] = [out["type"], "null"]
    return out


def field_schema(group: str, f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    """The JSON Schema of one setting of type ``tp``: type, constraints, default and a
    description saying what it is, its unit, why the default and its variable."""
    out = _type_schema(tp)
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
