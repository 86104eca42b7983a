"""The study's report JSON, from its finished cells (incomplete cells are simply absent)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np

from lasco.channels import builtin_catalogue
from lasco.collab import METHODS
from lasco.models import CsiRefiner, count_params
from studies.config import (
    ALL,
    StudyConfig,
    alpha_key,
    cell_key,
    chosen_lr,
    lr_decided,
    lr_trials,
    seed_key,
    study_plan,
)

__all__ = ["share_of_finetune", "summarise"]

_MEANS = ("train_seconds", "epochs_to_95", "seconds_to_95", "epochs", "train_flops")


def _entry(recs: dict[str, dict[str, Any]], n: int) -> dict[str, Any]:
    """One method at one n: per-region NMSE and GCS, their means, mean costs."""
    entry: dict[str, Any] = {
        "n": n,
        "nmse_db": {r: c["nmse_db"] for r, c in recs.items()},
        "gcs": {r: c["gcs"] for r, c in recs.items()},
        "mean_nmse_db": round(float(np.mean([c["nmse_db"] for c in recs.values()])), 4),
        "mean_gcs": round(float(np.mean([c["gcs"] for c in recs.values()])), 5),
        "regions_done": len(recs),
    }
    for k in _MEANS:
        vals = [c[k] for c in recs.values() if k in c]
        entry[k] = round(float(np.mean(vals)), 3) if vals else 0
    if any("alpha" in c for c in recs.values()):
        entry["alpha"] = {r: c["alpha"] for r, c in recs.items()}
    entry["val_curve"] = {r: c["val_curve"] for r, c in recs.items() if "val_curve" in c}
    trained = [c for c in recs.values() if "stopped_early" in c]
    if trained:  # runs the epoch cap ended (patience would have gone on)
        entry["at_cap"] = sum(not c["stopped_early"] for c in trained)
    return entry


def _methods(cfg: StudyConfig, cells: dict[str, dict], n_all: int) -> dict[str, Any]:
    methods: dict[str, Any] = {}
    for m in cfg.methods:
        by_n: dict[str, Any] = {}
        for n in cfg.ns:
            keys = {r: cell_key(m, n, r) for r in cfg.targets}
            recs = {r: cells[k] for r, k in keys.items() if k in cells}
            if recs:
                by_n[str(n)] = _entry(recs, n_all if n == ALL else int(n))
        trainable = next(
            (c["trainable_params"] for k, c in cells.items() if k.startswith(m + "|")), None
        )
        methods[m] = {"label": METHODS[m].label, "trainable_params": trainable, "by_n": by_n}
        if METHODS[m].trains and cfg.trials():
            methods[m]["lr_trials"] = {
                f"{g:g}": round(v, 4) for g, v in lr_trials(cfg, cells, m).items()
            }
            methods[m]["lr"] = chosen_lr(cfg, cells, m) if lr_decided(cfg, cells, m) else None
        elif METHODS[m].trains:
            methods[m]["lr"] = chosen_lr(cfg, cells, m)
    return methods


def _recovery(cfg: StudyConfig, methods: dict[str, Any], los: dict[str, bool]) -> dict[str, Any]:
    """Per size and method: the mean gain (dB) over the LAM alone and the fraction of full
    fine-tuning's gain it is, over all regions and LOS / NLOS apart, on the regions where
    the method, the LAM alone and full fine-tuning are all done (paired)."""
    base, ft = cfg.roles.base, cfg.roles.full_finetune
    out: dict[str, Any] = {}
    for n in (str(v) for v in cfg.ns):
        ref = methods.get(base, {}).get("by_n", {}).get(n, {}).get("nmse_db", {})
        full = methods.get(ft, {}).get("by_n", {}).get(n, {}).get("nmse_db", {})
        rows = {}
        for m, rec in methods.items():
            own = rec["by_n"].get(n, {}).get("nmse_db", {})
            if m != base and (row := share_of_finetune(own, ref, full, cfg.targets, los)):
                rows[m] = row
        if rows:
            out[n] = rows
    return out


def share_of_finetune(
    own: dict[str, float],
    lam: dict[str, float],
    full: dict[str, float],
    targets: list[str] | tuple[str, ...],
    los: dict[str, bool],
) -> dict[str, Any] | None:
    """A method's mean gain (dB) over the LAM alone and the fraction of full fine-tuning's
    gain it is, over all ``targets`` and LOS / NLOS apart, on the regions where all three
    NMSE maps (region -> test NMSE dB) have a value; None when there is none."""
    regions = [r for r in targets if r in own and r in lam and r in full]
    if not regions:
        return None
    row: dict[str, Any] = {"regions": len(regions)}
    for part, keep in (("all", None), ("los", True), ("nlos", False)):
        rs = [r for r in regions if keep is None or los[r] is keep]
        if not rs:
            continue
        gain = float(np.mean([lam[r] - own[r] for r in rs]))
        ft_gain = float(np.mean([lam[r] - full[r] for r in rs]))
        row[part] = {
            "gain_db": round(gain, 4),
            "finetune_gain_db": round(ft_gain, 4),
            "fraction": round(gain / ft_gain, 4) if ft_gain > 0 else None,
        }
    return row


def _seed_runs(cfg: StudyConfig, cells: dict[str, dict]) -> dict[str, Any]:
    """Per seed-rerun method: each region's NMSE with every seed (regions with all seeds)."""
    out = {}
    n = cfg.headline_n
    for m in cfg.seed_methods:
        keys = [m] + [seed_key(m, s) for s in cfg.extra_seeds]
        runs = {
            r: [cells[cell_key(k, n, r)]["nmse_db"] for k in keys]
            for r in cfg.targets
            if all(cell_key(k, n, r) in cells for k in keys)
        }
        if runs and cfg.extra_seeds:
            out[m] = {
                "n": n,
                "seeds": [cfg.adapt.seed, *cfg.extra_seeds],
                "nmse_db": runs,
                "mean_nmse_db": round(float(np.mean([np.mean(v) for v in runs.values()])), 4),
                "seed_std_db": round(float(np.mean([np.std(v, ddof=1) for v in runs.values()])), 4),
                "max_range_db": round(float(max(max(v) - min(v) for v in runs.values())), 4),
            }
    return out


def summarise(
    cfg: StudyConfig,
    cells: dict[str, dict[str, Any]],
    lam: CsiRefiner,
    ref: CsiRefiner,
    n_all: int,
) -> dict[str, Any]:
    """The report JSON from the finished cells. ``headline_n`` and ``roles`` (the
    proposed method and those it is compared with) tell the report what to judge."""
    lam_params, ref_params = count_params(lam), count_params(ref)
    sweep_by_region = {
        str(a): {
            r: cells[k]["nmse_db"]
            for r in cfg.targets
            if (k := cell_key(alpha_key(a), cfg.alpha_n, r)) in cells
        }
        for a in cfg.alpha_grid
    }
    sweep_by_region = {a: v for a, v in sweep_by_region.items() if v}
    sweep = {a: round(float(np.mean(list(v.values()))), 4) for a, v in sweep_by_region.items()}
    learned = cfg.roles.learned_alpha
    learned_alpha = {
        r: cells[k]["alpha"]
        for r in cfg.targets
        if (k := cell_key(learned, cfg.alpha_n, r)) in cells and "alpha" in cells[k]
    }
    plan = {cell_key(*c) for c in study_plan(cfg)}
    settings = {f: v for f, v in asdict(cfg).items() if f != "roles"}  # roles: at the top
    k = cfg.k_envs
    catalogue = builtin_catalogue(cfg.catalogue)
    los = {r: catalogue.get(r).los for r in cfg.targets}
    methods = _methods(cfg, cells, n_all)
    return {
        "lam_params": lam_params,
        "sam_params": ref_params,
        "target_regions": list(cfg.targets),
        "tuning_regions": list(cfg.tuning) if cfg.trials() else [],
        "catalogue": cfg.catalogue,
        "target_los": los,
        "n_all": n_all,
        "headline_n": cfg.headline_n,
        "roles": json.loads(json.dumps(asdict(cfg.roles))),
        "config": json.loads(json.dumps(settings, default=str)),
        "methods": methods,
        "recovery": _recovery(cfg, methods, los),
        "alpha_sweep": sweep,
        "alpha_sweep_nmse_db": sweep_by_region,
        "alpha_sweep_n": cfg.alpha_n,
        "e_lasco_alpha": learned_alpha,
        "serving_memory_bytes": {
            "k_envs": k,
            "lasco": 4 * (lam_params + ref_params * (k + 1) + k),
            "fine_tuned_lam_copies": 4 * lam_params * k,
            "note": "fp32 weights only: one LAM + reference + K proxies (and alphas) "
            "against K fine-tuned LAM copies",
        },
        "seed_runs": _seed_runs(cfg, cells),
        "cells_done": len(plan & set(cells)),
        "cells_total": len(plan),
    }
