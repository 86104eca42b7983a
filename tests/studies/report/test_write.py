import json
import re

from studies.report import write_study


def test_writes_json_markdown_and_figures(tiny, tmp_path):
    paths = write_study(tiny.report, tmp_path / "adaptation.json", {"lam_preset": "tiny"})
    assert sorted(p.name for p in paths) == [
        "adaptation-alpha.png",
        "adaptation-convergence.png",
        "adaptation-nmse_vs_n.png",
        "adaptation.json",
        "adaptation.md",
    ]
    written = json.loads((tmp_path / "adaptation.json").read_text())
    assert written["meta"] == {"lam_preset": "tiny"}
    assert {k: v for k, v in written.items() if k != "meta"} == tiny.report
    assert (tmp_path / "adaptation.md").read_text().startswith("# Adaptation study\n")


def test_two_studies_share_a_folder_and_each_report_shows_its_own_figures(tiny, tmp_path):
    first = write_study(tiny.report, tmp_path / "adaptation.json", {})
    second = write_study(tiny.report, tmp_path / "comparison.json", {})
    assert not {p.name for p in first} & {p.name for p in second}
    for name in ("adaptation", "comparison"):
        linked = re.findall(r"\]\(([^)]+\.png)\)", (tmp_path / f"{name}.md").read_text())
        assert linked and all(link.startswith(f"{name}-") for link in linked)
        assert all((tmp_path / link).is_file() for link in linked)
