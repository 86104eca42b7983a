"""Typed settings of the rApp, in groups; every default is written once, in
``rapp.settings_loop`` (``loop``, ``telemetry``, ``drift``, ``adaptation``, ``api``) and
``rapp.settings_deploy`` (``store``, ``data``, ``a1``, ``jobs``).

Each group is a frozen dataclass whose fields carry their documentation (what, unit, why
the default) and their JSON Schema constraints. Every field can be set in two places:

- a JSON settings file, ``{"<group>": {"<field>": value}}``, checked against the schema
  :func:`settings_schema` builds from the fields (``schemas/rapp-settings.json``);
- an environment variable ``CSI_RAPP_<GROUP>_<FIELD>`` (e.g. ``CSI_RAPP_LOOP_POLL_S``).

The variable wins over the file, the file over the default. An empty variable counts as
unset; a list is comma-separated; a map (``jobs.gpu_node_selector``) is
``key=value,key=value`` or a JSON object; a list of objects (``jobs.gpu_tolerations``) is a
JSON list; a boolean is true/false (yes/no, on/off, 1/0); ``null`` unsets a field that may
be null. A :class:`Settings` is validated when it is built (however
it is built): a bad value raises :class:`SettingsError` naming the field, and the variable
when the value came from one. :func:`rapp.settings_parts.check` also builds the parts'
own settings (adaptation, drift, Jobs), which the rApp does at start.

Importing this module is light (no torch, river or kubernetes): the ``csi-rapp`` operator
commands read the API's port from it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from rapp.settings_deploy import A1Group, DataGroup, JobsGroup, StoreGroup
from rapp.settings_fields import (
    SettingsError,
    env_setting,
    field_schema,
    from_json,
    group_doc,
    to_json,
)
from rapp.settings_loop import AdaptationGroup, ApiGroup, DriftGroup, LoopGroup, TelemetryGroup

__all__ = [
    "CONFIG_ENV",
    "SCHEMA_ID",
    "Settings",
    "SettingsError",
    "field_type",
    "fields_of",
    "groups",
    "load_settings",
    "settings_schema",
]

CONFIG_ENV = "CSI_RAPP_CONFIG_FILE"
"""The settings file when ``--config`` is not given."""
SCHEMA_ID = "https://lasco-ric.example/schemas/rapp-settings.json"
HIDDEN = "***"


@dataclass(frozen=True)
class Settings:
    """All settings of the rApp, one attribute per group (the settings file's sections)."""

    loop: LoopGroup = field(default_factory=LoopGroup)
    telemetry: TelemetryGroup = field(default_factory=TelemetryGroup)
    drift: DriftGroup = field(default_factory=DriftGroup)
    adaptation: AdaptationGroup = field(default_factory=AdaptationGroup)
    store: StoreGroup = field(default_factory=StoreGroup)
    data: DataGroup = field(default_factory=DataGroup)
    a1: A1Group = field(default_factory=A1Group)
    jobs: JobsGroup = field(default_factory=JobsGroup)
    api: ApiGroup = field(default_factory=ApiGroup)

    def __post_init__(self) -> None:
        _check_schema(self.to_mapping(), {})
        _check_across(self)

    @classmethod
    def from_mapping(
        cls, config: Mapping[str, Any], env: Mapping[str, str] | None = None
    ) -> Settings:
        """The settings file's JSON, then the environment (``os.environ`` when None) over
        it; SettingsError names the first bad field."""
        _check_schema(config, {})
        merged = {g: dict(config.get(g, {})) for g in groups()}
        sources: dict[str, str] = {}
        for group, cls_ in groups().items():
            for f in fields_of(cls_):
                found = env_setting(
                    group, f, field_type(cls_, f.name), os.environ if env is None else env
                )
                if found is not None:
                    sources[f"{group}.{f.name}"], merged[group][f.name] = found
        _check_schema(merged, sources)
        try:
            return cls(
                **{
                    group: cls_(**{k: from_json(v) for k, v in merged[group].items()})
                    for group, cls_ in groups().items()
                }
            )
        except SettingsError as exc:
            if exc.env is None and exc.field in sources:
                raise SettingsError(exc.field, exc.message, sources[exc.field]) from None
            raise

    def to_mapping(self, *, hide_secrets: bool = False) -> dict[str, Any]:
        """Every setting in the settings file's JSON form (what ``from_mapping`` takes);
        ``hide_secrets`` shows a set secret (the InfluxDB token) as ``***``."""
        out: dict[str, Any] = {}
        for group, cls_ in groups().items():
            values = getattr(self, group)
            out[group] = {}
            for f in fields_of(cls_):
                value = to_json(getattr(values, f.name))
                if hide_secrets and f.metadata["secret"] and value:
                    value = HIDDEN
                out[group][f.name] = value
        return out

    def to_json(self, *, hide_secrets: bool = True) -> str:
        """The settings as indented JSON (secrets hidden unless asked)."""
        return json.dumps(self.to_mapping(hide_secrets=hide_secrets), indent=2)


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the JSON file ``path`` (None: ``$CSI_RAPP_CONFIG_FILE``, else none)
    and the environment. SettingsError when the file cannot be read or is not JSON."""
    environ = os.environ if env is None else env
    path = path or environ.get(CONFIG_ENV) or None
    config: Any = {}
    if path is not None:
        try:
            config = json.loads(Path(path).read_text())
        except OSError as exc:
            raise SettingsError("settings file", f"{path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SettingsError("settings file", f"{path} is not JSON: {exc}") from None
    return Settings.from_mapping(config, environ)


# -- introspection, shared with the schema and the docs ---------------------------------
@functools.cache
def groups() -> dict[str, type]:
    """``{group name: its dataclass}`` in the order of :class:`Settings`."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def fields_of(group_cls: type) -> tuple[dataclasses.Field, ...]:
    """A group's fields, in declaration order."""
    return dataclasses.fields(group_cls)


def field_type(group_cls: type, name: str) -> Any:
    """A field's type, resolved (``int | None``, ``tuple[str, ...]``)."""
    return typing.get_type_hints(group_cls)[name]


EXAMPLES: list[dict[str, Any]] = [
    {
        "loop": {"poll_s": 15, "new_environment_samples": 2048},
        "telemetry": {"url": "http://influxdb:8086"},
        "store": {"uri": "s3://lasco/models", "signing_key_file": "/var/run/secrets/key.pem"},
        "data": {"uri": "s3://lasco/data"},
        "a1": {"url": "pms+http://policymanagementservice.nonrtric:8081?ric_id=ric1"},
        "api": {"host": "0.0.0.0"},
    },
    {
        "data": {"uri": "/var/lib/lasco/data"},
        "store": {"uri": "/var/lib/lasco/models"},
        "jobs": {"enabled": True, "image": "registry.example/lasco-ric:0.1.0"},
    },
]


@functools.cache
def settings_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of the settings file, from the fields."""
    props = {
        group: {
            "type": "object",
            "additionalProperties": False,
            "description": group_doc(cls) + ".",
            "properties": {
                f.name: field_schema(group, f, field_type(cls, f.name)) for f in fields_of(cls)
            },
        }
        for group, cls in groups().items()
    }
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "csi-rapp settings",
        "description": "The rApp's settings file (csi-rapp run --config FILE); each setting "
        "may also be set by the environment variable CSI_RAPP_<GROUP>_<FIELD>, which wins. "
        "Generated from rapp/settings.py by `python -m rapp.settings_docs`; do not edit.",
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "examples": EXAMPLES,
    }


@functools.cache
def _validator() -> jsonschema.Draft7Validator:
    schema = settings_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _check_schema(config: Any, sources: Mapping[str, str]) -> None:
    """SettingsError naming the field (``group.field``) of the first schema violation."""
    errors = sorted(_validator().iter_errors(config), key=lambda e: (len(e.path), list(e.path)))
    if not errors:
        return
    err = errors[0]
    parts = [str(p) for p in err.absolute_path][:2]
    if err.validator == "additionalProperties" and len(parts) < 2:
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        parts = [*parts, *extra[:1]]
    name = ".".join(parts) or "settings file"
    message = err.message if len(err.message) <= 300 else err.message[:297] + "..."
    raise SettingsError(name, message, sources.get(name))


def _check_across(s: Settings) -> None:
    """The rules that tie fields together (cheap: no part is built)."""
    a, loop, d = s.adaptation, s.loop, s.drift
    if loop.min_fresh_samples < a.min_samples:
        raise SettingsError(
            "loop.min_fresh_samples",
            f"{loop.min_fresh_samples} is below adaptation.min_samples {a.min_samples}: "
            "an adaptation run on that few samples is always declined",
        )
    if loop.max_samples < loop.min_fresh_samples:
        raise SettingsError(
            "loop.max_samples",
            f"{loop.max_samples} is below loop.min_fresh_samples {loop.min_fresh_samples}",
        )
    if a.max_samples is not None and a.max_samples < a.min_samples:
        raise SettingsError(
            "adaptation.max_samples",
            f"{a.max_samples} is below adaptation.min_samples {a.min_samples}",
        )
    if a.val_fraction + a.held_out_fraction >= 1:
        raise SettingsError(
            "adaptation.held_out_fraction",
            f"with val_fraction {a.val_fraction} it leaves no samples to train on",
        )
    if d.min_points >= d.history_points:
        raise SettingsError(
            "drift.min_points",
            f"{d.min_points} must be below drift.history_points {d.history_points}",
        )
    unknown = sorted(set(d.lower_is_worse) - set(d.series))
    if unknown:
        raise SettingsError("drift.lower_is_worse", f"names series not watched: {unknown}")
    if s.jobs.enabled and not s.jobs.image:
        raise SettingsError("jobs.image", "required when jobs.enabled is true")
    if s.jobs.enabled and not (s.jobs.store_uri or s.store.uri):
        raise SettingsError(
            "jobs.store_uri",
            "required (or store.uri) when jobs.enabled is true: a Job publishes its proxy "
            "there, and the shipped store is read-only",
        )
