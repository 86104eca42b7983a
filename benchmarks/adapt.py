"""Seconds per adaptation epoch of every training method, back to back in one run.

The study's wall seconds come from hours of runs beside other work; its cost comparison
multiplies the epochs each method needed by these per-epoch seconds, measured here on a
quiet machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lasco.channels import ChannelCache, load_region, paper_catalogue, split_region, to_real
from lasco.codec import Projection
from lasco.collab import METHODS, build_method, taps_for
from lasco.flops import training_flops
from lasco.models import CsiRefiner
from lasco.train import AdaptConfig, FitResult, SplitTensors, adapt

__all__ = ["time_epochs"]


def time_epochs(
    lam: CsiRefiner,
    ref: CsiRefiner,
    projection: Projection,
    *,
    region: str = "101",
    n: int = 1000,
    epochs: int = 3,
    samples_per_target: int = 5000,
    methods: tuple[str, ...] | None = None,
    cfg: AdaptConfig | None = None,
    cache: ChannelCache | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Seconds per adaptation epoch of every training method, measured back to back in one
    run (on a quiet machine): the study's wall seconds come from hours of runs beside
    other work, so its cost comparison multiplies the epochs each method needed by these.

    Each method trains ``epochs`` epochs (after one untimed warm-up epoch) from ``n``
    samples of ``region``, with validation after every epoch as in the study.
    """
    cfg = cfg or AdaptConfig()
    cat = paper_catalogue()
    sp = split_region(
        to_real(load_region(cat.get(region), samples_per_target, cache)), cat.get(region).seed
    )
    keys = methods or tuple(k for k, info in METHODS.items() if info.trains)
    taps = taps_for(keys, lam)  # the hidden states the side network and readout read
    tr, va = (
        SplitTensors.build(projection.roundtrip(h), h, lam, ref, taps=taps)
        for h in (sp.train, sp.val)
    )
    tr = tr.subset(n)
    out: dict[str, Any] = {}
    for key in keys:
        adapt(build_method(key, lam, ref), tr, va, replace(cfg, max_epochs=1), progress=False)
        method = build_method(key, lam, ref)
        fit = adapt(
            method, tr, va, replace(cfg, max_epochs=epochs, patience=epochs + 1), progress=False
        )
        spe = fit.seconds / max(1, fit.epochs)
        flops = (
            training_flops(method, lam, ref, len(tr), fit, len(va))
            - training_flops(method, lam, ref, len(tr), FitResult(), len(va))
        ) / max(1, fit.epochs)  # per epoch, without the one-off LAM and reference outputs
        out[key] = {"seconds_per_epoch": round(spe, 4), "train_flops_per_epoch": int(flops)}
        log(f"{key:14s} {spe:8.3f} s/epoch  {flops / 1e9:9.1f} GFLOP/epoch")
    ft = out.get("lam-finetune", {}).get("seconds_per_epoch")
    for v in out.values():
        v["time_over_lam_finetune"] = round(v["seconds_per_epoch"] / ft, 4) if ft else None
    return {"region": region, "n": n, "epochs": epochs, "methods": out}
