"""JSON Schemas (draft-07) of every message the project exchanges, and one validator.

The schemas are data (``*.json`` beside this file), each with ``examples`` that the
tests validate. A1 policy type ``create_schema`` must be draft-07, so all of them
are. Binary fields of msgpack messages are declared with ``"format": "msgpack-bin"``
(bytes), which this module's format checker enforces.

    >>> from schemas import validate
    >>> validate("a1-csi-sam-policy", policy)      # raises SchemaValidationError
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

__all__ = ["SCHEMA_NAMES", "SchemaValidationError", "load", "validate"]

_HERE = Path(__file__).parent
SCHEMA_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in _HERE.glob("*.json")))

_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("msgpack-bin")
def _is_bytes(instance: object) -> bool:
    return isinstance(instance, bytes | bytearray | memoryview)


class SchemaValidationError(ValueError):
    """An object does not match a schema; ``path`` names the failing field (JSON pointer)."""

    def __init__(self, schema: str, path: str, message: str) -> None:
        self.schema, self.path, self.message = schema, path, message
        super().__init__(f"{schema}: {path or '/'}: {message}")


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (file stem, e.g. ``"model-manifest"``) as a dict."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"unknown schema {name!r}; expected one of {', '.join(SCHEMA_NAMES)}")
    return json.loads((_HERE / f"{name}.json").read_text())


@cache
def _validator(name: str) -> jsonschema.Draft7Validator:
    schema = load(name)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=_FORMATS)


def validate(name: str, obj: Any) -> None:
    """Raise SchemaValidationError naming the first failing path when ``obj`` is invalid."""
    errors = sorted(_validator(name).iter_errors(obj), key=lambda e: (len(e.path), list(e.path)))
    if errors:
        err = errors[0]
        path = "/" + "/".join(str(p) for p in err.absolute_path) if err.absolute_path else ""
        raise SchemaValidationError(name, path, _short(err.message))


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."
