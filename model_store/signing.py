"""Ed25519 signing of manifests (cryptography) and the set of trusted public keys.

A signature file ``manifest.sig`` is JSON: ``{"algorithm": "ed25519", "key_id": ...,
"signature": <base64>}`` over the exact bytes of ``manifest.json``. A key id is the
first 16 hex digits of the sha256 of the raw 32-byte public key. Public keys are
written as 64 hex digits; private keys as PKCS#8 PEM files (mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from model_store.errors import BadSignature, MalformedArtifact, StoreError, UnknownSigningKey

__all__ = ["TrustedKeys", "generate_keypair", "key_id", "load_private_key", "public_hex", "sign"]


def key_id(public: Ed25519PublicKey | str) -> str:
    raw = (
        bytes.fromhex(public)
        if isinstance(public, str)
        else public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def public_hex(private: Ed25519PrivateKey) -> str:
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        .hex()
    )


def generate_keypair(prefix: str | Path) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (private, PEM, 0600) and ``PREFIX.pub`` (hex); refuse to overwrite."""
    prefix = Path(prefix)
    key_path, pub_path = prefix.with_suffix(".key"), prefix.with_suffix(".pub")
    for p in (key_path, pub_path):
        if p.exists():
            raise StoreError(f"{p} exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_text(public_hex(private) + "\n")
    return key_path, pub_path


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"{path} is not an Ed25519 private key")
    return key


def sign(private: Ed25519PrivateKey, message: bytes) -> bytes:
    """The ``manifest.sig`` bytes for ``message`` (the manifest file's bytes)."""
    doc = {
        "algorithm": "ed25519",
        "key_id": key_id(private.public_key()),
        "signature": base64.b64encode(private.sign(message)).decode(),
    }
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


class TrustedKeys:
    """Public keys whose signatures the store accepts, by key id."""

    def __init__(self, keys: Iterable[str | Path] = ()) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for k in keys:
            self.add(k)

    def add(self, key: str | Path) -> str:
        """Add a key given as 64 hex digits or as a file holding them; returns its id."""
        text = str(key).strip()
        if not _is_hex_key(text):
            path = Path(text)
            if not path.is_file():
                raise StoreError(f"trusted key {text!r} is neither 64 hex digits nor a key file")
            text = path.read_text().strip()
            if not _is_hex_key(text):
                raise StoreError(f"{path} does not hold an Ed25519 public key in hex")
        kid = key_id(text)
        self._keys[kid] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
        return kid

    @classmethod
    def from_folder(cls, folder: str | Path) -> TrustedKeys:
        return cls(sorted(Path(folder).glob("*.pub")))

    def __len__(self) -> int:
        return len(self._keys)

    def ids(self) -> list[str]:
        return sorted(self._keys)

    def verify(self, message: bytes, sig: bytes) -> str:
        """Check ``sig`` (manifest.sig bytes) over ``message``; returns the key id."""
        try:
            doc = json.loads(sig)
            kid, raw = doc["key_id"], base64.b64decode(doc["signature"], validate=True)
            if doc.get("algorithm") != "ed25519":
                raise ValueError(f"algorithm {doc.get('algorithm')!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedArtifact(f"manifest.sig is not a signature document: {exc}") from None
        if kid not in self._keys:
            raise UnknownSigningKey(
                f"manifest signed by unknown key {kid}; trusted: {', '.join(self.ids()) or 'none'}"
            )
        try:
            self._keys[kid].verify(raw, message)
        except InvalidSignature:
            raise BadSignature(f"signature by key {kid} does not match manifest.json") from None
        return kid


def _is_hex_key(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
