"""``model-store``: keys, publishing, listing, verification, roll-back, gc and serving.

``model-store verify PATH`` exits 0 when the artifact folder verifies and 1 when it
is refused, printing the reason (missing signature, unknown key, bad signature,
sha256 mismatch, invalid manifest, incompatible model). Other errors exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from model_store import DEFAULT_STORE, DEFAULT_TRUSTED_KEYS
from model_store.artifact import read_folder, verify
from model_store.errors import StoreError, VerificationError
from model_store.signing import TrustedKeys, generate_keypair, load_private_key, public_hex
from model_store.store import ModelStore

__all__ = ["main"]


def _trusted(args: argparse.Namespace) -> TrustedKeys:
    keys = list(args.trusted or [])
    env = os.environ.get("LASCO_TRUSTED_KEYS")
    if env:
        keys += [k for k in env.split(",") if k]
    if not keys:
        return TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS)
    return TrustedKeys(keys)


def _store(args: argparse.Namespace) -> ModelStore:
    return ModelStore(args.store, _trusted(args))


def cmd_keygen(args: argparse.Namespace) -> int:
    key, pub = generate_keypair(args.out)
    print(f"private key {key} (keep it secret), public key {pub}: {pub.read_text().strip()}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    key = load_private_key(args.key)
    fields = json.loads(args.set) if args.set else {}
    manifest = _store(args).publish(args.folder, key, name=args.name, **fields)
    print(
        f"published {manifest.name} version {manifest.version} "
        f"(model.onnx {manifest.onnx_sha256[:12]}..., signed by {public_hex(key)[:12]}...)"
    )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    listing = _store(args).list()
    if args.json:
        print(json.dumps(listing, indent=1))
        return 0
    for name, versions in listing.items():
        tags = [f"{v['version']}" + (" (bad)" if v["bad"] else "") for v in versions]
        print(f"{name}: {', '.join(tags)}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    name, _, version = args.ref.partition("@")
    art = _store(args).fetch(name, version or "latest")
    print(json.dumps(dict(art.manifest.to_dict(), signed_by=art.key_id), indent=1))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        art = verify(read_folder(args.path), _trusted(args), check_onnx=not args.no_onnx)
    except VerificationError as exc:
        print(f"REFUSED ({exc.reason}): {exc}")
        return 1
    print(f"OK {art.name} version {art.version}, signed by key {art.key_id}")
    return 0


def cmd_mark_bad(args: argparse.Namespace) -> int:
    now = _store(args).mark_bad(args.name, args.version, args.reason)
    print(f"{args.name} version {args.version} marked bad; latest is now {now}")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    removed = _store(args).gc(args.keep, args.name)
    print(f"removed {len(removed)} versions" + "".join(f"\n  {n} {v}" for n, v in removed))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from model_store.server import make_server

    server = make_server(args.store, args.host, args.port)
    print(f"serving {args.store} read-only on http://{args.host}:{server.server_address[1]}")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="model-store", description=__doc__.splitlines()[0])
    p.add_argument(
        "--store",
        default=str(DEFAULT_STORE),
        help="store folder or URL (default: the shipped store)",
    )
    p.add_argument(
        "--trusted",
        action="append",
        help="trusted public key (hex or .pub file); repeatable; default: "
        "$LASCO_TRUSTED_KEYS or the shipped keys",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("keygen", help="make an Ed25519 key pair: PREFIX.key, PREFIX.pub")
    s.add_argument("out", help="path prefix")
    s.set_defaults(func=cmd_keygen)
    s = sub.add_parser("publish", help="sign and publish an artifact folder as the next version")
    s.add_argument("folder")
    s.add_argument("--key", required=True, help="private key (PEM)")
    s.add_argument("--name")
    s.add_argument("--set", help="JSON object of manifest fields to set")
    s.set_defaults(func=cmd_publish)
    s = sub.add_parser("list", help="names and versions")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("show", help="the verified manifest of NAME[@VERSION]")
    s.add_argument("ref")
    s.set_defaults(func=cmd_show)
    s = sub.add_parser("verify", help="verify an artifact folder: exit 0 good, 1 refused")
    s.add_argument("path")
    s.add_argument("--no-onnx", action="store_true", help="skip loading the model in ORT")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("mark-bad", help="roll back: mark a version bad")
    s.add_argument("name")
    s.add_argument("version", type=int)
    s.add_argument("--reason", required=True)
    s.set_defaults(func=cmd_mark_bad)
    s = sub.add_parser("gc", help="delete all but the newest N good versions")
    s.add_argument("--keep", type=int, default=3)
    s.add_argument("--name")
    s.set_defaults(func=cmd_gc)
    s = sub.add_parser("serve", help="serve the store read-only over HTTP")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8090)
    s.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (StoreError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
