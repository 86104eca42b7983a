"""The findings at the headline size: paired, and naming the report's roles."""

import pytest

from studies.config import Roles
from studies.report.comparisons import headline_findings, scope, sign_test
from tests.studies.hand_reports import by_region, entry, method, report

# Regions 101 (NLOS) and 102 (LOS) done by every method; 103 only by some.
NMSE = {
    "lam-only": {"101": -3.0, "102": -9.0, "103": -4.0},
    "lam-finetune": {"101": -3.5, "102": -11.0},
    "lasco": {"101": -3.2, "102": -9.6},
    "no-reference": {"101": -3.1, "102": -9.5},
    "e-lasco": {"101": -3.2, "102": -9.8, "103": -9.9},
}


def _report(roles=None):
    methods = by_region(NMSE, trainable={"lam-finetune": 1000})
    return report(
        methods, ["101", "102", "103"], roles=roles, e_lasco_alpha={"101": 0.8, "102": 0.6}
    )


@pytest.fixture
def text():
    return "\n".join(headline_findings(_report()))


@pytest.mark.parametrize(
    "phrase",
    [
        "over the 2 of 3 regions every method has finished so far (101, 102)",
        "E-LASCO ranks 2 of 5 and gains 0.50 dB over LAM alone",
        "LAM fully fine-tuned by 0.75 dB (in 2 of 2 regions, sign test p = 0.500; 1,000 "
        "trainable parameters, 100.0x E-LASCO's)",
        "Over LAM alone, E-LASCO gains 0.80 dB in LOS regions (102)",
        "and 0.20 dB in NLOS regions (101); LAM fully fine-tuned gains 2.00 and 0.50 dB",
        "LAM alone reaches -3.00 dB there against -9.00 dB in LOS",
        "LASCO beats LASCO without reference SAM by 0.10 dB (better in 2 of 2 regions",
        "E-LASCO is +0.10 dB against LASCO (positive: E-LASCO better)",
        "(mean 0.70; the paper reports about 0.3 to 0.9, 0.7 on average)",
    ],
)
def test_the_findings_are_paired_and_say_where_baselines_win(text, phrase):
    assert phrase in text


def test_no_scale_finding_without_the_sam_alone(text):
    assert "Scale" not in text


def test_the_scale_finding():
    r = _report()
    r["methods"]["sam-only"] = method({"1000": entry({"101": -2.0, "102": -6.0})}, 0, "sam-only")
    text = "\n".join(headline_findings(r))
    assert "This LAM has 1,000 parameters, so the proxy SAM of LASCO (10) is 1.0 % of it" in text
    assert "Here LAM alone beats pre-trained SAM alone by 2.00 dB." in text


def test_another_proposed_method_is_the_one_ranked_and_compared():
    """With LoRA proposed (not in this study) nothing is ranked; with LASCO proposed,
    the ranking, the baselines that beat it and the LOS split name LASCO."""
    assert headline_findings(_report(Roles(proposed="lora"))) == []
    text = "\n".join(headline_findings(_report(Roles(proposed="lasco"))))
    assert "LASCO ranks 3 of 5 and gains 0.40 dB over LAM alone" in text
    assert "Better than LASCO at n = 1,000: LAM fully fine-tuned by 0.85 dB" in text
    assert "Over LAM alone, LASCO gains 0.60 dB in LOS regions" in text
    assert "E-LASCO ranks" not in text and "Better than E-LASCO" not in text


def test_the_headline_size_comes_from_the_report():
    r = _report()
    for rec in r["methods"].values():
        rec["by_n"] = {"300": rec["by_n"].pop("1000")}
    r["headline_n"] = 300
    text = "\n".join(headline_findings(r))
    assert "Ranking at n = 300" in text and "Better than E-LASCO at n = 300" in text
    assert "n = 1,000" not in text


@pytest.mark.parametrize(
    "wins, n, p",
    [(10, 10, 2 / 1024), (0, 10, 2 / 1024), (8, 10, 2 * (1 + 10 + 45) / 1024), (5, 10, 1.0)],
)
def test_sign_test(wins, n, p):
    assert sign_test(wins, n) == pytest.approx(p)


def test_sign_test_of_nothing():
    assert sign_test(0, 0) == 1.0


def test_scope():
    r = report({}, ["101", "102"])
    assert scope(["101", "102"], r) == "all 2 target regions"
    assert scope(["102"], r, "every seed") == (
        "the 1 of 2 regions every seed has finished so far (102)"
    )
