"""``lasco export``: a pre-training checkpoint as an artifact folder (ONNX + torch + manifest)
for ``model-store publish``; a LAM's graph also outputs the hidden states side networks read."""

from __future__ import annotations

import argparse

from lasco.errors import ConfigError
from lasco.provenance import git_commit

__all__ = ["add_export_command", "cmd_export"]


def cmd_export(args: argparse.Namespace) -> int:
    from lasco.collab import side_taps
    from lasco.export import read_manifest, write_artifact
    from lasco.train import load_checkpoint

    model, kind, meta = load_checkpoint(args.checkpoint)
    if not meta.get("complete", True):
        raise ConfigError(f"{args.checkpoint} is from an unfinished pre-training run")
    lam = None
    if kind != "lam":
        if not args.lam_artifact:
            raise ConfigError(f"a {kind} artifact needs --lam-artifact (the LAM it goes with)")
        lam = read_manifest(args.lam_artifact)
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
        lam=lam,
        graph=args.graph,
        export_commit=git_commit(),
        taps=side_taps(model.cfg.n_layers) if kind == "lam" and args.taps == "side" else (),
    )
    print(
        f"{manifest.name} ({kind}, {manifest.params:,} parameters) -> {args.out}; "
        f"ONNX parity {manifest.extra['onnx_parity_max_abs']:.1e}"
    )
    return 0


def add_export_command(sub) -> None:
    """Add ``export`` to the ``lasco`` subparsers ``sub``."""
    ex = sub.add_parser("export", help="write a checkpoint as an artifact folder (ONNX + torch)")
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--out", required=True, help="artifact folder to write")
    ex.add_argument("--name", help="artifact name (default: the model preset)")
    ex.add_argument("--lam-artifact", help="for a SAM: the LAM artifact it was trained with")
    ex.add_argument(
        "--graph",
        choices=("fused", "standard"),
        default="fused",
        help="ONNX graph: ONNX Runtime's fused transformer operators (default, for serving) "
        "or torch.onnx's standard operators (other ONNX engines)",
    )
    ex.add_argument(
        "--taps",
        choices=("side", "none"),
        default="side",
        help="a LAM's second output, h_taps: the hidden states side networks read (none: "
        "h_hat only)",
    )
    ex.set_defaults(func=cmd_export)
