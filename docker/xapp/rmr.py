"""Fetch O-RAN SC's RMR runtime package, verify its sha256 and lay out its shared library
for the xApp image (run in the image's build stage; the standard library only).

    python rmr.py --url URL --sha256 HEX --version 4.9.4 --dest /rmr

It writes ``DEST/usr/local/lib/librmr_si.so.VERSION`` with the SONAME link ldconfig makes
(``librmr_si.so.4``) and the unversioned ``librmr_si.so`` that ricxappframe loads by name.
Nothing is written unless the download matches the checksum; a checksum is required (the
release package's sha256 is not published beside it, so the builder states the one it
checked). ``--url`` may be a ``file://`` URL for a package already on disk.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["ChecksumError", "fetch_verified", "install_library", "main"]

LIBRARY = "librmr_si.so"
LIBDIR = Path("usr/local/lib")
USER_AGENT = "lasco-ric-image-build"


class ChecksumError(Exception):
    """No usable checksum, or a download that does not match it."""


def check_sha256(value: str) -> str:
    value = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ChecksumError(
            "a sha256 of the RMR package (64 hex digits) is required: pass it as the build "
            "argument RMR_SHA256"
        )
    return value


def fetch_verified(url: str, sha256: str, dest: Path, timeout: float = 120.0) -> Path:
    """Download ``url`` to ``dest``; ChecksumError (and nothing left at ``dest``) when its
    sha256 is not ``sha256``."""
    want = check_sha256(sha256)
    digest = hashlib.sha256()
    tmp = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r, open(tmp, "wb") as f:
            while chunk := r.read(1 << 16):
                digest.update(chunk)
                f.write(chunk)
        got = digest.hexdigest()
        if not hmac.compare_digest(got, want):
            raise ChecksumError(f"{url}: sha256 {got}, expected {want}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def install_library(deb: Path, version: str, dest: Path) -> Path:
    """Extract ``deb`` and place its ``librmr_si.so.<version>`` under ``dest/usr/local/lib``
    with its SONAME link and the unversioned name; the library's path."""
    with tempfile.TemporaryDirectory(prefix="rmr-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        name = f"{LIBRARY}.{version}"
        found = sorted(p for p in Path(tmp).rglob(name) if p.is_file() and not p.is_symlink())
        if not found:
            raise FileNotFoundError(f"{deb} holds no {name}: is it RMR {version}?")
        libdir = dest / LIBDIR
        libdir.mkdir(parents=True, exist_ok=True)
        lib = libdir / name
        shutil.copyfile(found[0], lib)
        os.chmod(lib, 0o644)
    subprocess.run(["ldconfig", "-n", str(libdir)], check=True)  # the SONAME link
    link = libdir / LIBRARY
    link.unlink(missing_ok=True)
    link.symlink_to(name)
    return lib


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="the RMR runtime .deb")
    p.add_argument("--sha256", required=True, help="its sha256 (64 hex digits)")
    p.add_argument("--version", required=True, help="RMR version, e.g. 4.9.4")
    p.add_argument("--dest", required=True, type=Path, help="root to lay the library under")
    args = p.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="rmr-deb-") as tmp:
            deb = fetch_verified(args.url, args.sha256, Path(tmp) / "rmr.deb")
            lib = install_library(deb, args.version, args.dest)
    except (ChecksumError, OSError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"installed {lib}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
