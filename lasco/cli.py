"""``lasco``: data generation, pre-training, adaptation, evaluation and experiments.

Every command exits 0 on success; a bad input (unknown preset, scenario or region,
mismatched shapes, an empty or NaN-bearing data set, a compression ratio that does
not divide 2048) prints ``error: <what>`` and exits 2, leaving no partial cache
shard or checkpoint behind (both are written atomically).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lasco.channels import (
    Catalogue,
    ChannelCache,
    load_region,
    paper_catalogue,
    parse_region_list,
    split_region,
    to_real,
)
from lasco.codec import Projection, parse_ratio
from lasco.errors import ConfigError, LascoError

__all__ = ["main"]

log = logging.getLogger("lasco")


def _catalogue(args: argparse.Namespace) -> Catalogue:
    return Catalogue.load(args.catalogue) if args.catalogue else paper_catalogue()


def _cache(args: argparse.Namespace) -> ChannelCache:
    return ChannelCache(args.cache)


def _region_data(args, cat: Catalogue, regions: list[str]):
    """Splits per region (drawing and caching channels on first use), with a progress bar."""
    from tqdm.auto import tqdm

    specs = [cat.get(r) for r in regions]
    with tqdm(total=len(specs) * args.samples, desc="channels", unit="sample") as bar:
        return {
            s.env_id: split_region(
                to_real(load_region(s, args.samples, _cache(args), bar.update)), s.seed
            )
            for s in specs
        }


def cmd_data_generate(args: argparse.Namespace) -> int:
    cat = _catalogue(args)
    regions = parse_region_list(args.regions) if args.regions else cat.ids()
    _region_data(args, cat, regions)
    print(f"{len(regions)} regions x {args.samples} samples cached under {_cache(args).root}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    import numpy as np

    from lasco import metrics
    from lasco.models import build_model, count_params
    from lasco.train import PretrainConfig, default_device, predict, pretrain, save_checkpoint

    cat = _catalogue(args)
    regions = parse_region_list(args.regions) if args.regions else cat.ids("source")
    proj = Projection.from_ratio(args.ratio, seed=args.projection_seed)
    splits = list(_region_data(args, cat, regions).values())
    pool = {p: np.concatenate([getattr(s, p) for s in splits]) for p in ("train", "val", "test")}
    model = build_model(args.preset)
    cfg = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    meta = {
        "preset": args.preset,
        "params": count_params(model),
        "projection_id": proj.id,
        "catalogue": cat.name,
        "catalogue_hash": cat.hash(),
        "regions": regions,
        "samples_per_region": args.samples,
        "epochs": args.epochs,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "commit": _git_commit(),
    }

    def save_best(epoch: int, val_db: float) -> None:
        save_checkpoint(
            args.out,
            model,
            args.kind,
            dict(meta, best_epoch=epoch, val_nmse_db=val_db, complete=False),
        )

    fit = pretrain(
        model,
        (proj.roundtrip(pool["train"]), pool["train"]),
        (proj.roundtrip(pool["val"]), pool["val"]),
        cfg,
        desc=f"pretrain {args.preset}",
        on_best=save_best,
    )
    test_db = metrics.nmse_db(predict(model, proj.roundtrip(pool["test"])).numpy(), pool["test"])
    meta.update(
        best_epoch=fit.best_epoch,
        val_curve=fit.val_nmse_db,
        source_test_nmse_db=test_db,
        train_seconds=fit.seconds,
        device=str(default_device()),
        complete=True,
    )
    save_checkpoint(args.out, model, args.kind, meta)
    print(
        f"{args.preset}: {count_params(model):,} parameters, source test NMSE {test_db:.2f} dB, "
        f"{fit.seconds:.0f} s -> {args.out}"
    )
    return 0


def _git_commit() -> str:
    """The commit of the working tree (``+dirty`` when it has changes), or ``unknown``."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
        ).stdout
        return head + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _target_tensors(args, lam, ref, proj):
    from lasco.train import SplitTensors

    sp = _region_data(args, _catalogue(args), [args.region])[args.region]
    n = args.n or len(sp.train)
    return [
        SplitTensors.build(proj.roundtrip(h), h, lam, ref) for h in (sp.train[:n], sp.val, sp.test)
    ]


def _load_pair(args):
    from lasco.errors import ConfigError
    from lasco.train import load_checkpoint

    lam, _, lam_meta = load_checkpoint(args.lam)
    ref, _, ref_meta = load_checkpoint(args.ref)
    if lam_meta.get("projection_id") != ref_meta.get("projection_id"):
        raise ConfigError(
            "LAM and reference SAM were trained for different projections: "
            f"{lam_meta.get('projection_id')} vs {ref_meta.get('projection_id')}"
        )
    return lam, ref, Projection.from_id(lam_meta["projection_id"])


def cmd_adapt(args: argparse.Namespace) -> int:
    import torch

    from lasco import metrics
    from lasco.collab import build_method
    from lasco.train import AdaptConfig, adapt

    lam, ref, proj = _load_pair(args)
    tr, va, te = _target_tensors(args, lam, ref, proj)
    method = build_method(args.method, lam, ref)
    fit = adapt(
        method,
        tr,
        va,
        AdaptConfig(lr=args.lr, max_epochs=args.max_epochs, patience=args.patience),
        desc=args.method,
    )
    with torch.no_grad():
        h_hat = method.eval()(te.x, te.base, te.ref).numpy()
    out = {
        "region": args.region,
        "method": args.method,
        "n_train": len(tr),
        "test_nmse_db": metrics.nmse_db(h_hat, te.y.numpy()),
        "test_gcs": metrics.gcs(h_hat, te.y.numpy()),
        "epochs": fit.epochs,
        "train_seconds": fit.seconds,
        "trainable_params": method.trainable_params(),
        "val_curve": fit.val_nmse_db,
    }
    if hasattr(method, "alpha"):
        out["alpha"] = float(method.alpha.detach())
    print(json.dumps(out, indent=1))
    if args.out:
        from lasco.train import atomic_torch_save

        state = {k: v.detach().cpu() for k, v in method.state_dict().items()}
        atomic_torch_save(args.out, {"method": args.method, "meta": out, "state_dict": state})
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from lasco import metrics

    lam, ref, proj = _load_pair(args)
    _, _, te = _target_tensors(args, lam, ref, proj)
    out = {"region": args.region, "n_test": len(te)}
    for name, pred in (("lam_only", te.base), ("sam_only", te.ref)):
        out[name] = {
            "nmse_db": metrics.nmse_db(pred.numpy(), te.y.numpy()),
            "gcs": metrics.gcs(pred.numpy(), te.y.numpy()),
        }
    out["input_nmse_db"] = metrics.nmse_db(te.x.numpy(), te.y.numpy())
    print(json.dumps(out, indent=1))
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    from lasco.errors import ConfigError
    from lasco.experiment import EXPERIMENT_PRESETS, format_table, run_experiment, write_outputs

    if args.preset == "study":
        return _run_study(args)
    if args.preset not in EXPERIMENT_PRESETS:
        raise ConfigError(
            f"unknown experiment preset {args.preset!r}; "
            f"expected one of {', '.join(EXPERIMENT_PRESETS)}"
        )
    from dataclasses import replace

    preset = EXPERIMENT_PRESETS[args.preset]
    overrides = {k: getattr(args, k) for k in _OVERRIDES if getattr(args, k) is not None}
    if "ratio" in overrides:
        parse_ratio(overrides["ratio"])
    if "adapt_max_epochs" in overrides:
        overrides["adapt"] = replace(preset.adapt, max_epochs=overrides.pop("adapt_max_epochs"))
    preset = replace(preset, **overrides)
    cat = Catalogue.load(args.catalogue) if args.catalogue else None
    result = run_experiment(preset, catalogue=cat, cache=_cache(args))
    print(format_table(result))
    if args.json:
        for p in write_outputs(result, args.json):
            print(f"wrote {p}")
    return 0


_OVERRIDES = (
    "lam",
    "sam",
    "ratio",
    "samples_per_source",
    "samples_per_target",
    "target_train_n",
    "pretrain_epochs",
    "sam_pretrain_epochs",
    "adapt_max_epochs",
)


def _run_study(args: argparse.Namespace) -> int:
    from lasco.export import model_from_store
    from lasco.study import StudyConfig, run_study
    from lasco.study_report import write_study
    from model_store import ModelStore, TrustedKeys, default_store

    store = ModelStore(args.store, TrustedKeys(args.trusted)) if args.store else default_store()
    lam_art, ref_art = store.fetch("lam"), store.fetch("sam_ref")
    lam_manifest, ref_manifest = lam_art.manifest, ref_art.manifest
    if ref_manifest["lam_sha256"] != lam_manifest["onnx_sha256"]:
        raise ConfigError("the reference SAM in the store was trained against another LAM")
    lam, ref = model_from_store(lam_art), model_from_store(ref_art)
    out = Path(args.json or "reports/adaptation.json")
    report = run_study(
        StudyConfig(),
        lam,
        ref,
        Projection.from_id(lam_manifest["projection_id"]),
        out.with_suffix(".state.json"),
        resume=args.resume,
        budget_s=None if args.budget_minutes is None else 60 * args.budget_minutes,
        cache=_cache(args),
    )
    meta = {
        "lam_preset": lam_manifest["model"]["name"],
        "sam_preset": ref_manifest["model"]["name"],
        "projection_id": lam_manifest["projection_id"],
        "commit": _git_commit(),
        "lam_version": lam_manifest["version"],
        "sam_version": ref_manifest["version"],
        "lam_training": lam_manifest.get("training"),
        "sam_training": ref_manifest.get("training"),
    }
    for p in write_study(report, out, meta):
        print(f"wrote {p}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from lasco.export import sha256_file, write_artifact
    from lasco.train import load_checkpoint

    model, kind, meta = load_checkpoint(args.checkpoint)
    if not meta.get("complete", True):
        raise ConfigError(f"{args.checkpoint} is from an unfinished pre-training run")
    lam_sha = None
    if kind != "lam":
        if not args.lam_artifact:
            raise ConfigError(f"a {kind} artifact needs --lam-artifact (the LAM it goes with)")
        lam_sha = sha256_file(Path(args.lam_artifact) / "model.onnx")
    training = {k: v for k, v in meta.items() if k not in ("val_curve", "projection_id")}
    metrics = {"source_test_nmse_db": meta.get("source_test_nmse_db")}
    manifest = write_artifact(
        model,
        args.out,
        kind=kind,
        name=args.name or meta.get("preset"),
        projection_id=meta["projection_id"],
        training=training,
        metrics=metrics,
        lam_sha256=lam_sha,
    )
    print(
        f"{manifest['name']} ({kind}, {manifest['params']:,} parameters) -> {args.out}; "
        f"ONNX parity {manifest['onnx_parity_max_abs']:.1e}"
    )
    return 0


def cmd_bench_runtime(args: argparse.Namespace) -> int:
    import tempfile

    from lasco.bench import format_bench, run_runtime_bench, write_bench
    from lasco.export import export_onnx, model_from_store
    from lasco.models import build_model, forward_flops

    if args.lam_preset:
        lam, ref = build_model(args.lam_preset).eval(), build_model(args.sam_preset).eval()
        with tempfile.TemporaryDirectory() as tmp:
            lam_onnx = export_onnx(lam, Path(tmp) / "lam.onnx").read_bytes()
            ref_onnx = export_onnx(ref, Path(tmp) / "ref.onnx").read_bytes()
        projection = Projection.from_ratio(args.ratio)
        source = f"random weights, presets {args.lam_preset} + {args.sam_preset}"
    else:
        from model_store import default_store

        store = default_store()
        lam_art, ref_art = store.fetch("lam"), store.fetch("sam_ref")
        lam, ref = model_from_store(lam_art), model_from_store(ref_art)
        lam_onnx, ref_onnx = lam_art.onnx, ref_art.onnx
        projection = Projection.from_id(lam_art.manifest["projection_id"])
        source = f"shipped store: lam v{lam_art.version}, sam_ref v{ref_art.version}"
    quick = dict(batches=(1, 64), ks=(1, 10), min_runs=5, min_seconds=0.2) if args.quick else {}
    result = run_runtime_bench(
        lam_onnx,
        ref_onnx,
        projection,
        {"lam": forward_flops(lam.cfg), "sam": forward_flops(ref.cfg)},
        torch_models={"lam": lam, "ref": ref},
        threads=args.threads,
        **quick,
    )
    result["models"] = {"source": source, "lam": lam.cfg.to_dict(), "sam": ref.cfg.to_dict()}
    print(format_bench(result))
    if args.json:
        for p in write_bench(result, args.json):
            print(f"wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lasco", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp, samples: int) -> None:
        sp.add_argument("--catalogue", help="JSON list of environment specs (default: paper)")
        sp.add_argument("--cache", help="cache folder (default $LASCO_CACHE or ~/.cache/lasco)")
        sp.add_argument("--samples", type=int, default=samples, help="samples per region")

    data = sub.add_parser("data", help="channel data").add_subparsers(
        dest="data_cmd", required=True
    )
    gen = data.add_parser("generate", help="draw and cache channels of catalogue regions")
    data_args(gen, 1000)
    gen.add_argument("--regions", help="e.g. '1-100,105' (default: all)")
    gen.set_defaults(func=cmd_data_generate)

    pre = sub.add_parser("pretrain", help="pre-train a LAM or reference SAM on source regions")
    data_args(pre, 1000)
    pre.add_argument("--preset", required=True, help="model preset, e.g. lam-small or sam")
    pre.add_argument("--kind", choices=["lam", "sam_ref"], default="lam")
    pre.add_argument("--regions", help="source regions (default: the catalogue's sources)")
    pre.add_argument("--ratio", default="1/4", type=str, help="compression ratio, e.g. 1/4")
    pre.add_argument("--projection-seed", type=int, default=0)
    pre.add_argument("--epochs", type=int, default=20)
    pre.add_argument("--batch-size", type=int, default=256)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--out", required=True, help="checkpoint path (.pt)")
    pre.set_defaults(func=cmd_pretrain)

    for name, func, helptext in (
        ("adapt", cmd_adapt, "adapt one method to a target region"),
        ("evaluate", cmd_evaluate, "evaluate LAM and SAM on a region"),
    ):
        sp = sub.add_parser(name, help=helptext)
        data_args(sp, 1000)
        sp.add_argument("--lam", required=True, help="LAM checkpoint")
        sp.add_argument("--ref", required=True, help="reference SAM checkpoint")
        sp.add_argument("--region", required=True)
        sp.add_argument("--n", type=int, help="target training samples (default: all)")
        sp.set_defaults(func=func)
        if name == "adapt":
            sp.add_argument("--method", default="e_lasco")
            sp.add_argument("--lr", type=float, default=1e-3)
            sp.add_argument("--max-epochs", type=int, default=100)
            sp.add_argument("--patience", type=int, default=20)
            sp.add_argument("--out", help="write the adapted method's state here")

    ex = sub.add_parser("export", help="write a checkpoint as an artifact folder (ONNX + torch)")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--out", required=True, help="artifact folder to write")
    ex.add_argument("--name", help="artifact name (default: the model preset)")
    ex.add_argument("--lam-artifact", help="for a SAM: the LAM artifact it was trained with")
    ex.set_defaults(func=cmd_export)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(
        dest="bench_cmd", required=True
    )
    br = bench.add_parser("runtime", help="LascoRuntime throughput, latency, memory")
    br.add_argument("--json", help="write the records here (and a PNG beside it)")
    br.add_argument("--quick", action="store_true", help="a subset, in under a minute")
    br.add_argument("--threads", type=int, help="ORT intra-op threads (default: all cores)")
    br.add_argument("--lam-preset", help="benchmark random-weight models of this LAM preset")
    br.add_argument("--sam-preset", default="sam", help="with --lam-preset: the SAM preset")
    br.add_argument("--ratio", default="1/4", help="with --lam-preset: compression ratio")
    br.set_defaults(func=cmd_bench_runtime)

    exp = sub.add_parser("experiment", help="the whole chain: pretrain, adapt every method")
    exp.add_argument("--preset", default="smoke")
    exp.add_argument("--catalogue", help="JSON catalogue with 'role': source|target per region")
    exp.add_argument("--cache", help="cache folder")
    exp.add_argument("--json", help="write the result JSON (and a PNG beside it)")
    st = exp.add_argument_group("the study preset")
    st.add_argument("--resume", action="store_true", help="skip cells a stopped study finished")
    st.add_argument(
        "--budget-minutes",
        type=float,
        help="stop starting cells after this long, then write the report "
        "(0: just report what is done)",
    )
    st.add_argument("--store", help="model store with 'lam' and 'sam_ref' (default: shipped)")
    st.add_argument("--trusted", action="append", default=[], help="trusted public key")
    ov = exp.add_argument_group("overrides of the preset")
    ov.add_argument("--lam", help="LAM model preset")
    ov.add_argument("--sam", help="SAM model preset")
    ov.add_argument("--ratio", help="compression ratio, e.g. 1/8")
    ov.add_argument("--samples-per-source", type=int)
    ov.add_argument("--samples-per-target", type=int)
    ov.add_argument("--target-train-n", type=int, help="target training samples per region")
    ov.add_argument("--pretrain-epochs", type=int)
    ov.add_argument("--sam-pretrain-epochs", type=int)
    ov.add_argument("--adapt-max-epochs", type=int)
    exp.set_defaults(func=cmd_experiment)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if getattr(args, "ratio", None) is not None:
        try:
            parse_ratio(args.ratio)
        except LascoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except LascoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
