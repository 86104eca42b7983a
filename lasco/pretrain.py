"""Pre-training: the LAM and the reference SAM on the pooled source regions (torch).

AdamW, batch 256, learning rate warmed up linearly over the first 5 % of steps from
0 to 1e-3, then cosine down to 1e-5 (docs/method.md); the best validation state
wins, and ``patience`` stops a run whose validation NMSE has not improved for that
many epochs. With a ``state_path`` every epoch ends by saving the whole run
(weights, optimiser, schedule, random generator, curves) there atomically, and a
run given an existing state resumes after its last finished epoch: pre-training
that takes hours on a CPU survives being stopped. The state holds tensors and plain
values only (the configuration as a dict), so it loads with ``weights_only=True``.
``bf16`` runs the training passes under bfloat16 autocast (CPUs with AVX-512 BF16
or AMX, GPUs); validation stays fp32.

The loss is the mean squared error, which is the NMSE up to a constant because
every sample has unit mean power (lasco.channels). GPU when present. Prediction,
checkpoints and the adaptation loop are lasco.train.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from lasco.errors import ConfigError, DataError
from lasco.losses import nmse_per_sample
from lasco.models import CsiRefiner
from lasco.progress import progress as progress_bar
from lasco.train import FitResult, _check_xy, _val_nmse_db, atomic_torch_save, default_device

__all__ = ["PRETRAIN_STATE_FORMAT", "PretrainConfig", "pretrain"]


@dataclass(frozen=True)
class PretrainConfig:
    """One pre-training run's budget and schedule (see the module docstring)."""

    epochs: int = 500
    batch_size: int = 256
    lr_peak: float = 1e-3
    lr_final: float = 1e-5
    warmup_frac: float = 0.05
    weight_decay: float = 0.01
    seed: int = 0
    patience: int | None = None
    bf16: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("pre-training needs epochs >= 1 and batch_size >= 1")
        if self.patience is not None and self.patience < 1:
            raise ConfigError(f"patience must be >= 1 epoch, got {self.patience}")
        if not 0 < self.lr_final <= self.lr_peak:
            raise ConfigError("pre-training needs 0 < lr_final <= lr_peak")


PRETRAIN_STATE_FORMAT = "lasco-pretrain-state/1"


def _lr_lambda(cfg: PretrainConfig, total: int) -> Callable[[int], float]:
    warm = max(1, int(cfg.warmup_frac * total))
    floor = cfg.lr_final / cfg.lr_peak

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = min(1.0, (step - warm) / max(1, total - warm))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def _load_run_state(path: Path, cfg: PretrainConfig, model: CsiRefiner) -> dict | None:
    """The saved state of an interrupted run at ``path``, or None when there is none.
    A state of another configuration or model shape is refused, not mixed in."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"pre-training state {str(path)!r} cannot be read: {e}") from e
    if not isinstance(blob, dict) or blob.get("format") != PRETRAIN_STATE_FORMAT:
        raise DataError(f"{str(path)!r} is not a {PRETRAIN_STATE_FORMAT} file")
    if blob["config"] != asdict(cfg) or blob["model"] != model.cfg.to_dict():
        raise ConfigError(
            f"pre-training state {str(path)!r} belongs to another run "
            f"(model {blob['model'].get('name')}, {blob['config']}); "
            "resume with the same settings, or remove it to start again"
        )
    return blob


def pretrain(
    model: CsiRefiner,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    cfg: PretrainConfig,
    *,
    desc: str = "pretrain",
    progress: bool = True,
    on_best: Callable[[int, float], None] | None = None,
    state_path: str | Path | None = None,
    compile: bool = False,
) -> FitResult:
    """Train ``model`` on (H_in, H) pairs in place; keeps the best validation state.

    ``on_best(epoch, val_nmse_db)`` runs whenever an epoch sets a new best, with the
    model holding that state (the CLI saves a checkpoint there, so a run that is
    stopped early still leaves its best model behind). With ``state_path`` the run
    resumes from the state saved there, if any, and saves its own after every epoch;
    ``seconds`` then counts every part of the run. ``compile`` runs the training
    passes through ``torch.compile`` (faster on a CPU after a compile of some seconds;
    the weights and validation are the eager model's)."""
    _check_xy(*train, desc + " train")
    _check_xy(*val, desc + " val")
    state_path = Path(state_path) if state_path is not None else None
    saved = _load_run_state(state_path, cfg, model) if state_path is not None else None
    torch.manual_seed(cfg.seed)
    dev = default_device()
    model.to(dev).train()
    x, y = (torch.as_tensor(a) for a in train)
    vx, vy = (torch.as_tensor(a).to(dev) for a in val)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr_peak, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, cfg.epochs * steps_per_epoch))
    res, best, done, stale, spent = FitResult(), copy.deepcopy(model.state_dict()), 0, 0, 0.0
    if saved is not None:
        model.load_state_dict(saved["weights"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["rng"])
        best, done, stale, spent = saved["best"], saved["epoch"], saved["stale"], saved["seconds"]
        res.val_nmse_db, res.train_nmse_db = list(saved["val"]), list(saved["train"])
        res.best_epoch, res.stopped_early = saved["best_epoch"], saved["stopped_early"]
    step_model = torch.compile(model) if compile else model
    t0 = time.perf_counter()
    with progress_bar(cfg.epochs, desc, unit="epoch", enabled=progress) as bar:
        bar.update(done)
        for epoch in range(done, cfg.epochs):
            if res.stopped_early:
                break
            perm, err = torch.randperm(len(x)), torch.zeros((), device=dev)
            for i in range(0, len(x), cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                xb, yb = x[idx].to(dev), y[idx].to(dev)
                with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                    out = step_model(xb)
                loss = torch.mean((out.float() - yb) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                err += nmse_per_sample(out.detach().float(), yb).sum()
            model.eval()
            with torch.no_grad():
                v = _val_nmse_db(lambda s: model(vx[s]), vy, 1024)
            model.train()
            res.val_nmse_db.append(v)
            res.train_nmse_db.append(float(10 * torch.log10(err / len(x))))
            if v <= res.best_nmse_db:
                res.best_epoch, best, stale = epoch + 1, copy.deepcopy(model.state_dict()), 0
                if on_best is not None:
                    on_best(epoch + 1, v)
            else:
                stale += 1
            res.stopped_early = cfg.patience is not None and stale >= cfg.patience
            if state_path is not None:
                atomic_torch_save(
                    state_path,
                    {
                        "format": PRETRAIN_STATE_FORMAT,
                        "config": asdict(cfg),
                        "model": model.cfg.to_dict(),
                        "epoch": epoch + 1,
                        "weights": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "rng": torch.get_rng_state(),
                        "best": best,
                        "best_epoch": res.best_epoch,
                        "stale": stale,
                        "stopped_early": res.stopped_early,
                        "val": res.val_nmse_db,
                        "train": res.train_nmse_db,
                        "seconds": spent + time.perf_counter() - t0,
                    },
                )
            bar.set_postfix(val_nmse_db=f"{v:.2f}")
            bar.update()
            bar.summary = f"best val {res.best_nmse_db:.2f} dB"
            if res.stopped_early:
                bar.summary += f", stopped after {cfg.patience} epochs without gain"
    model.load_state_dict(best)
    model.eval()
    res.epochs, res.seconds = len(res.val_nmse_db), spent + time.perf_counter() - t0
    return res
