"""The ``lasco`` command line: bad input gets a clear error, exit code 2, nothing partial."""

import hashlib
import json
import re

import pytest
import torch

from lasco.cli import main
from lasco.train import load_checkpoint


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


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


def test_a_built_in_catalogue_by_name_and_its_regions_by_their_names(capsys, tmp_path):
    argv = ["data", "generate", "--catalogue", "scenarios", "--samples", "3", "--cache"]
    code, out, _ = _run(capsys, *argv, str(tmp_path), "--regions", "cdl-a")
    assert code == 0 and "1 regions x 3 samples cached" in out
    code, _, err = _run(capsys, *argv, str(tmp_path / "b"), "--regions", "cdl-z")
    assert code == 2 and "catalogue 'scenarios' has no region 'cdl-z'" in err
    code, _, err = _run(capsys, *argv[:3], "paper.json", "--cache", str(tmp_path / "c"))
    assert code == 2 and "catalogue file 'paper.json' does not exist" in err


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
    code, out, err = _run(
        capsys, "data", "generate", "--regions", "1-2,101", "--samples", "40", "--cache", cache
    )
    assert code == 0 and "3 regions x 40 samples" in out
    # stderr is not a terminal here: one line for the stage, no progress bar
    assert "\r" not in err
    assert len(re.findall(r"^channels: 120 samples in [\d.]+ s$", err, re.M)) == 1, err
    pretrain = [
        _run(
            capsys,
            "pretrain",
            "--preset",
            "tiny",
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
        )[0]
        for path, kind in ((lam, "lam"), (ref, "sam_ref"))
    ]
    assert pretrain == [0, 0] and lam.is_file() and ref.is_file()
    # a second schedule from the LAM's weights, saved every epoch and resumable
    more = tmp_path / "lam2.pt"
    again = [
        "pretrain", "--preset", "tiny", "--regions", "1-2", "--samples", "40", "--epochs", "3",
        "--cache", cache, "--init", str(lam), "--resume", "--patience", "5", "--lr", "3e-4",
        "--out", str(more),
    ]  # fmt: skip
    assert _run(capsys, *again)[0] == 0
    state = torch.load(str(more) + ".state", weights_only=True)
    assert state["epoch"] == 3 and len(state["train"]) == 3
    _, _, meta = load_checkpoint(more)
    assert meta["init"]["checkpoint"] == str(lam) and meta["lr_peak"] == 3e-4
    assert meta["init"]["sha256"] == hashlib.sha256(lam.read_bytes()).hexdigest()
    assert meta["epochs_run"] == 3 and len(meta["train_curve"]) == len(meta["val_curve"]) == 3
    assert _run(capsys, *again)[0] == 0  # the state is complete: nothing left to train
    assert torch.load(str(more) + ".state", weights_only=True)["epoch"] == 3
    code, _, err = _run(capsys, *[a if a != "tiny" else "lam-mini" for a in again])
    assert code == 2 and "holds a tiny model, not lam-mini" in err
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
        "e-lasco",
        "--max-epochs",
        "3",
        "--cache",
        cache,
        "--out",
        str(tmp_path / "proxy.pt"),
    )
    assert code == 0
    res = json.loads(out)
    assert res["method"] == "e-lasco" and "alpha" in res and res["epochs"] <= 3
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
    assert code == 0 and set(json.loads(out)) >= {"lam-only", "sam-only", "input_nmse_db"}
    code, out, _ = _run(
        capsys, "adapt", "--lam", str(lam), "--ref", str(ref), "--region", "101",
        "--samples", "40", "--method", "side", "--max-epochs", "2", "--cache", cache,
    )  # fmt: skip
    assert code == 0 and json.loads(out)["method"] == "side"


@pytest.mark.slow
def test_export_publish_and_load_back(capsys, tmp_path):
    """lasco pretrain -> lasco export -> model-store publish -> fetch -> the same model."""
    import torch

    from lasco.export import model_from_store
    from lasco.train import load_checkpoint
    from model_store import ModelStore, TrustedKeys
    from model_store.cli import main as store_main

    cache, ckpt = str(tmp_path / "cache"), tmp_path / "lam.pt"
    assert (
        _run(
            capsys,
            "pretrain",
            "--preset",
            "tiny",
            "--regions",
            "1",
            "--samples",
            "20",
            "--epochs",
            "1",
            "--cache",
            cache,
            "--out",
            str(ckpt),
        )[0]
        == 0
    )
    assert (
        _run(
            capsys,
            "export",
            "--checkpoint",
            str(ckpt),
            "--name",
            "lam",
            "--out",
            str(tmp_path / "draft"),
        )[0]
        == 0
    )
    code, _, err = _run(
        capsys, "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "d2"), "--taps", "none"
    )
    assert code == 0
    from lasco.export import read_manifest

    tapped, plain = read_manifest(tmp_path / "draft"), read_manifest(tmp_path / "d2")
    assert tapped.taps == (1,) and [t.name for t in tapped.outputs] == ["h_hat", "h_taps"]
    assert plain.taps is None and [t.name for t in plain.outputs] == ["h_hat"]
    sam_ckpt = tmp_path / "sam.pt"
    assert (
        _run(
            capsys,
            "pretrain",
            "--preset",
            "tiny",
            "--kind",
            "sam_ref",
            "--regions",
            "1",
            "--samples",
            "20",
            "--epochs",
            "1",
            "--cache",
            cache,
            "--out",
            str(sam_ckpt),
        )[0]
        == 0
    )
    code, _, err = _run(
        capsys, "export", "--checkpoint", str(sam_ckpt), "--out", str(tmp_path / "d3")
    )
    assert code == 2 and "needs --lam-artifact" in err
    assert store_main(["keygen", str(tmp_path / "k")]) == 0
    assert (
        store_main(
            [
                "--store",
                str(tmp_path / "store"),
                "publish",
                str(tmp_path / "draft"),
                "--key",
                str(tmp_path / "k.key"),
            ]
        )
        == 0
    )
    store = ModelStore(tmp_path / "store", TrustedKeys([tmp_path / "k.pub"]))
    art = store.fetch("lam")
    assert art.manifest.producer.commit and art.manifest.kind == "lam"
    model, want = model_from_store(art), load_checkpoint(ckpt)[0]
    x = torch.randn(2, 2, 32, 32)
    assert torch.equal(model(x), want(x))
