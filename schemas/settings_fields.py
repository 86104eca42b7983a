"""What the xApp's and the rApp's settings share: how a setting is declared (:func:`setting`:
default, documentation, unit, why the default, JSON Schema constraints), its error, the JSON
Schema of its type, and how an environment variable's text becomes a number, a string, a
list or an object. Each component names its own variables (``CSI_XAPP_...``,
``CSI_RAPP_...``).

A setting's type is a scalar (``str``, ``int``, ``float``, ``bool``), a ``tuple[X, ...]``
(a JSON array) or a ``Mapping[str, X]`` (a JSON object), optionally ``| None``. An object is
held as a :class:`FrozenMap`, so that settings stay frozen and hashable."""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = [
    "JSON_TYPES",
    "FrozenMap",
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


class FrozenMap(Mapping[str, Any]):
    """A read-only, hashable mapping: the value of a setting that is a JSON object (its
    values are scalars, tuples or FrozenMaps, as :func:`from_json` makes them). Equal to a
    dict with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"


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


def _is_mapping(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, collections.abc.Mapping)


def _parse_object(raw: str) -> dict[str, Any]:
    """``{...}`` (JSON) or ``key=value,key=value`` as a dict."""
    text = raw.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"{raw!r} is not a JSON object")
        return value
    out = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r} is not key=value (an object is key=value,... or JSON)")
        out[key.strip()] = value.strip()
    return out


def _parse_objects(raw: str) -> list[Any]:
    """``[{...}, ...]`` (JSON) as a list of objects."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not a JSON list of objects: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{raw!r} is not a JSON list of objects")
    return value


def parse_text(tp: Any, raw: str) -> Any:
    """Text as a value of type ``tp`` in JSON form: a number, a string, for a tuple type a
    comma-separated list of them, for a mapping ``key=value,key=value`` or a JSON object,
    for a tuple of mappings a JSON list of objects; ValueError saying what was expected."""
    tp, _ = unwrap_optional(tp)
    is_list = typing.get_origin(tp) is tuple
    item = typing.get_args(tp)[0] if is_list else tp
    if _is_mapping(item):
        return _parse_objects(raw) if is_list else _parse_object(raw)
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
    """The JSON Schema of a setting's type (tuples are arrays, mappings objects whose
    values are of the mapping's value type (``Any``: any), Optional adds null)."""
    base, nullable = unwrap_optional(tp)
    if typing.get_origin(base) is tuple:
        out: dict[str, Any] = {"type": "array", "items": type_schema(typing.get_args(base)[0])}
    elif _is_mapping(base):
        out = {"type": "object"}
        value_type = typing.get_args(base)[1]
        if value_type is not Any:
            out["additionalProperties"] = type_schema(value_type)
    else:
        out = {"type": JSON_TYPES[base]}
    if nullable:
        out["type"] = [out["type"], "null"]
    return out


def group_doc(cls: type) -> str:
    """The first line of a settings group's docstring, without its full stop."""
    return (inspect.getdoc(cls) or "").splitlines()[0].rstrip(".")


def to_json(value: Any) -> Any:
    """A setting's value as JSON (tuples as lists, mappings as dicts, at any depth)."""
    if isinstance(value, (tuple, list)):
        return [to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    return value


def from_json(value: Any) -> Any:
    """A JSON value as a setting's value (lists as tuples, objects as FrozenMaps, at any
    depth)."""
    if isinstance(value, (list, tuple)):
        return tuple(from_json(v) for v in value)
    if isinstance(value, Mapping):
        return FrozenMap({k: from_json(v) for k, v in value.items()})
    return value
