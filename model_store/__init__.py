"""Model store: versioned, signed model artifacts (never imports torch).

An artifact is a folder with fixed file names: ``manifest.json``, ``model.onnx``,
``manifest.sig`` (Ed25519 over the manifest bytes), plus any file the manifest
lists (``model.pt`` for training). See :class:`ModelStore` and the
``model-store`` command.
"""

from pathlib import Path

from model_store.artifact import VerifiedArtifact, read_folder, verify
from model_store.backends import FsspecBackend, HttpBackend, LocalBackend, open_backend
from model_store.errors import (
    BadSignature,
    HashMismatch,
    IncompatibleModel,
    InvalidManifest,
    MalformedArtifact,
    MarkedBad,
    MissingSignature,
    NotFound,
    StoreError,
    UnknownSigningKey,
    VerificationError,
    VersionExists,
)
from model_store.manifest import (
    CSI_INPUTS,
    CSI_OUTPUTS,
    Kind,
    Manifest,
    Producer,
    TensorSpec,
    check_compatible,
    check_io,
)
from model_store.signing import TrustedKeys, generate_keypair, load_private_key
from model_store.store import ModelStore

DEFAULT_STORE = Path(__file__).resolve().parent / "default"
"""The shipped store: the pre-trained LAM (``lam``) and reference SAM (``sam_ref``)."""
DEFAULT_TRUSTED_KEYS = DEFAULT_STORE / "trusted_keys"


def default_store() -> ModelStore:
    """The shipped store, trusting the shipped release key(s)."""
    return ModelStore(DEFAULT_STORE, TrustedKeys.from_folder(DEFAULT_TRUSTED_KEYS))


__all__ = [
    "CSI_INPUTS",
    "CSI_OUTPUTS",
    "DEFAULT_STORE",
    "DEFAULT_TRUSTED_KEYS",
    "BadSignature",
    "FsspecBackend",
    "HashMismatch",
    "HttpBackend",
    "IncompatibleModel",
    "InvalidManifest",
    "Kind",
    "LocalBackend",
    "MalformedArtifact",
    "Manifest",
    "MarkedBad",
    "MissingSignature",
    "ModelStore",
    "NotFound",
    "Producer",
    "StoreError",
    "TensorSpec",
    "TrustedKeys",
    "UnknownSigningKey",
    "VerificationError",
    "VerifiedArtifact",
    "VersionExists",
    "check_compatible",
    "check_io",
    "default_store",
    "generate_keypair",
    "load_private_key",
    "open_backend",
    "read_folder",
    "verify",
]
