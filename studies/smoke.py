"""The adaptation experiment: pre-train, adapt every method per target, compare.

``run_experiment(preset)`` pre-trains a LAM and a reference SAM on the pooled
source regions, then adapts every method of lasco.collab to each target region
from the same target samples, and reports test NMSE (dB), GCS, trainable
parameters, adaptation seconds and epochs, and E-LASCO's learned alpha.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lasco import metrics
from lasco.channels import Catalogue, ChannelCache, load_region, paper_catalogue, split_region
from lasco.channels.store import to_real
from lasco.codec import Projection, parse_ratio
from lasco.collab import METHODS, ELasco, build_method, taps_for
from lasco.errors import CatalogueError, ConfigError
from lasco.models import build_model, count_params, get_preset
from lasco.pretrain import PretrainConfig, pretrain
from lasco.progress import progress as progress_bar
from lasco.train import AdaptConfig, SplitTensors, adapt, evaluate, predict

__all__ = ["EXPERIMENT_PRESETS", "ExperimentPreset", "format_table", "run_experiment"]


@dataclass(frozen=True)
class ExperimentPreset:
    """Everything one experiment run needs; the sizes are recorded in its JSON."""

    name: str
    lam: str
    sam: str
    ratio: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    samples_per_source: int
    samples_per_target: int
    pretrain_epochs: int
    sam_pretrain_epochs: int
    target_train_n: int | None = None  # None: the whole 80 % train split
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    methods: tuple[str, ...] = tuple(METHODS)
    projection_seed: int = 0
    seed: int = 0


EXPERIMENT_PRESETS: dict[str, ExperimentPreset] = {
    # Whole chain in a few minutes on 2 CPU cores: 8 source regions (4 LOS, 4 NLOS),
    # one NLOS (101) and one LOS (102) target.
    "smoke": ExperimentPreset(
        name="smoke",
        lam="lam-mini",
        sam="sam-mini",
        ratio="1/4",
        sources=tuple(str(i) for i in range(1, 9)),
        targets=("101", "102"),
        samples_per_source=500,
        samples_per_target=800,
        pretrain_epochs=25,
        sam_pretrain_epochs=25,
        adapt=AdaptConfig(max_epochs=50, patience=10, batch_size=32),
    ),
}


def _regions(cat: Catalogue, preset: ExperimentPreset, from_file: bool) -> tuple[list, list]:
    if from_file:
        src, tgt = cat.ids("source"), cat.ids("target")
    else:
        src, tgt = list(preset.sources), list(preset.targets)
    if not src or not tgt:
        raise CatalogueError(f"catalogue {cat.name!r} needs at least one source and one target")
    return [cat.get(r) for r in src], [cat.get(r) for r in tgt]


def _pool(splits: list, part: str, proj: Projection) -> tuple[np.ndarray, np.ndarray]:
    return _xy(np.concatenate([getattr(s, part) for s in splits]), proj)


def run_experiment(
    preset: ExperimentPreset,
    *,
    catalogue: Catalogue | None = None,
    cache: ChannelCache | None = None,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Run the experiment; returns the JSON-able result (see the README for its keys)."""
    unknown = [m for m in preset.methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown methods {unknown}; expected some of {list(METHODS)}")
    get_preset(preset.lam), get_preset(preset.sam), parse_ratio(preset.ratio)  # fail fast
    if min(preset.samples_per_source, preset.samples_per_target) < 10:
        raise ConfigError("samples per region must be >= 10 to split 8:1:1")
    t_start = time.perf_counter()
    from_file = catalogue is not None
    cat = catalogue or paper_catalogue()
    sources, targets = _regions(cat, preset, from_file)
    proj = Projection.from_ratio(preset.ratio, seed=preset.projection_seed)
    torch.manual_seed(preset.seed)

    # 1. Data.
    n_total = len(sources) * preset.samples_per_source + len(targets) * preset.samples_per_target
    with progress_bar(n_total, "channels", unit="sample", enabled=progress) as bar:
        src_splits = [
            split_region(
                to_real(load_region(s, preset.samples_per_source, cache, bar.update)), s.seed
            )
            for s in sources
        ]
        tgt_splits = {
            s.env_id: split_region(
                to_real(load_region(s, preset.samples_per_target, cache, bar.update)), s.seed
            )
            for s in targets
        }
    log(f"data: {len(sources)} source and {len(targets)} target regions ({n_total} channels)")

    # 2. Pre-train the LAM and the reference SAM on the same pooled source data.
    train, val, test = (_pool(src_splits, p, proj) for p in ("train", "val", "test"))
    lam, ref = build_model(preset.lam), build_model(preset.sam)
    pcfg = PretrainConfig(epochs=preset.pretrain_epochs, seed=preset.seed)
    lam_fit = pretrain(lam, train, val, pcfg, desc=f"pretrain {preset.lam}", progress=progress)
    ref_fit = pretrain(
        ref,
        train,
        val,
        replace(pcfg, epochs=preset.sam_pretrain_epochs),
        desc=f"pretrain {preset.sam}",
        progress=progress,
    )
    lam_test = metrics.nmse_db(predict(lam, test[0]).numpy(), test[1])
    ref_test = metrics.nmse_db(predict(ref, test[0]).numpy(), test[1])
    log(f"pre-trained {preset.lam}: source test NMSE {lam_test:.2f} dB ({lam_fit.seconds:.0f} s)")
    log(f"pre-trained {preset.sam}: source test NMSE {ref_test:.2f} dB ({ref_fit.seconds:.0f} s)")

    # 3. Adapt every method to every target from the same samples.
    results: dict[str, dict[str, Any]] = {m: _empty_record() for m in preset.methods}
    for env_id, sp in tgt_splits.items():
        n_train = preset.target_train_n or len(sp.train)
        taps = taps_for(preset.methods, lam)
        tr = SplitTensors.build(*_xy(sp.train[:n_train], proj), lam, ref, taps)
        va = SplitTensors.build(*_xy(sp.val, proj), lam, ref, taps)
        te = SplitTensors.build(*_xy(sp.test, proj), lam, ref, taps)
        for key in preset.methods:
            method = build_method(key, lam, ref)
            rec = results[key]
            if METHODS[key].trains:
                fit = adapt(
                    method, tr, va, preset.adapt, desc=f"{key} @ {env_id}", progress=progress
                )
                rec["train_seconds_by_region"][env_id] = round(fit.seconds, 3)
                rec["epochs_by_region"][env_id] = fit.epochs
                rec["val_curve"][env_id] = [round(v, 4) for v in fit.val_nmse_db]
            nmse_db, gcs = evaluate(method, te)
            rec["nmse_db"][env_id], rec["gcs"][env_id] = round(nmse_db, 4), round(gcs, 5)
            rec["trainable_params"] = method.trainable_params() if METHODS[key].trains else 0
            if isinstance(method, ELasco):
                rec.setdefault("alpha", {})[env_id] = round(float(method.alpha.detach()), 4)
        log(f"adapted region {env_id} ({n_train} training samples)")

    for rec in results.values():
        rec["mean_nmse_db"] = round(float(np.mean(list(rec["nmse_db"].values()))), 4)
        rec["mean_gcs"] = round(float(np.mean(list(rec["gcs"].values()))), 5)
        secs, eps = rec["train_seconds_by_region"], rec["epochs_by_region"]
        rec["train_seconds"] = round(float(np.mean(list(secs.values()))), 3) if secs else 0.0
        rec["epochs"] = round(float(np.mean(list(eps.values()))), 1) if eps else 0
    lam_params = count_params(lam)
    return {
        "preset": preset.name,
        "catalogue": {"name": cat.name, "hash": cat.hash()},
        "config": _jsonable(asdict(preset)),
        "projection_id": proj.id,
        "source_regions": [s.env_id for s in sources],
        "target_regions": list(tgt_splits),
        "lam_params": lam_params,
        "sam_params": count_params(ref),
        "pretrain": {
            "lam": {
                "source_test_nmse_db": round(lam_test, 4),
                "seconds": round(lam_fit.seconds, 2),
                "epochs": lam_fit.epochs,
                "val_curve": lam_fit.val_nmse_db,
            },
            "sam_ref": {
                "source_test_nmse_db": round(ref_test, 4),
                "seconds": round(ref_fit.seconds, 2),
                "epochs": ref_fit.epochs,
                "val_curve": ref_fit.val_nmse_db,
            },
        },
        "mean_nmse_db_definition": "mean over target regions of each region's test NMSE in dB",
        "methods": results,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }


def _xy(h: np.ndarray, proj: Projection) -> tuple[np.ndarray, np.ndarray]:
    """``(H_in, H)`` for a split: the decoded codewords and the labels."""
    return proj.roundtrip(h), h


def _empty_record() -> dict[str, Any]:
    return {
        "nmse_db": {},
        "gcs": {},
        "train_seconds_by_region": {},
        "epochs_by_region": {},
        "val_curve": {},
    }


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: method x region NMSE (dB), mean, GCS, trainable params, seconds."""
    regions = result["target_regions"]
    lam_params = result["lam_params"]
    head = (
        ["method"]
        + [f"NMSE {r}" for r in regions]
        + ["mean dB", "GCS", "trainable", "% LAM", "s/adapt", "epochs"]
    )
    rows = []
    for key, rec in result["methods"].items():
        rows.append(
            [key]
            + [f"{rec['nmse_db'][r]:.2f}" for r in regions]
            + [
                f"{rec['mean_nmse_db']:.2f}",
                f"{rec['mean_gcs']:.3f}",
                f"{rec['trainable_params']:,}",
                f"{100 * rec['trainable_params'] / lam_params:.1f}",
            ]
            # a method that trains nothing has no adaptation time or epochs
            + (
                [f"{rec['train_seconds']:.1f}", f"{rec['epochs']}"]
                if rec["trainable_params"]
                else ["-", "-"]
            )
        )
    widths = [max(len(str(c)) for c in col) for col in zip(head, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*r) for r in rows]
    if "e-lasco" in result["methods"] and "alpha" in result["methods"]["e-lasco"]:
        alpha = result["methods"]["e-lasco"]["alpha"]
        lines.append("E-LASCO alpha: " + ", ".join(f"{r}: {a:.3f}" for r, a in alpha.items()))
    return "\n".join(lines)


def write_outputs(result: dict[str, Any], json_path: str | Path) -> list[Path]:
    """Write the JSON and a PNG of the adaptation curves beside it."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    from studies.plots import plot_experiment

    return [json_path, *plot_experiment(result, json_path.with_suffix(".png"))]
