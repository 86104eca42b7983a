"""The teacher probe: plug-ins adapted on a fine-tuned LAM's labels, resumable."""

import json
from dataclasses import replace

import pytest
import torch

from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.errors import ConfigError
from lasco.models import build_model
from lasco.train import AdaptConfig, predict
from studies.cli import main
from studies.teacher import (
    TeacherConfig,
    run_teacher_probe,
    settings_from_reports,
    teacher_markdown,
    teacher_summary,
    write_teacher,
)

TINY = TeacherConfig(
    regions=("101", "102"),
    samples_per_target=40,
    teacher_n=8,
    students=("side", "e-lasco"),
    rates=(("side", 3e-3),),
    adapt=AdaptConfig(max_epochs=2, patience=2, batch_size=4),
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return build_model("tiny").eval(), build_model("tiny").eval()


def _run(models, folder, cfg=TINY, **kw):
    lam, ref = models
    return run_teacher_probe(
        cfg,
        lam,
        ref,
        Projection.from_ratio("1/4"),
        folder / "t.state.json",
        cache=ChannelCache(folder / "cache"),
        progress=False,
        **kw,
    )


@pytest.fixture(scope="module")
def probe(models, tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    logs: list[str] = []
    summary = _run(models, folder, log=logs.append, true_labels={"side": {"101": -1.0}})
    return folder, summary, logs


def test_every_student_learns_from_the_teacher_in_every_region(probe):
    folder, summary, logs = probe
    cells = json.loads((folder / "t.state.json").read_text())["cells"]
    assert set(cells) == {
        f"{m}|{r}" for m in ("lam-finetune", "side", "e-lasco") for r in ["101", "102"]
    }
    # the teacher is the LAM fine-tuned on teacher_n true labels; students see every input
    assert {c["n"] for k, c in cells.items() if k.startswith("lam-finetune")} == {8}
    assert {c["n"] for k, c in cells.items() if not k.startswith("lam-finetune")} == {32}
    assert cells["side|101"]["lr"] == 3e-3 and cells["e-lasco|101"]["lr"] == 1e-3
    for r in ("101", "102"):
        assert (folder / f"t.state.{r}.pt").is_file()  # the teacher's weights, for resume
    side = next(row for row in summary["rows"] if row["method"] == "side")
    assert side["regions_done"] == 2
    assert side["regions"]["101"]["true_label_nmse_db"] == -1.0
    assert side["regions"]["102"]["true_label_nmse_db"] is None
    assert any("teacher" in line for line in logs)


def test_resume_trains_nothing_again_and_other_settings_are_refused(probe, models):
    folder, summary, _ = probe
    logs: list[str] = []
    again = _run(models, folder, resume=True, log=logs.append)
    assert logs == []
    assert [r["share"] for r in again["rows"]] == [r["share"] for r in summary["rows"]]
    with pytest.raises(ConfigError, match="another study configuration"):
        _run(models, folder, replace(TINY, teacher_n=4), resume=True)


def test_shares_are_mean_gains_over_the_teachers():
    cells = {
        "lam-finetune|a": {"nmse_db": -12.0, "lam_nmse_db": -10.0},
        "lam-finetune|b": {"nmse_db": -5.0, "lam_nmse_db": -4.0},
        "side|a": {"nmse_db": -11.0, "fidelity_db": -20.0},
        "side|b": {"nmse_db": -4.0, "fidelity_db": -10.0},
    }
    cfg = replace(TINY, regions=("a", "b"), students=("side",))
    row = teacher_summary(cfg, cells, {"side": {"a": -10.5}})["rows"][0]
    assert row["share"] == pytest.approx(1.0 / 3.0, abs=1e-4)  # 1 dB of 3, not mean(50 %, 0 %)
    assert row["true_label_share"] == pytest.approx(0.25)  # region a only: 0.5 of 2 dB
    assert row["regions"]["a"]["share"] == 0.5
    assert row["fidelity_db"] == -15.0
    assert row["teacher_gain_db"] == 1.5


def test_students_must_be_plug_ins():
    with pytest.raises(ConfigError, match="plug-ins"):
        replace(TINY, students=("lora",))
    with pytest.raises(ConfigError, match="unknown student"):
        replace(TINY, students=("nope",))
    with pytest.raises(ConfigError, match="plug-ins"):
        replace(TINY, students=("lam-only",))


def test_report_files(probe, tmp_path):
    _, summary, _ = probe
    paths = write_teacher(summary, tmp_path / "teacher.json")
    assert [p.name for p in paths] == ["teacher.json", "teacher.md", "teacher.png"]
    md = paths[1].read_text()
    assert "| side | 101, 102 |" in md and "share from the teacher" in md
    assert paths[2].read_bytes()[:4] == b"\x89PNG"


def test_cli_needs_the_comparison_report(tmp_path, capsys):
    code = main(["teacher", "--comparison", str(tmp_path / "none.json")])
    assert code == 2
    assert "none.json: no comparison report" in capsys.readouterr().err


def test_cli_report_only_needs_a_state(tmp_path, capsys):
    comparison = tmp_path / "comparison.json"
    comparison.write_text(json.dumps({"methods": {"side": {"lr": 3e-4, "by_n": {}}}}))
    out = tmp_path / "teacher.json"
    argv = ["teacher", "--comparison", str(comparison), "--json", str(out), "--report-only"]
    assert main(argv) == 2
    assert "teacher.state.json: no probe state to report" in capsys.readouterr().err
    assert not out.exists()
    assert "(no region finished yet)" in teacher_markdown(teacher_summary(TINY, {}))


def test_students_learn_the_teachers_labels_and_a_partial_resume_keeps_the_teacher(
    models, tmp_path, monkeypatch
):
    import studies.teacher as teacher_mod

    calls = []

    def recording_adapt(method, train, val, cfg, **kw):
        fit = real_adapt(method, train, val, cfg, **kw)
        calls.append((method, train, val))
        return fit

    real_adapt = teacher_mod.adapt
    monkeypatch.setattr(teacher_mod, "adapt", recording_adapt)
    cfg = replace(TINY, regions=("101",))
    _run(models, tmp_path, cfg)
    (teacher, t_train, _), *students = calls
    assert len(t_train) == cfg.teacher_n and len(students) == 2
    for _, train, val in students:
        assert torch.allclose(train.y, predict(teacher.lam, train.x))
        assert torch.allclose(val.y, predict(teacher.lam, val.x))
        assert not torch.allclose(train.y[: cfg.teacher_n], t_train.y)  # not the true labels
    state = json.loads((tmp_path / "t.state.json").read_text())
    del state["cells"]["side|101"]
    (tmp_path / "t.state.json").write_text(json.dumps(state))
    calls.clear()
    _run(models, tmp_path, cfg, resume=True)
    assert [type(m).__name__ for m, _, _ in calls] == ["SideNetwork"]  # the teacher reloaded


def _cells(nmse, lr=None):
    return {"lr": lr, "by_n": {"1000": {"nmse_db": nmse}}}


def test_rates_from_the_comparison_true_labels_from_the_first_report_that_has_them():
    comparison = {
        "meta": {"lam_sha256": "ab"},
        "methods": {"lam-finetune": _cells({"1": -3.0}, 3e-4), "side": _cells({"1": -2.0}, 1e-3)},
    }
    capacity = {
        "meta": {"lam_sha256": "ab"},
        "methods": {"side": _cells({"1": -9.0}, 1e-4), "readout": _cells({"1": -2.5}, 1e-4)},
    }
    reports = {"comparison.json": comparison, "capacity.json": capacity}
    cfg, true_labels = settings_from_reports(reports, ("1",), ("side", "readout"), "ab")
    assert dict(cfg.rates) == {"lam-finetune": 3e-4, "side": 1e-3}
    assert cfg.rate("readout") == cfg.adapt.lr  # not adapted by the comparison: the default
    assert true_labels == {"side": {"1": -2.0}, "readout": {"1": -2.5}}
    capacity["meta"]["lam_sha256"] = "cd"
    with pytest.raises(ConfigError, match=r"capacity\.json: written with another LAM"):
        settings_from_reports(reports, ("1",), ("side",), "ab")
