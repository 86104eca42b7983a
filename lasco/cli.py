"""``lasco``: channel data, pre-training, adaptation, evaluation and export.

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

from lasco.channels import (
    BUILTIN_CATALOGUES,
    Catalogue,
    ChannelCache,
    builtin_catalogue,
    load_region,
    parse_region_list,
    split_region,
    to_real,
)
from lasco.cli_export import add_export_command
from lasco.codec import Projection, parse_ratio
from lasco.errors import ConfigError, LascoError
from lasco.export import sha256_file
from lasco.provenance import git_commit

__all__ = ["main"]

log = logging.getLogger("lasco")


def _cache(args: argparse.Namespace) -> ChannelCache:
    return ChannelCache(args.cache)


def _catalogue(args: argparse.Namespace) -> Catalogue:
    """``--catalogue``: a built-in catalogue's name (``paper``, ``scenarios``) or a JSON file."""
    if args.catalogue and args.catalogue not in BUILTIN_CATALOGUES:
        return Catalogue.load(args.catalogue)
    return builtin_catalogue(args.catalogue or "paper")


def _region_data(args, cat: Catalogue, regions: list[str]):
    """Splits per region (drawing and caching channels on first use), with a progress bar
    on a terminal and one line on stderr otherwise."""
    from lasco.progress import progress

    specs = [cat.get(r) for r in regions]
    with progress(len(specs) * args.samples, "channels", unit="sample", leave=True) as bar:
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
    from lasco.pretrain import PretrainConfig, pretrain
    from lasco.train import default_device, load_checkpoint, predict, save_checkpoint

    cat = _catalogue(args)
    regions = parse_region_list(args.regions) if args.regions else cat.ids("source")
    proj = Projection.from_ratio(args.ratio, seed=args.projection_seed)
    splits = list(_region_data(args, cat, regions).values())
    pool = {p: np.concatenate([getattr(s, p) for s in splits]) for p in ("train", "val", "test")}
    model = build_model(args.preset)
    init = None
    if args.init:
        start, _, start_meta = load_checkpoint(args.init)
        if start.cfg != model.cfg:
            raise ConfigError(
                f"--init {args.init!r} holds a {start.cfg.name} model, not {args.preset}"
            )
        if start_meta.get("projection_id") not in (None, proj.id):
            raise ConfigError(
                f"--init {args.init!r} was trained for projection "
                f"{start_meta['projection_id']}, not {proj.id}"
            )
        model.load_state_dict(start.state_dict())
        init = {
            "checkpoint": args.init,
            "sha256": sha256_file(args.init),
            "source_test_nmse_db": start_meta.get("source_test_nmse_db"),
        }
    cfg = PretrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lr_peak=args.lr,
        patience=args.patience,
        bf16=args.bf16,
    )
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
        "lr_peak": args.lr,
        "patience": args.patience,
        "bf16": args.bf16,
        "compiled": args.compile,
        "init": init,
        "commit": git_commit(),
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
        state_path=args.out + ".state" if args.resume else None,
        compile=args.compile,
    )
    test_db = metrics.nmse_db(predict(model, proj.roundtrip(pool["test"])).numpy(), pool["test"])
    meta.update(
        best_epoch=fit.best_epoch,
        epochs_run=fit.epochs,
        stopped_early=fit.stopped_early,
        val_curve=fit.val_nmse_db,
        train_curve=fit.train_nmse_db,
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


def _target_tensors(args, lam, ref, proj, methods=()):
    from lasco.collab import taps_for
    from lasco.train import SplitTensors

    sp = _region_data(args, _catalogue(args), [args.region])[args.region]
    n = args.n or len(sp.train)
    taps = taps_for(methods, lam)
    return [
        SplitTensors.build(proj.roundtrip(h), h, lam, ref, taps)
        for h in (sp.train[:n], sp.val, sp.test)
    ]


def _load_pair(args):
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
    method = build_method(args.method, lam, ref)
    tr, va, te = _target_tensors(args, lam, ref, proj, [args.method])
    fit = adapt(
        method,
        tr,
        va,
        AdaptConfig(
            lr=args.lr,
            batch_size=args.batch_size,
            max_epochs=args.max_epochs,
            patience=args.patience,
            warmup_epochs=args.warmup_epochs,
        ),
        desc=args.method,
    )
    with torch.no_grad():
        h_hat = method.eval()(te.x, te.base, te.ref, te.hidden).numpy()
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
    for name, pred in (("lam-only", te.base), ("sam-only", te.ref)):
        out[name] = {
            "nmse_db": metrics.nmse_db(pred.numpy(), te.y.numpy()),
            "gcs": metrics.gcs(pred.numpy(), te.y.numpy()),
        }
    out["input_nmse_db"] = metrics.nmse_db(te.x.numpy(), te.y.numpy())
    print(json.dumps(out, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lasco", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    def data_args(sp, samples: int) -> None:
        sp.add_argument(
            "--catalogue",
            help="built-in catalogue (paper, scenarios) or a JSON list of environment specs "
            "(default: paper)",
        )
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
    pre.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    pre.add_argument(
        "--patience", type=int, help="stop after this many epochs without validation gain"
    )
    pre.add_argument(
        "--bf16", action="store_true", help="train under bfloat16 autocast (validation in fp32)"
    )
    pre.add_argument(
        "--compile", action="store_true", help="train through torch.compile (faster on a CPU)"
    )
    pre.add_argument(
        "--init", help="start from this checkpoint's weights (same preset): a second schedule"
    )
    pre.add_argument(
        "--resume",
        action="store_true",
        help="save the run after every epoch to OUT.state and continue from it when present",
    )
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
            sp.add_argument("--method", default="e-lasco")
            sp.add_argument("--lr", type=float, default=1e-3)
            sp.add_argument("--batch-size", type=int, default=64)
            sp.add_argument("--max-epochs", type=int, default=100)
            sp.add_argument("--patience", type=int, default=20)
            sp.add_argument(
                "--warmup-epochs", type=int, default=0, help="linear learning-rate warm-up"
            )
            sp.add_argument("--out", help="write the adapted method's state here")

    add_export_command(sub)
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
