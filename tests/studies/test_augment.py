"""The augmentation table: each method with and without phase views, as shares of plain and
of augmented fine-tuning's gain, paired region by region with the comparison."""

import json

import pytest

from lasco.errors import ConfigError, DataError
from studies.augment import augment_summary
from studies.cli import main

REGIONS = ["101", "102", "103", "104"]
LOS = {"101": False, "102": True, "103": False, "104": True}
META = {"lam_version": 3, "lam_sha256": "ab" * 32}
ROLES = {
    "base": "lam-only",
    "full_finetune": "lam-finetune",
    "proposed": "e-lasco",
    "new_plugins": ["side"],
}
LAM = {"101": -4.0, "102": -10.0, "103": -5.0, "104": -12.0}


def _report(methods, views=1, seconds=None):
    seconds = seconds or {}
    return {
        "target_regions": REGIONS,
        "target_los": LOS,
        "headline_n": 1000,
        "n_all": 4000,
        "lam_params": 800_000,
        "roles": ROLES,
        "meta": META,
        "config": {"phase_views": views},
        "methods": {
            key: {
                "label": key,
                "trainable_params": params,
                "by_n": {"1000": {"nmse_db": nmse, "train_seconds": seconds.get(key), "at_cap": 1}},
            }
            for key, (params, nmse) in methods.items()
        },
    }


def _minus(gains):
    return {r: LAM[r] - g for r, g in gains.items()}


# fine-tuning gains 1 dB everywhere without views, 2 dB with them
PLAIN = _report(
    {
        "lam-only": (0, LAM),
        "lam-finetune": (800_000, _minus(dict.fromkeys(REGIONS, 1.0))),
        "e-lasco": (100_000, _minus(dict.fromkeys(REGIONS, 0.2))),
        "side": (110_000, _minus(dict.fromkeys(REGIONS, 0.3))),
    }
)
AUGMENTED = _report(
    {
        "lam-only": (0, LAM),
        "lam-finetune": (800_000, _minus(dict.fromkeys(REGIONS, 2.0))),
        "e-lasco": (100_000, _minus(dict.fromkeys(REGIONS, 0.4))),
        "side": (110_000, _minus({"101": 1.2, "102": 1.0, "103": 1.0, "104": 1.0})),
    },
    views=16,
    seconds={"lam-finetune": 400.0, "side": 80.0, "e-lasco": 100.0},
)


def test_shares_of_plain_and_of_augmented_fine_tuning():
    s = augment_summary(AUGMENTED, PLAIN)
    rows = {r["method"]: r for r in s["rows"]}
    assert set(rows) == {"lam-finetune", "e-lasco", "side"} and s["phase_views"] == 16
    side = rows["side"]
    assert side["plain"]["all"]["fraction"] == pytest.approx(0.3)
    assert side["augmented_of_plain"]["all"]["fraction"] == pytest.approx(1.05)
    assert side["augmented"]["all"]["fraction"] == pytest.approx(0.525)
    assert side["augmented"]["nlos"]["fraction"] == pytest.approx(0.55)  # 101 and 103
    assert side["seconds_of_finetune"] == pytest.approx(0.2)
    assert rows["lam-finetune"]["augmented_of_plain"]["all"]["fraction"] == pytest.approx(2.0)
    found = " ".join(s["findings"])
    assert "side: 30 % of plain lam-finetune's gain without views, 105 % with 16" in found
    assert "better in 4 of 4 regions, sign test p = 0.125" in found
    assert "at or above 50 % of augmented lam-finetune's gain: side." in found


def test_a_report_without_views_or_of_another_lam_is_refused():
    with pytest.raises(DataError, match="no phase views"):
        augment_summary(PLAIN, PLAIN)
    with pytest.raises(DataError, match="the comparison has phase views"):
        augment_summary(AUGMENTED, AUGMENTED)
    other = dict(AUGMENTED, meta={**META, "lam_sha256": "cd" * 32})
    with pytest.raises(ConfigError, match="another LAM"):
        augment_summary(other, PLAIN)
    no_ft = _report({"lam-only": (0, LAM)})
    with pytest.raises(DataError, match="no lam-finetune"):
        augment_summary(AUGMENTED, no_ft)


def test_a_method_not_yet_run_is_a_row_without_shares(tmp_path):
    partial = json.loads(json.dumps(AUGMENTED))
    del partial["methods"]["side"]["by_n"]["1000"]
    rows = {r["method"]: r for r in augment_summary(partial, PLAIN)["rows"]}
    side = rows["side"]  # nothing with views yet: nothing to compare it with either
    assert (
        side["augmented"] is None and side["augmented_of_plain"] is None and side["plain"] is None
    )
    assert rows["e-lasco"]["plain"]["regions"] == 4


def test_the_command_writes_json_markdown_and_png(tmp_path, capsys):
    aug, comp = tmp_path / "aug.json", tmp_path / "comp.json"
    aug.write_text(json.dumps(AUGMENTED))
    comp.write_text(json.dumps(PLAIN))
    out = tmp_path / "t" / "augment.json"
    assert main(["augment-table", str(aug), "--comparison", str(comp), "--json", str(out)]) == 0
    md = out.with_suffix(".md").read_text()
    assert "| side | 110,000 (13.8 %) | 30 % (4) | 105 % (4) | 52 % (4) |" in md
    assert out.with_suffix(".png").stat().st_size > 1000
    assert json.loads(out.read_text())["rows"]
    assert main(["augment-table", str(tmp_path / "none.json"), "--comparison", str(comp)]) == 2
    assert "none.json: no augmented report" in capsys.readouterr().err


# the side network alone at a shorter cap, with fine-tuning from the report above
TIMED = _report(
    {"lam-only": (0, LAM), "side": (110_000, _minus(dict.fromkeys(REGIONS, 0.9)))},
    views=16,
    seconds={"side": 60.0},
)
TIMED["config"]["adapt"] = {"max_epochs": 250}


def test_a_report_without_fine_tuning_takes_it_from_the_ceiling():
    s = augment_summary(TIMED, PLAIN, ceiling=AUGMENTED)
    rows = {r["method"]: r for r in s["rows"]}
    assert set(rows) == {"side", "lam-finetune"} and s["ceiling"] is True
    assert rows["side"]["augmented"]["all"]["fraction"] == pytest.approx(0.45)
    assert rows["side"]["seconds_of_finetune"] == pytest.approx(60 / 400)
    assert rows["side"]["max_epochs"] == 250
    assert rows["lam-finetune"]["augmented"]["all"]["fraction"] == pytest.approx(1.0)
    with pytest.raises(DataError, match="give --ceiling"):
        augment_summary(TIMED, PLAIN)
    with pytest.raises(DataError, match="has its own lam-finetune: leave out --ceiling"):
        augment_summary(AUGMENTED, PLAIN, ceiling=AUGMENTED)


def test_a_ceiling_of_other_views_or_another_lam_is_refused():
    with pytest.raises(DataError, match="the ceiling has 4 phase views, not 16"):
        augment_summary(TIMED, PLAIN, ceiling=dict(AUGMENTED, config={"phase_views": 4}))
    other = dict(AUGMENTED, meta={**META, "lam_sha256": "cd" * 32})
    with pytest.raises(ConfigError, match="another LAM"):
        augment_summary(TIMED, PLAIN, ceiling=other)


def test_quiet_shares_of_time_come_from_epochs_and_the_benchmark():
    def timed(report, epochs, spe):
        out = json.loads(json.dumps(report))
        out["adapt_timing"] = {"n": 1000, "methods": {}}
        for key, e in epochs.items():
            out["methods"][key]["by_n"]["1000"] |= {"n": 1000, "epochs": e}
            out["adapt_timing"]["methods"][key] = {"seconds_per_epoch": spe[key]}
        return out

    ceiling = timed(AUGMENTED, {"lam-finetune": 200}, {"lam-finetune": 8.0})
    side = timed(TIMED, {"side": 240}, {"side": 1.5})
    rows = {r["method"]: r for r in augment_summary(side, PLAIN, ceiling=ceiling)["rows"]}
    assert rows["side"]["quiet_of_finetune"] == pytest.approx(240 * 1.5 / (200 * 8.0))
    assert rows["lam-finetune"]["quiet_of_finetune"] == pytest.approx(1.0)
    assert augment_summary(TIMED, PLAIN, ceiling=AUGMENTED)["rows"][0]["quiet_of_finetune"] is None
