"""Learning-rate trials: run first, chosen on validation, their cells taken over, and a
worker whose cells wait for another worker's trials."""

import copy
import json
import re
import socket
import subprocess
import threading
from dataclasses import replace

import pytest

from lasco.train import AdaptConfig
from studies.config import StudyConfig, cell_key, chosen_lr, lr_key, study_plan
from studies.state import StudyState
from tests.studies.tiny import run_tiny

CFG = StudyConfig(
    targets=("101", "102"),
    samples_per_target=40,
    ns=(8,),
    methods=("lam-only", "e-lasco", "side"),
    curve_methods=None,
    adapt=AdaptConfig(max_epochs=3, patience=2, batch_size=4, warmup_epochs=1),
    lr_grid=(1e-3, 1e-4),
    tune_targets=("101",),
    seed_methods=(),
    extra_seeds=(),
)


def _ran(logs):
    hits = (re.match(r"\[\d+\] (\S+) n=(\S+) region (\S+):", line) for line in logs)
    return [f"{m[1]}|{m[2]}|{m[3]}" for m in hits if m]


@pytest.fixture(scope="module")
def trials(tiny, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trials")
    logs: list[str] = []
    state = folder / "t.state.json"
    report = run_tiny(CFG, tiny.lam, tiny.ref, tiny.cache, state, log=logs.append)
    return report, logs, json.loads(state.read_text())["cells"]


def test_the_trials_run_first_and_every_cell_once(trials):
    _, logs, _ = trials
    ran = _ran(logs)
    plan = [cell_key(*c) for c in study_plan(CFG)]
    assert sorted(ran) == sorted(plan) and len(plan) == 4 + 3 * 2
    assert set(ran[:4]) == {cell_key(lr_key(m, g), 8, "101") for m in ("e-lasco", "side")
                            for g in CFG.lr_grid}  # fmt: skip


def test_each_method_adapts_at_the_rate_its_trials_chose(trials):
    report, _, cells = trials
    for m in ("e-lasco", "side"):
        lr = chosen_lr(CFG, cells, m)
        means = {g: min(cells[cell_key(lr_key(m, g), 8, "101")]["val_curve"]) for g in CFG.lr_grid}
        assert lr == min(means, key=means.get)
        assert cells[cell_key(m, 8, "102")]["lr"] == lr  # a region outside the trials
        assert report["methods"][m]["lr"] == lr
        assert report["methods"][m]["lr_trials"] == {
            f"{g:g}": round(v, 4) for g, v in means.items()
        }
    assert "lr" not in cells[cell_key("lam-only", 8, "102")]


def test_a_headline_cell_on_a_trial_region_is_its_trial_taken_over(trials):
    _, _, cells = trials
    for m in ("e-lasco", "side"):
        own, trial = (
            cells[cell_key(m, 8, "101")],
            cells[cell_key(lr_key(m, chosen_lr(CFG, cells, m)), 8, "101")],
        )
        assert own["taken_from_trial"] is True
        assert {k: v for k, v in own.items() if k != "taken_from_trial"} == trial


def test_a_worker_waits_for_the_trials_another_worker_runs(tiny, tmp_path):
    """Shard 1 runs what it can, then waits while a live worker holds a trial it needs,
    and goes on once that trial is saved."""
    state_path, claims = tmp_path / "w.state.json", tmp_path / "w.state.claims.json"
    held = cell_key(lr_key("side", 1e-3), 8, "101")
    busy = subprocess.Popen(["sleep", "120"])
    claims.write_text(json.dumps({held: {"host": socket.gethostname(), "pid": busy.pid}}))
    logs: list[str] = []

    def finish_the_held_trial():
        other = StudyState(state_path, CFG.hash(tiny.lam, tiny.ref), resume=True)
        other.save(held, {"nmse_db": -1.0, "gcs": 0.5, "n": 8, "val_curve": [0.0, -9.0],
                          "lr": 1e-3, "stopped_early": True})  # fmt: skip
        busy.kill()

    def once_waiting():  # the worker has run every cell that does not need the trial
        while not any("side|8" in k for k in _ran(logs)) and len(_ran(logs)) < 7:
            threading.Event().wait(0.05)
        finish_the_held_trial()

    watcher = threading.Thread(target=once_waiting, daemon=True)
    watcher.start()
    try:
        run_tiny(replace(CFG), tiny.lam, tiny.ref, tiny.cache, state_path, resume=True,
                 shard=(1, 2), log=logs.append, wait_s=0.1)  # fmt: skip
    finally:
        busy.kill()
        busy.wait()
    watcher.join(5)
    ran = _ran(logs)
    side_cells = [k for k in ran if k.startswith("side|")]
    assert held not in ran and len(side_cells) == 2
    # the side cells came last: after the held trial was saved, with the rate it won
    assert ran.index(side_cells[0]) == 7
    cells = json.loads(state_path.read_text())["cells"]
    assert cells[cell_key("side", 8, "102")]["lr"] == 1e-3  # its -9 dB trial wins
    assert len(cells) == len(study_plan(CFG))


def test_the_report_names_the_regions_the_trials_ran_on(trials):
    from studies.report import markdown

    report, _, _ = trials
    assert report["tuning_regions"] == ["101"]
    meta = {"lam_preset": "tiny", "sam_preset": "tiny", "projection_id": "p", "ratio": "1/4"}
    assert "trials at n = 8 on regions 101," in markdown(report, meta)
    # without tune_targets the trials run on the first two targets, and the report says so
    wider = copy.deepcopy(report) | {"target_regions": ["101", "102", "103", "104"]}
    wider["config"]["tune_targets"] = None
    wider["tuning_regions"] = list(
        replace(CFG, tune_targets=None, targets=("101", "102", "103", "104")).tuning
    )
    text = markdown(wider, meta)
    assert "trials at n = 8 on regions 101, 102, at most" in text
