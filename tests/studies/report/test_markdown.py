"""The Markdown report: tables at the report's sizes, the goals, findings and figures."""

import copy

import pytest

from studies.config import Roles
from studies.report.figures import FIGURES
from studies.report.markdown import markdown, table


def _rows(md: str) -> dict[str, str]:
    """The first table row of each method (the headline table comes first)."""
    rows: dict[str, str] = {}
    for r in md.splitlines():
        if r.startswith("| "):
            rows.setdefault(r.split(" | ")[0][2:], r)
    return rows


@pytest.fixture(scope="module")
def md(tiny):
    return markdown(tiny.report, {"lam_preset": "tiny", "ratio": "1/4"})


def test_table():
    assert table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


@pytest.mark.parametrize(
    "line",
    [
        "Written by `python -m studies experiment --preset study`.",
        "LAM: `tiny`",
        "(compression ratio 1/4)",
        "The proposed method is E-LASCO.",
        "| method | NMSE n=8 | GCS n=8 | NMSE all |",
        "| s/adapt (8) | s/adapt, quiet est. | epochs to 95 % | train TFLOP (8) | regions (8) |",
        "## Goals",
        "| method | n=8 | n=all |",  # sizes smallest first
        "## Per region at n = 8 (NMSE, dB)",
        "| NMSE (dB) | alpha = 0.5 | alpha = 1.0 |",
        "## Seeds (n = 8)",
        "## Findings",
        "Run `python -m benchmarks adapt --json reports/NAME-bench_adapt.json`",
    ],
)
def test_the_report_holds(md, line):
    assert line in md


@pytest.mark.parametrize("name", FIGURES)
def test_the_figures_are_shown_in_the_report(md, name):
    assert f"]({name})" in md


def test_no_old_command_names(md):
    assert "lasco experiment" not in md and "lasco bench" not in md


def test_a_method_that_trains_nothing_has_no_costs(md, tiny):
    rows = _rows(md)
    assert rows["lam-only"].endswith("| 0 | 0.00 | - | - | - | - | 2/2 |")
    assert rows["e-lasco"].split(" | ")[6] != "-"  # wall seconds of a trained method


def test_the_alpha_table_splits_los_and_nlos(md, tiny):
    sweep = tiny.report["alpha_sweep_nmse_db"]  # region 101 NLOS, 102 LOS
    assert f"| LOS | {sweep['0.5']['102']:.2f} | {sweep['1.0']['102']:.2f} |" in md
    assert f"| NLOS | {sweep['0.5']['101']:.2f} | {sweep['1.0']['101']:.2f} |" in md
    alpha = tiny.report["e_lasco_alpha"]
    assert f"E-LASCO's learned alpha per region: 101: {alpha['101']:.2f}" in md


def test_missing_regions_are_counted_in_the_tables(tiny):
    r = copy.deepcopy(tiny.report)
    r["methods"]["lasco"]["by_n"]["all"]["regions_done"] = 1
    assert f"{r['methods']['lasco']['by_n']['all']['mean_nmse_db']:.2f} (1/2)" in markdown(r, {})


def test_the_quiet_estimate_note_names_the_benchmark_run(tiny):
    r = dict(tiny.report, adapt_timing={"region": "101", "n": 8, "epochs": 3, "methods": {}})
    r["adapt_timing"]["commit"] = "0123456789abcdef"
    assert "(region 101, n = 8, 3 epochs each, commit `01234567`)" in markdown(r, {})


def test_another_proposed_method_is_named(tiny):
    r = dict(tiny.report, roles={**tiny.report["roles"], "proposed": "lasco"})
    md = markdown(r, {})
    assert "The proposed method is LASCO." in md
    assert "| LASCO with 8 samples beats every other method with 8 samples |" in md
    assert "E-LASCO with" not in md


def test_the_roles_of_the_alpha_figure_come_from_the_report(tiny):
    roles = Roles(learned_alpha="e-lasco", fixed_alpha="lam-finetune", base="lasco")
    r = dict(tiny.report, roles=vars(roles))
    caption = next(x for x in markdown(r, {}).splitlines() if "(alpha.png)" in x)
    assert caption == (
        "![The alpha E-LASCO learns per region; LAM fully fine-tuned's gain over LASCO "
        "against a fixed alpha](alpha.png)"
    )
