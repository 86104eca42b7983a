"""A study with a wider rate grid takes over the runs of the narrower one it would repeat
exactly, and runs the rest."""

import json
import re
from dataclasses import replace

import pytest

from lasco.errors import ConfigError
from studies.config import cell_key, chosen_lr, lr_key, study_plan
from studies.presets import STUDIES
from studies.reuse import report_stem
from studies.state import StudyState
from tests.studies.test_trials import CFG
from tests.studies.tiny import run_tiny

WIDE = replace(CFG, lr_grid=(3e-3, *CFG.lr_grid), reuses="narrow")
NEW = 3e-3


def _logged(logs):
    """{cell key: 'reused' or 'ran'} from the runner's log lines."""
    out = {}
    for line in logs:
        if m := re.match(r"\[\d+\] (\S+) n=(\S+) region (\S+): \S+ dB \((from|\d+ s)", line):
            out[f"{m[1]}|{m[2]}|{m[3]}"] = "reused" if m[4] == "from" else "ran"
    return out


def _fake_trial(old: dict, method: str, val_db: float) -> dict:
    """A trial of ``method`` at the new rate: its old one's record, another curve."""
    cell = old[cell_key(lr_key(method, CFG.lr_grid[0]), 8, "101")]
    return dict(cell, lr=NEW, lam_lr=NEW, val_curve=[val_db, val_db])


@pytest.fixture(scope="module")
def widened(tiny, tmp_path_factory):
    """The narrow study run, then the wide one reusing it: its new trials saved first so
    that the side network chooses the new rate (a -99 dB trial) and E-LASCO keeps its old
    one (+99 dB)."""
    folder = tmp_path_factory.mktemp("reuse")
    narrow = folder / "narrow.state.json"
    run_tiny(CFG, tiny.lam, tiny.ref, tiny.cache, narrow)
    before = narrow.read_bytes()
    wide = folder / "wide.state.json"
    state = StudyState(wide, WIDE.hash(tiny.lam, tiny.ref), resume=True)
    old = json.loads(before)["cells"]
    state.save(cell_key(lr_key("side", NEW), 8, "101"), _fake_trial(old, "side", -99.0))
    state.save(cell_key(lr_key("e-lasco", NEW), 8, "101"), _fake_trial(old, "e-lasco", 99.0))
    logs: list[str] = []
    run_tiny(WIDE, tiny.lam, tiny.ref, tiny.cache, wide, resume=True, log=logs.append,
             reuse=(CFG, narrow))  # fmt: skip
    return (
        old,
        json.loads(wide.read_text())["cells"],
        _logged(logs),
        (before, narrow.read_bytes()),
    )


def test_runs_at_the_rates_both_grids_hold_are_reused(widened):
    old, new, logged, _ = widened
    for m in ("e-lasco", "side"):
        for g in CFG.lr_grid:
            k = cell_key(lr_key(m, g), 8, "101")
            assert logged[k] == "reused"
            assert new[k] == dict(old[k], reused_from="narrow")
    for r in ("101", "102"):  # a method that does not train
        assert logged[cell_key("lam-only", 8, r)] == "reused"


def test_a_method_whose_rate_validation_keeps_reuses_its_cells(widened):
    old, new, logged, _ = widened
    lr = chosen_lr(CFG, old, "e-lasco")
    assert chosen_lr(WIDE, new, "e-lasco") == lr
    k = cell_key("e-lasco", 8, "102")
    assert logged[k] == "reused" and new[k]["lr"] == lr


def test_a_method_that_now_chooses_another_rate_runs_again(widened):
    old, new, logged, _ = widened
    assert chosen_lr(WIDE, new, "side") == NEW != old[cell_key("side", 8, "102")]["lr"]
    k = cell_key("side", 8, "102")
    assert logged[k] == "ran" and new[k]["lr"] == NEW and "reused_from" not in new[k]
    # on the trial region the cell is its new trial, taken over
    assert new[cell_key("side", 8, "101")]["taken_from_trial"] is True


def test_every_cell_is_done_and_the_reused_state_file_is_untouched(widened):
    _, new, _, (before, after) = widened
    assert set(new) == {cell_key(*c) for c in study_plan(WIDE)}
    assert before == after


def test_a_study_that_differs_in_more_than_the_grid_is_refused(tiny, tmp_path):
    other = replace(CFG, phase_views=2)
    with pytest.raises(ConfigError, match="more than the learning-rate grid"):
        run_tiny(WIDE, tiny.lam, tiny.ref, tiny.cache, tmp_path / "w.state.json",
                 reuse=(other, tmp_path / "o.state.json"))  # fmt: skip


def test_a_state_file_of_other_settings_is_refused(tiny, tmp_path):
    other = tmp_path / "o.state.json"
    other.write_text(json.dumps({"config_hash": "0" * 16, "cells": {}}))
    with pytest.raises(ConfigError, match=r"other settings or other models.*nothing was changed"):
        run_tiny(WIDE, tiny.lam, tiny.ref, tiny.cache, tmp_path / "w.state.json",
                 reuse=(CFG, other))  # fmt: skip


def test_the_wide_augmented_preset_reuses_the_augmented_one():
    wide, base = STUDIES["augmented-wide"], STUDIES[STUDIES["augmented-wide"].reuses]
    assert replace(base, lr_grid=wide.lr_grid, reuses=wide.reuses) == wide
    assert set(base.lr_grid) < set(wide.lr_grid)
    assert report_stem("study") == "adaptation" and report_stem("augmented") == "augmented"
