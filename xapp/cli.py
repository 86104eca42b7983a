"""``csi-xapp``: run the xApp in a RIC (RMR), or replay captured messages through its core."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from lasco.errors import LascoError
from model_store import StoreError
from schemas import SchemaValidationError
from xapp.app import build_core, load_controls
from xapp.settings import Settings

__all__ = ["main"]


def cmd_replay(args: argparse.Namespace) -> int:
    from xapp.replay import replay

    core = build_core(
        Settings.from_controls(load_controls(args.config)), require_subscription=False
    )
    restored = core.restore()
    bad: list[str] = []
    result = replay(core, args.input, args.output, lambda i, why: bad.append(f"line {i}: {why}"))
    print(
        json.dumps(
            {"restored_policies": restored, **{k: result[k] for k in ("served", "dropped", "a1")}}
        )
    )
    for line in bad[:10]:
        print(f"error: {args.input}: {line.replace(': ', ' is not a captured message: ', 1)}",
              file=sys.stderr)  # fmt: skip
    if len(bad) > 10:
        print(f"error: {len(bad) - 10} more lines are not captured messages", file=sys.stderr)
    return 2 if bad else 0


def cmd_run(args: argparse.Namespace) -> int:
    from xapp.logs import use_mdclog
    from xapp.shell import run

    path = args.config or os.environ.get("CONFIG_FILE")
    settings = Settings.from_controls(load_controls(path))
    use_mdclog(settings.a1.handler_id, logging.INFO if args.verbose else logging.WARNING)
    return run(settings, path)


def cmd_bench(args: argparse.Namespace) -> int:
    from xapp.bench import SyntheticNode, run_bench

    core = build_core(
        Settings.from_controls(load_controls(args.config)), require_subscription=False
    )
    node = SyntheticNode(core.runtime.projection)
    records = run_bench(core, node, tuple(args.ues), args.indications)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records, "sdl": "in-memory"}, f, indent=1)
            f.write("\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="csi-xapp", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("replay", help="feed captured messages through the core")
    r.add_argument("--config", help="descriptor or controls JSON (default: embedded defaults)")
    r.add_argument("--input", required=True, help="JSONL of {mtype, meid, payload_b64}")
    r.add_argument("--output", required=True, help="JSONL of replies, then a summary line")
    r.set_defaults(func=cmd_replay)
    b = sub.add_parser("bench", help="the xApp's overhead over the bare runtime, per UE count")
    b.add_argument("--config", help="descriptor or controls JSON (default: embedded defaults)")
    b.add_argument("--ues", type=int, nargs="+", default=[1, 16, 64], help="UEs per indication")
    b.add_argument("--indications", type=int, default=300, help="indications per UE count")
    b.add_argument("--json", help="also write the records here")
    b.set_defaults(func=cmd_bench)
    run = sub.add_parser("run", help="run in a RIC: RMR, SDL, InfluxDB (needs librmr_si.so)")
    run.add_argument("--config", help="descriptor or controls JSON (default: $CONFIG_FILE)")
    run.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (LascoError, StoreError, SchemaValidationError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
