"""The study run end to end on tiny models: cells, resume, order, shards and budgets."""

import json
import re
import socket
import subprocess

import pytest

from lasco.errors import ConfigError
from lasco.models import forward_flops
from studies.config import Roles, StudyConfig, study_plan
from studies.runner import epochs_to_fraction
from tests.studies.tiny import run_tiny


@pytest.mark.parametrize(
    "curve, fraction, epoch",
    [
        ([-2.0, -4.0, -5.0, -6.0, -6.1], 0.95, 3),  # gain 4.1; 95 % = 3.895
        ([-2.0, -1.0, -1.5], 0.95, 0),  # nothing gained
        ([-2.0, -3.0], 1.0, 1),
    ],
)
def test_epochs_to_a_fraction_of_the_gain(curve, fraction, epoch):
    assert epochs_to_fraction(curve, fraction) == epoch


def _ran(logs: list[str]) -> list[str]:
    """The cell keys a run's log lines say it finished, in order."""
    hits = (re.match(r"\[\d+\] (\S+) n=(\S+) region (\S+):", line) for line in logs)
    return [f"{m[1]}|{m[2]}|{m[3]}" for m in hits if m]


def test_every_cell_runs_once(tiny):
    plan = [f"{k}|{n}|{r}" for k, n, r in study_plan(tiny.cfg)]
    assert sorted(_ran(tiny.logs)) == sorted(plan)
    assert tiny.logs[0] == f"study: {len(plan)} cells, 0 done, {len(plan)} to run"


def test_the_report_covers_every_cell(tiny):
    r = tiny.report
    assert r["cells_done"] == r["cells_total"] == 2 * 2 * 4 + 2 * 2 + 2
    assert r["target_regions"] == ["101", "102"] and r["lam_params"] > 0
    assert r["methods"]["e-lasco"]["trainable_params"] > 0
    assert r["methods"]["e-lasco"]["by_n"]["all"]["n"] == 32  # 80 % of 40
    assert set(r["alpha_sweep"]) == {"0.5", "1.0"}
    assert set(r["e_lasco_alpha"]) == {"101", "102"}


@pytest.mark.parametrize("n", ["8", "all"])
@pytest.mark.parametrize("key", ["lam-only", "lasco", "e-lasco", "lam-finetune"])
def test_every_method_and_size_has_its_entry(tiny, key, n):
    entry = tiny.report["methods"][key]["by_n"][n]
    assert set(entry["nmse_db"]) == {"101", "102"}
    assert {"mean_nmse_db", "train_seconds", "epochs_to_95", "train_flops"} <= set(entry)


def test_the_cells_the_goals_need_run_first(tiny):
    """Every method at the first n, then the LAM fine-tuned on all samples, then the rest."""
    keys = [tuple(k.split("|")[:2]) for k in _ran(tiny.logs)]
    first_n = [i for i, (m, n) in enumerate(keys) if n == "8" and m in tiny.cfg.methods]
    ft_all = [i for i, k in enumerate(keys) if k == ("lam-finetune", "all")]
    rest = [i for i in range(len(keys)) if i not in first_n and i not in ft_all]
    assert max(first_n) < min(ft_all) and max(ft_all) < min(rest)


def test_seed_reruns_change_only_the_batch_order(tiny):
    seeds = tiny.report["seed_runs"]["e-lasco"]
    own = tiny.report["methods"]["e-lasco"]["by_n"]["8"]["nmse_db"]
    assert [first for first, _ in seeds["nmse_db"].values()] == list(own.values())
    assert all(rerun != first for first, rerun in seeds["nmse_db"].values())


def test_training_flops_follow_the_cost_model(tiny):
    methods = tiny.report["methods"]
    f_lam, f_ref, n, n_val = forward_flops(tiny.lam.cfg), forward_flops(tiny.ref.cfg), 8, 4
    ft = methods["lam-finetune"]["by_n"]["8"]
    # Fine-tuning: forward + backward (3x forward) per sample-epoch, validation forwards.
    epochs = ft["epochs"]
    assert ft["train_flops"] == 3 * f_lam * n * epochs + f_lam * n_val * (epochs + 1)
    lasco = methods["lasco"]["by_n"]["8"]
    once = (f_lam + f_ref) * (n + n_val)  # LAM and reference outputs, computed once
    e = lasco["epochs"]
    assert lasco["train_flops"] == 3 * f_ref * n * e + f_ref * n_val * (e + 1) + once
    assert methods["lam-only"]["by_n"]["8"]["train_flops"] == 0


def test_resume_skips_finished_cells_and_refuses_another_config(tiny):
    logs: list[str] = []
    again = tiny.run(tiny.folder / "s.state.json", resume=True, log=logs.append)
    assert "0 to run" in logs[0]
    assert again["methods"]["lasco"]["by_n"]["8"] == tiny.report["methods"]["lasco"]["by_n"]["8"]
    other = StudyConfig(**{**tiny.cfg.__dict__, "alpha_grid": (2.0,)})
    with pytest.raises(ConfigError, match="another study configuration"):
        run_tiny(other, tiny.lam, tiny.ref, tiny.cache, tiny.folder / "s.state.json", resume=True)


def test_a_report_from_the_state_alone_needs_no_data(tiny, tmp_path):
    """A finished study reports with an empty channel cache: no region is loaded."""
    from lasco.channels import ChannelCache

    state = tmp_path / "s.state.json"
    state.write_bytes((tiny.folder / "s.state.json").read_bytes())
    empty = ChannelCache(tmp_path / "cache")
    report = run_tiny(
        tiny.cfg, tiny.lam, tiny.ref, empty, state, resume=True, budget_s=0, log=lambda _: None
    )
    assert report == tiny.report
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "cfg, shard, resume, message",
    [
        (StudyConfig(methods=("e_lasco",)), (0, 1), False, "unknown methods"),
        (StudyConfig(roles=Roles(base="lam_only")), (0, 1), False, "unknown methods"),
        (StudyConfig(), (0, 2), False, "resume"),
        (StudyConfig(), (2, 2), True, "shard 2/2"),
    ],
    ids=["method", "role", "shards-without-resume", "shard-out-of-range"],
)
def test_bad_settings_are_refused_before_any_work(tiny, tmp_path, cfg, shard, resume, message):
    with pytest.raises(ConfigError, match=message):
        run_tiny(cfg, tiny.lam, tiny.ref, tiny.cache, tmp_path / "s", shard=shard, resume=resume)
    assert not any(tmp_path.iterdir())


def test_shards_share_the_cells_and_a_worker_out_of_cells_takes_the_others(tiny, tmp_path):
    """A shard runs its own cells first, then the other shards' from the end of the plan,
    skipping every cell a live worker has claimed; a dead worker's claim frees its cell."""
    plan = [f"{k}|{n}|{r}" for k, n, r in study_plan(tiny.cfg)]
    assert len(plan) % 2 == 0  # so the plan's last cell is shard 1's
    state, claims = tmp_path / "s.state.json", tmp_path / "s.state.claims.json"
    here = socket.gethostname()
    busy = subprocess.Popen(["sleep", "120"])  # shard 0's worker, training its first cell
    dead = subprocess.Popen(["true"])  # a worker killed mid-cell
    dead.wait()
    claims.write_text(
        json.dumps(
            {
                plan[0]: {"host": here, "pid": busy.pid},
                plan[1]: {"host": here, "pid": dead.pid},
                plan[-1]: {"host": "another-machine", "pid": 1},  # a worker elsewhere
            }
        )
    )
    try:
        logs: list[str] = []
        tiny.run(state, resume=True, shard=(1, 2), log=logs.append)
        assert set(json.loads(claims.read_text())) == {plan[0], plan[-1]}
    finally:
        busy.kill()
        busy.wait()
    own = [k for k in plan[1::2] if k != plan[-1]]
    stolen = [k for k in reversed(plan[0::2]) if k != plan[0]]
    assert _ran(logs) == own + stolen
    logs = []  # shard 0's worker died with its first cell: a restart runs it
    report = tiny.run(state, resume=True, shard=(0, 2), log=logs.append)
    assert _ran(logs) == [plan[0]]
    assert set(json.loads(claims.read_text())) == {plan[-1]}
    assert report["cells_done"] == len(json.loads(state.read_text())["cells"]) == len(plan) - 1
    logs = []  # a budget of 0 only reports, and says what is left
    tiny.run(state, resume=True, budget_s=0, log=logs.append)
    assert logs[-1] == "time budget of 0 min spent; 1 cell of the study left for --resume"
    assert _ran(logs) == []


def test_phase_views_augment_the_training_split_only(tiny):
    """Each training sample comes in its views, each projected from its rotated channel;
    validation and test stay as they are."""
    import numpy as np

    from lasco.channels import builtin_catalogue
    from lasco.codec import Projection
    from studies.runner import region_splits

    spec, proj = builtin_catalogue("paper").get("101"), Projection.from_ratio("1/4")
    plain = region_splits(spec, 40, tiny.cache, proj, tiny.lam, tiny.ref, ())
    tr, va, te = region_splits(spec, 40, tiny.cache, proj, tiny.lam, tiny.ref, (), views=4)
    assert tr.views == 4 and tr.samples == plain[0].samples == 32 and len(tr) == 128
    np.testing.assert_array_equal(tr.y[:32], plain[0].y)
    h = plain[0].y[:, 0] + 1j * plain[0].y[:, 1]
    np.testing.assert_allclose(tr.y[32:64, 0] + 1j * tr.y[32:64, 1], 1j * h, atol=1e-6)
    np.testing.assert_allclose(tr.x[32:64], proj.roundtrip(tr.y[32:64].numpy()), atol=1e-6)
    assert (va.views, te.views) == (1, 1)
    np.testing.assert_array_equal(te.y, plain[2].y)


def test_an_augmented_study_runs_with_its_own_hash(tiny, tmp_path):
    from dataclasses import replace

    cfg = replace(tiny.cfg, ns=(8,), alpha_grid=(), extra_seeds=(), phase_views=2)
    report = run_tiny(cfg, tiny.lam, tiny.ref, tiny.cache, tmp_path / "a", log=lambda _: None)
    assert report["cells_done"] == report["cells_total"] == 2 * 4
    # an epoch visits each of the 8 samples once; the LAM and reference ran on both views
    f_lam, f_ref, n, n_val = forward_flops(tiny.lam.cfg), forward_flops(tiny.ref.cfg), 8, 4
    lasco, ft = (report["methods"][m]["by_n"]["8"] for m in ("lasco", "lam-finetune"))
    e = lasco["epochs"]
    once = (f_lam + f_ref) * (2 * n + n_val)
    assert lasco["train_flops"] == 3 * f_ref * n * e + f_ref * n_val * (e + 1) + once
    e = ft["epochs"]
    assert ft["train_flops"] == 3 * f_lam * n * e + f_lam * n_val * (e + 1)
    with pytest.raises(ConfigError, match="another"):
        run_tiny(tiny.cfg, tiny.lam, tiny.ref, tiny.cache, tmp_path / "a", resume=True)
    with pytest.raises(ConfigError, match="phase_views"):
        run_tiny(replace(cfg, phase_views=0), tiny.lam, tiny.ref, tiny.cache, tmp_path / "b")
