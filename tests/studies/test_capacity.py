"""The capacity sweep's table: plug-in gains per reference size, paired with the comparison's
full fine-tuning region by region, and refused when the reports do not pair."""

import json

import pytest

from lasco.errors import ConfigError, DataError
from studies.capacity import capacity_summary, write_capacity
from studies.cli import main

REGIONS = ["101", "102", "103", "104"]
LOS = {"101": False, "102": True, "103": False, "104": True}
META = {"lam_version": 3, "lam_sha256": "ab" * 32, "projection_id": "gauss-0-512"}


def _report(methods, sam_preset="sam", sam_params=110_336, **extra):
    roles = {"base": "lam-only", "full_finetune": "lam-finetune"}
    return {
        "target_regions": REGIONS,
        "target_los": LOS,
        "headline_n": 1000,
        "n_all": 4000,
        "lam_params": 800_000,
        "sam_params": sam_params,
        "roles": roles,
        "meta": {**META, "sam_preset": sam_preset},
        "methods": {
            key: {"label": key, "trainable_params": params, "by_n": {"1000": {"nmse_db": nmse}}}
            for key, (params, nmse) in methods.items()
        },
        **extra,
    }


LAM = {"101": -4.0, "102": -10.0, "103": -5.0, "104": -12.0}
FINETUNED = {"101": -4.4, "102": -12.0, "103": -5.6, "104": -14.0}
COMPARISON = _report({"lam-only": (0, LAM), "lam-finetune": (800_000, FINETUNED)})


def test_gains_are_shares_of_the_comparisons_fine_tuning_per_reference_size():
    small = _report(
        {"lam-only": (0, LAM), "side": (30_000, {"101": -4.1, "102": -10.5, "103": -5.1})},
        sam_preset="sam-s",
        sam_params=30_000,
    )
    shifted = {r: v - 1.0 for r, v in LAM.items()}
    big = _report(
        {"lam-only": (0, LAM), "side": (400_000, shifted)}, sam_preset="sam-l", sam_params=400_000
    )
    rows = capacity_summary({"l": big, "s": small}, COMPARISON)["rows"]
    assert [(r["method"], r["reference"]) for r in rows] == [("side", "sam-s"), ("side", "sam-l")]
    s, b = rows
    # sam-s: regions 101-103 only; gain (0.1 + 0.5 + 0.1) / 3, fine-tuning (0.4 + 2 + 0.6) / 3
    assert s["regions"] == 3 and s["all"]["gain_db"] == pytest.approx(0.2333, abs=1e-4)
    assert s["all"]["fraction"] == pytest.approx(0.7 / 3.0, abs=1e-4)
    assert s["los"]["fraction"] == pytest.approx(0.25) and s["nlos"]["fraction"] == pytest.approx(
        0.2
    )
    assert b["regions"] == 4 and b["all"]["fraction"] == pytest.approx(4.0 / 5.0)


def test_findings_compare_sizes_on_the_regions_both_cover():
    small = _report(
        {"lam-only": (0, LAM), "side": (30_000, {"101": -4.1, "102": -10.5, "103": -5.1})},
        sam_preset="sam-s",
        sam_params=30_000,
    )
    grown = _report(
        {"lam-only": (0, LAM), "side": (400_000, {r: v - 1.0 for r, v in LAM.items()})},
        sam_preset="sam-l",
        sam_params=400_000,
    )
    (finding,) = capacity_summary({"s": small, "l": grown}, COMPARISON)["findings"]
    # 101-103 only (sam-s lacks 104): 0.7 / 3 dB of 3 / 3 dB, then 3 / 3 of 3 / 3
    assert "23 %" in finding and "100 %" in finding and "3 regions" in finding
    assert "13.3x" in finding and finding.endswith("short of capacity.")
    flat = _report(
        {"lam-only": (0, LAM), "side": (400_000, {"101": -4.1, "102": -10.6, "103": -5.1})},
        sam_preset="sam-l",
        sam_params=400_000,
    )
    (finding,) = capacity_summary({"s": small, "l": flat}, COMPARISON)["findings"]
    assert "27 %" in finding and "not short of capacity" in finding
    assert capacity_summary({"s": small}, COMPARISON)["findings"] == []


def test_the_same_lam_published_to_a_study_store_under_another_version_pairs():
    moved = _report({"lam-only": (0, LAM), "side": (30_000, LAM)}, sam_preset="sam-s")
    moved["meta"]["lam_version"] = 1  # a study store numbers its own versions
    assert capacity_summary({"s": moved}, COMPARISON)["rows"][0]["reference"] == "sam-s"


@pytest.mark.parametrize(
    "change, what",
    [
        ({"headline_n": 300}, "headline_n"),
        ({"target_regions": REGIONS[:2]}, "target_regions"),
        ({"meta": {**META, "lam_sha256": "cd" * 32}}, "another LAM"),
        ({"methods": {"lam-only": {"by_n": {"1000": {"nmse_db": {**LAM, "102": -10.2}}}}}}, "102"),
    ],
)
def test_reports_of_another_lam_or_split_are_refused(change, what):
    other = _report({"lam-only": (0, LAM)}) | change
    with pytest.raises(ConfigError, match=what):
        capacity_summary({"capacity-sam.json": other}, COMPARISON)


def test_a_comparison_without_fine_tuning_yet_or_not_a_report_is_refused():
    early = _report({"lam-only": (0, LAM), "lam-finetune": (800_000, {})})
    with pytest.raises(DataError, match="no lam-finetune at n = 1000 yet"):
        capacity_summary({}, early)
    with pytest.raises(DataError, match=r"bad.json: not a study report \(no \['roles'"):
        capacity_summary({"bad.json": {"methods": {}}}, COMPARISON)


def test_the_command_writes_json_markdown_and_png(tmp_path):
    cap = tmp_path / "capacity-sam.json"
    cap.write_text(json.dumps(_report({"lam-only": (0, LAM), "readout": (50_000, LAM)})))
    (tmp_path / "comparison.json").write_text(json.dumps(COMPARISON))
    out = tmp_path / "out" / "capacity.json"
    argv = ["capacity-table", str(cap), "--comparison", str(tmp_path / "comparison.json")]
    assert main([*argv, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["method"], r["all"]["gain_db"]) for r in rows] == [("readout", 0.0)]
    assert (
        "| readout | sam (110,336) | 50,000 (6.2 %) | +0.00 | 0 % |"
        in out.with_suffix(".md").read_text()
    )
    assert out.with_suffix(".png").stat().st_size > 0
    with pytest.raises(DataError, match=r"missing\.json: no capacity report"):
        write_capacity([tmp_path / "missing.json"], tmp_path / "comparison.json", out)
    (tmp_path / "torn.json").write_text('{"methods": ')
    with pytest.raises(DataError, match=r"torn\.json: not a readable JSON capacity report"):
        write_capacity([tmp_path / "torn.json"], tmp_path / "comparison.json", out)
    assert main(["capacity-table", str(tmp_path / "torn.json"), "--json", str(out)]) == 2
