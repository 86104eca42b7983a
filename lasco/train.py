"""Pre-training and adaptation loops, prediction and checkpoints (torch).

Pre-training (LAM and reference SAM on pooled source regions): AdamW, batch 256,
learning rate warmed up linearly over the first 5 % of steps from 0 to 1e-3,
then cosine down to 1e-5 (docs/method.md); the best validation state wins, and
``patience`` stops a run whose validation NMSE has not improved for that many
epochs. With a ``state_path`` every epoch ends by saving the whole run (weights,
optimiser, schedule, random generator, curves) there atomically, and a run given
an existing state resumes after its last finished epoch: pre-training that takes
hours on a CPU survives being stopped. ``bf16`` runs the training passes under
bfloat16 autocast (CPUs with AVX-512 BF16 or AMX, GPUs); validation stays fp32.

Adaptation (one target region): fixed learning rate 1e-3 (``lam_lr``, default
1e-4, for LAM weights of the methods that train the LAM), at most 100 epochs,
early stop after 20 epochs without validation-NMSE gain, best state restored.
The frozen LAM and reference outputs are computed once per split and cached, so
LASCO and E-LASCO only run the proxy SAM in the loop.

The loss is the mean squared error, which is the NMSE up to a constant because
every sample has unit mean power (lasco.channels). GPU when present.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from lasco.collab import Collab
from lasco.errors import ConfigError, DataError, ShapeError
from lasco.losses import nmse as nmse_t
from lasco.losses import nmse_per_sample
from lasco.models import CsiRefiner, ModelConfig, build_model
from lasco.progress import progress as progress_bar

__all__ = [
    "AdaptConfig",
    "FitResult",
    "PretrainConfig",
    "SplitTensors",
    "adapt",
    "atomic_torch_save",
    "default_device",
    "evaluate",
    "load_checkpoint",
    "predict",
    "predict_taps",
    "pretrain",
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


@dataclass(frozen=True)
class PretrainConfig:
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


def _val_nmse_db(fn: Callable[[slice], torch.Tensor], y: torch.Tensor, batch: int) -> float:
    errs = [
        nmse_t(fn(slice(i, i + batch)), y[i : i + batch]) * len(y[i : i + batch])
        for i in range(0, len(y), batch)
    ]
    return float(10 * torch.log10(torch.stack(errs).sum() / len(y)))


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
    and (for methods that read them) the LAM's hidden states ``[N, T, 32, d]``."""

    x: torch.Tensor
    y: torch.Tensor
    base: torch.Tensor
    ref: torch.Tensor
    hidden: torch.Tensor | None = None

    @classmethod
    def build(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        lam: nn.Module,
        ref: nn.Module,
        taps: tuple[int, ...] = (),
    ) -> SplitTensors:
        """Cache the frozen models' outputs over ``x``; with ``taps`` also the LAM's
        hidden states after those blocks (see lasco.collab.side_taps)."""
        _check_xy(x, y, "adaptation data")
        xt = torch.as_tensor(x)
        hidden = None
        if taps:
            base, hidden = predict_taps(lam, xt, taps)
        else:
            base = predict(lam, xt)
        return cls(xt, torch.as_tensor(y), base, predict(ref, xt), hidden)

    def __len__(self) -> int:
        return len(self.y)

    def tensors(self) -> tuple[torch.Tensor | None, ...]:
        """``(x, y, base, ref, hidden)``: what ``adapt`` moves to the device."""
        return (self.x, self.y, self.base, self.ref, self.hidden)

    def subset(self, n: int) -> SplitTensors:
        if n < 1:
            raise DataError(f"adaptation needs at least 1 training sample, got n={n}")
        hidden = None if self.hidden is None else self.hidden[:n]
        return SplitTensors(self.x[:n], self.y[:n], self.base[:n], self.ref[:n], hidden)


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
    warm_steps = cfg.warmup_epochs * math.ceil(len(train) / cfg.batch_size)
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
            perm = torch.randperm(len(train), device=dev)
            for i in range(0, len(train), cfg.batch_size):
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
