"""Artifact folders and their verification.

An artifact is a folder with fixed file names: ``manifest.json``, ``model.onnx``,
``manifest.sig`` (and any further file the manifest lists under ``files``, such as
the torch state ``model.pt``). Verification, in order, each failure typed:

1. ``manifest.json`` and ``model.onnx`` present, the manifest is JSON  (MalformedArtifact)
2. ``manifest.sig`` present                                          (MissingSignature)
3. signed by a trusted key, signature valid over the manifest bytes  (UnknownSigningKey,
                                                                      BadSignature)
4. the manifest matches schemas/model-manifest.json                  (InvalidManifest)
5. every listed file's sha256, and ``onnx_sha256``                   (HashMismatch)
6. optionally, ONNX Runtime loads the model and its input/output
   names, shapes and dtypes are what the manifest says               (IncompatibleModel)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_store.errors import HashMismatch, IncompatibleModel, MalformedArtifact, MissingSignature
from model_store.manifest import (
    MANIFEST_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    Manifest,
    check_io,
    session_io,
)
from model_store.signing import TrustedKeys

__all__ = [
    "MANIFEST",
    "MODEL",
    "SIGNATURE",
    "VerifiedArtifact",
    "canonical",
    "read_folder",
    "sha256",
    "verify",
]

MANIFEST, MODEL, SIGNATURE = MANIFEST_FILE, MODEL_FILE, SIGNATURE_FILE


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(manifest: Mapping[str, Any]) -> bytes:
    """The bytes a manifest is written (and signed) as: sorted keys, indented, newline."""
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()


@dataclass(frozen=True)
class VerifiedArtifact:
    """A verified artifact held in memory: its typed manifest, file bytes and signer."""

    manifest: Manifest
    files: dict[str, bytes]
    key_id: str

    @property
    def onnx(self) -> bytes:
        return self.files[MODEL]

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> int:
        return int(self.manifest.version or 0)


def read_folder(folder: str | Path) -> dict[str, bytes]:
    """Every regular file of an artifact folder, by name (no subfolders)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MalformedArtifact(f"{folder} is not a folder")
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def verify(
    files: Mapping[str, bytes], trusted: TrustedKeys, *, check_onnx: bool = True
) -> VerifiedArtifact:
    """Verify an artifact's files (steps 1-6 above); raise a VerificationError subclass."""
    for required in (MANIFEST, MODEL):
        if required not in files:
            raise MalformedArtifact(f"artifact has no {required}")
    try:
        raw = json.loads(files[MANIFEST])
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedArtifact(f"manifest.json is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedArtifact("manifest.json is not a JSON object")
    if SIGNATURE not in files:
        raise MissingSignature("artifact has no manifest.sig")
    kid = trusted.verify(files[MANIFEST], files[SIGNATURE])
    manifest = Manifest.from_dict(raw)  # InvalidManifest naming the field
    for fname, digest in manifest.files.items():
        if fname not in files:
            raise HashMismatch(f"{fname} is listed in the manifest but missing")
        if sha256(files[fname]) != digest:
            raise HashMismatch(f"sha256 of {fname} does not match the manifest")
    if manifest.onnx_sha256 != manifest.files[MODEL]:
        raise HashMismatch("onnx_sha256 and files['model.onnx'] disagree")
    art = VerifiedArtifact(manifest, dict(files), kid)
    if check_onnx:
        check_onnx_signature(art)
    return art


def check_onnx_signature(art: VerifiedArtifact) -> None:
    """ONNX Runtime loads the model; its inputs and outputs match the manifest."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(art.onnx, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise IncompatibleModel(f"ONNX Runtime cannot load model.onnx: {exc}") from None
    check_io(
        *session_io(sess),
        f"model.onnx against its manifest ({art.manifest.label})",
        want=(art.manifest.inputs, art.manifest.outputs),
    )
