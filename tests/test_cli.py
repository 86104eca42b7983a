"""The ``lasco`` command line: bad input gets a clear error, exit code 2, nothing partial."""

import json

import pytest

from lasco.cli import main


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


def test_ratio_that_does_not_divide_2048(capsys, tmp_path):
    out = tmp_path / "lam.pt"
    code, _, err = _run(capsys, "pretrain", "--preset", "tiny", "--ratio", "1/3", "--out", str(out))
    assert code == 2 and "does not divide 2048" in err
    assert not out.exists()


def test_unknown_region(capsys, tmp_path):
    code, _, err = _run(
        capsys, "data", "generate", "--regions", "999", "--samples", "5", "--cache", str(tmp_path)
    )
    assert code == 2 and "no region '999'" in err
    assert not any(tmp_path.iterdir())


def test_unknown_scenario_in_a_catalogue(capsys, tmp_path):
    cat = tmp_path / "cat.json"
    cat.write_text(json.dumps([{"env_id": "a", "scenario": "UMx", "role": "source"}]))
    code, _, err = _run(capsys, "experiment", "--catalogue", str(cat))
    assert code == 2 and "unknown scenario 'UMx'" in err


def test_missing_checkpoint(capsys, tmp_path):
    code, _, err = _run(
        capsys,
        "adapt",
        "--lam",
        str(tmp_path / "x.pt"),
        "--ref",
        str(tmp_path / "y.pt"),
        "--region",
        "101",
        "--method",
        "magic",
    )
    assert code == 2 and "x.pt' does not exist" in err


@pytest.mark.slow
def test_generate_pretrain_adapt_evaluate_chain(capsys, tmp_path):
    cache, lam, ref = str(tmp_path / "cache"), tmp_path / "lam.pt", tmp_path / "ref.pt"
    code, out, _ = _run(
        capsys, "data", "generate", "--regions", "1-2,101", "--samples", "40", "--cache", cache
    )
    assert code == 0 and "3 regions x 40 samples" in out
    for path, preset, kind in ((lam, "tiny", "lam"), (ref, "tiny", "sam_ref")):
        code, out, _ = _run(
            capsys,
            "pretrain",
            "--preset",
            preset,
            "--kind",
            kind,
            "--regions",
            "1-2",
            "--samples",
            "40",
            "--epochs",
            "2",
            "--cache",
            cache,
            "--out",
            str(path),
        )
        assert code == 0 and path.is_file()
    code, out, _ = _run(
        capsys,
        "adapt",
        "--lam",
        str(lam),
        "--ref",
        str(ref),
        "--region",
        "101",
        "--samples",
        "40",
        "--method",
        "e_lasco",
        "--max-epochs",
        "3",
        "--cache",
        cache,
        "--out",
        str(tmp_path / "proxy.pt"),
    )
    assert code == 0
    res = json.loads(out)
    assert res["method"] == "e_lasco" and "alpha" in res and res["epochs"] <= 3
    assert (tmp_path / "proxy.pt").is_file()
    code, out, _ = _run(
        capsys,
        "evaluate",
        "--lam",
        str(lam),
        "--ref",
        str(ref),
        "--region",
        "101",
        "--samples",
        "40",
        "--cache",
        cache,
    )
    assert code == 0 and set(json.loads(out)) >= {"lam_only", "sam_only", "input_nmse_db"}
