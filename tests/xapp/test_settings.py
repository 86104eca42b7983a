"""Settings: grouped, defaults once, every field from the controls and from the
environment (CSI_XAPP_<GROUP>_<FIELD>, plus XAPP_NAME, INFLUX_URL, INFLUX_TOKEN), validated
with errors that name the field and the variable."""

import dataclasses

import pytest

from schemas import load
from xapp.app import build_core
from xapp.settings import MicroBatchSettings, Settings, SettingsError, fields_of, groups
from xapp.settings_fields import env_names

EXAMPLE = load("xapp-controls")["examples"][0]
ALL_FIELDS = [(g, f.name) for g, cls in groups().items() for f in fields_of(cls)]


def test_defaults_without_controls_or_environment():
    s = Settings.from_controls({}, env={})
    assert s == Settings()
    assert s.micro_batch.max_batch == 256 and s.runtime.workers is None
    assert s.a1.handler_id == "csi-xapp" and s.subscription.e2_nodes == ()


def test_the_schema_example_reads():
    s = Settings.from_controls(EXAMPLE, env={})
    assert s.subscription.e2_nodes == ("gnb-001", "gnb-002")
    assert s.store.trusted_keys == ("/etc/lasco/keys/release.pub",)
    assert s.runtime.workers == 4


def _sample(group, name):
    """A valid non-default JSON value of a field, and its text for the environment."""
    f = next(f for f in fields_of(groups()[group]) if f.name == name)
    schema = load("xapp-controls")["properties"][group]["properties"][name]
    kind = schema["type"][0] if isinstance(schema["type"], list) else schema["type"]
    if kind == "array":
        item = "number" if schema["items"]["type"] == "number" else "string"
        return ([3.0, 4.0], "3,4") if item == "number" else (["a", "b"], "a,b")
    if kind == "integer":
        value = max(schema.get("minimum", 0) + 3, 3)
        value = value if value != f.default else value + 1
        return value, str(value)
    if kind == "number":
        return 3.5, "3.5"
    if "enum" in schema:  # another of the allowed values
        value = next(v for v in schema["enum"] if v != f.default)
        return value, value
    return "some-value", "some-value"


@pytest.mark.parametrize("group,name", ALL_FIELDS, ids=[f"{g}.{n}" for g, n in ALL_FIELDS])
def test_every_setting_is_reachable_from_the_controls(group, name):
    value, _ = _sample(group, name)
    s = Settings.from_controls({group: {name: value}}, env={})
    got = getattr(getattr(s, group), name)
    assert (list(got) if isinstance(got, tuple) else got) == value


@pytest.mark.parametrize("group,name", ALL_FIELDS, ids=[f"{g}.{n}" for g, n in ALL_FIELDS])
def test_every_setting_is_reachable_from_its_environment_variable(group, name):
    value, text = _sample(group, name)
    var = f"CSI_XAPP_{group}_{name}".upper()
    s = Settings.from_controls({}, env={var: text})
    got = getattr(getattr(s, group), name)
    assert (list(got) if isinstance(got, tuple) else got) == value


@pytest.mark.parametrize(
    "var,group,name",
    [
        ("XAPP_NAME", "a1", "handler_id"),
        ("INFLUX_URL", "telemetry", "influx_url"),
        ("INFLUX_TOKEN", "telemetry", "token"),
    ],
)
def test_conventional_variables_are_kept(var, group, name):
    field = next(f for f in fields_of(groups()[group]) if f.name == name)
    assert env_names(group, field) == (f"CSI_XAPP_{group}_{name}".upper(), var)
    s = Settings.from_controls({group: {name: "from-controls"}}, env={var: "from-env"})
    assert getattr(getattr(s, group), name) == "from-env"
    rule = f"CSI_XAPP_{group}_{name}".upper()
    s = Settings.from_controls({}, env={var: "alias", rule: "rule"})
    assert getattr(getattr(s, group), name) == "rule"


def test_the_environment_wins_over_the_controls_and_empty_counts_as_unset():
    controls = {"runtime": {"workers": 3}}
    assert (
        Settings.from_controls(controls, env={"CSI_XAPP_RUNTIME_WORKERS": "2"}).runtime.workers == 2
    )
    assert (
        Settings.from_controls(controls, env={"CSI_XAPP_RUNTIME_WORKERS": ""}).runtime.workers == 3
    )


@pytest.mark.parametrize(
    "controls,field",
    [
        ({"runtime": {"workers": 0}}, "runtime.workers"),
        ({"runtime": {"workers": "4"}}, "runtime.workers"),
        ({"runtime": {"workers": 1000}}, "runtime.workers"),
        ({"micro_batch": {"max_wait_ms": -1}}, "micro_batch.max_wait_ms"),
        ({"subscription": {"e2_nodes": ["a", "a"]}}, "subscription.e2_nodes"),
        ({"subscription": {"resubscribe_backoff_s": []}}, "subscription.resubscribe_backoff_s"),
        ({"store": {"colour": "red"}}, "store"),
        ({"e2_nodes": ["flat keys are not controls"]}, "controls"),
    ],
    ids=["zero", "string", "too-many", "negative", "repeated", "empty", "unknown", "flat"],
)
def test_bad_controls_name_the_field(controls, field):
    with pytest.raises(SettingsError) as exc:
        Settings.from_controls(controls, env={})
    assert exc.value.field == field and exc.value.env is None
    assert f"setting {field}:" in str(exc.value)


@pytest.mark.parametrize(
    "var,value,field",
    [
        ("CSI_XAPP_RUNTIME_WORKERS", "0", "runtime.workers"),
        ("CSI_XAPP_RUNTIME_WORKERS", "two", "runtime.workers"),
        ("CSI_XAPP_RUNTIME_WORKERS", "-3", "runtime.workers"),
        ("CSI_XAPP_RUNTIME_WORKERS", "1.5", "runtime.workers"),
        ("CSI_XAPP_MICRO_BATCH_MAX_WAIT_MS", "soon", "micro_batch.max_wait_ms"),
        (
            "CSI_XAPP_SUBSCRIPTION_RESUBSCRIBE_BACKOFF_S",
            "1,x",
            "subscription.resubscribe_backoff_s",
        ),
    ],
)
def test_bad_environment_values_name_the_variable(var, value, field):
    with pytest.raises(SettingsError) as exc:
        Settings.from_controls({}, env={var: value})
    assert (exc.value.field, exc.value.env) == (field, var)
    assert var in str(exc.value)


def test_settings_built_in_code_are_validated_too():
    with pytest.raises(SettingsError, match=r"micro_batch\.max_batch"):
        Settings(micro_batch=MicroBatchSettings(max_batch=0))


def test_settings_are_frozen_and_round_trip_through_the_controls():
    s = Settings.from_controls(EXAMPLE, env={"INFLUX_TOKEN": "secret"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.micro_batch.max_batch = 1
    assert Settings.from_controls(s.to_controls(), env={}) == s
    assert "secret" not in repr(s)


@pytest.mark.parametrize("workers", [1, 3])
def test_build_core_gives_the_runtime_the_configured_workers(world, workers):
    keys = [str(p) for p in (world.root / "keys").glob("*.pub")]
    controls = {
        "store": {"uri": str(world.root / "store"), "trusted_keys": keys},
        "runtime": {"workers": workers},
    }
    core = build_core(Settings.from_controls(controls, env={}))
    assert core.runtime.workers == workers
    core.runtime.close()
