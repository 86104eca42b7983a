import copy
import json
import re
import socket
import subprocess

import pytest
import torch

from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.errors import ConfigError
from lasco.models import build_model, forward_flops
from lasco.train import AdaptConfig
from studies.report import findings, goals, markdown, quiet_seconds, write_study
from studies.study import (
    StudyConfig,
    epochs_to_fraction,
    remaining_seconds,
    run_study,
    study_plan,
    study_progress,
)


def test_epochs_to_95_percent_of_the_gain():
    assert epochs_to_fraction([-2.0, -4.0, -5.0, -6.0, -6.1]) == 3  # gain 4.1; 95 % = 3.895
    assert epochs_to_fraction([-2.0, -1.0, -1.5]) == 0  # nothing gained
    assert epochs_to_fraction([-2.0, -3.0], fraction=1.0) == 1


def _run(cfg, lam, ref, cache, state, **kw):
    return run_study(
        cfg, lam, ref, Projection.from_ratio("1/4"), state, cache=cache, progress=False, **kw
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    cfg = StudyConfig(
        targets=("101", "102"),
        samples_per_target=40,
        ns=(8, "all"),
        methods=("lam-only", "lasco", "e-lasco", "lam-finetune"),
        adapt=AdaptConfig(max_epochs=2, patience=2, batch_size=4),
        alpha_grid=(0.5, 1.0),
        alpha_n=8,
        seed_methods=("e-lasco",),
        extra_seeds=(1,),
    )
    folder = tmp_path_factory.mktemp("study")
    lam, ref = build_model("tiny").eval(), build_model("tiny").eval()
    cache = ChannelCache(folder / "cache")
    logs: list[str] = []
    report = _run(cfg, lam, ref, cache, folder / "s.state.json", log=logs.append)
    return cfg, lam, ref, cache, folder, report, logs


def test_report_layout(tiny):
    report = tiny[5]
    assert report["cells_done"] == report["cells_total"] == 2 * 2 * 4 + 2 * 2 + 2
    assert report["target_regions"] == ["101", "102"] and report["lam_params"] > 0
    rec = report["methods"]["e-lasco"]
    assert rec["trainable_params"] > 0
    seeds = report["seed_runs"]["e-lasco"]
    assert seeds["seeds"] == [0, 1] and set(seeds["nmse_db"]) == {"101", "102"}
    for r, (first, rerun) in seeds["nmse_db"].items():
        assert first == rec["by_n"]["8"]["nmse_db"][r]  # seed 0 is the study's own cell
        assert rerun != first  # another batch order gives another result
    assert seeds["seed_std_db"] > 0
    for n in ("8", "all"):
        entry = rec["by_n"][n]
        assert set(entry["nmse_db"]) == {"101", "102"}
        assert {"mean_nmse_db", "train_seconds", "epochs_to_95", "train_flops"} <= set(entry)
    assert rec["by_n"]["all"]["n"] == 32  # 80 % of 40
    assert set(report["alpha_sweep"]) == {"0.5", "1.0"}
    assert set(report["e_lasco_alpha"]) == {"101", "102"}
    mem = report["serving_memory_bytes"]
    assert mem["fine_tuned_lam_copies"] == 4 * 10 * report["lam_params"]


def test_training_flops_follow_the_cost_model(tiny):
    from lasco.models import forward_flops

    _, lam, ref, _, _, report, _ = tiny
    f_lam, f_ref, n, n_val = forward_flops(lam.cfg), forward_flops(ref.cfg), 8, 4
    ft = report["methods"]["lam-finetune"]["by_n"]["8"]
    # Fine-tuning: forward + backward (3x forward) per sample-epoch, validation forwards.
    epochs = ft["epochs"]
    assert ft["train_flops"] == 3 * f_lam * n * epochs + f_lam * n_val * (epochs + 1)
    lasco = report["methods"]["lasco"]["by_n"]["8"]
    once = (f_lam + f_ref) * (n + n_val)  # LAM and reference outputs, computed once
    e = lasco["epochs"]
    assert lasco["train_flops"] == 3 * f_ref * n * e + f_ref * n_val * (e + 1) + once
    assert report["methods"]["lam-only"]["by_n"]["8"]["train_flops"] == 0


def test_resume_skips_finished_cells_and_refuses_another_config(tiny):
    cfg, lam, ref, cache, folder, report, _ = tiny
    logs: list[str] = []
    again = _run(cfg, lam, ref, cache, folder / "s.state.json", resume=True, log=logs.append)
    assert "0 to run" in logs[0]
    assert again["methods"]["lasco"]["by_n"]["8"] == report["methods"]["lasco"]["by_n"]["8"]
    other = StudyConfig(**{**cfg.__dict__, "alpha_grid": (2.0,)})
    with pytest.raises(ConfigError, match="another study configuration"):
        _run(other, lam, ref, cache, folder / "s.state.json", resume=True, log=logs.append)


def test_writes_json_markdown_and_figures(tiny, tmp_path):
    report = tiny[5]
    paths = write_study(report, tmp_path / "adaptation.json", {"lam_preset": "tiny"})
    names = sorted(p.name for p in paths)
    assert names == [
        "adaptation.json",
        "adaptation.md",
        "alpha.png",
        "convergence.png",
        "nmse_vs_n.png",
    ]
    md = (tmp_path / "adaptation.md").read_text()
    assert "## Goals" in md and "| e-lasco |" in md
    for name in names[2:]:  # the figures are shown in the report, beside it
        assert f"]({name})" in md
    assert "| method | n=8 | n=all |" in md  # sizes smallest first
    eff = next(f for f in findings(report) if "Data efficiency" in f)
    assert eff.index("n = 8: E-LASCO") < eff.index("n = all (32): E-LASCO")
    assert "(rank " in eff and "of 4)" in eff and "no-reference" not in eff
    assert "dB (2 regions)" in eff
    # the headline is at n = 1,000: relabel n = 8 so the tiny study has one
    r1000 = copy.deepcopy(report)
    for rec in r1000["methods"].values():
        rec["by_n"]["1000"] = rec["by_n"].pop("8")
    rows: dict[str, str] = {}
    for r in markdown(r1000, {}).splitlines():  # the headline is the first table
        if r.startswith("| "):
            rows.setdefault(r.split(" | ")[0][2:], r)
    # a method that trains nothing has no time, epochs or FLOPs in the headline
    assert rows["lam-only"].endswith("| 0 | 0.00 | - | - | - | - | 2/2 |")
    assert rows["e-lasco"].split(" | ")[6] != "-"  # wall seconds of a trained method
    sweep = report["alpha_sweep_nmse_db"]  # region 101 NLOS, 102 LOS
    assert set(sweep) == {"0.5", "1.0"} and all(set(v) == {"101", "102"} for v in sweep.values())
    for a, v in sweep.items():
        assert report["alpha_sweep"][a] == pytest.approx(sum(v.values()) / 2, abs=1e-4)
    assert "| NMSE (dB) | alpha = 0.5 | alpha = 1.0 |" in md
    assert f"| LOS | {sweep['0.5']['102']:.2f} | {sweep['1.0']['102']:.2f} |" in md
    assert f"| NLOS | {sweep['0.5']['101']:.2f} | {sweep['1.0']['101']:.2f} |" in md
    assert json.loads((tmp_path / "adaptation.json").read_text())["meta"]["lam_preset"] == "tiny"


def test_goals_are_judged_from_the_numbers():
    def entry(v, secs=1.0):
        return {
            "mean_nmse_db": v,
            "train_seconds": secs,
            "nmse_db": {"101": v},
            "n": 1000,
            "regions_done": 1,
        }

    report = {
        "lam_params": 1000,
        "target_regions": ["101"],
        "methods": {
            "lam-only": {"trainable_params": 0, "by_n": {"1000": entry(-5.0)}},
            "e-lasco": {"trainable_params": 10, "by_n": {"1000": entry(-9.0, 1.0)}},
            "lam-finetune": {
                "trainable_params": 1000,
                "by_n": {"1000": entry(-8.0, 20.0), "all": entry(-9.2, 30.0)},
            },
        },
    }
    judged = {g: ok for g, ok, _ in goals(report)}
    assert judged["E-LASCO with 1,000 samples beats every other method with 1,000 samples"]
    assert judged["E-LASCO (1,000) within 0.5 dB of the LAM fine-tuned on all samples"]
    assert judged["adaptation at most 1/10 of full LAM fine-tuning in wall time"]
    assert judged["at most 2 % of the LAM's parameters trainable"]
    report["methods"]["lam-finetune"]["by_n"]["1000"]["mean_nmse_db"] = -9.5
    judged = {g: ok for g, ok, _ in goals(report)}
    assert not judged["E-LASCO with 1,000 samples beats every other method with 1,000 samples"]


def test_the_time_goal_uses_the_quiet_machine_estimate_when_there_is_one():
    """The study's seconds say E-LASCO took 1/20 of the time; epochs x the per-epoch
    times of a back-to-back run say 1/4: the goal follows the latter."""

    def entry(secs, epochs):
        return {
            "mean_nmse_db": -9.0,
            "train_seconds": secs,
            "epochs": epochs,
            "n": 1000,
            "nmse_db": {"101": -9.0},
            "regions_done": 1,
        }

    report = {
        "lam_params": 1000,
        "target_regions": ["101"],
        "methods": {
            "e-lasco": {"trainable_params": 10, "by_n": {"1000": entry(5.0, 50)}},
            "lam-finetune": {"trainable_params": 1000, "by_n": {"1000": entry(100.0, 20)}},
        },
    }
    goal = "adaptation at most 1/10 of full LAM fine-tuning in wall time"
    assert {g: ok for g, ok, _ in goals(report)}[goal] is True
    report["adapt_timing"] = {
        "region": "101",
        "n": 1000,
        "epochs": 3,
        "methods": {
            "e-lasco": {"seconds_per_epoch": 0.5},
            "lam-finetune": {"seconds_per_epoch": 5.0},
        },
    }
    assert (
        quiet_seconds(report, "e-lasco") == 25.0 and quiet_seconds(report, "lam-finetune") == 100.0
    )
    judged = {g: (ok, ev) for g, ok, ev in goals(report)}
    assert judged[goal][0] is False and "ratio 4.0x" in judged[goal][1]
    report["adapt_timing"]["n"] = 300  # timed at another n: not used
    assert quiet_seconds(report, "e-lasco") is None


def test_goals_wait_for_every_region():
    """Means over different sets of regions are not compared: a goal stays pending."""

    def entry(v, done):
        return {
            "mean_nmse_db": v,
            "train_seconds": 1.0,
            "nmse_db": {"101": v},
            "n": 1000,
            "regions_done": done,
        }

    report = {
        "lam_params": 1000,
        "target_regions": ["101", "102"],
        "methods": {
            "lam-only": {"trainable_params": 0, "by_n": {"1000": entry(-5.0, 2)}},
            "e-lasco": {"trainable_params": 10, "by_n": {"1000": entry(-9.0, 1)}},
        },
    }
    judged = {g: ok for g, ok, _ in goals(report)}
    assert judged["E-LASCO with 1,000 samples beats every other method"] is None


def test_findings_are_paired_and_say_where_baselines_win():
    """Regions 101 (NLOS) and 102 (LOS) done by every method; 103 only by some: the
    comparisons use 101 and 102 only."""
    nmse = {
        "lam-only": {"101": -3.0, "102": -9.0, "103": -4.0},
        "lam-finetune": {"101": -3.5, "102": -11.0},
        "lasco": {"101": -3.2, "102": -9.6},
        "no-reference": {"101": -3.1, "102": -9.5},
        "e-lasco": {"101": -3.2, "102": -9.8, "103": -9.9},
    }
    capped = [-1.0] * 97 + [-1.1] * 4  # epochs 0-100, the best at epoch 97
    report = {
        "target_regions": ["101", "102", "103"],
        "config": {"ns": [1000], "adapt": {"max_epochs": 100}},
        "alpha_sweep": {},
        "e_lasco_alpha": {"101": 0.8, "102": 0.6},
        "lam_params": 1000,
        "methods": {
            k: {
                "trainable_params": 10 if k != "lam-finetune" else 1000,
                "by_n": {
                    "1000": {
                        "n": 1000,
                        "nmse_db": v,
                        "mean_nmse_db": sum(v.values()) / len(v),
                        "regions_done": len(v),
                        "val_curve": {r: capped for r in v} if k == "lasco" else {},
                    }
                },
            }
            for k, v in nmse.items()
        },
    }
    text = "\n".join(findings(report))
    assert "the 2 of 3 regions every method has finished so far (101, 102)" in text
    assert "E-LASCO ranks 2 of 5 and gains 0.50 dB over the LAM alone" in text
    assert (
        "lam-finetune by 0.75 dB (in 2 of 2 regions, sign test p = 0.500; 1,000 trainable" in text
    )
    assert "E-LASCO gains 0.80 dB in LOS regions (102)" in text
    assert "0.20 dB in NLOS regions (101)" in text
    assert "LASCO beats the no-reference ablation by 0.10 dB (better in 2 of 2" in text
    assert "E-LASCO is +0.10 dB against LASCO" in text
    assert "lasco in 2 of 2" in text  # still improving at the 100-epoch cap
    assert "The first epoch" not in text  # the curves above do not jump
    for c in report["methods"]["lasco"]["by_n"]["1000"]["val_curve"].values():
        c[1] = c[0] + 0.5
    assert "lasco +0.50 dB" in "\n".join(findings(report))
    assert "Alpha sweep" not in text  # no sweep cells yet
    assert "(mean 0.70; the paper reports about 0.3 to 0.9, 0.7 on average)" in text
    assert "Scale" not in text  # no SAM-alone figures to compare with
    v = {"101": -2.0, "102": -6.0}
    report["methods"]["sam-only"] = {
        "trainable_params": 0,
        "by_n": {"1000": {"n": 1000, "nmse_db": v, "mean_nmse_db": -4.0, "regions_done": 2}},
    }
    text = "\n".join(findings(report))
    assert "This LAM has 1,000 parameters, so the proxy SAM (10) is 1.0 % of it" in text
    assert "Here the LAM alone beats the SAM alone by 2.00 dB." in text


def test_data_efficiency_counts_the_regions_where_no_reference_leads():
    """Per size: each method's gain over the LAM alone and, for the no-reference ablation,
    the regions where it beats E-LASCO (paired on the regions every method has done)."""
    nmse = {  # n -> method -> region -> dB
        "100": {
            "lam-only": {"101": -3.0, "102": -9.0},
            "lam-finetune": {"101": -3.2, "102": -9.4},
            "no-reference": {"101": -3.1, "102": -9.02},
            "e-lasco": {"101": -3.0, "102": -9.1},
        },
        "all": {
            "lam-only": {"101": -3.0, "102": -9.0, "103": -5.0},
            "lam-finetune": {"101": -4.0, "102": -11.0, "103": -6.0},
            "no-reference": {"101": -3.6, "102": -10.2, "103": -4.0},
            "e-lasco": {"101": -3.4, "102": -10.0, "103": -9.0},
        },
    }
    methods: dict = {k: {"trainable_params": 1, "by_n": {}} for k in nmse["all"]}
    for n, per in nmse.items():
        for k, v in per.items():
            methods[k]["by_n"][n] = {"nmse_db": v, "mean_nmse_db": sum(v.values()) / len(v)}
    report = {
        "target_regions": ["101", "102", "103"],
        "n_all": 4000,
        "config": {"ns": [100, "all"], "adapt": {"max_epochs": 100}},
        "alpha_sweep": {},
        "e_lasco_alpha": {},
        "lam_params": 1000,
        "methods": methods,
    }
    eff = next(f for f in findings(report) if "Data efficiency" in f)
    assert (
        "n = 100: E-LASCO +0.05 (rank 3 of 4), no-reference +0.06 (ahead of E-LASCO in 1 of 2), "
        "LAM fine-tuning +0.30 dB (2 regions)" in eff
    )
    # region 103 is done by every method at n = all; there E-LASCO leads
    assert "n = all (4,000): E-LASCO +1.80 (rank 1 of 4)" in eff
    assert "no-reference +0.27 (ahead of E-LASCO in 2 of 3)" in eff


def test_the_seed_noise_finding():
    def runs(v):
        return {"n": 1000, "seeds": [0, 1], "nmse_db": v}

    report = {
        "target_regions": ["101", "102", "103"],
        "config": {"ns": [1000], "adapt": {"max_epochs": 100}},
        "methods": {},
        "alpha_sweep": {},
        "seed_runs": {
            "lasco": runs({"101": [-3.0, -3.2], "102": [-9.0, -9.2]}),
            "e-lasco": runs({"101": [-3.1, -3.1], "102": [-9.5, -9.3], "103": [-1.0, -1.0]}),
        },
    }
    text = "\n".join(findings(report))
    assert "(the 2 of 3 regions every seed has finished so far (101, 102))" in text
    assert "standard deviation over seeds of up to 0.141 dB" in text
    assert "a one-seed mean over 2 regions carries about 0.100 dB" in text
    assert "two such means about 0.141 dB" in text
    assert "the order is e-lasco -6.25, lasco -6.10 dB" in text
    assert "e-lasco against lasco 0.150 dB" in text
    assert "The smallest gap is within 1.1 times the seed noise" in text
    report["seed_runs"]["lasco"]["nmse_db"] = {"101": [-2.0, -2.2], "102": [-8.0, -8.2]}
    assert "The smallest gap is 8 times the seed noise" in "\n".join(findings(report))


def test_sign_test():
    from studies.report import sign_test

    assert sign_test(10, 10) == sign_test(0, 10) == pytest.approx(2 / 1024)
    assert sign_test(8, 10) == pytest.approx(2 * (1 + 10 + 45) / 1024)
    assert sign_test(5, 10) == 1.0 and sign_test(0, 0) == 1.0


def test_the_alpha_sweep_is_paired_and_split_by_los():
    """Region 103 has only one alpha: the sweep's finding uses 101 (NLOS) and 102 (LOS)."""
    sweep = {
        "0.5": {"101": -3.0, "102": -10.0, "103": -5.0},
        "1.0": {"101": -3.4, "102": -9.8},
        "2.0": {"101": -2.0, "102": -9.0},
    }
    report = {
        "target_regions": ["101", "102", "103"],
        "alpha_sweep_n": 1000,
        "alpha_sweep_nmse_db": sweep,
        "alpha_sweep": {a: sum(v.values()) / len(v) for a, v in sweep.items()},
        "e_lasco_alpha": {"101": 0.9, "102": 0.7},
        "config": {"ns": [1000], "adapt": {"max_epochs": 100}},
        "lam_params": 1000,
        "methods": {
            "e-lasco": {
                "trainable_params": 10,
                "by_n": {"1000": {"n": 1000, "nmse_db": {"101": -3.5, "102": -10.1}}},
            }
        },
    }
    text = "\n".join(findings(report))
    assert "the 2 of 3 regions every alpha has finished so far (101, 102)" in text
    assert "best at 1.0 (-6.60 dB) and spans 1.10 dB" in text  # 0.5 gives -6.50 on 101-102
    assert "the best alpha is LOS 0.5, NLOS 1.0" in text
    assert "(mean 0.80), reaches -6.80 dB, 0.20 dB better than the best fixed alpha" in text


def test_the_cells_the_goals_need_run_first(tiny):
    """Every method at the first n, then the LAM fine-tuned on all samples, then the rest."""
    logs = [line.split("] ", 1)[1] for line in tiny[6] if line.startswith("[")]
    keys = [(line.split()[0], line.split()[1]) for line in logs]
    assert len(keys) == tiny[5]["cells_total"]
    first_n = [
        i
        for i, (m, n) in enumerate(keys)
        if n == "n=8" and not m.startswith("alpha") and "#seed" not in m
    ]
    ft_all = [i for i, k in enumerate(keys) if k == ("lam-finetune", "n=all")]
    rest = [i for i in range(len(keys)) if i not in first_n and i not in ft_all]
    assert max(first_n) < min(ft_all) and max(ft_all) < min(rest)


def test_after_the_headline_cells_the_cheapest_run_first():
    """The study's own plan: every method at n = 1,000 and the LAM fine-tuned on all
    samples, then the rest of n = all, the seed reruns, then n = 100, 300, the alpha sweep
    (at 1,000), 3,000."""
    cfg = StudyConfig()
    plan = study_plan(cfg)
    assert len(plan) == len(set(plan)) == 590
    head = len(cfg.methods) * len(cfg.targets) + len(cfg.targets)
    assert all(n == 1000 or (m, n) == ("lam-finetune", "all") for m, n, _ in plan[:head])
    stages = []
    for m, n, _ in plan[head:]:
        stage = "alpha" if m.startswith("alpha=") else "seeds" if "#seed" in m else str(n)
        if not stages or stages[-1] != stage:
            stages.append(stage)
    assert stages == ["all", "seeds", "100", "300", "alpha", "3000"]
    assert plan[head] == ("lam-only", "all", "101")  # regions, then methods, in order


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
    assert remaining_seconds(cells, left, 4000, 500) is None
    cells["e-lasco|1000|101"] = {"n": 1000, "train_seconds": 70.0}  # 0.02 s a unit
    expected = 0.015 * (300 + 500) + 0.015 * (12000 + 500) + 0.02 * 3500 + 0 + 0.1 * 1400
    assert remaining_seconds(cells, left, 4000, 500) == pytest.approx(expected)


def test_progress_counts_each_stage_of_the_plan():
    cfg = StudyConfig()
    cells = {
        "lasco|1000|101": {"n": 1000, "train_seconds": 35.0},
        "lam-finetune|all|104": {"n": 4000, "train_seconds": 100.0},
        "alpha=0.5|1000|101": {"n": 1000, "train_seconds": 35.0},
    }
    rows = {r["stage"]: r for r in study_progress(cfg, cells)}
    assert list(rows) == [
        "headline: every method at n = 1000, LAM fine-tuned at n = all",
        "n = all",
        "seed reruns, n = 1000: lasco, e-lasco, no-reference",
        "n = 100",
        "n = 300",
        "alpha sweep, n = 1000",
        "n = 3000",
    ]
    head = rows["headline: every method at n = 1000, LAM fine-tuned at n = all"]
    assert (head["done"], head["planned"]) == (2, 100)
    assert (rows["n = all"]["done"], rows["n = all"]["planned"]) == (0, 80)
    assert rows["alpha sweep, n = 1000"]["done"] == 1
    assert rows["alpha sweep, n = 1000"]["hours_left"] == pytest.approx(79 * 35 / 3600, abs=0.01)
    assert rows["n = 100"]["hours_left"] is None  # most methods have no cell to go by
    assert sum(r["planned"] for r in rows.values()) == 590


def _ran(logs: list[str]) -> list[str]:
    """The cell keys a run's log lines say it finished, in order."""
    hits = (re.match(r"\[\d+\] (\S+) n=(\S+) region (\S+):", line) for line in logs)
    return [f"{m[1]}|{m[2]}|{m[3]}" for m in hits if m]


def test_shards_share_the_cells_and_a_worker_out_of_cells_takes_the_others(tiny, tmp_path):
    """A shard runs its own cells first, then the other shards' from the end of the plan,
    skipping every cell a live worker has claimed; a dead worker's claim frees its cell."""
    cfg, lam, ref, cache = tiny[:4]
    plan = [f"{k}|{n}|{r}" for k, n, r in study_plan(cfg)]
    assert len(plan) % 2 == 0  # so the plan's last cell is shard 1's
    state, claims = tmp_path / "s.state.json", tmp_path / "s.state.claims.json"
    here = socket.gethostname()
    busy = subprocess.Popen(["sleep", "120"])  # shard 0's worker, training its first cell
    dead = subprocess.Popen(["true"])  # a worker killed mid-cell
    dead.wait()
    claims.write_text(
        json.dumps(
            {
                plan[0]: {"host": here, "pid": busy.pid},
                plan[1]: {"host": here, "pid": dead.pid},
                plan[-1]: {"host": "another-machine", "pid": 1},  # a worker elsewhere
            }
        )
    )
    try:
        logs: list[str] = []
        _run(cfg, lam, ref, cache, state, resume=True, shard=(1, 2), log=logs.append)
        assert set(json.loads(claims.read_text())) == {plan[0], plan[-1]}
    finally:
        busy.kill()
        busy.wait()
    own = [k for k in plan[1::2] if k != plan[-1]]
    stolen = [k for k in reversed(plan[0::2]) if k != plan[0]]
    assert _ran(logs) == own + stolen
    logs = []  # shard 0's worker died with its first cell: a restart runs it
    report = _run(cfg, lam, ref, cache, state, resume=True, shard=(0, 2), log=logs.append)
    assert _ran(logs) == [plan[0]]
    assert set(json.loads(claims.read_text())) == {plan[-1]}
    assert report["cells_done"] == len(json.loads(state.read_text())["cells"]) == len(plan) - 1
    logs = []  # a budget of 0 only reports, and says what is left
    _run(cfg, lam, ref, cache, state, resume=True, budget_s=0, log=logs.append)
    assert logs[-1] == "time budget of 0 min spent; 1 cell of the study left for --resume"
    assert _ran(logs) == []
    with pytest.raises(ConfigError, match="resume"):
        _run(cfg, lam, ref, cache, state, shard=(0, 2))
    with pytest.raises(ConfigError, match="shard 2/2"):
        _run(cfg, lam, ref, cache, state, shard=(2, 2))


def test_a_save_keeps_the_cells_another_worker_wrote(tmp_path):
    from studies.study import _State

    path = tmp_path / "s.state.json"
    a, b = _State(path, "h", resume=True), _State(path, "h", resume=True)
    a.save("x|1|101", {"nmse_db": -1.0})
    b.save("y|1|101", {"nmse_db": -2.0})  # b never saw x
    a.save("z|1|101", {"nmse_db": -3.0})  # a never saw y
    assert set(json.loads(path.read_text())["cells"]) == {"x|1|101", "y|1|101", "z|1|101"}
    fresh = _State(path, "h", resume=False)  # a new study starts over
    fresh.save("w|1|101", {"nmse_db": -4.0})
    assert set(json.loads(path.read_text())["cells"]) == {"w|1|101"}
