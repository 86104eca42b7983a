"""The closed loop end to end on a small plan: two cells on two E2 nodes, one moves into a new
environment; the rApp (this process) sees the drift in the xApp's telemetry (a real InfluxDB),
adapts, publishes and deploys by A1 through the local mediator to the xApp (a child process)."""

import json

import pytest

from lasco.train import AdaptConfig
from lasco_ric.demo import run_demo
from lasco_ric.demo_world import DemoPlan
from model_store import ModelStore, TrustedKeys
from schemas import Mode

# The shipped LAM already reaches about -12 dB in region 102: a plug-in needs some 800 fresh
# samples and 30 epochs to beat it on the held-out split (by 0.27-0.33 dB in trials), so that
# is the smallest plan whose adaptation is reliably accepted. Each environment holds more
# channels than an adaptation takes, so its validation split is not its training data again.
# The rApp adapts a side network with phase views: the path through the LAM's hidden states
# (its h_taps output), a proxy in mode side and an A1 policy in that mode, end to end (the
# proxy SAM path is the rApp's and xApp's own tests').
PLAN = DemoPlan(
    scenario={
        "period_ms": 10,
        "ues_per_report": 32,
        "label_fraction": 0.25,
        "samples_per_environment": 1000,
        "nodes": [
            {"id": "gnb-1", "cells": [{"id": "cell-1", "environment": "11"}]},
            {"id": "gnb-2", "cells": [{"id": "cell-2", "environment": "12"}]},
        ],
    },
    drift={"cell-1": "102"},
    warmup_s=8.0,
    settle_s=3.0,
    max_wait_s=120.0,
    min_fresh_samples=800,
    adapt=AdaptConfig(max_epochs=30, patience=30),
    gate_margin_db=0.0,
    method="side",
    phase_views=4,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, channel_cache):
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    summary = run_demo(out, plan=PLAN, say=lines.append, cache=str(channel_cache.root))
    return out, summary, lines


pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_the_moved_cell_is_detected_adapted_and_deployed(demo):
    _, summary, lines = demo
    moved, stayed = summary["cells"]
    assert (moved["cell"], moved["env_before"], moved["env_after"]) == ("cell-1", "11", "102")
    assert moved["drifted"] and moved["adapted"] and moved["reason"] == "accepted"
    assert moved["sam_version"] == 1 and moved["nmse_db_after_adaptation"] is not None
    assert not stayed["drifted"] and not stayed["adapted"] and stayed["sam_version"] is None
    assert (summary["adaptations"], summary["declined"], summary["a1_errors"]) == (1, 0, 0)
    assert [line.split()[0] for line in lines if line.split()[0] in ("trigger", "a1")] == [
        "trigger",
        "a1",
    ]


def test_no_report_is_dropped_and_every_cell_is_measured(demo):
    _, summary, _ = demo
    for key in ("nmse_db_before_drift", "nmse_db_after_drift", "served", "p99_ms"):
        assert all(c[key] is not None for c in summary["cells"]), key
    assert all(c["dropped"] == 0 and c["served"] > 0 for c in summary["cells"])


def test_the_outputs_and_the_settings_it_ran_with_are_written(demo):
    out, summary, _ = demo
    assert json.loads((out / "summary.json").read_text())["cells"] == summary["cells"]
    report = (out / "report.md").read_text()
    assert "| cell-1 | 11 | 102 |" in report and "nmse_over_time.png" in report
    assert (out / "nmse_over_time.png").stat().st_size > 0
    controls = json.loads((out / "xapp-controls.json").read_text())
    store = ModelStore(controls["store"]["uri"], TrustedKeys(controls["store"]["trusted_keys"]))
    proxy = store.fetch("proxy-cell-1.1").manifest
    assert proxy.environment_id == "cell-1.1" and proxy.mode is Mode.SIDE
    assert proxy.training["phase_views"] == 4
    settings = json.loads((out / "rapp-settings.json").read_text())["adaptation"]
    assert (settings["method"], settings["phase_views"]) == ("side", 4)
    assert set(summary["stages_s"]) == {
        "start",
        "warm-up",
        "detect, adapt, deploy",
        "settle",
        "report",
    }
