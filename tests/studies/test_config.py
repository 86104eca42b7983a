"""The study's settings, its cell keys and its plan."""

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
    is_headline,
    seed_key,
    split_key,
    study_plan,
    trained_method,
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return build_model("tiny").eval(), build_model("tiny").eval()


@pytest.mark.parametrize(
    "key, parts",
    [
        ("lasco", ("lasco", None, None)),
        (seed_key("e-lasco", 2), ("e-lasco", None, 2)),
        (alpha_key(0.25), (None, 0.25, None)),
    ],
)
def test_plan_keys_split_into_method_alpha_and_seed(key, parts):
    assert split_key(key) == parts


@pytest.mark.parametrize(
    "key, method",
    [("lora", "lora"), ("no-reference#seed1", "no-reference"), ("alpha=0.5", "e-lasco")],
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
    ],
    ids=["roles", "seed_methods", "extra_seeds"],
)
def test_settings_that_change_no_cell_keep_the_hash(models, change):
    cfg = StudyConfig()
    assert replace(cfg, **change).hash(*models) == cfg.hash(*models)


@pytest.mark.parametrize(
    "change",
    [{"methods": ("lasco",)}, {"alpha_grid": (2.0,)}, {"ns": (300,)}],
    ids=["methods", "alpha_grid", "ns"],
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
    cfg = StudyConfig()
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
    cfg = StudyConfig()
    keys = {m for m, _, _ in study_plan(cfg)}
    assert set(METHODS) <= keys
    assert {seed_key(m, s) for m in cfg.seed_methods for s in cfg.extra_seeds} <= keys
    assert {alpha_key(a) for a in cfg.alpha_grid} <= keys
