"""What the xApp's and the rApp's settings share: how a setting is declared (:func:`setting`:
default, documentation, unit, why the default, JSON Schema constraints), its error, the JSON
Schema of its type, and how an environment variable's text becomes a number, a string or a
list. Each component names its own variables (``CSI_XAPP_...``, ``CSI_RAPP_...``)."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

__all__ = [
    "JSON_TYPES",
    "SettingsError",
    "from_json",
    "group_doc",
    "parse_text",
    "setting",
    "to_json",
    "type_schema",
    "unwrap_optional",
]

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_KINDS = {int: ("an integer", "integers"), float: ("a number", "numbers")}


class SettingsError(ValueError):
    """A setting is invalid; ``field`` is its dotted name (``micro_batch.max_batch``), ``env``
    the environment variable it came from (None: the controls, a settings file or code)."""

    def __init__(self, field_name: str, message: str, env: str | None = None) -> None:
        self.field, self.env, self.message = field_name, env, message
        where = f"{field_name} (from ${env})" if env else field_name
        super().__init__(f"setting {where}: {message}")


def setting(
    default: Any,
    doc: str,
    *,
    why: str,
    unit: str = "",
    env_alias: str | None = None,
    secret: bool = False,
    **schema: Any,
) -> Any:
    """A settings field: its default, what it is, its unit, why the default, an optional
    conventional environment variable, and JSON Schema keywords constraining it (``items``
    constrains each element of a list). A ``secret`` is left out of repr."""
    meta = {
        "doc": doc,
        "why": why,
        "unit": unit,
        "env_alias": env_alias,
        "secret": secret,
        "schema": schema,
    }
    return dataclasses.field(default=default, metadata=meta, repr=not secret)


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(the type without None, whether None is allowed)``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def parse_text(tp: Any, raw: str) -> Any:
    """Text as a value of type ``tp`` in JSON form: a number, a string, or for a tuple type a
    comma-separated list of them; ValueError saying what was expected."""
    tp, _ = unwrap_optional(tp)
    is_list = typing.get_origin(tp) is tuple
    item = typing.get_args(tp)[0] if is_list else tp
    parts = [p.strip() for p in raw.split(",") if p.strip()] if is_list else [raw.strip()]
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


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON Schema of a setting's type (tuples are arrays, Optional adds null)."""
    base, nullable = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        out: dict[str, Any] = {"type": "array", "items": type_schema(typing.get_args(base)[0])}
    else:
        out = {"type": JSON_TYPES[base]}
    if nullable:
        out["type"] = [out["type"], "null"]
    return out


def group_doc(cls: type) -> str:
    """The first line of a settings group's docstring, without its full stop."""
    return (inspect.getdoc(cls) or "").splitlines()[0].rstrip(".")


def to_json(value: Any) -> Any:
    """A setting's value as JSON (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def from_json(value: Any) -> Any:
    """A JSON value as a setting's value (lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value
