"""The xApp's settings environment variables (``CSI_XAPP_<GROUP>_<FIELD>``, plus a
conventional alias) and how their text becomes a value; how a setting is declared is shared
with the rApp (``schemas.settings_fields``, re-exported here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from schemas.settings_fields import (
    SettingsError,
    from_json,
    parse_text,
    setting,
    to_json,
    unwrap_optional,
)

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
parse_env_text = parse_text
"""An environment variable's text as a value of a field's type (``schemas.settings_fields``)."""


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
