"""``python -m studies``: bad input is refused with one line naming it, before any work."""

import json

from studies.cli import main


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
