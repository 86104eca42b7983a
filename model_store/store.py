"""The model store: publish, list, resolve, fetch-and-verify, mark bad, garbage-collect."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from model_store.artifact import (
    MANIFEST,
    MODEL,
    SIGNATURE,
    VerifiedArtifact,
    canonical,
    read_folder,
    sha256,
    verify,
)
from model_store.backends import Backend, open_backend
from model_store.errors import InvalidManifest, MarkedBad, NotFound, StoreError, VersionExists
from model_store.manifest import Manifest
from model_store.signing import TrustedKeys, sign

__all__ = ["ModelStore"]


class ModelStore:
    """Versioned, signed model artifacts on a backend.

    Args:
        backend: a Backend, or a URI/path for ``open_backend``.
        trusted: public keys whose signatures ``fetch`` accepts.
    """

    def __init__(self, backend: Backend | str | Path, trusted: TrustedKeys | None = None) -> None:
        self.backend = open_backend(backend) if isinstance(backend, str | Path) else backend
        self.trusted = trusted or TrustedKeys()

    def __repr__(self) -> str:
        return f"ModelStore({self.backend!r})"

    # -- writing -------------------------------------------------------------------------
    def publish(
        self,
        source: str | Path | dict[str, bytes],
        key: Ed25519PrivateKey,
        *,
        name: str | None = None,
        retries: int = 5,
        **fields: Any,
    ) -> Manifest:
        """Publish an artifact as the next version of its name; returns the signed manifest.

        ``source`` is a folder or a ``{file name: bytes}`` mapping with ``manifest.json``
        (a draft: the store sets ``version``, ``created`` when missing, ``files`` and
        ``onnx_sha256``) and ``model.onnx``; ``fields`` override manifest fields. The
        manifest must then match schemas/model-manifest.json.
        """
        files = read_folder(source) if isinstance(source, str | Path) else dict(source)
        if MANIFEST not in files or MODEL not in files:
            raise StoreError("an artifact to publish needs manifest.json and model.onnx")
        files.pop(SIGNATURE, None)
        draft = json.loads(files.pop(MANIFEST))
        draft.update(fields)
        if name is not None:
            draft["name"] = name
        if "name" not in draft:
            raise InvalidManifest("the manifest has no name and none was given")
        draft.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        draft["files"] = {f: sha256(b) for f, b in sorted(files.items())}
        draft["onnx_sha256"] = draft["files"][MODEL]
        for _ in range(retries):
            draft["version"] = max(self.backend.versions(draft["name"]), default=0) + 1
            manifest_bytes = canonical(draft)
            out = dict(files, **{MANIFEST: manifest_bytes, SIGNATURE: sign(key, manifest_bytes)})
            art = verify(out, TrustedKeys([_pub(key)]), check_onnx=False)  # schema, hashes
            try:
                self.backend.write(draft["name"], draft["version"], out)
                return art.manifest
            except VersionExists:
                continue  # another publisher took this version; take the next one
        raise StoreError(f"could not publish {draft['name']}: versions kept colliding")

    def mark_bad(self, name: str, version: int, reason: str) -> int | None:
        """Mark a version bad (roll back); returns the version ``latest`` now resolves to."""
        if version not in self.backend.versions(name):
            raise NotFound(f"{name} has no version {version}")
        status = self.backend.status(name)
        status.setdefault("bad", {})[str(version)] = reason
        self.backend.write_status(name, status)
        return self._latest_good(name)

    def gc(self, keep: int, name: str | None = None) -> list[tuple[str, int]]:
        """Delete all but the ``keep`` newest good versions (bad ones go first); returns them."""
        if keep < 1:
            raise StoreError("gc must keep at least one version")
        removed = []
        for n in [name] if name else self.backend.names():
            bad = set(self.bad(n))
            good = [v for v in self.backend.versions(n) if v not in bad]
            doomed = sorted(bad) + good[:-keep]
            for v in doomed:
                self.backend.delete(n, v)
                removed.append((n, v))
            if bad:
                status = self.backend.status(n)
                status["bad"] = {
                    k: r for k, r in status.get("bad", {}).items() if int(k) not in bad
                }
                self.backend.write_status(n, status)
        return removed

    # -- reading -------------------------------------------------------------------------
    def names(self) -> list[str]:
        return self.backend.names()

    def versions(self, name: str) -> list[int]:
        return self.backend.versions(name)

    def bad(self, name: str) -> dict[int, str]:
        return {int(k): r for k, r in self.backend.status(name).get("bad", {}).items()}

    def list(self) -> dict[str, list[dict[str, Any]]]:
        """``{name: [{version, bad, reason}]}`` for every name."""
        out = {}
        for n in self.names():
            bad = self.bad(n)
            out[n] = [
                {"version": v, "bad": v in bad, "reason": bad.get(v)} for v in self.versions(n)
            ]
        return out

    def _latest_good(self, name: str) -> int | None:
        bad = self.bad(name)
        good = [v for v in self.backend.versions(name) if v not in bad]
        return good[-1] if good else None

    def resolve(self, name: str, version: int | str = "latest") -> int:
        """A concrete version: ``latest`` is the newest version not marked bad."""
        versions = self.backend.versions(name)
        if not versions:
            raise NotFound(f"the store has no model named {name!r}")
        if version == "latest":
            v = self._latest_good(name)
            if v is None:
                raise MarkedBad(f"every version of {name!r} is marked bad")
            return v
        v = int(version)
        if v not in versions:
            raise NotFound(f"{name!r} has no version {v} (has {versions})")
        if v in self.bad(name):
            raise MarkedBad(f"{name!r} version {v} is marked bad: {self.bad(name)[v]}")
        return v

    def fetch(
        self, name: str, version: int | str = "latest", *, check_onnx: bool = True
    ) -> VerifiedArtifact:
        """Resolve, read and verify an artifact (a VerificationError subclass if refused)."""
        v = self.resolve(name, version)
        art = verify(self.backend.read(name, v), self.trusted, check_onnx=check_onnx)
        if art.manifest.name != name or art.manifest.version != v:
            raise InvalidManifest(
                f"{name}/{v} holds a manifest for {art.manifest.name}/{art.manifest.version}"
            )
        return art


def _pub(key: Ed25519PrivateKey) -> str:
    from model_store.signing import public_hex

    return public_hex(key)
