"""Settings from the descriptor's controls and the environment, as build_core uses them."""

import json
from pathlib import Path

import pytest

from schemas import SchemaValidationError
from xapp.app import build_core
from xapp.settings import Settings

EXAMPLE = json.loads((Path(__file__).parents[2] / "schemas" / "xapp-controls.json").read_text())[
    "examples"
][0]


def test_controls_and_environment_overrides():
    s = Settings.from_controls(EXAMPLE, env={})
    assert s.e2_nodes == ("gnb-001", "gnb-002") and s.max_batch == 256
    assert s.runtime_workers is None  # all the cores the process may use
    s = Settings.from_controls(
        dict(EXAMPLE, runtime_workers=3),
        env={"LASCO_STORE_URI": "s3://models", "INFLUX_TOKEN": "t", "XAPP_NAME": "csi-b"},
    )
    assert (s.runtime_workers, s.store_uri, s.influx_token, s.xapp_name) == (
        3,
        "s3://models",
        "t",
        "csi-b",
    )
    s = Settings.from_controls(dict(EXAMPLE, runtime_workers=3), env={"LASCO_RUNTIME_WORKERS": "2"})
    assert s.runtime_workers == 2  # the pod's CPU limit, set by the chart, wins


@pytest.mark.parametrize("bad", [0, -1, "4", 1000])
def test_bad_runtime_workers_in_controls_name_the_field(bad):
    with pytest.raises(SchemaValidationError, match="runtime_workers"):
        Settings.from_controls(dict(EXAMPLE, runtime_workers=bad), env={})


@pytest.mark.parametrize("bad", ["0", "two", "-3", "1.5"])
def test_bad_runtime_workers_in_the_environment_is_refused(bad):
    with pytest.raises(ValueError, match="LASCO_RUNTIME_WORKERS"):
        Settings.from_controls(EXAMPLE, env={"LASCO_RUNTIME_WORKERS": bad})


def test_build_core_gives_the_runtime_the_configured_workers(world):
    keys = [str(p) for p in (world.root / "keys").glob("*.pub")]
    controls = {"store": {"uri": str(world.root / "store"), "trusted_keys": keys}}
    for workers in (1, 3):
        settings = Settings.from_controls(dict(controls, runtime_workers=workers), env={})
        core = build_core(settings)
        assert core.runtime.workers == workers
        core.runtime.close()
