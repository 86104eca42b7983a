"""``csi-rapp``: run the LASCO CSI rApp, or operate a running one through its API.

    csi-rapp run [--config FILE]            the process (loop, operator API)
    csi-rapp settings [--config FILE]       the effective settings as JSON (token hidden)
    csi-rapp environments [ENV]             environments (or one), and waiting adaptations
    csi-rapp adapt ENV                      adapt ENV at the next tick
    csi-rapp rollback ENV [--reason TEXT]   serve ENV with its previous proxy
    csi-rapp cells ENV CELL...              set the cells ENV serves
    csi-rapp mode ENV MODE                  lasco, e-lasco, side or lam-only
    csi-rapp adaptations [--environment ENV] [--limit N]

The operator commands talk to the API at ``--url`` (default ``$CSI_RAPP_URL``, else
``http://127.0.0.1:<api.port>``) and print tables, or the API's JSON with ``--json``.
Exit status: 0 done; 1 the rApp failed the request (5xx) or its A1 deployment failed;
2 bad input (refused by the rApp too: unknown environment, conflict, malformed) or an
unreachable rApp, with ``error: ...`` on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, NoReturn

import httpx

from rapp.settings import SettingsError, load_settings

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MODES = ("lasco", "e-lasco", "side", "lam-only")
API = "/rapp/v1"


class UsageError(Exception):
    """Bad input or an unreachable rApp: exit 2."""


class Failed(Exception):
    """The rApp failed the request: exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


# -- talking to the API -------------------------------------------------------------------
def default_url() -> str:
    """``$CSI_RAPP_URL``, else the API on this host at the configured port."""
    return os.environ.get("CSI_RAPP_URL") or f"http://127.0.0.1:{load_settings().api.port}"


def call(args: argparse.Namespace, method: str, path: str, **kw: Any) -> Any:
    """One request to the API; the decoded JSON answer. UsageError for a 4xx or no
    answer, Failed for a 5xx."""
    url = (args.url or default_url()).rstrip("/")
    try:
        with httpx.Client(base_url=url, timeout=args.timeout) as client:
            r = client.request(method, API + path, **kw)
    except httpx.HTTPError as exc:
        raise UsageError(f"cannot reach the rApp at {url}: {exc}") from None
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code >= 400:
        detail = body.get("detail") if isinstance(body, dict) else None
        words = detail if isinstance(detail, str) else (r.text[:300] or r.reason_phrase)
        exc_type = UsageError if r.status_code < 500 else Failed
        raise exc_type(f"{r.status_code}: {words}")
    if body is None:
        raise Failed(f"the rApp at {url} answered {r.status_code} without JSON")
    return body


# -- printing -------------------------------------------------------------------------------
def table(rows: list[list[Any]], header: list[str]) -> str:
    """Left-aligned columns; None prints as ``-``."""
    text = [[("-" if v is None else str(v)) for v in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in text) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(line.rstrip() for line in lines)


def _nmse(value: Any) -> str | None:
    return None if value is None else f"{float(value):.2f}"


def _env_rows(envs: list[dict[str, Any]]) -> str:
    rows = [
        [
            e["environment"],
            ",".join(e.get("cells") or []),
            e.get("mode"),
            e.get("active"),
            _nmse(e.get("nmse_db")),
            (e.get("pending") or {}).get("trigger"),
        ]
        for e in envs
    ]
    return table(rows, ["ENVIRONMENT", "CELLS", "MODE", "ACTIVE", "NMSE_DB", "PENDING"])


def _when(t_ns: Any) -> str | None:
    if not isinstance(t_ns, int):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_ns / 1e9))


def _out(args: argparse.Namespace, body: Any, text: str) -> None:
    print(json.dumps(body, indent=2, sort_keys=True) if args.json else text)


def _changed(args: argparse.Namespace, body: dict[str, Any]) -> int:
    a1 = body.get("a1") or {}
    words = f"A1: {a1.get('status')}" + (f" ({a1['action']})" if a1.get("action") else "")
    words += f": {a1['reason']}" if a1.get("reason") else ""
    _out(args, body, _env_rows([body["environment"]]) + "\n" + words)
    if not a1.get("ok"):
        print(f"error: the A1 deployment failed: {a1.get('status')}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# -- the commands -----------------------------------------------------------------------------
def cmd_environments(args: argparse.Namespace) -> int:
    if args.environment:
        body = call(args, "GET", f"/environments/{args.environment}")
        rows = [
            [_when(h.get("t_ns")), h.get("trigger"), h.get("accepted"), h.get("reason")]
            for h in body.get("adaptations", [])
        ]
        text = _env_rows([body])
        if rows:
            text += "\n\n" + table(rows, ["TIME", "TRIGGER", "ACCEPTED", "REASON"])
        _out(args, body, text)
        return EXIT_OK
    body = call(args, "GET", "/environments")
    text = _env_rows(body["environments"]) if body["environments"] else "no environments"
    known = {e["environment"] for e in body["environments"]}
    waiting = [p for p in body.get("pending", []) if p["environment"] not in known]
    if waiting:
        rows = [[p["environment"], ",".join(p["cells"]), p["trigger"]] for p in waiting]
        text += "\n\nwaiting for samples:\n" + table(rows, ["ENVIRONMENT", "CELLS", "TRIGGER"])
    _out(args, body, text)
    return EXIT_OK


def cmd_adapt(args: argparse.Namespace) -> int:
    body = call(args, "POST", f"/environments/{args.environment}/adaptations")
    cells = ", ".join(body.get("cells", []))
    _out(args, body, f"adaptation of {body['environment']} waiting for the next tick ({cells})")
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace) -> int:
    kw = {"json": {"reason": args.reason}} if args.reason else {}
    return _changed(args, call(args, "POST", f"/environments/{args.environment}/rollback", **kw))


def cmd_cells(args: argparse.Namespace) -> int:
    path = f"/environments/{args.environment}/cells"
    return _changed(args, call(args, "PUT", path, json={"cells": args.cells}))


def cmd_mode(args: argparse.Namespace) -> int:
    path = f"/environments/{args.environment}/mode"
    return _changed(args, call(args, "PUT", path, json={"mode": args.mode}))


def cmd_adaptations(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"limit": args.limit}
    if args.environment:
        params["environment"] = args.environment
    body = call(args, "GET", "/adaptations", params=params)
    rows = [
        [
            _when(h.get("t_ns")),
            h.get("environment"),
            h.get("trigger"),
            "yes" if h.get("accepted") else "no",
            h.get("reason"),
            ",".join(h.get("cells") or []),
            h.get("a1_status"),
        ]
        for h in body["adaptations"]
    ]
    header = ["TIME", "ENVIRONMENT", "TRIGGER", "ACCEPTED", "REASON", "CELLS", "A1"]
    _out(args, body, table(rows, header) if rows else "no adaptations")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace) -> int:
    s = load_settings(args.config)
    if args.check:
        from rapp.settings_parts import check

        check(s)
    print(s.to_json(hide_secrets=True))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from model_store import StoreError
    from rapp.app import build_controller, run

    s = load_settings(args.config)
    try:
        controller = build_controller(s)
    except (StoreError, OSError, ValueError) as exc:  # SettingsError is a ValueError
        raise UsageError(f"cannot start: {exc}") from None
    try:
        return run(s, controller=controller)
    except OSError as exc:
        raise UsageError(f"cannot serve the API on {s.api.host}:{s.api.port}: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="csi-rapp", description=__doc__.splitlines()[0].split(": ", 1)[1])
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config = {"help": "settings JSON (default: $CSI_RAPP_CONFIG_FILE, else none)"}
    r = sub.add_parser("run", help="run the rApp: the loop and the operator API")
    r.add_argument("--config", **config)
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("settings", help="print the effective settings (token hidden)")
    s.add_argument("--config", **config)
    s.add_argument("--check", action="store_true", help="also build every part's settings")
    s.set_defaults(func=cmd_settings)

    api = _Parser(add_help=False)
    api.add_argument("--url", help="the rApp's API (default: $CSI_RAPP_URL, else this host)")
    api.add_argument("--json", action="store_true", help="print the API's JSON")
    api.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")

    def op(name: str, help_: str, func: Any) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help_, parents=[api])
        q.set_defaults(func=func)
        return q

    op("environments", "list environments (or show one)", cmd_environments).add_argument(
        "environment", nargs="?", metavar="ENV"
    )
    op("adapt", "adapt ENV at the next tick", cmd_adapt).add_argument("environment", metavar="ENV")
    q = op("rollback", "serve ENV with its previous proxy", cmd_rollback)
    q.add_argument("environment", metavar="ENV")
    q.add_argument("--reason", help="kept with the version marked bad")
    q = op("cells", "set the cells ENV serves", cmd_cells)
    q.add_argument("environment", metavar="ENV")
    q.add_argument("cells", nargs="+", metavar="CELL")
    q = op("mode", "set how ENV is served", cmd_mode)
    q.add_argument("environment", metavar="ENV")
    q.add_argument("mode", choices=MODES, metavar="MODE", help=" | ".join(MODES))
    q = op("adaptations", "the adaptations so far, with their outcomes", cmd_adaptations)
    q.add_argument("--environment", metavar="ENV", help="only this environment's")
    q.add_argument("--limit", type=int, default=100, help="the newest N (default 100)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose or args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        return args.func(args)
    except (UsageError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Failed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
