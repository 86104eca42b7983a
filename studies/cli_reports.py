"""``python -m studies`` commands that turn finished runs into tables and probes: the
pre-training curves, the capacity and augmentation tables, and the teacher probe."""

from __future__ import annotations

import argparse
from pathlib import Path

from lasco.channels import ChannelCache
from lasco.codec import Projection
from lasco.errors import ConfigError
from lasco.export import store_models

__all__ = ["add_report_commands"]


def cmd_pretrain_curves(args: argparse.Namespace) -> int:
    from studies.pretrain_curves import write_pretrain_curves

    for p in write_pretrain_curves(args.checkpoints, args.json):
        print(f"wrote {p}")
    return 0


def cmd_capacity_table(args: argparse.Namespace) -> int:
    from studies.capacity import write_capacity

    for p in write_capacity(args.reports, args.comparison, args.json):
        print(f"wrote {p}")
    return 0


def cmd_augment_table(args: argparse.Namespace) -> int:
    from studies.augment import write_augment

    for p in write_augment(args.report, args.comparison, args.json, args.ceiling):
        print(f"wrote {p}")
    return 0


def cmd_teacher(args: argparse.Namespace) -> int:
    from studies.capacity import read_json
    from studies.state import StudyState
    from studies.teacher import (
        run_teacher_probe,
        settings_from_reports,
        teacher_summary,
        write_teacher,
    )

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from studies.presets import STUDIES

    pinned = STUDIES["comparison"]  # the models the comparison ran on, unless --store
    lam, ref, lam_manifest, _ = store_models(
        args.store,
        args.trusted,
        lam_version=None if args.store else pinned.lam_version,
        ref_version=None if args.store else pinned.ref_version,
    )
    reports = {args.comparison: read_json(Path(args.comparison), "comparison report (make study)")}
    reports |= {p: read_json(Path(p), "study report") for p in args.true_labels}
    split = lambda v: tuple(x.strip() for x in v.split(",") if x.strip())  # noqa: E731
    cfg, true_labels = settings_from_reports(
        reports, split(args.regions), split(args.students), lam_manifest.onnx_sha256
    )
    out = Path(args.json)
    if args.report_only:  # what the state file holds, nothing trained
        if not out.with_suffix(".state.json").is_file():
            raise ConfigError(f"{out.with_suffix('.state.json')}: no probe state to report")
        cells = StudyState(out.with_suffix(".state.json"), cfg.hash(lam, ref), True).cells
        summary = teacher_summary(cfg, cells, true_labels)
    else:
        summary = run_teacher_probe(
            cfg,
            lam,
            ref,
            Projection.from_id(lam_manifest.projection_id),
            out.with_suffix(".state.json"),
            resume=args.resume,
            cache=ChannelCache(args.cache),
            true_labels=true_labels,
        )
    for p in write_teacher(summary, out):
        print(f"wrote {p}")
    return 0


def add_report_commands(sub) -> None:
    """Add the table and probe commands to the ``python -m studies`` subparsers ``sub``."""
    pc = sub.add_parser(
        "pretrain-curves",
        help="pre-training runs on one time axis (validation curves, test NMSE): JSON and PNG",
    )
    pc.add_argument("checkpoints", nargs="+", help="checkpoints written by lasco pretrain")
    pc.add_argument("--json", default="reports/pretrain_curves.json", help="output JSON")
    pc.set_defaults(func=cmd_pretrain_curves)
    ct = sub.add_parser(
        "capacity-table",
        help="the capacity sweep's reports as one table of shares of fine-tuning's gain",
    )
    ct.add_argument("reports", nargs="+", help="capacity reports (--preset capacity --json)")
    ct.add_argument(
        "--comparison", default="reports/comparison.json", help="the comparison's report"
    )
    ct.add_argument("--json", default="reports/capacity.json", help="output JSON")
    ct.set_defaults(func=cmd_capacity_table)
    at = sub.add_parser(
        "augment-table",
        help="the augmented study against the comparison: shares of fine-tuning's gain "
        "with and without phase views",
    )
    at.add_argument(
        "report", nargs="?", default="reports/augmented.json", help="the augmented report"
    )
    at.add_argument(
        "--comparison", default="reports/comparison.json", help="the comparison's report"
    )
    at.add_argument(
        "--ceiling",
        help="an augmented report whose fine-tuning is the ceiling (for a report without)",
    )
    at.add_argument("--json", default="reports/augment.json", help="output JSON")
    at.set_defaults(func=cmd_augment_table)
    tp = sub.add_parser(
        "teacher",
        help="plug-ins adapted on a fine-tuned LAM's labels: can they represent fine-tuning?",
    )
    tp.add_argument("--regions", default="106,102,109", help="target regions, comma-separated")
    tp.add_argument("--students", default="side,e-lasco,readout", help="plug-ins, comma-separated")
    tp.add_argument(
        "--comparison",
        default="reports/comparison.json",
        help="the comparison's report: its rates and true-label results",
    )
    tp.add_argument(
        "--true-labels",
        action="append",
        default=[],
        help="another study report on the same LAM and reference (e.g. the capacity run) for "
        "plug-ins the comparison did not adapt",
    )
    tp.add_argument("--json", default="reports/teacher.json", help="output JSON")
    tp.add_argument("--resume", action="store_true", help="finish a stopped probe")
    tp.add_argument(
        "--report-only", action="store_true", help="report what the state holds; train nothing"
    )
    tp.add_argument("--threads", type=int, help="torch threads (default: all)")
    tp.add_argument("--cache", help="channel cache folder")
    tp.add_argument("--store", help="model store with 'lam' and 'sam_ref' (default: shipped)")
    tp.add_argument("--trusted", action="append", default=[], help="trusted public key")
    tp.set_defaults(func=cmd_teacher)
