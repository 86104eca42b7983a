"""The study's settings, its cell keys and its plan."""

import json
from dataclasses import replace

import pytest
import torch

from lasco.collab import METHODS
from lasco.models import build_model
from studies.config import (
    ALL,
    Roles,
    StudyConfig,
    alpha_key,
    cell_key,
    cell_label,
    chosen_lr,
    is_headline,
    is_trial,
    lr_decided,
    lr_key,
    lr_trials,
    seed_key,
    split_key,
    study_plan,
    trained_method,
)
from studies.presets import STUDIES


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return build_model("tiny").eval(), build_model("tiny").eval()


@pytest.mark.parametrize(
    "key, parts",
    [
        ("lasco", ("lasco", None, None, None)),
        (seed_key("e-lasco", 2), ("e-lasco", None, 2, None)),
        (alpha_key(0.25), (None, 0.25, None, None)),
        (lr_key("side", 3e-4), ("side", None, None, 3e-4)),
    ],
)
def test_plan_keys_split_into_method_alpha_seed_and_rate(key, parts):
    assert split_key(key) == parts


@pytest.mark.parametrize(
    "key, method",
    [
        ("lora", "lora"),
        ("no-reference#seed1", "no-reference"),
        ("alpha=0.5", "e-lasco"),
        ("refiner@lr=0.001", "refiner"),
    ],
)
def test_the_method_a_plan_key_trains(key, method):
    assert trained_method(key, Roles()) == method


def test_an_alpha_cell_trains_the_learned_alpha_role():
    assert trained_method("alpha=0.5", Roles(learned_alpha="lasco")) == "lasco"


def test_cell_keys_and_labels():
    assert cell_key("lasco", 300, "104") == "lasco|300|104"
    assert cell_label("lasco|300|104") == "lasco n=300 region 104"


def test_the_default_roles_are_methods_and_the_headline_is_the_first_size():
    assert Roles().unknown() == []
    assert Roles(proposed="e_lasco").unknown() == ["e_lasco"]
    assert StudyConfig().headline_n == 1000
    assert StudyConfig(ns=(300, ALL)).headline_n == 300


@pytest.mark.parametrize(
    "change",
    [
        {"roles": Roles(proposed="lasco")},
        {"seed_methods": ("lora",)},
        {"extra_seeds": (7,)},
        {"reuses": "augmented"},
    ],
    ids=["roles", "seed_methods", "extra_seeds", "reuses"],
)
def test_settings_that_change_no_cell_keep_the_hash(models, change):
    cfg = StudyConfig()
    assert replace(cfg, **change).hash(*models) == cfg.hash(*models)


@pytest.mark.parametrize(
    "change",
    [{"methods": ("lasco",)}, {"alpha_grid": (2.0,)}, {"ns": (300,)}, {"phase_views": 4}],
    ids=["methods", "alpha_grid", "ns", "phase_views"],
)
def test_settings_that_change_cells_change_the_hash(models, change):
    cfg = StudyConfig()
    assert replace(cfg, **change).hash(*models) != cfg.hash(*models)


def test_other_weights_change_the_hash(models):
    lam, ref = models
    other = build_model("tiny").eval()
    assert StudyConfig().hash(lam, other) != StudyConfig().hash(lam, ref)


@pytest.mark.parametrize(
    "cell, headline",
    [
        (("lora", 1000, "101"), True),
        (("lam-finetune", ALL, "101"), True),
        (("lora", ALL, "101"), False),
        (("lasco#seed1", 1000, "101"), False),
        (("alpha=0.5", 1000, "101"), False),
    ],
)
def test_the_headline_cells(cell, headline):
    assert is_headline(StudyConfig(), cell) is headline


def test_the_headline_follows_the_full_finetuning_role():
    cfg = StudyConfig(roles=Roles(full_finetune="lora"))
    assert is_headline(cfg, ("lora", ALL, "101"))
    assert not is_headline(cfg, ("lam-finetune", ALL, "101"))


def test_after_the_headline_cells_the_cheapest_run_first():
    """The study's own plan: every method at n = 1,000 and the LAM fine-tuned on all
    samples, then the rest of n = all, the seed reruns, then n = 100, 300, the alpha sweep
    (at 1,000), 3,000."""
    cfg = STUDIES["study"]
    plan = study_plan(cfg)
    assert len(plan) == len(set(plan)) == 590
    head = len(cfg.methods) * len(cfg.targets) + len(cfg.targets)
    assert all(n == 1000 or (m, n) == ("lam-finetune", ALL) for m, n, _ in plan[:head])
    stages = []
    for m, n, _ in plan[head:]:
        stage = "alpha" if m.startswith("alpha=") else "seeds" if "#seed" in m else str(n)
        if not stages or stages[-1] != stage:
            stages.append(stage)
    assert stages == ["all", "seeds", "100", "300", "alpha", "3000"]
    assert plan[head] == ("lam-only", ALL, "101")  # regions, then methods, in order


def test_the_plan_holds_every_method_seed_rerun_and_alpha():
    cfg = STUDIES["study"]
    keys = {m for m, _, _ in study_plan(cfg)}
    assert set(cfg.methods) <= keys
    assert {seed_key(m, s) for m in cfg.seed_methods for s in cfg.extra_seeds} <= keys
    assert {alpha_key(a) for a in cfg.alpha_grid} <= keys


def test_the_first_study_keeps_its_hash_under_the_settings_added_since(models):
    """Settings at the values that reproduce the first study stay out of its hash."""
    cfg = STUDIES["study"]
    assert cfg.lr_grid == () and cfg.curve_methods is None and cfg.adapt.warmup_epochs == 0
    assert replace(cfg, lr_grid=(1e-3,)).hash(*models) != cfg.hash(*models)
    warm = replace(cfg, adapt=replace(cfg.adapt, warmup_epochs=5))
    assert warm.hash(*models) != cfg.hash(*models)


def test_the_comparison_plan_tries_rates_first_then_runs_every_method():
    cfg = STUDIES["comparison"]
    assert cfg.adapt.max_epochs == 300 and cfg.adapt.patience == 30
    assert cfg.adapt.warmup_epochs == 5 and {1e-3, 3e-4} <= set(cfg.lr_grid)
    assert {"refiner", "side"} <= set(cfg.methods) and cfg.tuning == ("101", "102")
    plan = study_plan(cfg)
    assert len(plan) == len(set(plan))
    trained = [m for m in cfg.methods if METHODS[m].trains]
    trials = [c for c in plan if is_trial(c)]
    assert len(trials) == len(trained) * len(cfg.lr_grid) * len(cfg.tuning)
    assert plan[: len(trials)] == trials  # every trial before any other cell
    assert {(m, r) for m in cfg.methods for r in cfg.targets} == {
        (m, r)
        for m, n, r in plan
        if n == cfg.headline_n and not is_trial((m, n, r)) and "#" not in m
    }
    # the other sizes hold the curve's methods only
    assert {m for m, n, _ in plan if n in (100, 300, 3000)} == set(cfg.curve_methods)


def _trial_cells(cfg, method, vals):
    return {
        cell_key(lr_key(method, g), cfg.headline_n, r): {"val_curve": [0.0, v + i * 0.01]}
        for g, v in vals.items()
        for i, r in enumerate(cfg.tuning)
    }


def test_validation_chooses_each_methods_rate():
    cfg = replace(STUDIES["comparison"], lr_grid=(1e-3, 3e-4), tune_targets=("101", "102"))
    cells = _trial_cells(cfg, "side", {1e-3: -5.0, 3e-4: -6.0})
    assert lr_decided(cfg, cells, "side") and chosen_lr(cfg, cells, "side") == 3e-4
    assert lr_trials(cfg, cells, "side") == pytest.approx({1e-3: -4.995, 3e-4: -5.995})
    del cells[cell_key(lr_key("side", 1e-3), 1000, "102")]
    assert not lr_decided(cfg, cells, "side")
    with pytest.raises(LookupError, match="1 of 2 rates"):
        chosen_lr(cfg, cells, "side")
    one = replace(cfg, lr_grid=(3e-4,))
    assert not one.trials() and chosen_lr(one, {}, "side") == 3e-4
    assert chosen_lr(replace(cfg, lr_grid=()), {}, "side") is None


def test_the_committed_comparison_state_still_resumes_with_the_shipped_models():
    """The comparison runs for days in sessions that resume its state file: a change to its
    preset or to the shipped models that moved the hash would silently discard its cells."""
    from pathlib import Path

    from lasco.export import store_models

    state = Path(__file__).parents[2] / "reports" / "comparison.state.json"
    if not state.is_file():
        pytest.skip("no comparison state committed (reports/comparison.state.json)")
    lam, ref, *_ = store_models(None, [])
    assert STUDIES["comparison"].hash(lam, ref) == json.loads(state.read_text())["config_hash"]
