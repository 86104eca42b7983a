"""The report JSON from finished cells."""

import pytest
import torch

from lasco.models import build_model, count_params
from studies.config import Roles, StudyConfig
from studies.summary import summarise

CFG = StudyConfig(
    targets=("101", "102"),
    ns=(1000, "all"),
    methods=("lam-only", "lasco", "e-lasco"),
    alpha_grid=(0.5,),
    seed_methods=("lasco",),
    extra_seeds=(1,),
)


def _cell(nmse, **more):
    return {"nmse_db": nmse, "gcs": 0.5, "trainable_params": 10, "n": 1000, **more}


CELLS = {
    "lam-only|1000|101": _cell(-3.0, trainable_params=0),
    "lam-only|1000|102": _cell(-9.0, trainable_params=0),
    "lasco|1000|101": _cell(-3.5, train_seconds=2.0, epochs=4, val_curve=[-1, -2]),
    "lasco|1000|102": _cell(-9.5, train_seconds=4.0, epochs=6, val_curve=[-1, -3]),
    "e-lasco|1000|101": _cell(-3.6, alpha=0.8),
    "e-lasco|all|102": _cell(-9.9, alpha=0.7, n=4000),
    "lasco#seed1|1000|101": _cell(-3.4),
    "lasco#seed1|1000|102": _cell(-9.7),
    "alpha=0.5|1000|101": _cell(-3.1),
}


def _models():
    return build_model("tiny"), build_model("tiny")


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    return summarise(CFG, CELLS, *_models(), 4000)


def test_the_report_says_what_to_judge(report):
    assert report["headline_n"] == 1000
    assert report["roles"]["proposed"] == "e-lasco" and report["roles"]["base"] == "lam-only"
    assert "roles" not in report["config"]  # once, at the top
    other = summarise(StudyConfig(ns=(300,), roles=Roles(proposed="lora")), {}, *_models(), 4000)
    assert (other["headline_n"], other["roles"]["proposed"]) == (300, "lora")


def test_means_over_the_regions_done(report):
    lasco = report["methods"]["lasco"]
    assert lasco["label"] == "LASCO" and lasco["trainable_params"] == 10
    entry = lasco["by_n"]["1000"]
    assert entry["nmse_db"] == {"101": -3.5, "102": -9.5} and entry["mean_nmse_db"] == -6.5
    assert (entry["train_seconds"], entry["epochs"], entry["regions_done"]) == (3.0, 5.0, 2)
    assert entry["val_curve"] == {"101": [-1, -2], "102": [-1, -3]}
    assert "alpha" not in entry
    assert report["methods"]["lam-only"]["by_n"]["1000"]["train_seconds"] == 0
    assert set(report["methods"]["lasco"]["by_n"]) == {"1000"}  # no cell at n = all


def test_partial_sizes_count_their_regions(report):
    e = report["methods"]["e-lasco"]["by_n"]
    assert (e["1000"]["regions_done"], e["all"]["regions_done"]) == (1, 1)
    assert e["all"]["n"] == 4000 and e["all"]["alpha"] == {"102": 0.7}


def test_the_learned_alpha_and_the_sweep(report):
    assert report["e_lasco_alpha"] == {"101": 0.8}  # at the sweep's n
    assert report["alpha_sweep"] == {"0.5": -3.1}
    assert report["alpha_sweep_nmse_db"] == {"0.5": {"101": -3.1}}


def test_the_seed_runs(report):
    runs = report["seed_runs"]["lasco"]
    assert runs["seeds"] == [0, 1] and runs["nmse_db"] == {"101": [-3.5, -3.4], "102": [-9.5, -9.7]}
    assert runs["mean_nmse_db"] == pytest.approx(-6.525)
    assert runs["max_range_db"] == pytest.approx(0.2)


def test_cells_done_and_serving_memory(report):
    assert (report["cells_done"], report["cells_total"]) == (len(CELLS), 2 * 2 * 3 + 2 + 2)
    lam_p = count_params(build_model("tiny"))
    mem = report["serving_memory_bytes"]
    assert mem["fine_tuned_lam_copies"] == 4 * 10 * lam_p == 4 * 10 * report["lam_params"]
    assert mem["lasco"] == 4 * (lam_p + report["sam_params"] * 11 + 10)
