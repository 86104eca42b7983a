"""Where a study stands: cells done per stage and the time the rest should take."""

from dataclasses import replace

import pytest

from studies.config import Roles
from studies.presets import STUDIES
from studies.progress import remaining_seconds, study_progress

HEADLINE = "headline: every method at n = 1000, LAM fully fine-tuned at n = all"


def test_the_time_left_scales_each_method_by_its_cost_per_epoch():
    """An epoch costs 3 forwards per training sample and 1 per validation sample."""
    cells = {
        "lasco|1000|101": {"n": 1000, "train_seconds": 35.0},  # 3,500 units: 0.01 s each
        "lasco|all|102": {"n": 4000, "train_seconds": 250.0},  # 12,500 units: 0.02 s each
        "lam-only|1000|101": {"n": 1000, "nmse_db": -7.0},  # trains nothing
        "lam-finetune|1000|101": {"n": 1000, "train_seconds": 350.0},  # 0.1 s a unit
    }
    left = [("lasco", 100, "103"), ("lasco", "all", "103"), ("alpha=0.5", 1000, "103")]
    left += [("lam-only", 3000, "103"), ("lam-finetune", 300, "101")]
    # alpha cells cost what E-LASCO cells do: no E-LASCO cell yet, so no estimate
    assert remaining_seconds(cells, left, 4000, 500, roles=Roles()) is None
    cells["e-lasco|1000|101"] = {"n": 1000, "train_seconds": 70.0}  # 0.02 s a unit
    expected = 0.015 * (300 + 500) + 0.015 * (12000 + 500) + 0.02 * 3500 + 0 + 0.1 * 1400
    assert remaining_seconds(cells, left, 4000, 500, roles=Roles()) == pytest.approx(expected)


def test_alpha_cells_cost_what_the_learned_alpha_role_costs():
    cells = {"lasco|1000|101": {"n": 1000, "train_seconds": 35.0}}
    left = [("alpha=0.5", 1000, "103")]
    assert remaining_seconds(cells, left, 4000, roles=Roles()) is None
    assert remaining_seconds(cells, left, 4000, roles=Roles(learned_alpha="lasco")) == 35.0


def test_progress_counts_each_stage_of_the_plan():
    cfg = STUDIES["study"]
    cells = {
        "lasco|1000|101": {"n": 1000, "train_seconds": 35.0},
        "lam-finetune|all|104": {"n": 4000, "train_seconds": 100.0},
        "alpha=0.5|1000|101": {"n": 1000, "train_seconds": 35.0},
    }
    rows = {r["stage"]: r for r in study_progress(cfg, cells)}
    assert list(rows) == [
        HEADLINE,
        "n = all",
        "seed reruns, n = 1000: lasco, e-lasco, no-reference",
        "n = 100",
        "n = 300",
        "alpha sweep, n = 1000",
        "n = 3000",
    ]
    head = rows[HEADLINE]
    assert (head["done"], head["planned"]) == (2, 100)
    assert (rows["n = all"]["done"], rows["n = all"]["planned"]) == (0, 80)
    assert rows["alpha sweep, n = 1000"]["done"] == 1
    assert rows["alpha sweep, n = 1000"]["hours_left"] == pytest.approx(79 * 35 / 3600, abs=0.01)
    assert rows["n = 100"]["hours_left"] is None  # most methods have no cell to go by
    assert sum(r["planned"] for r in rows.values()) == 590


def test_the_headline_stage_names_the_full_finetuning_role():
    cfg = replace(STUDIES["study"], roles=Roles(full_finetune="lora"))
    stages = [r["stage"] for r in study_progress(cfg, {})]
    assert stages[0] == "headline: every method at n = 1000, LoRA on the LAM (PEFT) at n = all"


def test_the_comparison_tries_rates_before_its_headline():
    cfg = STUDIES["comparison"]
    rows = study_progress(cfg, {})
    assert rows[0]["stage"] == "learning-rate trials, n = 1000: regions 101, 102"
    trained = sum(1 for m in cfg.methods if m not in ("lam-only", "sam-only"))
    assert rows[0]["planned"] == trained * len(cfg.lr_grid) * len(cfg.tuning)
    assert rows[1]["stage"] == HEADLINE
