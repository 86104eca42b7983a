import json

from studies.report import write_study


def test_writes_json_markdown_and_figures(tiny, tmp_path):
    paths = write_study(tiny.report, tmp_path / "adaptation.json", {"lam_preset": "tiny"})
    assert sorted(p.name for p in paths) == [
        "adaptation.json",
        "adaptation.md",
        "alpha.png",
        "convergence.png",
        "nmse_vs_n.png",
    ]
    written = json.loads((tmp_path / "adaptation.json").read_text())
    assert written["meta"] == {"lam_preset": "tiny"}
    assert {k: v for k, v in written.items() if k != "meta"} == tiny.report
    assert (tmp_path / "adaptation.md").read_text().startswith("# Adaptation study\n")
