"""``python -m benchmarks``: LascoRuntime (``runtime``), side networks against LASCO proxies
in it (``runtime-side``), adaptation epochs (``adapt``), the xApp (``xapp``) and pre-training
precision and compile (``pretrain``), each printing a table and writing JSON (and a PNG) with
``--json``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.errors import LascoError
from lasco.provenance import git_commit

__all__ = ["build_parser", "main"]

DEFAULT_PRESETS = "lam-small,lam-base,sam"


def cmd_runtime(args: argparse.Namespace) -> int:
    from benchmarks.runtime import format_bench, run_runtime_bench, write_bench
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
        projection = Projection.from_id(lam_art.manifest.projection_id)
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


def cmd_adapt(args: argparse.Namespace) -> int:
    from benchmarks.adapt import time_epochs
    from benchmarks.pretrain import machine_info
    from lasco.export import store_models

    lam, ref, lam_manifest, _ = store_models(args.store, args.trusted)
    machine = machine_info()
    print(
        f"seconds per adaptation epoch, n = {args.n} samples of region {args.region} "
        f"({machine['cpu_model']}, {machine['torch_threads']} torch threads):"
    )
    result = time_epochs(
        lam,
        ref,
        Projection.from_id(lam_manifest.projection_id),
        region=args.region,
        n=args.n,
        epochs=args.epochs,
        cache=ChannelCache(args.cache),
    )
    result["commit"] = git_commit()
    result["lam_version"] = lam_manifest.version
    result["machine"] = machine
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def cmd_xapp(args: argparse.Namespace) -> int:
    from benchmarks.xapp import main as bench_main

    return bench_main(args)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import torch

    from benchmarks.pretrain import accuracy_data, run_pretrain_bench
    from benchmarks.pretrain_report import format_bench, write_bench
    from lasco.channels import parse_region_list
    from lasco.models import get_preset

    if args.threads:
        torch.set_num_threads(args.threads)
    quick = args.quick
    presets = tuple(
        p.strip() for p in (args.presets or ("tiny" if quick else DEFAULT_PRESETS)).split(",")
    )
    for preset in presets:
        get_preset(preset)  # an unknown name fails now, not after the first preset's run
    batch = args.batch_size or (16 if quick else 256)
    steps = args.steps or (20 if quick else 100)
    data = accuracy_data(
        steps,
        batch,
        cache=ChannelCache(args.cache),
        regions=tuple(parse_region_list(args.regions)),
        samples=args.samples,
        n_eval=128 if quick else 1024,
    )
    result = run_pretrain_bench(
        presets,
        batch=batch,
        warmup=args.warmup if args.warmup is not None else (1 if quick else 3),
        rounds=args.rounds or (3 if quick else 5),
        round_steps=args.round_steps or (2 if quick else 4),
        steps=steps,
        compile=not args.no_compile,
        data=data,
    )
    result["settings"]["quick"] = quick
    print(format_bench(result))
    if args.json:
        for p in write_bench(result, args.json):
            print(f"wrote {p}")
    return 0


def cmd_runtime_side(args: argparse.Namespace) -> int:
    from benchmarks.runtime_side import format_side_bench, run_side_bench, write_side_bench
    from lasco.export import store_models

    lam, ref, manifest, _ = store_models(None, [])
    quick = dict(batches=(16, 64), ks=(1, 10), min_runs=5, min_seconds=0.2) if args.quick else {}
    result = run_side_bench(
        lam, ref, Projection.from_id(manifest.projection_id), threads=args.threads, **quick
    )
    result["models"] = {
        "source": f"shipped store: lam v{manifest.version} (exported again with taps)",
        "lam": lam.cfg.to_dict(),
        "sam": ref.cfg.to_dict(),
        "commit": git_commit(),
    }
    print(format_side_bench(result))
    if args.json:
        for p in write_side_bench(result, args.json):
            print(f"wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    br = sub.add_parser("runtime", help="LascoRuntime throughput, latency, memory")
    br.add_argument("--json", help="write the records here (and a PNG beside it)")
    br.add_argument("--quick", action="store_true", help="a subset, in under a minute")
    br.add_argument(
        "--threads", type=int, help="runtime workers (default: all cores); sessions use one"
    )
    br.add_argument("--lam-preset", help="benchmark random-weight models of this LAM preset")
    br.add_argument("--sam-preset", default="sam", help="with --lam-preset: the SAM preset")
    br.add_argument("--ratio", default="1/4", help="with --lam-preset: compression ratio")
    br.set_defaults(func=cmd_runtime)
    bs = sub.add_parser(
        "runtime-side", help="side networks against LASCO proxies in one LascoRuntime"
    )
    bs.add_argument("--json", help="write the records here (and a PNG beside it)")
    bs.add_argument("--quick", action="store_true", help="a subset, in under a minute")
    bs.add_argument("--threads", type=int, help="runtime workers (default: all cores)")
    bs.set_defaults(func=cmd_runtime_side)
    ba = sub.add_parser(
        "adapt", help="seconds per adaptation epoch of every method, back to back in one run"
    )
    ba.add_argument("--json", help="write the result here (the study report reads it)")
    ba.add_argument("--region", default="101", help="target region (default 101)")
    ba.add_argument("--n", type=int, default=1000, help="training samples (default 1000)")
    ba.add_argument("--epochs", type=int, default=3, help="timed epochs per method (default 3)")
    ba.add_argument("--cache", help="channel cache folder")
    ba.add_argument("--store", help="model store with 'lam' and 'sam_ref' (default: shipped)")
    ba.add_argument("--trusted", action="append", default=[], help="trusted public key")
    ba.set_defaults(func=cmd_adapt)
    bx = sub.add_parser("xapp", help="xApp indications/s and latency, PDU in to SDL write")
    bx.add_argument("--json", help="write the records here (and a PNG beside it)")
    bx.add_argument("--quick", action="store_true", help="fewer UE counts and indications")
    bx.set_defaults(func=cmd_xapp)
    bp = sub.add_parser(
        "pretrain",
        help="pre-training samples/s in fp32/bf16, eager/compiled, and bf16's accuracy cost",
    )
    bp.add_argument("--json", help="write the result here (and a PNG beside it)")
    bp.add_argument("--presets", help=f"comma-separated model presets (default {DEFAULT_PRESETS})")
    bp.add_argument("--threads", type=int, help="torch threads (default: torch's, all cores)")
    bp.add_argument(
        "--steps", type=int, help="training steps of the accuracy runs (default 100; quick 20)"
    )
    bp.add_argument(
        "--quick", action="store_true", help="preset tiny, batch 16, few steps: seconds"
    )
    bp.add_argument("--batch-size", type=int, help="batch (default 256, as pre-training; quick 16)")
    bp.add_argument("--rounds", type=int, help="timed round-robin rounds (default 5; quick 3)")
    bp.add_argument(
        "--round-steps", type=int, help="steps per variant and round (default 4; quick 2)"
    )
    bp.add_argument("--warmup", type=int, help="untimed steps after the first (default 3; quick 1)")
    bp.add_argument(
        "--no-compile",
        action="store_true",
        help="eager variants only (no C++ compiler, or to skip the compiles)",
    )
    bp.add_argument("--cache", help="channel cache folder (read only; default: the usual one)")
    bp.add_argument(
        "--regions",
        default="1-8",
        help="cached source regions for the accuracy runs (default 1-8; synthetic data "
        "when the cache lacks any of them)",
    )
    bp.add_argument("--samples", type=int, default=1000, help="cached samples per region")
    bp.set_defaults(func=cmd_pretrain)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except LascoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
