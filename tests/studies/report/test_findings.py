"""The findings beyond the headline comparisons: seed noise, convergence, data
efficiency, the alpha sweep and the goals not met."""

import pytest

from studies.config import Roles
from studies.report.findings import findings
from tests.studies.hand_reports import by_region, entry, method, report


def _efficiency(roles=None):
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
    methods = {k: method({}, 1, key=k) for k in nmse["all"]}
    for n, per in nmse.items():
        for k, v in per.items():
            methods[k]["by_n"][n] = entry(v, 4000 if n == "all" else int(n))
    return report(
        methods, ["101", "102", "103"], headline_n=100, ns=[100, "all"], n_all=4000, roles=roles
    )


def _data_efficiency(r):
    return next(f for f in findings(r) if "Data efficiency" in f)


def test_data_efficiency_counts_the_regions_where_no_reference_leads():
    """Per size: each method's gain over the LAM alone and, for the no-reference ablation,
    the regions where it beats the proposed method (paired on the regions every method
    has done)."""
    eff = _data_efficiency(_efficiency())
    assert (
        "n = 100: E-LASCO +0.05 (rank 3 of 4), LASCO without reference SAM +0.06 (ahead of "
        "E-LASCO in 1 of 2), LAM fully fine-tuned +0.30 dB (2 regions)" in eff
    )
    # region 103 is done by every method at n = all; there E-LASCO leads
    assert "n = all (4,000): E-LASCO +1.80 (rank 1 of 4)" in eff
    assert "LASCO without reference SAM +0.27 (ahead of E-LASCO in 2 of 3)" in eff
    assert eff.index("n = 100") < eff.index("n = all")  # smallest first


def test_data_efficiency_without_the_ablation_leaves_it_out():
    r = _efficiency()
    del r["methods"]["no-reference"]
    eff = _data_efficiency(r)
    assert "n = 100: E-LASCO +0.05 (rank 2 of 3), LAM fully fine-tuned +0.30 dB" in eff
    assert "reference" not in eff


def test_data_efficiency_follows_the_proposed_method():
    eff = _data_efficiency(_efficiency(Roles(proposed="no-reference")))
    assert "n = 100: LASCO without reference SAM +0.06 (rank 2 of 4), LAM fully" in eff
    assert "E-LASCO" not in eff


def test_the_seed_noise_finding():
    def runs(v):
        return {"n": 1000, "seeds": [0, 1], "nmse_db": v}

    r = report({}, ["101", "102", "103"])
    r["seed_runs"] = {
        "lasco": runs({"101": [-3.0, -3.2], "102": [-9.0, -9.2]}),
        "e-lasco": runs({"101": [-3.1, -3.1], "102": [-9.5, -9.3], "103": [-1.0, -1.0]}),
    }
    text = "\n".join(findings(r))
    assert "(the 2 of 3 regions every seed has finished so far (101, 102))" in text
    assert "standard deviation over seeds of up to 0.141 dB" in text
    assert "a one-seed mean over 2 regions carries about 0.100 dB" in text
    assert "two such means about 0.141 dB" in text
    assert "the order is e-lasco -6.25; lasco -6.10 dB" in text  # no records: the keys
    assert "e-lasco against lasco 0.150 dB" in text
    assert "The smallest gap is within 1.1 times the seed noise" in text
    r["seed_runs"]["lasco"]["nmse_db"] = {"101": [-2.0, -2.2], "102": [-8.0, -8.2]}
    assert "The smallest gap is 8 times the seed noise" in "\n".join(findings(r))


def _curves(curve, headline_n=1000):
    methods = by_region({"lasco": {"101": -3.0, "102": -9.0}}, n=headline_n)
    methods["lasco"]["by_n"][str(headline_n)]["val_curve"] = {"101": curve, "102": curve}
    return report(methods, ["101", "102"], headline_n=headline_n)


def test_runs_still_improving_at_the_epoch_cap():
    capped = [-1.0] * 97 + [-1.1] * 4  # epochs 0-100, the best at epoch 97
    text = "\n".join(findings(_curves(capped, 300)))
    assert "At n = 300 these runs used all 100 epochs" in text
    assert "LASCO in 2 of 2." in text
    assert "The first epoch" not in text  # the curves do not jump


def test_a_first_epoch_that_makes_things_worse():
    text = "\n".join(findings(_curves([-1.0, -0.5, -2.0])))
    assert "At n = 1,000 the first epoch makes the mean validation NMSE worse" in text
    assert "LASCO +0.50 dB (epoch 1 against the starting point, lr 0.001)" in text
    assert "epoch cap" not in text


def _sweep():
    """Region 103 has only one alpha: the sweep's finding uses 101 (NLOS) and 102 (LOS)."""
    sweep = {
        "0.5": {"101": -3.0, "102": -10.0, "103": -5.0},
        "1.0": {"101": -3.4, "102": -9.8},
        "2.0": {"101": -2.0, "102": -9.0},
    }
    methods = by_region({"e-lasco": {"101": -3.5, "102": -10.1}})
    return report(
        methods,
        ["101", "102", "103"],
        alpha_sweep_nmse_db=sweep,
        alpha_sweep={a: sum(v.values()) / len(v) for a, v in sweep.items()},
        e_lasco_alpha={"101": 0.9, "102": 0.7},
    )


@pytest.mark.parametrize(
    "phrase",
    [
        "the 2 of 3 regions every alpha has finished so far (101, 102)",
        "best at 1.0 (-6.60 dB) and spans 1.10 dB",  # 0.5 gives -6.50 on 101-102
        "the best alpha is LOS 0.5, NLOS 1.0",
        "E-LASCO, learning alpha per region (mean 0.80), reaches -6.80 dB, 0.20 dB better "
        "than the best fixed alpha",
    ],
)
def test_the_alpha_sweep_is_paired_and_split_by_los(phrase):
    assert phrase in "\n".join(findings(_sweep()))


def test_no_alpha_sweep_finding_without_sweep_cells():
    assert not any("Alpha sweep" in f for f in findings(report({}, ["101"])))


def test_goals_not_met_close_the_findings():
    r = report(by_region({"e-lasco": {"101": -3.0}, "lora": {"101": -4.0}}), ["101"])
    text = findings(r)[-1]
    assert text == (
        "- **Goal not met:** E-LASCO with 1,000 samples beats every other method with "
        "1,000 samples (E-LASCO -3.00 dB; best other LoRA on the LAM (PEFT) -4.00 dB)."
    )
