"""The study's figures are written from complete and partial reports alike."""

import copy

import pytest

from studies.report.figures import FIGURES, plot_study


def _partial(report):
    r = copy.deepcopy(report)
    r["alpha_sweep_nmse_db"] = {}
    r["e_lasco_alpha"] = {}
    for rec in r["methods"].values():
        for e in rec["by_n"].values():
            e["regions_done"] = 1
    return r


@pytest.mark.parametrize("partial", [False, True], ids=["complete", "partial"])
def test_the_figures_are_written(tiny, tmp_path, partial):
    report = _partial(tiny.report) if partial else tiny.report
    paths = plot_study(report, tmp_path)
    assert tuple(p.name for p in paths) == FIGURES
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
