import torch

from benchmarks.adapt import time_epochs
from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.models import build_model, forward_flops


def test_time_epochs_times_every_training_method(tmp_path):
    torch.manual_seed(0)
    lam, ref = build_model("tiny").eval(), build_model("tiny").eval()
    cache = ChannelCache(tmp_path / "cache")
    logs: list[str] = []
    out = time_epochs(
        lam,
        ref,
        Projection.from_ratio("1/4"),
        n=8,
        epochs=1,
        samples_per_target=40,
        methods=("lasco", "lam-finetune", "side", "readout"),
        cache=cache,
        log=logs.append,
    )
    # the side network and the readout get the LAM's hidden states cached with the splits
    assert set(out["methods"]) == {"lasco", "lam-finetune", "side", "readout"} and len(logs) == 4
    recs = out["methods"]
    assert min(r["seconds_per_epoch"] for r in recs.values()) > 0
    assert min(r["train_flops_per_epoch"] for r in recs.values()) > 0
    spe = {k: r["seconds_per_epoch"] for k, r in recs.items()}
    assert {k: r["time_over_lam_finetune"] for k, r in recs.items()} == {
        k: round(v / spe["lam-finetune"], 4) for k, v in spe.items()
    }
    assert recs["lam-finetune"]["time_over_lam_finetune"] == 1.0
    # per epoch: forward + backward (3 forwards) of the proxy over the 8 training samples
    # and a forward over the 4 validation samples; the one-off LAM outputs are not in it
    f_ref = forward_flops(ref.cfg)
    assert out["methods"]["lasco"]["train_flops_per_epoch"] == f_ref * (3 * 8 + 4)


def test_the_command_records_the_machine_and_the_models_it_ran_on(tmp_path, monkeypatch, capsys):
    """The JSON says which CPU and LAM version its seconds come from (the timing itself is
    the test above; here it is replaced by a stand-in that records what it was given)."""
    import json

    import benchmarks.adapt
    from benchmarks.cli import main

    seen = {}

    def fake_time_epochs(lam, ref, projection, **kw):
        seen.update(kw, ratio=projection.ratio)
        return {"region": kw["region"], "n": kw["n"], "epochs": kw["epochs"], "methods": {}}

    monkeypatch.setattr(benchmarks.adapt, "time_epochs", fake_time_epochs)
    out = tmp_path / "bench_adapt.json"
    assert main(["adapt", "--n", "50", "--epochs", "2", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (seen["n"], seen["epochs"], result["n"]) == (50, 2, 50)
    assert result["lam_version"] >= 1 and result["machine"]["cpu_model"]
    assert result["machine"]["cpu_model"] in capsys.readouterr().out
