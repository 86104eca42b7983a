"""The ``lasco`` commands that work with whole experiments and artifacts: ``experiment``
(the smoke preset and the resumable study), ``export`` and ``bench runtime``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lasco.channels import Catalogue
from lasco.codec import Projection, parse_ratio
from lasco.errors import ConfigError

__all__ = [
    "cmd_bench_runtime",
    "cmd_experiment",
    "cmd_export",
    "supervise",
    "worker_commands",
]


def _cache(args: argparse.Namespace):
    from lasco.channels import ChannelCache

    return ChannelCache(args.cache)


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


def _store_models(args: argparse.Namespace):
    """The LAM and reference SAM (torch) of ``--store`` (default: the shipped store), and
    their manifests."""
    from lasco.export import model_from_store
    from model_store import ModelStore, TrustedKeys, default_store

    store = ModelStore(args.store, TrustedKeys(args.trusted)) if args.store else default_store()
    lam_art, ref_art = store.fetch("lam"), store.fetch("sam_ref")
    lam_manifest, ref_manifest = lam_art.manifest, ref_art.manifest
    if ref_manifest["lam_sha256"] != lam_manifest["onnx_sha256"]:
        raise ConfigError("the reference SAM in the store was trained against another LAM")
    return model_from_store(lam_art), model_from_store(ref_art), lam_manifest, ref_manifest


def cmd_bench_adapt(args: argparse.Namespace) -> int:
    from lasco.study import time_epochs

    lam, ref, lam_manifest, _ = _store_models(args)
    print(f"seconds per adaptation epoch, n = {args.n} samples of region {args.region}:")
    result = time_epochs(
        lam,
        ref,
        Projection.from_id(lam_manifest["projection_id"]),
        region=args.region,
        n=args.n,
        epochs=args.epochs,
        cache=_cache(args),
    )
    result["commit"] = _git_commit()
    result["lam_version"] = lam_manifest["version"]
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def worker_commands(args: argparse.Namespace) -> list[list[str]]:
    """The command lines of ``--workers K``: this study as K shards of one state file, each
    resuming, with the cores shared out (``--threads`` each, default cores // K)."""
    import os
    import sys

    k = args.workers
    threads = args.threads or max(1, (os.cpu_count() or 1) // k)
    base = [sys.executable, "-m", "lasco.cli", "experiment", "--preset", "study", "--resume"]
    base += ["--json", str(args.json or "reports/adaptation.json"), "--threads", str(threads)]
    for flag, value in (
        ("--budget-minutes", args.budget_minutes),
        ("--cache", args.cache),
        ("--store", args.store),
    ):
        if value is not None:
            base += [flag, str(value)]
    for key in args.trusted:
        base += ["--trusted", key]
    return [[*base, "--shard", f"{i}/{k}"] for i in range(k)]


def supervise(commands: list[list[str]], logs: list[Path], out=print) -> int:
    """Run ``commands`` side by side, each line of worker i's output printed as ``wI ...``
    and its stderr (progress bars, tracebacks) kept in ``logs[i]``. Returns the worst exit
    status; a failed worker's log tail is printed, and the others run on (their cells are
    saved as they finish, so a rerun resumes)."""
    import subprocess
    import threading

    procs, threads = [], []
    for i, (cmd, log) in enumerate(zip(commands, logs, strict=True)):
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        procs.append(proc)

        def relay(i: int = i, proc: subprocess.Popen = proc) -> None:
            for line in proc.stdout:
                out(f"w{i} {line.rstrip()}")

        threads.append(threading.Thread(target=relay, daemon=True))
        threads[-1].start()
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    for t in threads:
        t.join()
    for i, (code, log) in enumerate(zip(codes, logs, strict=True)):
        if code:
            tail = log.read_text(errors="replace").splitlines()[-15:]
            out(f"worker {i} failed (exit {code}); the end of {log}:")
            for line in tail:
                out(f"  {line}")
        else:
            log.unlink(missing_ok=True)
    return max(codes, default=0)


def _print_status(cfg, lam, ref, state_path: Path) -> int:
    from lasco.study import _State, cell_label, study_progress

    if not state_path.is_file():
        raise ConfigError(f"{state_path}: no study state here yet (nothing has run)")
    state = _State(state_path, cfg.hash(lam, ref), resume=True)
    running, cells = state.running(), state.cells
    rows = study_progress(cfg, cells)
    done, planned = sum(r["done"] for r in rows), sum(r["planned"] for r in rows)
    print(f"{state_path}: {done} of {planned} cells done")
    print(f"{'stage':<66} {'done':>9} {'cell-hours left':>16}")
    for r in rows:
        hours = "?" if r["hours_left"] is None else f"{r['hours_left']:.2f}"
        print(f"{r['stage']:<66} {r['done']:>4}/{r['planned']:<4} {hours:>16}")
    known = [r["hours_left"] for r in rows if r["hours_left"] is not None]
    print(f"{'total':<66} {'':>9} {sum(known):>16.2f}  (divide by the workers running)")
    for key, who in running.items():
        print(f"running now: {cell_label(key)} (pid {who['pid']} on {who['host']})")
    return 0


def _run_study(args: argparse.Namespace) -> int:
    from lasco.study import StudyConfig, run_study
    from lasco.study_report import write_study

    try:
        index, workers = (int(v) for v in args.shard.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {args.shard!r}: expected I/K, e.g. 0/2") from None
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    if args.workers > 1:
        if workers > 1:
            raise ConfigError("--workers runs the shards itself: leave out --shard")
        out = Path(args.json or "reports/adaptation.json")
        logs = [out.with_name(f"{out.stem}.worker{i}.log") for i in range(args.workers)]
        code = supervise(worker_commands(args), logs)
        # The report of every shard's cells (nothing left to run unless a worker failed or
        # a budget stopped them).
        report_only = {"workers": 1, "budget_minutes": 0, "resume": True}
        return _run_study(argparse.Namespace(**{**vars(args), **report_only})) or code
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    lam, ref, lam_manifest, ref_manifest = _store_models(args)
    out = Path(args.json or "reports/adaptation.json")
    if args.status:
        return _print_status(StudyConfig(), lam, ref, out.with_suffix(".state.json"))
    report = run_study(
        StudyConfig(),
        lam,
        ref,
        Projection.from_id(lam_manifest["projection_id"]),
        out.with_suffix(".state.json"),
        resume=args.resume,
        budget_s=None if args.budget_minutes is None else 60 * args.budget_minutes,
        cache=_cache(args),
        shard=(index, workers),
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
    timing = out.with_name("bench_adapt.json")  # `lasco bench adapt --json` beside it
    if timing.is_file():
        report["adapt_timing"] = json.loads(timing.read_text())
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
        graph=args.graph,
        export_commit=_git_commit(),
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
