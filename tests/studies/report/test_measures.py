"""Figures read from the report JSON."""

import pytest

from studies.report.measures import (
    avg,
    by_n,
    headline,
    label,
    los_nlos,
    mean,
    paired,
    quiet_seconds,
    role,
    sizes,
)
from tests.studies.hand_reports import by_region, entry, method, report


def test_roles_labels_and_the_headline_come_from_the_report():
    r = report(by_region({"lora": {"101": -1.0}}), ["101"], headline_n=300)
    assert (role(r, "proposed"), headline(r)) == ("e-lasco", "300")
    assert label(r, "lora") == "LoRA on the LAM (PEFT)"
    assert label(r, "not-run") == "not-run"  # no record: the key
    r["roles"]["proposed"] = "lora"
    assert role(r, "proposed") == "lora"


def test_a_mean_needs_every_region():
    r = report(by_region({"lasco": {"101": -3.0}}), ["101", "102"])
    assert mean(r, "lasco", "1000") is None
    assert by_n(r, "lasco", "1000")["mean_nmse_db"] == -3.0
    assert mean(r, "lasco", "300") is None and by_n(r, "lasco", "300") == {}
    r["target_regions"] = ["101"]
    assert mean(r, "lasco", "1000") == -3.0


def test_paired_keeps_the_regions_every_method_has():
    r = report(
        by_region({"lasco": {"101": -3.0, "102": -9.0}, "lora": {"102": -8.0}}), ["101", "102"]
    )
    assert paired(r, "1000") == (["102"], {"lasco": {"102": -9.0}, "lora": {"102": -8.0}})


def _timed(n_timed=1000):
    epochs = {"e-lasco": 50, "lam-finetune": 20}
    methods = {
        k: method(
            {"1000": entry({"101": -9.0}, epochs=e, val_curve={"101": [0.0] * (e + 1)})}, key=k
        )
        for k, e in epochs.items()
    }
    timing = {
        "n": n_timed,
        "methods": {
            "e-lasco": {"seconds_per_epoch": 0.5},
            "lam-finetune": {"seconds_per_epoch": 5.0},
        },
    }
    return report(methods, ["101"], adapt_timing=timing)


@pytest.mark.parametrize(
    "method_key, regions, seconds",
    [("e-lasco", None, 25.0), ("lam-finetune", None, 100.0), ("e-lasco", ["101"], 25.0)],
)
def test_quiet_seconds_are_epochs_times_the_benchmarked_seconds(method_key, regions, seconds):
    assert quiet_seconds(_timed(), method_key, regions=regions) == seconds


@pytest.mark.parametrize(
    "r, method_key, n, regions",
    [
        (_timed(300), "e-lasco", None, None),  # timed at another n
        (_timed(), "lora", None, None),  # not timed
        (_timed(), "e-lasco", "300", None),  # no cells at that n
        (_timed(), "e-lasco", None, ["102"]),  # no curve there
        (report({}, ["101"]), "e-lasco", None, None),  # no timing at all
    ],
    ids=["other-n", "untimed", "no-entry", "no-curve", "no-timing"],
)
def test_no_quiet_seconds_without_matching_timing(r, method_key, n, regions):
    assert quiet_seconds(r, method_key, n, regions) is None


def test_the_layout_and_means():
    assert los_nlos(["101", "102", "103", "110"]) == (["102", "110"], ["101", "103"])
    assert avg({"101": -1.0, "102": -3.0}) == -2.0
    assert avg({"101": -1.0, "102": -3.0}, ["102"]) == -3.0
    assert avg({}) != avg({})  # NaN over no region


def test_sizes_run_smallest_first_with_all_as_its_samples():
    r = report({}, ["101"], ns=[1000, "all", 100, 3000], n_all=2000)
    assert sizes(r) == ["100", "1000", "all", "3000"]
