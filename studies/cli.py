"""``python -m studies experiment``: the smoke experiment (``--preset smoke``) and the
resumable adaptation study (``--preset study``), with its workers and its progress."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lasco.channels import Catalogue, ChannelCache
from lasco.codec import Projection, parse_ratio
from lasco.errors import ConfigError, LascoError
from lasco.export import store_models
from lasco.provenance import git_commit
from studies.cli_reports import add_report_commands

__all__ = ["build_parser", "cmd_experiment", "main", "supervise", "worker_commands"]


def cmd_experiment(args: argparse.Namespace) -> int:
    from lasco.errors import ConfigError
    from studies.presets import STUDIES
    from studies.smoke import EXPERIMENT_PRESETS, format_table, run_experiment, write_outputs

    if args.preset in STUDIES:
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
    result = run_experiment(preset, catalogue=cat, cache=ChannelCache(args.cache))
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


def worker_commands(args: argparse.Namespace) -> list[list[str]]:
    """The command lines of ``--workers K``: this study as K shards of one state file, each
    resuming, with the cores shared out (``--threads`` each, default cores // K)."""
    import os
    import sys

    k = args.workers
    threads = args.threads or max(1, (os.cpu_count() or 1) // k)
    base = [sys.executable, "-m", "studies", "experiment", "--preset", args.preset, "--resume"]
    base += ["--json", str(_report_path(args)), "--threads", str(threads)]
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
    from studies.config import cell_label
    from studies.progress import study_progress
    from studies.state import StudyState

    if not state_path.is_file():
        raise ConfigError(f"{state_path}: no study state here yet (nothing has run)")
    state = StudyState(state_path, cfg.hash(lam, ref), resume=True)
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


def _report_path(args: argparse.Namespace) -> Path:
    """The study's report JSON (its state file sits beside it): ``--json``, else
    reports/adaptation.json for the first study and reports/PRESET.json for the others."""
    if args.json:
        return Path(args.json)
    from studies.reuse import report_stem

    return Path("reports") / f"{report_stem(args.preset)}.json"


def _reuse(cfg, out: Path) -> tuple | None:
    """The preset ``cfg`` reuses and its state file, beside ``out`` (None: none)."""
    from studies.presets import STUDIES
    from studies.reuse import report_stem

    if cfg.reuses is None:
        return None
    return STUDIES[cfg.reuses], out.with_name(f"{report_stem(cfg.reuses)}.state.json")


def _run_study(args: argparse.Namespace) -> int:
    from studies.presets import STUDIES
    from studies.report import write_study
    from studies.runner import run_study

    try:
        index, workers = (int(v) for v in args.shard.split("/"))
    except ValueError:
        raise ConfigError(f"--shard {args.shard!r}: expected I/K, e.g. 0/2") from None
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: expected at least 1")
    if args.workers > 1:
        if workers > 1:
            raise ConfigError("--workers runs the shards itself: leave out --shard")
        out = _report_path(args)
        logs = [out.with_name(f"{out.stem}.worker{i}.log") for i in range(args.workers)]
        code = supervise(worker_commands(args), logs)
        # The report of every shard's cells (nothing left to run unless a worker failed or
        # a budget stopped them).
        report_only = {"workers": 1, "budget_minutes": 0, "resume": True}
        return _run_study(argparse.Namespace(**{**vars(args), **report_only})) or code
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = _report_path(args)
    cfg = STUDIES[args.preset]
    lam, ref, lam_manifest, ref_manifest = store_models(
        args.store,
        args.trusted,
        lam_version=None if args.store else cfg.lam_version,
        ref_version=None if args.store else cfg.ref_version,
    )
    if args.status:
        return _print_status(cfg, lam, ref, out.with_suffix(".state.json"))
    projection = Projection.from_id(lam_manifest.projection_id)
    report = run_study(
        cfg,
        lam,
        ref,
        projection,
        out.with_suffix(".state.json"),
        resume=args.resume,
        budget_s=None if args.budget_minutes is None else 60 * args.budget_minutes,
        cache=ChannelCache(args.cache),
        shard=(index, workers),
        reuse=_reuse(cfg, out),
    )
    meta = {
        "preset": args.preset,
        "lam_preset": (lam_manifest.model or {}).get("name"),
        "sam_preset": (ref_manifest.model or {}).get("name"),
        "projection_id": lam_manifest.projection_id,
        "ratio": str(projection.ratio),
        "commit": git_commit(),
        "lam_version": lam_manifest.version,
        "sam_version": ref_manifest.version,
        "lam_sha256": lam_manifest.onnx_sha256,
        "lam_training": lam_manifest.training,
        "sam_training": ref_manifest.training,
    }
    # `python -m benchmarks adapt --json`: the study's own timing, else the shared one
    timing = out.with_name(f"{out.stem}-bench_adapt.json")
    if not timing.is_file():
        timing = out.with_name("bench_adapt.json")
    if timing.is_file():
        report["adapt_timing"] = json.loads(timing.read_text())
    for p in write_study(report, out, meta):
        print(f"wrote {p}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m studies", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("experiment", help="the whole chain: pretrain, adapt every method")
    exp.add_argument(
        "--preset",
        default="smoke",
        help="smoke (the offline experiment) or a study: study (the paper's methods), "
        "comparison (fair budgets, new plug-ins), capacity (run it with --store of another "
        "reference SAM size), augmented (phase-rotation augmentation; augmented-wide with 3e-3 "
        "on its grid, side-timed: the side network within a quarter of fine-tuning's time), "
        "scenarios (targets of other scenarios; scenarios-views: the shipped method on them)",
    )
    exp.add_argument("--catalogue", help="JSON catalogue with 'role': source|target per region")
    exp.add_argument("--cache", help="cache folder")
    exp.add_argument("--json", help="write the result JSON (and a PNG beside it)")
    st = exp.add_argument_group("the study preset")
    st.add_argument("--resume", action="store_true", help="skip cells a stopped study finished")
    st.add_argument(
        "--status",
        action="store_true",
        help="print the cells done and the cell-hours left per stage, then stop",
    )
    st.add_argument(
        "--budget-minutes",
        type=float,
        help="stop starting cells after this long, then write the report "
        "(0: just report what is done)",
    )
    st.add_argument(
        "--shard",
        default="0/1",
        help="I/K: run the I-th of K interleaved shares of the cells (0-based), so K "
        "workers split the study over one state file (each with --resume)",
    )
    st.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run the study as this many shard processes side by side, then write the "
        "report (each resumes; --threads per worker, default cores // workers)",
    )
    st.add_argument("--threads", type=int, help="torch threads of this worker (default: all)")
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
    add_report_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except LascoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
