"""``lasco-ric``: the whole system on one machine. ``lasco-ric demo`` runs the closed loop
(simulated E2 nodes, the xApp, the rApp, a local A1 mediator, a real InfluxDB) and writes its
report; ``lasco-ric dashboard`` writes the Grafana dashboard the xApp chart ships; the offline
method experiment is ``make smoke``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from lasco.errors import LascoError

__all__ = ["main"]


def cmd_demo(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lasco_ric.demo import run_demo
    from lasco_ric.demo_report import table
    from lasco_ric.demo_world import DemoPlan
    from rapp.adapt_settings import AdaptationSettings

    # the adaptation settings are checked before anything starts (ConfigError names them)
    AdaptationSettings(method=args.method, phase_views=args.phase_views)
    plan = replace(DemoPlan.default(args.quick), method=args.method, phase_views=args.phase_views)
    summary = run_demo(
        Path(args.out),
        plan=plan,
        cache=args.cache,
        say=lambda line: print(line, flush=True),  # live, also when piped to a log
    )
    print(table(summary))
    print(
        f"adaptations {summary['adaptations']}, declined {summary['declined']}, "
        f"A1 errors {summary['a1_errors']}; stages (s): "
        + ", ".join(f"{k} {v}" for k, v in summary["stages_s"].items())
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from lasco_ric.dashboard import dashboard_json

    text = dashboard_json()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lasco-ric", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="the closed loop on this machine, with its report")
    d.add_argument("--quick", action="store_true", help="shorter phases and training")
    d.add_argument("--json", help="also write the summary here")
    d.add_argument("--out", default="demo-out", help="output folder (default demo-out/)")
    d.add_argument("--cache", help="channel cache folder (default $LASCO_CACHE or ~/.cache)")
    d.add_argument(
        "--method",
        choices=("side", "e-lasco", "lasco"),
        default="side",
        help="what the rApp adapts (side: a side network on the LAM's hidden states)",
    )
    d.add_argument(
        "--phase-views",
        type=int,
        default=16,
        help="phase-rotation views per sample (default 16; 1: none)",
    )
    d.set_defaults(func=cmd_demo)
    g = sub.add_parser(
        "dashboard", help="the Grafana dashboard of the xApp's and rApp's telemetry, as JSON"
    )
    g.add_argument("--out", help="write it here (default: standard output)")
    g.set_defaults(func=cmd_dashboard)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (LascoError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
