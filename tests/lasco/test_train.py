import numpy as np
import pytest
import torch

from lasco.collab import Collab, build_method, side_taps
from lasco.errors import ConfigError, DataError, ShapeError
from lasco.models import build_model
from lasco.pretrain import PretrainConfig, _lr_lambda, pretrain
from lasco.train import (
    AdaptConfig,
    SplitTensors,
    adapt,
    evaluate,
    load_checkpoint,
    predict,
    save_checkpoint,
)


def _toy(n, seed=0, shift=0.0):
    """A learnable toy task: H is low-rank, H_in is H with one half of it erased."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n, 2, 32, 1)).astype(np.float32)
    v = np.linspace(-1, 1, 32, dtype=np.float32)[None, None, None, :] + shift
    y = u * v
    x = y.copy()
    x[:, :, :, 16:] = 0.0
    return x, y


def test_schedule_warms_up_then_decays_to_the_floor():
    f = _lr_lambda(PretrainConfig(epochs=10), total=100)
    assert f(0) == pytest.approx(1 / 5)  # 5 % warm-up = 5 steps
    assert f(4) == pytest.approx(1.0)
    assert f(50) < 1.0
    assert f(99) == pytest.approx(1e-2, rel=0.05)  # 1e-5 / 1e-3


def test_pretrain_learns_and_keeps_the_best_state():
    torch.manual_seed(0)
    m = build_model("tiny")
    train, val = _toy(512), _toy(64, seed=1)
    before = float(((predict(m, val[0]) - torch.from_numpy(val[1])) ** 2).mean())
    res = pretrain(m, train, val, PretrainConfig(epochs=8, batch_size=64), progress=False)
    after = float(((predict(m, val[0]) - torch.from_numpy(val[1])) ** 2).mean())
    assert after < 0.5 * before
    assert len(res.val_nmse_db) == 8 and res.best_nmse_db == min(res.val_nmse_db)
    # the training curve is the NMSE too (not the loss): on this task train tracks val
    assert abs(res.train_nmse_db[-1] - res.val_nmse_db[-1]) < 1.5


def test_pretrain_resumed_after_a_stop_ends_where_an_unbroken_run_ends(tmp_path):
    train, val = _toy(256), _toy(64, seed=1)
    cfg = PretrainConfig(epochs=6, batch_size=64)
    torch.manual_seed(0)
    whole = build_model("tiny")
    w_res = pretrain(whole, train, val, cfg, progress=False)

    torch.manual_seed(0)
    part = build_model("tiny")

    class Stop(Exception):
        pass

    def interrupt(epoch, v):
        if epoch == 3:
            raise Stop

    cut = tmp_path / "cut.state"
    with pytest.raises(Stop):
        pretrain(part, train, val, cfg, progress=False, state_path=cut, on_best=interrupt)
    # the interrupt came from on_best, before epoch 3's state was written
    assert torch.load(cut, weights_only=True)["epoch"] == 2
    torch.manual_seed(123)  # the resumed run restores its own generator
    resumed = build_model("tiny")
    r_res = pretrain(resumed, train, val, cfg, progress=False, state_path=cut)
    assert r_res.val_nmse_db == pytest.approx(w_res.val_nmse_db, abs=1e-4)
    assert r_res.epochs == 6 and len(r_res.train_nmse_db) == 6
    for a, b in zip(resumed.state_dict().values(), whole.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_pretrain_refuses_a_state_of_another_run(tmp_path):
    train, val = _toy(64), _toy(16, seed=1)
    state = tmp_path / "run.state"

    def run(epochs):
        cfg = PretrainConfig(epochs=epochs, batch_size=32)
        pretrain(build_model("tiny"), train, val, cfg, progress=False, state_path=state)

    run(1)
    with pytest.raises(ConfigError, match="belongs to another run"):
        run(2)
    state.write_bytes(b"not a torch file")
    with pytest.raises(DataError, match="cannot be read"):
        run(1)


def test_pretrain_patience_stops_a_run_without_validation_gain():
    train, val = _toy(64), _toy(16, seed=1)
    # a learning rate this small cannot move the validation NMSE below epoch 1's
    cfg = PretrainConfig(epochs=20, batch_size=64, lr_peak=1e-9, lr_final=1e-9, patience=2)
    res = pretrain(build_model("tiny"), train, val, cfg, progress=False)
    assert res.stopped_early and res.epochs < 20
    assert res.epochs - res.best_epoch == 2


def test_pretrain_under_bf16_autocast_learns_and_keeps_fp32_weights():
    torch.manual_seed(0)
    m = build_model("tiny")
    train, val = _toy(512), _toy(64, seed=1)
    res = pretrain(
        m, train, val, PretrainConfig(epochs=6, batch_size=64, bf16=True), progress=False
    )
    assert res.val_nmse_db[-1] < res.val_nmse_db[0] - 1.0
    assert all(p.dtype == torch.float32 for p in m.parameters())


def test_pretrain_config_refuses_nonsense():
    with pytest.raises(ConfigError, match="patience"):
        PretrainConfig(patience=0)
    with pytest.raises(ConfigError, match="epochs"):
        PretrainConfig(epochs=0)


def test_pretrain_refuses_nan_empty_and_mismatched_data():
    m = build_model("tiny")
    x, y = _toy(8)
    bad = y.copy()
    bad[0, 0, 0, 0] = np.nan
    cfg = PretrainConfig(epochs=1)
    with pytest.raises(DataError, match="labels hold NaN"):
        pretrain(m, (x, bad), (x, y), cfg, progress=False)
    with pytest.raises(DataError, match="empty"):
        pretrain(m, (x[:0], y[:0]), (x, y), cfg, progress=False)
    with pytest.raises(ShapeError):
        pretrain(m, (x, y[:4]), (x, y), cfg, progress=False)


def test_adapt_improves_lasco_and_early_stops():
    torch.manual_seed(0)
    lam, ref = build_model("tiny"), build_model("tiny")
    pretrain(lam, _toy(256), _toy(32, 1), PretrainConfig(epochs=3, batch_size=64), progress=False)
    pretrain(ref, _toy(256), _toy(32, 1), PretrainConfig(epochs=3, batch_size=64), progress=False)
    # The target environment is shifted: adaptation has something to learn.
    tr = SplitTensors.build(*_toy(256, 2, shift=0.5), lam, ref)
    va = SplitTensors.build(*_toy(64, 3, shift=0.5), lam, ref)
    method = build_method("lasco", lam, ref)
    res = adapt(method, tr, va, AdaptConfig(max_epochs=40, patience=3), progress=False)
    assert res.best_nmse_db < res.val_nmse_db[0] - 1.0  # at least 1 dB better than the LAM
    assert len(res.val_nmse_db) == res.epochs + 1 <= 41
    # it ran all 40 epochs, or stopped because the last `patience` brought no gain
    assert res.epochs == 40 or min(res.val_nmse_db[-3:]) >= res.best_nmse_db


def test_adapt_stops_after_patience_epochs_without_gain():
    lam, ref = build_model("tiny"), build_model("tiny")
    tr = SplitTensors.build(*_toy(32, 2), lam, ref)
    va = SplitTensors.build(*_toy(16, 3), lam, ref)
    method = build_method("lasco", lam, ref)
    # a zero learning rate never improves on epoch 0: the patience runs out at epoch 3
    res = adapt(method, tr, va, AdaptConfig(lr=0.0, max_epochs=40, patience=3), progress=False)
    assert res.epochs == 3 and res.best_epoch == 0
    assert res.val_nmse_db == [res.val_nmse_db[0]] * 4


def _pair_and_target(taps=()):
    torch.manual_seed(0)
    lam, ref = build_model("tiny"), build_model("tiny")
    pretrain(lam, _toy(256), _toy(32, 1), PretrainConfig(epochs=3, batch_size=64), progress=False)
    pretrain(ref, _toy(256), _toy(32, 1), PretrainConfig(epochs=3, batch_size=64), progress=False)
    tr = SplitTensors.build(*_toy(256, 2, shift=0.5), lam, ref, taps=taps)
    va = SplitTensors.build(*_toy(64, 3, shift=0.5), lam, ref, taps=taps)
    return lam, ref, tr, va


@pytest.mark.parametrize("key", ["side", "readout"])
def test_hidden_state_plugins_adapt_from_cached_hidden_states(key):
    lam0 = build_model("tiny")
    lam, ref, tr, va = _pair_and_target(taps=side_taps(lam0.cfg.n_layers))
    assert tr.hidden.shape == (256, 1, 32, lam.cfg.d_model)
    assert tr.subset(10).hidden.shape[0] == 10
    method = build_method(key, lam, ref)
    res = adapt(method, tr, va, AdaptConfig(max_epochs=15, patience=5), progress=False)
    assert res.best_nmse_db < res.val_nmse_db[0] - 1.0
    nmse, _ = evaluate(method, va)
    assert nmse == pytest.approx(res.best_nmse_db, abs=1e-3)


def test_side_network_refuses_splits_without_hidden_states():
    lam, ref, tr, va = _pair_and_target()
    with pytest.raises(DataError, match="hidden states"):
        adapt(build_method("side", lam, ref), tr, va, AdaptConfig(max_epochs=1), progress=False)


def test_adapt_warm_up_ramps_the_learning_rate():
    lam, ref, tr, va = _pair_and_target()

    def moved(warmup):
        method = build_method("lasco", lam, ref)
        start = [p.detach().clone() for p in method.proxy.parameters()]
        cfg = AdaptConfig(max_epochs=1, patience=1, warmup_epochs=warmup)
        adapt(method, tr, va, cfg, progress=False)
        # (adapt keeps the epoch only when it beats epoch 0; without a warm-up it does)
        now = [p.detach() for p in method.proxy.parameters()]
        return sum(float((p - s).abs().sum()) for p, s in zip(now, start, strict=True))

    # over one epoch of a 100-epoch warm-up the steps are at most 1 % of the full rate
    assert moved(100) < 0.1 * moved(0)


def test_adapt_config_refuses_nonsense():
    with pytest.raises(ConfigError, match="max_epochs"):
        AdaptConfig(max_epochs=0)
    with pytest.raises(ConfigError, match="warmup_epochs"):
        AdaptConfig(warmup_epochs=-1)


def test_adapt_subset_refuses_zero_samples():
    lam = build_model("tiny")
    tr = SplitTensors.build(*_toy(4), lam, lam)
    assert len(tr.subset(2)) == 2
    with pytest.raises(DataError, match="at least 1"):
        tr.subset(0)


def test_checkpoint_roundtrip_with_weights_only(tmp_path):
    m = build_model("tiny")
    path = tmp_path / "ckpt" / "tiny.pt"
    save_checkpoint(path, m, "lam", {"projection_id": "gauss-0-512", "epochs": 3})
    back, kind, meta = load_checkpoint(path)
    assert kind == "lam" and meta["epochs"] == 3
    x = torch.randn(2, 2, 32, 32)
    assert torch.equal(predict(m, x), predict(back, x))
    assert [p.name for p in path.parent.iterdir()] == ["tiny.pt"]  # no temporary left


def test_checkpoint_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="not a lasco-checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def _viewed(samples, views):
    """Rows ``k * samples + i`` whose every value is the row's index: where a row came
    from can be read off what the method sees."""
    rows = np.arange(views * samples, dtype=np.float32)
    x = np.broadcast_to(rows[:, None, None, None], (len(rows), 2, 32, 32)).copy()
    t = torch.from_numpy(x)
    return SplitTensors(t, t.clone(), t.clone(), t.clone(), views=views)


class _Recorder(Collab):
    """A one-parameter method that records the rows each training batch holds."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x, base, ref, hidden=None):
        if self.training:
            self.seen.append(x[:, 0, 0, 0].long().tolist())
        return base + self.w


def test_adapt_visits_each_sample_once_an_epoch_in_one_view():
    views, samples = 4, 50
    tr, method = _viewed(samples, views), _Recorder()
    cfg = AdaptConfig(lr=0.0, max_epochs=3, patience=5, batch_size=16)
    adapt(method, tr, _viewed(8, 1), cfg, progress=False)
    assert [len(b) for b in method.seen[:4]] == [16, 16, 16, 2]  # samples, not rows, per epoch
    drawn = []
    for epoch in range(3):
        rows = [r for b in method.seen[4 * epoch : 4 * epoch + 4] for r in b]
        assert sorted(r % samples for r in rows) == list(range(samples))
        drawn += [r // samples for r in rows]
    assert set(drawn) == set(range(views))  # every view is drawn, at random


def test_split_views_subset_keeps_every_view_of_the_first_samples():
    tr = _viewed(10, 3)
    assert tr.samples == 10 and len(tr) == 30
    sub = tr.subset(4)
    assert sub.views == 3 and sub.samples == 4
    assert sub.x[:, 0, 0, 0].long().tolist() == [0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]
    assert tr.subset(99).samples == 10
    with pytest.raises(DataError, match="3 views"):
        SplitTensors(tr.x[:29], tr.y[:29], tr.base[:29], tr.ref[:29], views=3)
