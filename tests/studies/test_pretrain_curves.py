"""Pre-training runs on one time axis: curves from checkpoints, a second schedule placed after
the run it continued, the better run named, an unfinished run refused."""

import json

import pytest

from lasco.errors import DataError
from lasco.models import PRESETS, build_model
from lasco.train import save_checkpoint
from studies.cli import main


def _ckpt(path, preset, val, seconds, test, **meta):
    model = build_model(PRESETS[preset])
    meta = {
        "preset": preset,
        "params": sum(p.numel() for p in model.parameters()),
        "val_curve": val,
        "train_curve": [v + 0.1 for v in val],
        "epochs_run": len(val),
        "train_seconds": seconds,
        "source_test_nmse_db": test,
        "complete": True,
        **meta,
    }
    save_checkpoint(path, model, "lam", meta)
    return path


def test_curves_of_two_sizes_and_a_second_schedule(tmp_path):
    first = _ckpt(tmp_path / "s1.pt", "tiny", [-3.0, -4.0], 100.0, -4.1)
    second = _ckpt(
        tmp_path / "s2.pt", "tiny", [-4.2, -4.5, -4.6], 300.0, -4.7,
        init={"checkpoint": str(first)},
    )  # fmt: skip
    big = _ckpt(tmp_path / "b.pt", "lam-mini", [-2.0, -3.5], 400.0, -3.6)
    out = tmp_path / "r" / "curves.json"
    assert main(["pretrain-curves", str(second), str(big), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 0
    small, large = result["runs"]
    assert result["best"] == str(second)
    assert small["offset_seconds"] == 100.0 and small["continues"]["checkpoint"] == str(first)
    assert large["offset_seconds"] == 0.0 and large["continues"] is None
    assert large["params"] > small["params"] and large["val_curve"] == [-2.0, -3.5]


def test_an_unfinished_run_is_refused(tmp_path):
    ckpt = _ckpt(tmp_path / "u.pt", "tiny", [-3.0], 10.0, -3.0, complete=False)
    with pytest.raises(DataError, match="has not finished"):
        from studies.pretrain_curves import pretrain_curves

        pretrain_curves([ckpt])
    assert main(["pretrain-curves", str(ckpt), "--json", str(tmp_path / "x.json")]) == 2
