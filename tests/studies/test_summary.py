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
    lr_grid=(),
    curve_methods=None,
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


def test_recovery_is_each_methods_share_of_full_finetunings_gain_los_and_nlos_apart():
    cfg = StudyConfig(
        targets=("101", "102", "103", "104"),
        ns=(1000,),
        methods=("lam-only", "e-lasco", "lam-finetune"),
        lr_grid=(1e-3, 3e-4),
        tune_targets=("101",),
        seed_methods=(),
        extra_seeds=(),
    )
    lam_only = {"101": -2.0, "102": -10.0, "103": -3.0, "104": -12.0}  # odd NLOS, even LOS
    ft = {"101": -3.0, "102": -14.0, "103": -3.5, "104": -13.0}
    el = {"101": -2.5, "102": -12.0, "103": -3.0, "104": -12.5}
    cells = {}
    for m, vals in (("lam-only", lam_only), ("lam-finetune", ft), ("e-lasco", el)):
        for r, v in vals.items():
            cells[f"{m}|1000|{r}"] = _cell(v, stopped_early=r != "104", val_curve=[0.0, -1.0])
    for m in ("e-lasco", "lam-finetune"):
        cells[f"{m}@lr=0.001|1000|101"] = _cell(-1, val_curve=[0.0, -1.0])
        cells[f"{m}@lr=0.0003|1000|101"] = _cell(-1, val_curve=[0.0, -2.0])
    r = summarise(cfg, cells, *_models(), 4000)
    assert r["target_los"] == {"101": False, "102": True, "103": False, "104": True}
    rec = r["recovery"]["1000"]["e-lasco"]
    # gains over the LAM alone: e-lasco 0.5, 2, 0, 0.5 (mean 0.75); fine-tuning 1, 4, 0.5, 1
    assert rec["all"]["gain_db"] == pytest.approx(0.75)
    assert rec["all"]["fraction"] == pytest.approx(0.75 / 1.625, abs=1e-4)
    assert rec["los"]["fraction"] == pytest.approx(1.25 / 2.5, abs=1e-4)
    assert rec["nlos"]["fraction"] == pytest.approx(0.25 / 0.75, abs=1e-4)
    assert r["recovery"]["1000"]["lam-finetune"]["all"]["fraction"] == pytest.approx(1.0)
    assert "lam-only" not in r["recovery"]["1000"]
    el_rec = r["methods"]["e-lasco"]
    assert el_rec["lr"] == 3e-4 and el_rec["lr_trials"] == {"0.001": -1.0, "0.0003": -2.0}
    assert el_rec["by_n"]["1000"]["at_cap"] == 1  # region 104 ran to the cap
