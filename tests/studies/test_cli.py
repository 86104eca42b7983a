"""``python -m studies``: bad input is refused with one line naming it, before any work;
``--workers K`` (the shard command lines it builds and the supervisor that runs them)
and ``--status``."""

import json
import sys
from pathlib import Path

import pytest

from lasco.errors import ConfigError
from studies.cli import build_parser, cmd_experiment, main, supervise, worker_commands


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unknown_experiment_preset(capsys):
    code, _, err = _run(capsys, "experiment", "--preset", "huge")
    assert code == 2 and "unknown experiment preset 'huge'" in err


def test_unknown_model_preset_fails_before_any_work(capsys, tmp_path):
    code, _, err = _run(capsys, "experiment", "--lam", "lam-giga", "--cache", str(tmp_path))
    assert code == 2 and "unknown model preset 'lam-giga'" in err
    assert not any(tmp_path.iterdir())


def test_unknown_scenario_in_a_catalogue(capsys, tmp_path):
    cat = tmp_path / "cat.json"
    cat.write_text(json.dumps([{"env_id": "a", "scenario": "UMx", "role": "source"}]))
    code, _, err = _run(capsys, "experiment", "--catalogue", str(cat))
    assert code == 2 and "unknown scenario 'UMx'" in err


def _args(*argv: str):
    return build_parser().parse_args(["experiment", "--preset", "study", *argv])


@pytest.mark.parametrize("i", range(3))
def test_workers_become_resuming_shards_that_the_cli_accepts(i):
    args = _args(
        "--workers", "3", "--threads", "2", "--json", "r/a.json", "--budget-minutes", "30",
        "--cache", "c", "--trusted", "k.pub",
    )  # fmt: skip
    cmds = worker_commands(args)
    assert len(cmds) == 3
    cmd = cmds[i]
    assert cmd[:3] == [sys.executable, "-m", "studies"]
    child = build_parser().parse_args(cmd[3:])
    assert child.shard == f"{i}/3" and child.resume and child.workers == 1
    assert child.threads == 2 and child.json == "r/a.json" and child.budget_minutes == 30
    assert child.cache == "c" and child.store is None and child.trusted == ["k.pub"]


def test_workers_share_the_cores_out_by_default(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert {c[c.index("--threads") + 1] for c in worker_commands(_args("--workers", "4"))} == {"2"}
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert {c[c.index("--threads") + 1] for c in worker_commands(_args("--workers", "4"))} == {"1"}


def test_supervise_prefixes_each_worker_and_shows_a_failure(tmp_path):
    ok = [sys.executable, "-c", "print('cell a'); print('cell b')"]
    bad = [
        sys.executable,
        "-c",
        "import sys; print('cell x', flush=True); sys.stderr.write('boom\\n'); sys.exit(3)",
    ]
    logs, lines = [tmp_path / "w0.log", tmp_path / "w1.log"], []
    assert supervise([ok, bad], logs, out=lines.append) == 3
    assert {"w0 cell a", "w0 cell b", "w1 cell x"} <= set(lines)
    assert lines.index("w0 cell a") < lines.index("w0 cell b")
    assert f"worker 1 failed (exit 3); the end of {logs[1]}:" in lines and "  boom" in lines
    assert not logs[0].exists() and logs[1].read_text() == "boom\n"
    assert supervise([ok], logs[:1], out=lines.append) == 0


@pytest.mark.parametrize(
    "argv, message",
    [(("--workers", "0"), "--workers 0"), (("--workers", "2", "--shard", "1/2"), "--shard")],
)
def test_bad_worker_options_are_refused(argv, message):
    with pytest.raises(ConfigError, match=message):
        cmd_experiment(_args(*argv))


def test_the_comparison_runs_on_the_latest_shipped_models(tmp_path, capsys):
    from lasco.export import store_models
    from model_store import default_store

    out = tmp_path / "comparison.json"
    argv = ["experiment", "--preset", "comparison", "--json", str(out), "--status"]
    assert main(argv) != 0  # nothing has run, and the models it would run on load
    assert "no study state here yet" in capsys.readouterr().err
    _, _, lam, ref = store_models()
    store = default_store()
    assert (lam.version, ref.version) == (store.resolve("lam"), store.resolve("sam_ref"))
    assert lam.version >= 3 and ref.check_compatible(lam) is None


def test_status_reads_the_state_of_the_shipped_models_study(tmp_path, capsys):
    from lasco.export import store_models
    from studies.presets import STUDIES

    out = tmp_path / "adaptation.json"
    argv = ["experiment", "--preset", "study", "--json", str(out), "--status"]
    assert main(argv) != 0
    assert "no study state here yet (nothing has run)" in capsys.readouterr().err
    lam, ref, _, _ = store_models(lam_version=2, ref_version=2)  # the first study's
    cells = {"lasco|1000|101": {"n": 1000, "train_seconds": 35.0}}
    state = {"config_hash": STUDIES["study"].hash(lam, ref), "cells": cells}
    out.with_suffix(".state.json").write_text(json.dumps(state))
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "1 of 590 cells done" in text
    assert "headline: every method at n = 1000, LAM fully fine-tuned at n = all" in text
    assert "1/100" in text and "0/80" in text and "running now" not in text
    claims = {"lasco|300|104": {"host": "another-machine", "pid": 7}}
    out.with_suffix(".state.claims.json").write_text(json.dumps(claims))
    assert main(argv) == 0
    assert (
        "running now: lasco n=300 region 104 (pid 7 on another-machine)" in capsys.readouterr().out
    )
    state["config_hash"] = "0" * 16
    out.with_suffix(".state.json").write_text(json.dumps(state))
    assert main(argv) != 0
    assert "written by another study configuration" in capsys.readouterr().err


def test_the_committed_report_is_what_its_state_gives(tmp_path, capsys):
    """``--budget-minutes 0`` rewrites the report from the state file alone (no data, no
    training): from the committed state and timing, the committed Markdown."""
    reports = Path(__file__).resolve().parents[2] / "reports"
    for name in ("adaptation.state.json", "bench_adapt.json"):
        (tmp_path / name).write_bytes((reports / name).read_bytes())
    out, cache = tmp_path / "adaptation.json", tmp_path / "cache"
    argv = ["experiment", "--preset", "study", "--json", str(out), "--resume"]
    assert main([*argv, "--budget-minutes", "0", "--cache", str(cache)]) == 0
    assert "study: 590 cells, 590 done, 0 to run" in capsys.readouterr().out
    assert out.with_suffix(".md").read_text() == (reports / "adaptation.md").read_text()
    assert json.loads(out.read_text())["meta"]["ratio"] == "1/4"
    assert not cache.exists()
    # a timing of the report's own (NAME-bench_adapt.json) wins over the shared one
    own = json.loads((reports / "bench_adapt.json").read_text()) | {"region": "own"}
    (tmp_path / "adaptation-bench_adapt.json").write_text(json.dumps(own))
    assert main([*argv, "--budget-minutes", "0", "--cache", str(cache)]) == 0
    assert json.loads(out.read_text())["adapt_timing"]["region"] == "own"
