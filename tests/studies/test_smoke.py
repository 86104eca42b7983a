"""The experiment end to end: JSON layout on a user catalogue, and the smoke preset's claim."""

import io
import json
from contextlib import redirect_stdout
from dataclasses import replace

import pytest

from lasco.channels import Catalogue, CatalogueEntry, EnvSpec
from lasco.train import AdaptConfig
from studies.cli import main
from studies.smoke import EXPERIMENT_PRESETS, format_table, run_experiment, write_outputs

METHOD_KEYS = {
    "lam-only",
    "lasco",
    "e-lasco",
    "baseline-a",
    "sam-finetune",
    "lam-finetune",
    "lora",
    "no-reference",
}


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    cat = Catalogue(
        "mixed",
        [
            CatalogueEntry(EnvSpec("u1", "UMi", (60.0, 10.0), los=True, seed=1), "source"),
            CatalogueEntry(EnvSpec("c1", "CDL-C", seed=2), "source"),
            CatalogueEntry(EnvSpec("inh", "InH", (10.0, 5.0), los=False, seed=3), "target"),
            CatalogueEntry(EnvSpec("uma", "UMa", (150.0, -20.0), los=None, seed=4), "target"),
        ],
    )
    preset = replace(
        EXPERIMENT_PRESETS["smoke"],
        name="tiny",
        lam="tiny",
        sam="tiny",
        samples_per_source=40,
        samples_per_target=40,
        pretrain_epochs=2,
        sam_pretrain_epochs=2,
        adapt=AdaptConfig(max_epochs=2, patience=2),
    )
    from lasco.channels import ChannelCache

    cache = ChannelCache(tmp_path_factory.mktemp("cache"))
    return run_experiment(preset, catalogue=cat, cache=cache, progress=False, log=lambda *_: None)


def test_result_layout(tiny_result):
    r = tiny_result
    assert r["preset"] == "tiny" and r["target_regions"] == ["inh", "uma"]
    assert r["source_regions"] == ["u1", "c1"] and r["lam_params"] > 0
    assert set(r["methods"]) >= METHOD_KEYS
    assert set(r["methods"]["e-lasco"]["alpha"]) == {"inh", "uma"}
    assert r["methods"]["lam-only"]["trainable_params"] == 0
    json.dumps(r)  # serialisable


@pytest.mark.parametrize("key", sorted(METHOD_KEYS))
def test_every_method_is_reported_per_region(tiny_result, key):
    rec = tiny_result["methods"][key]
    assert set(rec["nmse_db"]) == set(rec["gcs"]) == {"inh", "uma"}
    assert {"mean_nmse_db", "trainable_params", "train_seconds", "epochs"} <= set(rec)


def test_mean_is_the_mean_of_the_regions(tiny_result):
    rec = tiny_result["methods"]["lasco"]
    assert rec["mean_nmse_db"] == pytest.approx(sum(rec["nmse_db"].values()) / 2, abs=1e-3)


def test_table_and_outputs(tiny_result, tmp_path):
    table = format_table(tiny_result)
    assert "e-lasco" in table and "E-LASCO alpha" in table
    rows = {r.split()[0]: r.split() for r in table.splitlines()[2:]}
    assert rows["lam-only"][-2:] == ["-", "-"]  # trains nothing
    assert rows["lasco"][-1] == str(tiny_result["methods"]["lasco"]["epochs"])
    paths = write_outputs(tiny_result, tmp_path / "out" / "r.json")
    assert json.loads(paths[0].read_text())["preset"] == "tiny"
    assert paths[1].suffix == ".png" and paths[1].stat().st_size > 10_000


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The smoke preset run from the command line (about 3 minutes on 2 cores)."""
    folder = tmp_path_factory.mktemp("smoke")
    out = folder / "smoke.json"
    printed = io.StringIO()
    argv = ["experiment", "--preset", "smoke", "--json", str(out), "--cache", str(folder / "c")]
    with redirect_stdout(printed):
        assert main(argv) == 0
    return json.loads(out.read_text()), out, printed.getvalue()


@pytest.mark.slow
def test_smoke_preset_reports_every_method(smoke):
    r, out, printed = smoke
    assert set(r["methods"]) >= METHOD_KEYS
    assert out.with_suffix(".png").is_file()
    assert "lam-only" in printed


@pytest.mark.slow
@pytest.mark.parametrize("key", ["lasco", "e-lasco"])
def test_smoke_preset_plugin_beats_the_lam_with_few_trainable_parameters(smoke, key):
    """The smoke experiment's bar: LASCO and E-LASCO have a lower mean NMSE than the LAM
    alone on the targets (one LOS, one NLOS), with at most 5 % of the LAM's parameters
    trainable."""
    r = smoke[0]
    rec = r["methods"][key]
    assert rec["mean_nmse_db"] < r["methods"]["lam-only"]["mean_nmse_db"]
    assert rec["trainable_params"] <= 0.05 * r["lam_params"]
