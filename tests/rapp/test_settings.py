"""The rApp's settings: grouped, each default once, every field from the settings file and
from its environment variable (CSI_RAPP_<GROUP>_<FIELD>, which wins), validated with errors
naming the field (and the variable); converted into the parts' own settings."""

import dataclasses
import json

import pytest

from rapp.adapt_settings import ADAPTABLE_METHODS, AdaptationSettings
from rapp.drift import DriftSettings
from rapp.job_manifest import JobSettings
from rapp.settings import (
    CONFIG_ENV,
    Settings,
    SettingsError,
    fields_of,
    groups,
    load_settings,
    settings_schema,
)
from rapp.settings_docs import main as docs_main
from rapp.settings_docs import rendered
from rapp.settings_fields import env_name
from rapp.settings_parts import (
    a1_settings,
    adaptation_settings,
    check,
    controller_settings,
    drift_settings,
    job_settings,
    telemetry_settings,
)
from rapp.telemetry import TelemetrySettings

ALL_FIELDS = [(g, f.name) for g, cls in groups().items() for f in fields_of(cls)]
IDS = [f"{g}.{n}" for g, n in ALL_FIELDS]
JOBS_ON = {"jobs": {"image": "lasco:1"}, "store": {"uri": "/srv/store"}}
SPECIAL = {  # field -> (JSON value, environment text, other settings it needs)
    "loop.min_fresh_samples": (300, "300", {}),
    "adaptation.min_samples": (200, "200", {}),
    "drift.lower_is_worse": (["nmse_db"], "nmse_db", {}),
    "a1.url": ("pms+http://pms:8081", "pms+http://pms:8081", {}),
    "jobs.enabled": (True, "true", JOBS_ON),
    "jobs.cpu_request": ("500m", "500m", {}),
    "jobs.cpu_limit": ("3", "3", {}),
    "jobs.memory_request": ("2Gi", "2Gi", {}),
    "jobs.memory_limit": ("16Gi", "16Gi", {}),
    "jobs.gpu_node_selector": (
        {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "pool": "gpu"},
        "nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3, pool=gpu",
        {},
    ),
    "jobs.gpu_tolerations": (
        [{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoExecute"}],
        '[{"key": "gpu", "operator": "Equal", "value": "yes", "effect": "NoExecute"}]',
        {},
    ),
    "jobs.env_from_secrets": (["csi-rapp-s3", "proxy-env"], "csi-rapp-s3, proxy-env", {}),
    "jobs.tmp_size_limit": ("8Gi", "8Gi", {}),
    "jobs.labels": (
        {"team": "ran-ai", "example.com/tier": "gpu"},
        "team=ran-ai,example.com/tier=gpu",
        {},
    ),
    "jobs.env": (
        {"OMP_NUM_THREADS": "4", "AWS_REGION": "eu-west-1"},
        '{"OMP_NUM_THREADS": "4", "AWS_REGION": "eu-west-1"}',
        {},
    ),
}


def _sample(group, name):
    """A valid non-default value of a field, its text for the environment, and the other
    settings it needs."""
    if f"{group}.{name}" in SPECIAL:
        return SPECIAL[f"{group}.{name}"]
    f = next(f for f in fields_of(groups()[group]) if f.name == name)
    schema = settings_schema()["properties"][group]["properties"][name]
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "array" in kinds:
        return ["a", "b"], "a,b", {}
    if "boolean" in kinds:
        return (not f.default), str(not f.default).lower(), {}
    if "integer" in kinds:
        value = (f.default if f.default is not None else schema.get("minimum", 0)) + 1
        return value, str(value), {}
    if "number" in kinds:
        value = f.default / 2 if f.default else 0.5
        return value, repr(value), {}
    if "enum" in schema:
        value = next(v for v in schema["enum"] if v != f.default)
        return value, value, {}
    return "some-value", "some-value", {}


def _got(s, group, name):
    value = getattr(getattr(s, group), name)
    return list(value) if isinstance(value, tuple) else value


def test_defaults_without_a_file_or_environment():
    s = Settings.from_mapping({}, env={})
    assert s == Settings() == load_settings(None, env={})
    assert s.loop.poll_s == 30.0 and s.api.port == 8090 and s.jobs.enabled is False
    assert s.a1.url.startswith("a1p+http://") and s.data.uri is None


@pytest.mark.parametrize("example", settings_schema()["examples"], ids=["full", "jobs"])
def test_the_schema_examples_read(example):
    s = Settings.from_mapping(example, env={})
    assert s.to_mapping()["data"]["uri"] == example["data"]["uri"]


@pytest.mark.parametrize(("group", "name"), ALL_FIELDS, ids=IDS)
def test_every_setting_is_reachable_from_the_settings_file(group, name):
    value, _, extra = _sample(group, name)
    config = {g: dict(v) for g, v in extra.items()}
    config.setdefault(group, {})[name] = value
    assert _got(Settings.from_mapping(config, env={}), group, name) == value


@pytest.mark.parametrize(("group", "name"), ALL_FIELDS, ids=IDS)
def test_every_setting_is_reachable_from_its_environment_variable(group, name):
    value, text, extra = _sample(group, name)
    var = f"CSI_RAPP_{group}_{name}".upper()
    f = next(f for f in fields_of(groups()[group]) if f.name == name)
    assert env_name(group, f) == var
    assert _got(Settings.from_mapping(extra, env={var: text}), group, name) == value


def test_the_environment_wins_over_the_file_and_empty_counts_as_unset():
    config = {"loop": {"poll_s": 10}}
    assert Settings.from_mapping(config, env={"CSI_RAPP_LOOP_POLL_S": "5"}).loop.poll_s == 5.0
    assert Settings.from_mapping(config, env={"CSI_RAPP_LOOP_POLL_S": " "}).loop.poll_s == 10


@pytest.mark.parametrize(("text", "expected"), [("null", None), ("4", 4)])
def test_null_in_the_environment_unsets_a_nullable_field(text, expected):
    config = {"adaptation": {"ort_threads": 2}}
    env = {"CSI_RAPP_ADAPTATION_ORT_THREADS": text}
    assert Settings.from_mapping(config, env=env).adaptation.ort_threads == expected


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"loop": {"poll_s": 0}}, "loop.poll_s"),
        ({"loop": {"poll_s": "fast"}}, "loop.poll_s"),
        ({"loop": {"colour": "red"}}, "loop.colour"),
        ({"colour": {}}, "colour"),
        ({"api": {"port": 70000}}, "api.port"),
        ({"a1": {"url": "ftp://ric"}}, "a1.url"),
        ({"adaptation": {"method": "full-finetune"}}, "adaptation.method"),
        ({"drift": {"series": []}}, "drift.series"),
        ({"drift": {"series": ["a", "a"]}}, "drift.series"),
        ({"jobs": {"memory_limit": "lots"}}, "jobs.memory_limit"),
        ({"jobs": {"enabled": "yes"}}, "jobs.enabled"),
        ({"loop": {"min_fresh_samples": 100}}, "loop.min_fresh_samples"),
        ({"loop": {"max_samples": 300, "min_fresh_samples": 400}}, "loop.max_samples"),
        ({"adaptation": {"max_samples": 100}}, "adaptation.max_samples"),
        ({"adaptation": {"val_fraction": 0.5, "held_out_fraction": 0.5}}, "adaptation."),
        ({"drift": {"min_points": 10, "history_points": 10}}, "drift.min_points"),
        ({"drift": {"lower_is_worse": ["throughput"]}}, "drift.lower_is_worse"),
        ({"jobs": {"enabled": True, "store_uri": "/s"}}, "jobs.image"),
        ({"jobs": {"enabled": True, "image": "lasco:1"}}, "jobs.store_uri"),
        ({"jobs": {"image_pull_policy": "Sometimes"}}, "jobs.image_pull_policy"),
        ({"jobs": {"gpu_node_selector": {"gpu type": "h100"}}}, "jobs.gpu_node_selector"),
        ({"jobs": {"gpu_node_selector": {"gpu": "h100 80gb"}}}, "jobs.gpu_node_selector"),
        ({"jobs": {"gpu_node_selector": {"gpu": 1}}}, "jobs.gpu_node_selector"),
        ({"jobs": {"gpu_node_selector": ["gpu=h100"]}}, "jobs.gpu_node_selector"),
        ({"jobs": {"gpu_tolerations": [{"key": "gpu", "operator": "In"}]}}, "jobs.gpu_tolerations"),
        ({"jobs": {"gpu_tolerations": [{"key": "gpu", "efect": "NoSchedule"}]}}, "jobs.gpu_"),
        ({"jobs": {"gpu_tolerations": [{"key": "gpu", "effect": "Never"}]}}, "jobs.gpu_"),
        ({"jobs": {"gpu_tolerations": ["nvidia.com/gpu"]}}, "jobs.gpu_tolerations"),
        ({"jobs": {"gpu_tolerations": {"key": "gpu"}}}, "jobs.gpu_tolerations"),
        ({"jobs": {"env_from_secrets": ["AWS_ACCESS_KEY_ID=AKIA0"]}}, "jobs.env_from_secrets"),
        ({"jobs": {"env_from_secrets": ["s3", "s3"]}}, "jobs.env_from_secrets"),
        ({"jobs": {"env_from_secrets": "s3"}}, "jobs.env_from_secrets"),
        ([], "settings file"),
    ],
)
def test_bad_settings_name_the_field(config, field):
    with pytest.raises(SettingsError) as exc:
        Settings.from_mapping(config, env={})
    assert exc.value.field.startswith(field) and exc.value.env is None
    assert f"setting {exc.value.field}:" in str(exc.value)


@pytest.mark.parametrize(
    ("var", "text", "field"),
    [
        ("CSI_RAPP_LOOP_POLL_S", "soon", "loop.poll_s"),
        ("CSI_RAPP_LOOP_POLL_S", "-1", "loop.poll_s"),
        ("CSI_RAPP_API_PORT", "1.5", "api.port"),
        ("CSI_RAPP_JOBS_ENABLED", "maybe", "jobs.enabled"),
        ("CSI_RAPP_DRIFT_SERIES", "a,a", "drift.series"),
        ("CSI_RAPP_LOOP_MIN_FRESH_SAMPLES", "10", "loop.min_fresh_samples"),
        ("CSI_RAPP_JOBS_IMAGE_PULL_POLICY", "always", "jobs.image_pull_policy"),
        ("CSI_RAPP_JOBS_GPU_NODE_SELECTOR", "h100", "jobs.gpu_node_selector"),
        ("CSI_RAPP_JOBS_GPU_NODE_SELECTOR", '{"gpu": ', "jobs.gpu_node_selector"),
        ("CSI_RAPP_JOBS_GPU_NODE_SELECTOR", '["gpu"]', "jobs.gpu_node_selector"),
        ("CSI_RAPP_JOBS_GPU_NODE_SELECTOR", "gpu=h100 80gb", "jobs.gpu_node_selector"),
        ("CSI_RAPP_JOBS_GPU_TOLERATIONS", "nvidia.com/gpu", "jobs.gpu_tolerations"),
        ("CSI_RAPP_JOBS_GPU_TOLERATIONS", '{"key": "gpu"}', "jobs.gpu_tolerations"),
        ("CSI_RAPP_JOBS_GPU_TOLERATIONS", '[{"operator": "In"}]', "jobs.gpu_tolerations"),
        ("CSI_RAPP_JOBS_ENV_FROM_SECRETS", "s3,S3_KEY", "jobs.env_from_secrets"),
    ],
)
def test_bad_environment_values_name_the_variable(var, text, field):
    with pytest.raises(SettingsError) as exc:
        Settings.from_mapping({}, env={var: text})
    assert (exc.value.field, exc.value.env) == (field, var)
    assert f"${var}" in str(exc.value)


def test_settings_built_in_code_are_validated_too():
    from rapp.settings_loop import LoopGroup

    with pytest.raises(SettingsError, match=r"loop\.poll_s"):
        Settings(loop=LoopGroup(poll_s=-1.0))


def test_settings_are_frozen_round_trip_and_hide_the_token():
    s = Settings.from_mapping({"data": {"uri": "/d"}}, env={"CSI_RAPP_TELEMETRY_TOKEN": "s3cret"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.loop.poll_s = 1.0
    assert Settings.from_mapping(s.to_mapping(), env={}) == s
    assert "s3cret" not in repr(s) and "s3cret" not in s.to_json()
    assert json.loads(s.to_json())["telemetry"]["token"] == "***"
    assert s.to_mapping()["telemetry"]["token"] == "s3cret"


def test_load_settings_reads_the_file_named_by_the_environment(tmp_path):
    path = tmp_path / "rapp.json"
    path.write_text(json.dumps({"api": {"port": 9000}, "loop": {"poll_s": 5}}))
    s = load_settings(None, env={CONFIG_ENV: str(path), "CSI_RAPP_API_PORT": "9100"})
    assert (s.api.port, s.loop.poll_s) == (9100, 5)
    assert load_settings(path, env={}).api.port == 9000


@pytest.mark.parametrize(("text", "words"), [(None, "No such file"), ("{", "is not JSON")])
def test_an_unreadable_settings_file_is_named(tmp_path, text, words):
    path = tmp_path / "rapp.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SettingsError, match=words) as exc:
        load_settings(path, env={})
    assert exc.value.field == "settings file"


# -- the parts' own settings -------------------------------------------------------------
def test_the_defaults_are_the_parts_defaults():
    s = Settings()
    assert adaptation_settings(s) == AdaptationSettings()
    assert drift_settings(s) == DriftSettings()
    assert telemetry_settings(s) == TelemetrySettings()
    assert set(settings_schema()["properties"]["adaptation"]["properties"]["method"]["enum"]) == (
        set(ADAPTABLE_METHODS)
    )
    jobs = job_settings(Settings.from_mapping(JOBS_ON | {"data": {"uri": "/d"}}, env={}))
    ours = {"cpu_request", "cpu_limit", "memory_request", "memory_limit", "gpus"}
    ours |= {"image_pull_policy", "gpu_node_selector", "gpu_tolerations", "env_from_secrets"}
    ours |= {"backoff_limit", "run_as_user", "tmp_size_limit", "labels", "env"}
    assert all(getattr(jobs, k) == getattr(JobSettings("i", "d", "m"), k) for k in ours)


def test_the_parts_settings_carry_the_fields():
    config = {
        "adaptation": {
            "lr": 0.01,
            "max_epochs": 7,
            "patience": 3,
            "batch_size": 16,
            "seed": 5,
            "phase_views": 8,
        },
        "loop": {"new_environment_samples": 900, "pending_timeout_s": 60},
        "store": {"policy_uri": "s3://models"},
        "a1": {"url": "pms+http://pms:8081?ric_id=ric1", "service_id": "me", "attempts": 2},
        "telemetry": {"url": "/var/log/xapp.lp", "token": "t"},
    }
    s = Settings.from_mapping(config, env={})
    a = adaptation_settings(s)
    assert (a.adapt.lr, a.adapt.max_epochs, a.adapt.patience, a.adapt.batch_size) == (
        0.01,
        7,
        3,
        16,
    )
    assert a.seed == a.adapt.seed == 5 and a.phase_views == 8
    c = controller_settings(s)
    assert (c.new_environment_samples, c.pending_timeout_s, c.store_uri) == (
        900,
        60,
        "s3://models",
    )
    a1 = a1_settings(s)
    assert (a1.kind, a1.base_url, a1.ric_id, a1.service_id, a1.attempts) == (
        "pms",
        "http://pms:8081",
        "ric1",
        "me",
        2,
    )
    t = telemetry_settings(s)
    assert (t.url, t.token) == ("/var/log/xapp.lp", "t")


def test_check_builds_every_part():
    config = {**JOBS_ON, "data": {"uri": "/d"}, "jobs": {"enabled": True, "image": "lasco:1"}}
    check(Settings.from_mapping(config, env={}))


_TOL = "jobs.gpu_tolerations"


def _jobs_tolerating(toleration: dict) -> dict:
    """Settings with Jobs on whose GPU toleration is ``toleration``."""
    jobs = {"enabled": True, "image": "lasco:1", "gpu_tolerations": [toleration]}
    return JOBS_ON | {"data": {"uri": "/d"}, "jobs": jobs}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({}, "data.uri"),
        ({"data": {"uri": "/d"}, "a1": {"url": "a1p+http://ric?colour=red"}}, "a1.url"),
        (_jobs_tolerating({"key": "gpu", "operator": "Exists", "value": "yes"}), _TOL),
        (_jobs_tolerating({"operator": "Equal", "value": "yes"}), _TOL),
        (_jobs_tolerating({"key": "gpu", "effect": "NoSchedule", "tolerationSeconds": 60}), _TOL),
    ],
    ids=[
        "no-data-store",
        "a1-url",
        "exists-with-a-value",
        "no-key-without-exists",
        "seconds-without-no-execute",
    ],
)
def test_check_names_the_field_a_part_refuses(config, field):
    with pytest.raises(SettingsError) as exc:
        check(Settings.from_mapping(config, env={}))
    assert exc.value.field == field


# -- the generated schema and reference ----------------------------------------------------
@pytest.mark.parametrize("path", list(rendered()), ids=lambda p: p.name)
def test_the_generated_files_are_up_to_date(path):
    assert path.read_text() == rendered()[path], "run `python -m rapp.settings_docs`"


def test_check_mode_reports_up_to_date():
    assert docs_main(["--check"]) == 0
