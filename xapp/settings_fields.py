"""How a setting is declared (:func:`setting`: default, documentation, constraints), its
environment variables (``CSI_XAPP_<GROUP>_<FIELD>``, plus a conventional alias), and how
an environment variable's text becomes its value."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import field
from typing import Any

__all__ = [
    "ENV_PREFIX",
    "SettingsError",
    "env_names",
    "env_setting",
    "from_json",
    "parse_env_text",
    "setting",
    "to_json",
    "unwrap_optional",
]

ENV_PREFIX = "CSI_XAPP_"
_KINDS = {int: ("an integer", "integers"), float: ("a number", "numbers")}


class SettingsError(ValueError):
    """A setting is invalid; ``field`` is its dotted name (``micro_batch.max_batch``),
    ``env`` the environment variable it came from (None: the controls or code)."""

    def __init__(self, field_name: str, message: str, env: str | None = None) -> None:
        self.field, self.env = field_name, env
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
    conventional environment variable, and JSON Schema keywords constraining it
    (``items`` constrains each element of a list). A ``secret`` is left out of repr."""
    meta = {"doc": doc, "why": why, "unit": unit, "env_alias": env_alias, "schema": schema}
    return field(default=default, metadata=meta, repr=not secret)


def env_names(group: str, f: dataclasses.Field) -> tuple[str, ...]:
    """The environment variables of a field: the rule's first, then its alias if any."""
    rule = f"{ENV_PREFIX}{group}_{f.name}".upper()
    alias = f.metadata.get("env_alias")
    return (rule, alias) if alias else (rule,)


def env_setting(
    group: str, f: dataclasses.Field, tp: Any, env: Mapping[str, str]
) -> tuple[str, Any] | None:
    """``(variable, JSON value)`` of the first of the field's environment variables that
    is set and not empty (``tp``: the field's type), None when none is; SettingsError
    naming the field and the variable when its text does not parse."""
    for var in env_names(group, f):
        if env.get(var):
            try:
                return var, parse_env_text(tp, env[var])
            except ValueError as exc:
                raise SettingsError(f"{group}.{f.name}", str(exc), var) from None
    return None


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``(the type without None, whether None is allowed)``."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def parse_env_text(tp: Any, raw: str) -> Any:
    """An environment variable's text as a value of type ``tp`` in JSON form (a tuple
    type: a comma-separated list); ValueError saying what was expected."""
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


def to_json(value: Any) -> Any:
    """A setting's value as JSON (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def from_json(value: Any) -> Any:
    """A JSON value as a setting's value (lists as tuples)."""
    return tuple(value) if isinstance(value, list) else value
