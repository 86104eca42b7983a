"""Adaptation loop, prediction, evaluation and checkpoints (torch).

Adaptation (one target region): fixed learning rate 1e-3 (``lam_lr``, default
1e-4, for LAM weights of the methods that train the LAM), at most 100 epochs,
early stop after 20 epochs without validation-NMSE gain, best state restored.
The frozen LAM and reference outputs are computed once per split and cached, so
LASCO and E-LASCO only run the proxy SAM in the loop.

Pre-training (lasco.pretrain) shares what is here: the input checks, the batched
validation NMSE, ``FitResult``, ``predict``, the atomic ``torch.save`` and the
checkpoint format.

The loss is the mean squared error, which is the NMSE up to a constant because
every sample has unit mean power (lasco.channels). GPU when present.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from lasco.collab import Collab
from lasco.errors import ConfigError, DataError, ShapeError
from lasco.losses import nmse as nmse_t
from lasco.models import CsiRefiner, ModelConfig, build_model
from lasco.progress import progress as progress_bar

__all__ = [
    "AdaptConfig",
    "FitResult",
    "SplitTensors",
    "adapt",
    "atomic_torch_save",
    "default_device",
    "evaluate",
    "load_checkpoint",
    "predict",
    "predict_taps",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "lasco-checkpoint/1"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _check_xy(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, what: str) -> None:
    if x.shape != y.shape or x.ndim != 4 or tuple(x.shape[1:]) != (2, 32, 32):
        raise ShapeError(
            f"{what}: inputs {tuple(x.shape)} and labels {tuple(y.shape)} "
            "must both be [N, 2, 32, 32]"
        )
    if x.shape[0] == 0:
        raise DataError(f"{what}: the data set is empty")
    for name, a in (("inputs", x), ("labels", y)):
        finite = torch.isfinite(a).all() if isinstance(a, torch.Tensor) else np.isfinite(a).all()
        if not finite:
            raise DataError(f"{what}: {name} hold NaN/Inf values")


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch: int = 1024) -> torch.Tensor:
    """Run a refiner in eval mode over ``x [N, 2, 32, 32]`` in batches; result on CPU."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.as_tensor(x)
    out = [model(x[i : i + batch].to(dev)).float().cpu() for i in range(0, len(x), batch)]
    model.train(was_training)
    return torch.cat(out)


@dataclass
class FitResult:
    """What a training run did: validation NMSE (dB) after each epoch, and its cost."""

    val_nmse_db: list[float] = field(default_factory=list)
    best_epoch: int = 0
    epochs: int = 0
    seconds: float = 0.0
    train_nmse_db: list[float] = field(default_factory=list)
    stopped_early: bool = False

    @property
    def best_nmse_db(self) -> float:
        return min(self.val_nmse_db) if self.val_nmse_db else float("nan")


def _val_nmse_db(fn: Callable[[slice], torch.Tensor], y: torch.Tensor, batch: int) -> float:
    """The NMSE (dB) over all of ``y`` of what ``fn`` gives for consecutive slices of
    ``batch`` rows (validation, in pre-training and adaptation alike)."""
    errs = [
        nmse_t(fn(slice(i, i + batch)), y[i : i + batch]) * len(y[i : i + batch])
        for i in range(0, len(y), batch)
    ]
    return float(10 * torch.log10(torch.stack(errs).sum() / len(y)))


@dataclass(frozen=True)
class AdaptConfig:
    """One adaptation's budget. ``warmup_epochs`` ramps every learning rate linearly from
    near 0 over that many epochs (0: none), which removes Adam's first-epoch transient."""

    lr: float = 1e-3
    lam_lr: float = 1e-4
    max_epochs: int = 100
    patience: int = 20
    batch_size: int = 64
    seed: int = 0
    warmup_epochs: int = 0

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.patience < 1 or self.batch_size < 1:
            raise ConfigError("adaptation needs max_epochs, patience and batch_size >= 1")
        if self.warmup_epochs < 0 or self.lr < 0 or self.lam_lr < 0:
            raise ConfigError("adaptation needs learning rates and warmup_epochs >= 0")


@dataclass
class SplitTensors:
    """One split of a target region: inputs, labels, cached LAM and reference outputs,
    and (for methods that read them) the LAM's hidden states ``[N, T, 32, d]``.

    With ``views > 1`` the rows are that many views of each sample, view-major (row
    ``k * samples + i`` is sample ``i``'s view ``k``, see lasco.channels.phase_views):
    an adaptation epoch then visits every sample once, each in one view drawn at random,
    so augmentation costs no optimiser steps."""

    x: torch.Tensor
    y: torch.Tensor
    base: torch.Tensor
    ref: torch.Tensor
    hidden: torch.Tensor | None = None
    views: int = 1

    def __post_init__(self) -> None:
        if self.views < 1 or len(self.y) % self.views:
            raise DataError(f"{len(self.y)} rows do not hold {self.views} views of each sample")

    @property
    def samples(self) -> int:
        """Distinct samples (rows / views)."""
        return len(self.y) // self.views

    @classmethod
    def build(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        lam: nn.Module,
        ref: nn.Module,
        taps: tuple[int, ...] = (),
        views: int = 1,
    ) -> SplitTensors:
        """Cache the frozen models' outputs over ``x``; with ``taps`` also the LAM's
        hidden states after those blocks (see lasco.collab.side_taps). ``views``: how
        many views of each sample the rows hold, view-major."""
        _check_xy(x, y, "adaptation data")
        xt = torch.as_tensor(x)
        hidden = None
        if taps:
            base, hidden = predict_taps(lam, xt, taps)
        else:
            base = predict(lam, xt)
        return cls(xt, torch.as_tensor(y), base, predict(ref, xt), hidden, views)

    def __len__(self) -> int:
        return len(self.y)

    def tensors(self) -> tuple[torch.Tensor | None, ...]:
        """``(x, y, base, ref, hidden)``: what ``adapt`` moves to the device."""
        return (self.x, self.y, self.base, self.ref, self.hidden)

    def subset(self, n: int) -> SplitTensors:
        """The first ``n`` samples, with all their views."""
        if n < 1:
            raise DataError(f"adaptation needs at least 1 training sample, got n={n}")
        n = min(n, self.samples)
        rows = (torch.arange(self.views)[:, None] * self.samples + torch.arange(n)).flatten()
        pick = slice(None, n) if self.views == 1 else rows
        hidden = None if self.hidden is None else self.hidden[pick]
        return SplitTensors(
            self.x[pick], self.y[pick], self.base[pick], self.ref[pick], hidden, self.views
        )


@torch.no_grad()
def predict_taps(
    model: CsiRefiner, x: np.ndarray | torch.Tensor, taps: tuple[int, ...], batch: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """``predict`` that also returns the hidden states after blocks ``taps`` (on CPU)."""
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.as_tensor(x)
    outs, hids = [], []
    for i in range(0, len(x), batch):
        o, h = model(x[i : i + batch].to(dev), taps=taps)
        outs.append(o.float().cpu())
        hids.append(h.float().cpu())
    model.train(was_training)
    return torch.cat(outs), torch.cat(hids)


def _inputs(t: list[torch.Tensor | None], idx) -> tuple:
    """A method's inputs ``(x, base, ref, hidden)`` at ``idx`` of ``(x, y, base, ref,
    hidden)`` tensors."""
    x, _, base, ref, hidden = t
    return x[idx], base[idx], ref[idx], None if hidden is None else hidden[idx]


def adapt(
    method: Collab,
    train: SplitTensors,
    val: SplitTensors,
    cfg: AdaptConfig,
    *,
    desc: str = "adapt",
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train a method's trainable parameters on one region; best validation state kept."""
    torch.manual_seed(cfg.seed)
    dev = default_device()
    method.to(dev)
    lam_ids = {id(p) for p in method.lam_parameters()}
    groups = [
        {
            "params": [p for p in method.parameters() if p.requires_grad and id(p) not in lam_ids],
            "lr": cfg.lr,
        },
        {"params": [p for p in method.lam_parameters() if p.requires_grad], "lr": cfg.lam_lr},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise DataError("method has no trainable parameters")
    opt = torch.optim.Adam(groups)
    n = train.samples
    warm_steps = cfg.warmup_epochs * math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: min(1.0, (step + 1) / warm_steps) if warm_steps else 1.0
    )
    if method.needs_hidden and (train.hidden is None or val.hidden is None):
        raise DataError(
            f"{type(method).__name__} reads the LAM's hidden states: build the splits with taps"
        )
    tr = [None if t is None else t.to(dev) for t in train.tensors()]
    va = [None if t is None else t.to(dev) for t in val.tensors()]

    def val_db() -> float:
        method.eval()
        with torch.no_grad():
            v = _val_nmse_db(lambda s: method(*_inputs(va, s)), va[1], 1024)
        method.train()
        return v

    res, best = FitResult(), copy.deepcopy(method.state_dict())
    res.val_nmse_db.append(val_db())  # epoch 0: before any update
    t0, stale = time.perf_counter(), 0
    method.train()
    with progress_bar(cfg.max_epochs, desc, unit="epoch", enabled=progress) as bar:
        for epoch in range(cfg.max_epochs):
            perm = torch.randperm(n, device=dev)
            if train.views > 1:  # one view of each sample, drawn at random
                perm = perm + n * torch.randint(train.views, (n,), device=dev)
            for i in range(0, n, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = torch.mean((method(*_inputs(tr, idx)) - tr[1][idx]) ** 2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            v = val_db()
            res.val_nmse_db.append(v)
            res.epochs = epoch + 1
            if on_epoch is not None:
                on_epoch(epoch + 1, v)
            if v < min(res.val_nmse_db[:-1]):
                res.best_epoch, best, stale = epoch + 1, copy.deepcopy(method.state_dict()), 0
            else:
                stale += 1
            bar.set_postfix(val_nmse_db=f"{v:.2f}")
            bar.update()
            bar.summary = f"best val {res.best_nmse_db:.2f} dB"
            if stale >= cfg.patience:
                bar.summary += ", early stop"
                res.stopped_early = True
                break
    res.seconds = time.perf_counter() - t0
    method.load_state_dict(best)
    method.eval()
    return res


def atomic_torch_save(path: str | Path, obj: dict) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def evaluate(method: Collab, data: SplitTensors, batch: int = 512) -> tuple[float, float]:
    """Test NMSE (dB) and GCS of a method on a split, in eval mode, in batches."""
    from lasco import metrics

    method.eval()
    dev = next(iter(method.parameters()), torch.empty(0)).device
    t = data.tensors()
    with torch.no_grad():
        out = [
            method(
                *(None if a is None else a.to(dev) for a in _inputs(t, slice(i, i + batch)))
            ).cpu()
            for i in range(0, len(data), batch)
        ]
    h_hat, y = torch.cat(out).numpy(), data.y.numpy()
    return metrics.nmse_db(h_hat, y), metrics.gcs(h_hat, y)


def save_checkpoint(path: str | Path, model: CsiRefiner, kind: str, meta: dict) -> None:
    """Write ``{format, kind, model config, state_dict, meta}`` atomically."""
    atomic_torch_save(
        path,
        {
            "format": CHECKPOINT_FORMAT,
            "kind": kind,
            "model": model.cfg.to_dict(),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "meta": meta,
        },
    )


def load_checkpoint(source: str | Path | BinaryIO) -> tuple[CsiRefiner, str, dict]:
    """Load a checkpoint (a path or a binary file object) with ``weights_only=True``:
    ``(model, kind, meta)``."""
    if isinstance(source, str | Path):
        source = Path(source)
        if not source.is_file():
            raise DataError(f"checkpoint {str(source)!r} does not exist")
    blob = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{str(source)!r} is not a {CHECKPOINT_FORMAT} file")
    model = build_model(ModelConfig(**blob["model"]))
    model.load_state_dict(blob["state_dict"])
    return model.eval(), blob["kind"], blob["meta"]
